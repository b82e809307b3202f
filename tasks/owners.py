"""Owner tasks: repository files, check-run actions, quarantine reminders and expiry."""

from __future__ import annotations

from typing import Any

from huey import crontab

from bot.blocks.alerts import render_alert
from flakeguard import jobs
from flakeguard.jobs import Job
from flakeguard.settings import Settings
from flakeguard.usecases import alerts, check_actions, lifecycle, repo_files
from flakeguard.usecases.github import GitHubPort
from tasks import slack as slack_tasks
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
        return {"changed": repo_files.refresh_from_github(repository_id, github=client)}

    return _with_github(Job.REFRESH_REPO_FILES, work)


@huey.task(retries=RETRIES, retry_delay=RETRY_DELAY, name=Job.CHECK_RUN_ACTION.value)
@with_db
@for_effect(Job.CHECK_RUN_ACTION)
def check_run_action(
    quarantine_id: int, verb: str, login: str, sha: str, key: str
) -> dict[str, object]:
    """Run a Quarantine / Dismiss / Open issue action requested on the check run."""
    return check_actions.run_action(quarantine_id, verb, login, sha, key)


@huey.task(retries=RETRIES, retry_delay=RETRY_DELAY, name=Job.POST_SLACK_MESSAGE.value)
@with_db
@for_effect(Job.POST_SLACK_MESSAGE)
def post_slack_message(message_id: int) -> bool:
    """Post (or update) one message of a quarantine, such as its expiry reminder."""
    view = alerts.alert_view(message_id)
    return slack_tasks._send(
        message_id, render_alert(view), view.quarantine.version if view.quarantine else 0
    )


@huey.periodic_task(crontab(minute="17"), name=Job.QUARANTINE_LIFECYCLE.value)
@huey.lock_task("flakeguard-quarantine-lifecycle")
@with_db
def quarantine_lifecycle() -> dict[str, object]:
    """Remind owners before their quarantines expire; lift or escalate the expired."""
    return lifecycle.run().as_json()


jobs.register(Job.REFRESH_REPO_FILES, refresh_repo_files)
jobs.register(Job.POST_SLACK_MESSAGE, post_slack_message)
jobs.register(Job.CHECK_RUN_ACTION, check_run_action)
jobs.register(Job.QUARANTINE_LIFECYCLE, quarantine_lifecycle)
