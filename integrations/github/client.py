"""Our GitHub client over PyGithub: installation auth, retries, a circuit breaker, error mapping.

Retries for 5xx, 429 and secondary rate limits come from PyGithub's
``GithubRetry`` (urllib3 ``Retry``), configured here and only here
(``default_retry``); Huey retries the task above that. After ``threshold``
operations in a row fail even so, the breaker opens: calls fail at once with
``GitHubUnavailableError`` for ``cooldown`` seconds, the work stays pending in
the database, and the first call after the cooldown tries again. 404/410 (and
other refusals) become ``GitHubGoneError``, which the use cases record and do
not retry.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import requests
from github import Auth, Github, GithubException, GithubIntegration, GithubRetry
from github.GithubException import RateLimitExceededException
from urllib3.util.retry import Retry

from flakeguard.errors import ConfigError
from flakeguard.settings import Settings
from flakeguard.usecases.github import (
    ArtifactInfo,
    CheckRunReport,
    GitHubGoneError,
    GitHubUnavailableError,
    QuarantineIssue,
    WorkflowRunInfo,
)
from integrations.github import artifacts, check_runs, contents, mirror
from integrations.github.auth import InstallationTokens, app_auth

log = logging.getLogger(__name__)

T = TypeVar("T")

RETRY_TOTAL = 4
RETRY_BACKOFF = 1.0  # seconds, doubled per retry
MAX_RETRY_AFTER = 60.0  # longer waits fail fast; Huey retries the task later
SECONDARY_RATE_WAIT = 60.0
BREAKER_THRESHOLD = 5
BREAKER_COOLDOWN = 120.0
TIMEOUT = 20
RETRY_STATUSES = (429, *range(500, 600))
RETRY_METHODS = frozenset({"GET", "HEAD", "POST", "PATCH", "PUT", "DELETE"})
GONE_STATUSES = (404, 410)
REFUSED_STATUSES = (401, 403, 422)


class _BoundedRetry(GithubRetry):
    """GithubRetry whose Retry-After sleeps are capped (a longer wait is the task's to take)."""

    def __init__(self, *, max_retry_after: float = MAX_RETRY_AFTER, **kwargs: Any) -> None:
        self.max_retry_after = max_retry_after
        super().__init__(**kwargs)

    def new(self, **kw: Any) -> Any:
        kw["max_retry_after"] = self.max_retry_after
        return super().new(**kw)

    def get_retry_after(self, response: Any) -> float | None:
        value = super().get_retry_after(response)
        return None if value is None else min(value, self.max_retry_after)


def default_retry(
    *,
    total: int = RETRY_TOTAL,
    backoff_factor: float = RETRY_BACKOFF,
    secondary_rate_wait: float = SECONDARY_RATE_WAIT,
    max_retry_after: float = MAX_RETRY_AFTER,
) -> Retry:
    """The one retry policy for GitHub calls: 5xx, 429, rate limits, with backoff."""
    return _BoundedRetry(
        total=total,
        backoff_factor=backoff_factor,
        status_forcelist=list(RETRY_STATUSES),
        allowed_methods=RETRY_METHODS,
        secondary_rate_wait=secondary_rate_wait,
        max_rate_limit_wait=max(max_retry_after, secondary_rate_wait),
        max_retry_after=max_retry_after,
    )


class CircuitBreaker:
    """Open after ``threshold`` failures in a row; stay open ``cooldown`` seconds."""

    def __init__(
        self,
        *,
        threshold: int = BREAKER_THRESHOLD,
        cooldown: float = BREAKER_COOLDOWN,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self._clock = clock
        self._failures = 0
        self._open_until: float | None = None
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        with self._lock:
            return self._open_until is not None and self._clock() < self._open_until

    def check(self) -> None:
        """Raise GitHubUnavailableError while open."""
        with self._lock:
            if self._open_until is not None and self._clock() < self._open_until:
                wait = self._open_until - self._clock()
                raise GitHubUnavailableError(
                    f"GitHub calls paused for {wait:.0f}s after {self._failures} failures in a row"
                )

    def succeeded(self) -> None:
        with self._lock:
            self._failures = 0
            self._open_until = None

    def failed(self) -> None:
        with self._lock:
            self._failures += 1
            if self._failures >= self.threshold:
                self._open_until = self._clock() + self.cooldown
                log.warning(
                    "GitHub circuit open for %.0fs after %d failures", self.cooldown, self._failures
                )


def _message(exc: GithubException) -> str:
    data = exc.data
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return data["message"]
    return str(data)[:200] if data else ""


class GitHubClient:
    """The GitHub App as FlakeGuard uses it (implements flakeguard.usecases.github.GitHubPort)."""

    def __init__(
        self,
        *,
        app_id: int,
        private_key: str,
        base_url: str,
        retry: Retry | None = None,
        breaker: CircuitBreaker | None = None,
        timeout: int = TIMEOUT,
        throttle: bool = True,
        tokens: InstallationTokens | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retry = retry if retry is not None else default_retry()
        self.breaker = breaker or CircuitBreaker()
        self.timeout = timeout
        # PyGithub spaces requests (GitHub asks for ~1 s between writes); tests turn it off.
        self._spacing: dict[str, Any] = (
            {} if throttle else {"seconds_between_requests": None, "seconds_between_writes": None}
        )
        self._auth = app_auth(app_id, private_key)
        self.tokens = tokens or InstallationTokens(self.fetch_token)
        # PyGithub's Requester keeps one connection whose request() and getresponse()
        # are separate calls: not thread-safe. Each worker thread gets its own objects.
        self._local = threading.local()

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> GitHubClient:
        """A client for the App configured in ``settings``."""
        if not (settings.github_app_id and settings.github_app_private_key):
            raise ConfigError("GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY: required for GitHub")
        return cls(
            app_id=settings.github_app_id,
            private_key=settings.github_app_private_key,
            base_url=settings.github_api_url,
            **kwargs,
        )

    # -- plumbing ---------------------------------------------------------------------------

    @property
    def integration(self) -> GithubIntegration:
        """This thread's GithubIntegration (the App JWT side)."""
        integration = getattr(self._local, "integration", None)
        if integration is None:
            integration = GithubIntegration(
                auth=self._auth,
                base_url=self.base_url,
                retry=self.retry,
                timeout=self.timeout,
                **self._spacing,
            )
            self._local.integration = integration
        return integration

    def fetch_token(self, installation_id: int) -> Any:
        """Ask GitHub for a new installation token (an InstallationAuthorization)."""
        return self.integration.get_access_token(installation_id)

    def _github(self, installation_id: int) -> Github:
        token = self.tokens.get(installation_id).token
        clients: dict[int, tuple[str, Github]] = getattr(self._local, "clients", None) or {}
        self._local.clients = clients
        cached = clients.get(installation_id)
        if cached is not None and cached[0] == token:
            return cached[1]
        gh = Github(
            auth=Auth.Token(token),
            base_url=self.base_url,
            retry=self.retry,
            timeout=self.timeout,
            lazy=True,
            **self._spacing,
        )
        clients[installation_id] = (token, gh)
        if cached is not None:
            cached[1].close()
        return gh

    def call(self, installation_id: int, what: str, operation: Callable[[Github], T]) -> T:
        """Run ``operation`` for an installation behind the breaker; map failures to our errors."""
        self.breaker.check()
        gh = self._mapped(
            installation_id,
            f"installation {installation_id} token",
            lambda: self._github(installation_id),
        )
        return self._mapped(installation_id, what, lambda: operation(gh))

    def _mapped(self, installation_id: int, what: str, operation: Callable[[], T]) -> T:
        try:
            result = operation()
        except RateLimitExceededException as exc:
            self.breaker.failed()
            raise GitHubUnavailableError(f"{what}: GitHub rate limit ({exc.status})") from exc
        except GithubException as exc:
            status = exc.status
            if status in (401, *GONE_STATUSES):
                self.tokens.forget(installation_id)
            if status in GONE_STATUSES or status in REFUSED_STATUSES:
                self.breaker.succeeded()  # GitHub answered: retrying will not help
                raise GitHubGoneError(
                    f"{what}: GitHub answered {status} {_message(exc)}".rstrip(),
                    http_status=status,
                ) from exc
            self.breaker.failed()
            raise GitHubUnavailableError(f"{what}: GitHub answered {status}") from exc
        except requests.RequestException as exc:
            self.breaker.failed()
            raise GitHubUnavailableError(f"{what}: {type(exc).__name__}: {exc}"[:500]) from exc
        except GitHubUnavailableError:
            self.breaker.failed()
            raise
        self.breaker.succeeded()
        return result

    # -- GitHubPort -------------------------------------------------------------------------

    def sync_check_run(
        self, installation_id: int, full_name: str, report: CheckRunReport, github_id: int | None
    ) -> int:
        """Create or update the FlakeGuard check run on ``report.head_sha``."""
        return self.call(
            installation_id,
            f"check run on {full_name}@{report.head_sha[:12]}",
            lambda gh: check_runs.sync(gh.get_repo(full_name), report, github_id),
        )

    def sync_issue(
        self, installation_id: int, full_name: str, issue: QuarantineIssue, number: int | None
    ) -> int | None:
        """Bring the quarantine issue in line with ``issue``."""
        return self.call(
            installation_id,
            f"quarantine issue in {full_name}",
            lambda gh: mirror.sync(gh.get_repo(full_name), issue, number),
        )

    def workflow_run(self, installation_id: int, full_name: str, run_id: int) -> WorkflowRunInfo:
        """The workflow run and its artifacts."""
        return self.call(
            installation_id,
            f"workflow run {run_id} of {full_name}",
            lambda gh: artifacts.workflow_run(gh.get_repo(full_name), run_id),
        )

    def fetch_artifact_reports(
        self, installation_id: int, full_name: str, artifact: ArtifactInfo, *, max_bytes: int
    ) -> list[tuple[str, bytes]]:
        """Download the artifact (the redirect without our token) and return its XML files."""
        data = self.call(
            installation_id,
            f"artifact {artifact.name} of {full_name}",
            lambda gh: artifacts.download(
                gh.requester, artifact, max_bytes=max_bytes, timeout=self.timeout
            ),
        )
        return artifacts.extract_reports(data, max_bytes=max_bytes)

    def repo_files(
        self,
        installation_id: int,
        full_name: str,
        paths: Sequence[str],
        *,
        ref: str,
        max_bytes: int,
    ) -> dict[str, str | None]:
        """The text of each of ``paths`` on ``ref`` (None where there is no such file)."""
        return self.call(
            installation_id,
            f"files of {full_name}@{ref}",
            lambda gh: contents.read_files(
                gh.get_repo(full_name), paths, ref=ref, max_bytes=max_bytes
            ),
        )

    def team_members(self, installation_id: int, org: str, slug: str) -> list[str] | None:
        """The logins of team ``org/slug`` (None when the App cannot see it)."""
        return self.call(
            installation_id,
            f"team {org}/{slug}",
            lambda gh: contents.team_logins(gh, org, slug),
        )
