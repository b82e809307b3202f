"""Enqueue background work by name, without the use cases importing ``tasks``.

Every job has one name, a member of :class:`Job`; no caller spells it as a
string. ``tasks`` registers its Huey tasks here when it is imported. The
database is the truth and a job is only a hint: when the queue cannot take a
job (Redis down), ``enqueue`` logs and returns False, and the periodic
reconcile job finds the pending work again in the outbox
(``flakeguard.usecases.outbox``).

The correlation id of the current request or task travels with the job (in the
Huey task id, see ``flakeguard.logs.task_id_for``); the worker restores it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from enum import StrEnum
from typing import Any

from flakeguard import logs

log = logging.getLogger(__name__)


class Job(StrEnum):
    """The name of every background job (the Huey task name)."""

    ANALYZE_RUN = "analyze_run"
    NOTIFY_SLACK = "notify_slack"
    REFRESH_SLACK_QUARANTINE = "refresh_slack_quarantine"
    REFRESH_SLACK_MESSAGE = "refresh_slack_message"
    PUBLISH_SLACK_HOME = "publish_slack_home"
    WEEKLY_DIGEST = "weekly_digest"
    MIRROR_QUARANTINE = "mirror_quarantine"
    UPDATE_CHECK_RUN = "update_check_run"
    INGEST_WORKFLOW_RUN = "ingest_workflow_run"
    RECONCILE = "reconcile"
    RETENTION = "retention"
    REFRESH_REPO_FILES = "refresh_repo_files"
    QUARANTINE_LIFECYCLE = "quarantine_lifecycle"
    CHECK_RUN_ACTION = "check_run_action"
    POST_SLACK_MESSAGE = "post_slack_message"


# The jobs that talk to Slack or to GitHub: without that integration they would only
# skip, so the reconcile job leaves their effects pending instead of re-enqueuing them.
SLACK_JOBS = frozenset(
    {
        Job.NOTIFY_SLACK,
        Job.REFRESH_SLACK_QUARANTINE,
        Job.REFRESH_SLACK_MESSAGE,
        Job.PUBLISH_SLACK_HOME,
        Job.POST_SLACK_MESSAGE,
    }
)
GITHUB_JOBS = frozenset(
    {Job.MIRROR_QUARANTINE, Job.UPDATE_CHECK_RUN, Job.INGEST_WORKFLOW_RUN, Job.REFRESH_REPO_FILES}
)

_registry: dict[Job, Callable[..., Any]] = {}


def register(job: Job, func: Callable[..., Any]) -> None:
    """Make ``func`` (a Huey task) the one that runs ``job``."""
    _registry[Job(job)] = func


def registered() -> frozenset[Job]:
    """Every registered job."""
    return frozenset(_registry)


@contextmanager
def replaced(funcs: Mapping[Job, Callable[..., Any]]) -> Iterator[None]:
    """Run ``funcs`` instead of the registered jobs inside the block (tests, benches)."""
    saved = dict(_registry)
    _registry.update({Job(job): func for job, func in funcs.items()})
    try:
        yield
    finally:
        _registry.clear()
        _registry.update(saved)


def enqueue(job: Job, /, **kwargs: Any) -> bool:
    """Enqueue ``job``; True when the queue accepted it."""
    func = _registry.get(job)
    if func is None:
        # The pending work is in the database; the reconcile job will find it.
        log.warning("no job %r is registered (is tasks imported?)", str(job))
        return False
    correlation = logs.get_correlation_id()
    if correlation and "id" not in kwargs and hasattr(func, "huey"):
        kwargs = {**kwargs, "id": logs.task_id_for(correlation)}  # Huey's task id
    try:
        func(**kwargs)
    except (ConnectionError, OSError) as exc:
        log.warning("queue unavailable, %s left for the reconcile job: %s", job, exc)
        return False
    except Exception as exc:
        if type(exc).__module__.split(".")[0] in ("redis", "sqlite3", "huey"):
            log.warning("queue error, %s left for the reconcile job: %s", job, exc)
            return False
        raise
    return True
