"""The public keys of GitHub's Actions OIDC issuer, fetched from its JWKS and cached.

PyJWT's ``PyJWKClient`` does the work: it keeps the key set for ``LIFESPAN`` seconds,
fetches it again for a key id it does not know (at most every ``COOLDOWN`` seconds, so
tokens naming made-up keys cannot make us hammer GitHub), follows no redirects and
gives up after ``TIMEOUT`` seconds.
"""

from __future__ import annotations

from typing import Any

import jwt

from flakeguard.errors import AuthError, UnavailableError

LIFESPAN = 300.0
COOLDOWN = 30.0
TIMEOUT = 5.0


class JwksIssuer:
    """``actions_oidc.ActionsIssuer``: the issuer's name, our audience, keys from its JWKS."""

    def __init__(self, *, issuer: str, audience: str, jwks_url: str, timeout: float = TIMEOUT):
        self.issuer = issuer
        self.audience = audience
        self._client = jwt.PyJWKClient(
            jwks_url, lifespan=LIFESPAN, timeout=timeout, cooldown_duration=COOLDOWN
        )

    def signing_key(self, token: str) -> Any:
        """The key that signed ``token``; AuthError for a key the issuer does not publish."""
        try:
            self._client.get_signing_keys()  # the key set itself (cached): ours to answer for
        except (jwt.PyJWTError, ValueError):
            raise self.unavailable() from None
        try:
            return self._client.get_signing_key_from_jwt(token).key
        except (jwt.PyJWKClientConnectionError, ValueError):  # refreshing for an unknown key
            raise self.unavailable() from None
        except jwt.PyJWTError:
            raise AuthError(
                "GitHub Actions OIDC token refused: it is not signed with a key of the issuer"
            ) from None

    def unavailable(self) -> UnavailableError:
        """The answer when the key set cannot be had (network, or not a key set)."""
        return UnavailableError("GitHub Actions' OIDC keys cannot be fetched now; try again later")
