"""Periodic maintenance: the reconcile job."""

from __future__ import annotations

import logging
from typing import Any

from huey import crontab

from flakeguard import jobs
from flakeguard.usecases import reconcile as reconcile_uc
from tasks.queue import huey, with_db

log = logging.getLogger(__name__)


@huey.periodic_task(crontab(minute="*/5"), name="reconcile")
@huey.lock_task("flakeguard-reconcile")
@with_db
def reconcile() -> dict[str, Any]:
    """Re-enqueue pending work found in the database."""
    report = reconcile_uc.reconcile()
    log.info("reconcile: %d runs pending, enqueued %s", report.runs_pending, report.enqueued)
    return {"runs_pending": report.runs_pending, "enqueued": report.enqueued}


jobs.register("reconcile", reconcile)
