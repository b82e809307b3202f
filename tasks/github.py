"""GitHub tasks: the quarantine mirror, the check run, Actions artifact ingestion.

Each task is a few lines over a use case, given our GitHub client. The
client retries each call (GithubRetry) and trips its breaker; Huey retries
the task above that (``RETRIES`` times, from ``RETRY_DELAY`` doubling) when GitHub is
unavailable; the database keeps the work pending for the reconcile job after.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from flakeguard.errors import NotFoundError
from flakeguard.jobs import Job
from flakeguard.settings import Settings
from flakeguard.usecases import github_actions, github_checks, github_mirror
from flakeguard.usecases.github import GitHubPort
from integrations.github.client import GitHubClient
from tasks.context import get_settings
from tasks.outbox import effect_task

log = logging.getLogger(__name__)

RETRIES = 5
RETRY_DELAY = 60  # seconds, doubled per retry: 1, 2, 4, 8, 16 minutes

_lock = threading.Lock()
_injected: GitHubPort | None = None
_built: tuple[Settings, GitHubClient] | None = None


def use_client(client: GitHubPort | None) -> None:
    """Make the tasks of this process use ``client`` (the one injected into create_app)."""
    global _injected
    with _lock:
        _injected = client


def github_client(settings: Settings) -> GitHubPort | None:
    """The injected client, else one built from ``settings`` (None when GitHub is off)."""
    global _built
    with _lock:
        if _injected is not None:
            return _injected
        if not settings.github_enabled:
            return None
        if _built is None or _built[0] is not settings:
            _built = (settings, GitHubClient.from_settings(settings))
        return _built[1]


NOT_CONFIGURED = "GitHub is not configured"


def _with_github(
    job: Job, work: Callable[[Settings, GitHubPort], dict[str, Any]]
) -> dict[str, Any]:
    """Run ``work`` with the settings and the GitHub client; skip when GitHub is off or the
    row it works on is gone."""
    settings = get_settings()
    client = github_client(settings)
    if client is None:
        log.info("%s skipped: GitHub is not configured", job)
        return {"skipped": NOT_CONFIGURED}
    try:
        return work(settings, client)
    except NotFoundError as exc:
        return {"skipped": exc.message}


def _configured(result: Any) -> bool:
    """Whether the task did its work (without GitHub its effect stays pending)."""
    return not (isinstance(result, dict) and result.get("skipped") == NOT_CONFIGURED)


def _run_finished(result: Any) -> bool:
    """Whether a workflow run is ingested (or gone), not waiting for GitHub."""
    return _configured(result) and not result.get("pending")


def _github_task(job: Job, finished: Callable[[Any], bool] = _configured) -> Any:
    """A GitHub effect task: retried from ``RETRY_DELAY`` doubling; done once GitHub did it."""
    return effect_task(
        job, retries=RETRIES, retry_delay=RETRY_DELAY, retry_backoff=2, finished=finished
    )


@_github_task(Job.MIRROR_QUARANTINE)
def mirror_quarantine(quarantine_id: int) -> dict[str, Any]:
    """Bring one quarantine's GitHub issue in line (idempotent)."""

    def work(settings: Settings, client: GitHubPort) -> dict[str, Any]:
        q = github_mirror.mirror_quarantine(
            quarantine_id,
            github=client,
            public_url=settings.public_url,
            api_url=settings.github_api_url,
        )
        return {
            "quarantine_id": q.id,
            "issue": q.github_issue_number,
            "synced_version": q.github_synced_version,
            "error": q.github_error,
        }

    return _with_github(Job.MIRROR_QUARANTINE, work)


@_github_task(Job.UPDATE_CHECK_RUN)
def update_check_run(repository_id: int, sha: str) -> dict[str, Any]:
    """Create or update the FlakeGuard check run of one commit."""

    def work(settings: Settings, client: GitHubPort) -> dict[str, Any]:
        row = github_checks.sync_check_run(
            repository_id, sha, github=client, details_url=settings.public_url
        )
        if row is None:
            return {"skipped": "the repository has no GitHub App installation"}
        return {"check_run": row.github_id, "conclusion": row.conclusion, "error": row.last_error}

    return _with_github(Job.UPDATE_CHECK_RUN, work)


@_github_task(Job.INGEST_WORKFLOW_RUN, finished=_run_finished)
def ingest_workflow_run(
    repository_id: int, workflow_run_id: int, run_attempt: int = 1
) -> dict[str, Any]:
    """Ingest the test-report artifacts of one workflow run attempt."""

    def work(settings: Settings, client: GitHubPort) -> dict[str, Any]:
        report = github_actions.ingest_workflow_run(
            repository_id,
            workflow_run_id,
            run_attempt,
            github=client,
            max_bytes=settings.max_report_bytes,
        )
        return {
            "ingested": report.ingested,
            "duplicates": report.duplicates,
            "rejected": report.rejected,
            "stopped": report.stopped,
            "pending": report.waiting,
        }

    return _with_github(Job.INGEST_WORKFLOW_RUN, work)
