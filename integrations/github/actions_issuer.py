"""The public keys of GitHub's Actions OIDC issuer, fetched from its JWKS and cached.

A request never waits long for the keys and never makes us hammer the issuer:

- the key set is kept for ``LIFESPAN`` seconds and used from memory meanwhile;
- whatever the tokens say (a made-up ``kid``, a stale set, an issuer that is down), the
  JWKS is fetched at most once every ``COOLDOWN`` seconds;
- one fetch (connect, headers and body together) gives up after ``TIMEOUT`` seconds and
  reads at most ``MAX_JWKS_BYTES``; it follows no redirect;
- when a refetch fails, the keys already known keep verifying for up to ``STALE_LIMIT``
  seconds, so an outage of the issuer costs one slow request per cooldown, not every one.

The URL is https, except a loopback host (tests, a local issuer).
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from flakeguard.errors import AuthError, UnavailableError
from flakeguard.setting_values import check_https_url

LIFESPAN = 300.0
COOLDOWN = 30.0
TIMEOUT = 5.0
STALE_LIMIT = 24 * 3600.0
MAX_JWKS_BYTES = 256 * 1024  # GitHub's set is a few KB

# What a fetch of a key set can raise; ValueError covers bad JSON and a body not UTF-8.
FETCH_ERRORS = (OSError, http.client.HTTPException, ValueError, RecursionError, jwt.PyJWTError)

log = logging.getLogger(__name__)


class _FetchError(Exception):
    """The key set could not be had this time (network, status, size, not a key set)."""


class JwksIssuer:
    """``actions_oidc.ActionsIssuer``: the issuer's name, our audience, keys from its JWKS."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        jwks_url: str,
        timeout: float = TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.issuer = check_https_url("the OIDC issuer", issuer)
        self.audience = audience
        self.jwks_url = check_https_url("the OIDC JWKS URL", jwks_url)
        self._timeout = timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, Any] | None = None
        self._fetched_at = 0.0
        self._attempted_at: float | None = None

    def signing_key(self, token: str) -> Any:
        """The key that signed ``token``; AuthError for a key the issuer does not publish,
        UnavailableError when its key set cannot be had, or could not be fetched again
        for a key it does not have (the issuer may have just rotated its keys)."""
        kid = jwt.get_unverified_header(token).get("kid")
        if not isinstance(kid, str):
            raise _not_of_the_issuer()
        keys, checked = self._current_keys(kid)
        if keys is None:
            raise self.unavailable()
        key = keys.get(kid)
        if key is None:
            if not checked:
                raise UnavailableError(
                    "GitHub Actions OIDC token names a key the issuer's key set did not "
                    "have; it cannot be fetched again now; try again later"
                )
            raise _not_of_the_issuer()
        return key

    def unavailable(self) -> UnavailableError:
        """The answer when the key set cannot be had (network, or not a key set)."""
        return UnavailableError("GitHub Actions' OIDC keys cannot be fetched now; try again later")

    def _current_keys(self, kid: str) -> tuple[dict[str, Any] | None, bool]:
        """The keys usable now, and whether they tell for ``kid``: they have it, or
        they were fetched just now without it."""
        # Another request fetching holds the lock for at most one fetch's timeout.
        if not self._lock.acquire(timeout=self._timeout):
            keys = self._usable(self._clock())
            return keys, keys is not None and kid in keys
        try:
            now = self._clock()
            stale = self._keys is None or now - self._fetched_at >= LIFESPAN
            unknown = self._keys is not None and kid not in self._keys
            cooling = self._attempted_at is not None and now - self._attempted_at < COOLDOWN
            fetched = False
            if (stale or unknown) and not cooling:
                self._attempted_at = now
                try:
                    self._keys, self._fetched_at = self._fetch(), now
                    fetched = True
                except _FetchError as exc:  # the known keys (if not too old) keep serving
                    log.warning("actions OIDC keys not fetched from %s: %s", self.jwks_url, exc)
            keys = self._usable(now)
            return keys, keys is not None and (fetched or kid in keys)
        finally:
            self._lock.release()

    def _usable(self, now: float) -> dict[str, Any] | None:
        if self._keys is None or now - self._fetched_at >= STALE_LIMIT:
            return None
        return self._keys

    def _fetch(self) -> dict[str, Any]:
        """The issuer's signing keys by ``kid``, fetched within ``TIMEOUT`` in all."""
        deadline = time.monotonic() + self._timeout
        parts = urlsplit(self.jwks_url)
        connection_class = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        connection = connection_class(parts.hostname or "", parts.port, timeout=self._timeout)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            connection.request("GET", path, headers={"Accept": "application/json"})
            sock = connection.sock  # kept: the connection lets go of it on "Connection: close"
            _bound(sock, deadline)
            response = connection.getresponse()
            if response.status != 200:
                raise _FetchError(f"status {response.status}")
            body = bytearray()
            while True:
                _bound(sock, deadline)
                chunk = response.read1(64 * 1024)
                if not chunk:
                    break
                body += chunk
                if len(body) > MAX_JWKS_BYTES:
                    raise _FetchError("the key set is too large")
            data = json.loads(bytes(body))
            if not isinstance(data, dict):
                raise _FetchError("not a key set")
            jwk_set = jwt.PyJWKSet.from_dict(data)
        except FETCH_ERRORS as e:
            raise _FetchError(str(e)[:200]) from None
        finally:
            connection.close()
        # Only what can verify an RS256 token, under a kid a token can name.
        keys = {
            key.key_id: key.key
            for key in jwk_set.keys
            if isinstance(key.key_id, str)
            and key.key_id
            and isinstance(key.key, RSAPublicKey)
            and key.public_key_use in ("sig", None)
        }
        if not keys:
            raise _FetchError("no signing keys")
        return keys


def _not_of_the_issuer() -> AuthError:
    return AuthError("GitHub Actions OIDC token refused: it is not signed with a key of the issuer")


def _bound(sock: socket.socket | None, deadline: float) -> None:
    """Let the next read wait only for what is left of the fetch's time."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise _FetchError("timed out")
    if sock is not None:
        sock.settimeout(left)
