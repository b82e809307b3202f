"""Retention: delete raw test results older than N days, in batches.

Only ``TestResult`` rows go (the big table). Runs keep their totals, tests
their identity, and verdicts (``FlakeScore`` with its bounded engine state),
domain events and quarantines stay, so scoring goes on from the aggregates.
Each batch is its own short transaction, so a large backlog never holds a
long lock and an interrupted pass resumes where it stopped.

GitHub webhook delivery ids (kept so a redelivery is a no-op) go after
``DELIVERY_DAYS``: GitHub redelivers from its last three days only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from models import TestResult, WebhookDelivery, db, utcnow

log = logging.getLogger(__name__)

BATCH = 5_000
MAX_BATCHES = 1_000  # one pass deletes at most 5 million rows; the next pass goes on
DELIVERY_DAYS = 14  # well past GitHub's three-day redelivery window


@dataclass(frozen=True)
class RetentionReport:
    """What one retention pass deleted."""

    cutoff: datetime
    deleted: int
    batches: int
    complete: bool


def purge_results(
    days: int,
    *,
    now: datetime | None = None,
    batch: int = BATCH,
    max_batches: int = MAX_BATCHES,
) -> RetentionReport:
    """Delete TestResult rows created more than ``days`` days ago, ``batch`` rows at a time."""
    if days < 1:
        raise ValueError("retention must keep at least one day of results")
    cutoff = (now or utcnow()) - timedelta(days=days)
    deleted = batches = 0
    complete = False
    while batches < max_batches:
        with db.atomic():
            ids = [
                row_id
                for (row_id,) in TestResult.select(TestResult.id)
                .where(TestResult.created_at < cutoff)
                .order_by(TestResult.id)
                .limit(batch)
                .tuples()
            ]
            if ids:
                TestResult.delete().where(TestResult.id.in_(ids)).execute()
        if not ids:
            complete = True
            break
        deleted += len(ids)
        batches += 1
        if len(ids) < batch:
            complete = True
            break
    if deleted:
        log.info(
            "retention: deleted %d results older than %s in %d batches", deleted, cutoff, batches
        )
    return RetentionReport(cutoff=cutoff, deleted=deleted, batches=batches, complete=complete)


def purge_deliveries(*, days: int = DELIVERY_DAYS, now: datetime | None = None) -> int:
    """Delete recorded GitHub webhook deliveries older than ``days``; return how many."""
    cutoff = (now or utcnow()) - timedelta(days=days)
    deleted = int(WebhookDelivery.delete().where(WebhookDelivery.received_at < cutoff).execute())
    if deleted:
        log.info("retention: deleted %d webhook deliveries older than %s", deleted, cutoff)
    return deleted
