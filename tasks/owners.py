"""Owner tasks: re-read a repository's CODEOWNERS and .flakeguard.yml; check-run actions."""

from __future__ import annotations

from typing import Any

from flakeguard import jobs
from flakeguard.jobs import Job
from flakeguard.settings import Settings
from flakeguard.usecases import check_actions, owners
from flakeguard.usecases.github import GitHubPort
from tasks.github import RETRIES, RETRY_DELAY, _configured, _with_github
from tasks.outbox import for_effect
from tasks.queue import huey, with_db


@huey.task(
    retries=RETRIES, retry_delay=RETRY_DELAY, retry_backoff=2, name=Job.REFRESH_REPO_FILES.value
)
@with_db
@for_effect(Job.REFRESH_REPO_FILES, finished=_configured)
def refresh_repo_files(repository_id: int) -> dict[str, Any]:
    """Read the repository's files from its default branch through the App and store them."""

    def work(settings: Settings, client: GitHubPort) -> dict[str, Any]:
        return {"changed": owners.refresh_from_github(repository_id, github=client)}

    return _with_github(Job.REFRESH_REPO_FILES, work)


@huey.task(retries=RETRIES, retry_delay=RETRY_DELAY, name=Job.CHECK_RUN_ACTION.value)
@with_db
@for_effect(Job.CHECK_RUN_ACTION)
def check_run_action(
    quarantine_id: int, verb: str, login: str, sha: str, key: str
) -> dict[str, object]:
    """Run a Quarantine / Dismiss / Open issue action requested on the check run."""
    return check_actions.run_action(quarantine_id, verb, login, sha, key)


jobs.register(Job.REFRESH_REPO_FILES, refresh_repo_files)
jobs.register(Job.CHECK_RUN_ACTION, check_run_action)
