"""Periodic maintenance: reconcile, retention, the fixed-detection sweep.

Periodic jobs run on the consumer started without ``-n`` (``flakeguard worker``
without ``--no-periodic``); each also runs under a queue lock, so two
consumers started with periodic jobs by mistake (or a manual run) still run
one at a time.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from huey import crontab
from huey.exceptions import TaskLockedException

from flakeguard import jobs
from flakeguard.errors import NotConfiguredError
from flakeguard.jobs import Job
from flakeguard.settings import Settings
from flakeguard.usecases import outbox
from flakeguard.usecases import reconcile as reconcile_uc
from flakeguard.usecases import retention as retention_uc
from tasks import context
from tasks.queue import huey, with_db

log = logging.getLogger(__name__)

# A lock outlives a killed worker by at most this long (seconds).
LOCK_TTL = 15 * 60


F = TypeVar("F", bound=Callable[..., Any])


def expiring_lock(name: str, ttl: float = LOCK_TTL) -> Callable[[F], F]:
    """Run the task under a queue lock that a killed worker cannot hold for more than ``ttl``.

    Like ``huey.lock_task`` (a second run raises TaskLockedException and is skipped), but
    the lock records when it was taken and a stale one is taken over: Huey's own TTL
    needs Redis 7.4, and a worker killed while holding a plain lock would stop the job
    for good.
    """

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            key = f"{huey.name}.lock.{name}"
            now = time.time()
            if not huey.put_if_empty(key, now):
                since = huey.get(key, peek=True)
                if isinstance(since, float) and now - since < ttl:
                    raise TaskLockedException(f"unable to acquire lock {name}")
                huey.delete(key)  # stale: its holder died
                if not huey.put_if_empty(key, now):
                    raise TaskLockedException(f"unable to acquire lock {name}")
                log.warning("took over the stale %s lock (held since %s)", name, since)
            try:
                return func(*args, **kwargs)
            finally:
                huey.delete(key)

        return wrapper  # type: ignore[return-value]

    return decorate


def _settings() -> Settings:
    try:
        return context.get_settings()
    except NotConfiguredError:
        return Settings()


@huey.periodic_task(crontab(minute="*/5"), name=Job.RECONCILE.value)
@expiring_lock("flakeguard-reconcile")
@with_db
def reconcile() -> dict[str, Any]:
    """Re-enqueue pending work found in the database, and raise missing "fixed" events."""
    settings = _settings()
    report = reconcile_uc.reconcile(slack=settings.slack_enabled, github=settings.github_enabled)
    report.fixed_events = len(reconcile_uc.sweep_fixed(notify=settings.slack_enabled))
    if report.enqueued or report.fixed_events:
        log.info(
            "reconcile: pending %s, enqueued %s, fixed events %d",
            report.pending,
            report.enqueued,
            report.fixed_events,
        )
    return {"runs_pending": report.runs_pending, **report.as_dict()}


@huey.periodic_task(crontab(hour="3", minute="17"), name=Job.RETENTION.value)
@expiring_lock("flakeguard-retention")
@with_db
def retention() -> dict[str, Any]:
    """Delete raw test results older than FLAKEGUARD_RETENTION_DAYS (verdicts stay), old
    webhook delivery ids and done outbox effects."""
    report = retention_uc.purge_results(_settings().retention_days)
    deliveries = retention_uc.purge_deliveries()
    effects = outbox.purge_done()
    return {
        "deleted": report.deleted,
        "batches": report.batches,
        "complete": report.complete,
        "partitions_dropped": list(report.partitions_dropped),
        "deliveries_deleted": deliveries,
        "effects_deleted": effects,
    }


jobs.register(Job.RECONCILE, reconcile)
jobs.register(Job.RETENTION, retention)
