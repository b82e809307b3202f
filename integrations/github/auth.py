"""GitHub App auth: the App JWT (PyGithub ``Auth.AppAuth``) to installation tokens, cached.

``GithubIntegration.get_access_token`` signs a short JWT with the App's private
key and exchanges it for an installation token valid about an hour; tokens are
kept until ``margin`` before they expire, so one token serves many calls (and
many worker threads).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from github import Auth

TOKEN_MARGIN = timedelta(minutes=5)


@dataclass(frozen=True)
class InstallationToken:
    """An installation access token and when it stops working."""

    token: str
    expires_at: datetime


def now_utc() -> datetime:
    """Aware UTC now."""
    return datetime.now(UTC)


class InstallationTokens:
    """Installation tokens, cached until shortly before expiry (shared by every thread).

    ``grant(installation_id)`` asks GitHub for a new one: PyGithub's
    ``GithubIntegration.get_access_token`` (an ``InstallationAuthorization``).
    """

    def __init__(
        self,
        grant: Callable[[int], Any],
        *,
        margin: timedelta = TOKEN_MARGIN,
        clock: Callable[[], datetime] = now_utc,
    ) -> None:
        self._grant = grant
        self._margin = margin
        self._clock = clock
        self._cache: dict[int, InstallationToken] = {}
        self._lock = threading.Lock()

    def get(self, installation_id: int) -> InstallationToken:
        """A token for ``installation_id``: the cached one unless it is about to expire."""
        with self._lock:
            cached = self._cache.get(installation_id)
            if cached is not None and cached.expires_at - self._margin > self._clock():
                return cached
        grant = self._grant(installation_id)
        expires = grant.expires_at
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=UTC)
        token = InstallationToken(token=grant.token, expires_at=expires)
        with self._lock:
            self._cache[installation_id] = token
        return token

    def forget(self, installation_id: int) -> None:
        """Drop a cached token (revoked, or the installation is gone)."""
        with self._lock:
            self._cache.pop(installation_id, None)


def app_auth(app_id: int, private_key: str) -> Auth.AppAuth:
    """PyGithub's App authentication (it signs the RS256 JWT)."""
    return Auth.AppAuth(app_id, private_key)
