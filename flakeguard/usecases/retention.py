"""Retention: remove raw test results older than N days.

Only ``TestResult`` rows go (the big table). Runs keep their totals, tests
their identity, and verdicts (``FlakeScore`` with its bounded engine state),
domain events and quarantines stay, so scoring goes on from the aggregates.

On PostgreSQL (``test_result`` partitioned by month, ``models.partitions``) a
month whose every row is past the cutoff is detached and dropped whatever its
size; what is left past the cutoff (the part of the boundary month, on SQLite
everything) is deleted in batches, oldest first, each batch its own short
transaction, so a backlog never holds a long lock and an interrupted pass
resumes where it stopped. The same pass creates the coming months' partitions.

GitHub webhook delivery ids (kept so a redelivery is a no-op) go after
``DELIVERY_DAYS``: GitHub redelivers from its last three days only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from models import TestResult, WebhookDelivery, db, partitions, utcnow

log = logging.getLogger(__name__)

BATCH = 5_000
MAX_BATCHES = 1_000  # one pass deletes at most 5 million rows; the next pass goes on
DELIVERY_DAYS = 14  # well past GitHub's three-day redelivery window


@dataclass(frozen=True)
class RetentionReport:
    """What one retention pass deleted."""

    cutoff: datetime
    deleted: int  # rows deleted in batches
    batches: int
    complete: bool
    partitions_dropped: tuple[str, ...] = ()  # whole months dropped (PostgreSQL)
    partition_rows: int = 0  # their rows, as the planner estimated them


def purge_results(
    days: int,
    *,
    now: datetime | None = None,
    batch: int = BATCH,
    max_batches: int = MAX_BATCHES,
) -> RetentionReport:
    """Remove TestResult rows created more than ``days`` days ago: whole expired partitions
    dropped, then the rest ``batch`` rows at a time (oldest first)."""
    if days < 1:
        raise ValueError("retention must keep at least one day of results")
    now = now or utcnow()
    cutoff = now - timedelta(days=days)
    partitions.ensure_partitions(now)
    dropped = partitions.drop_partitions_before(cutoff)
    deleted = batches = 0
    complete = False
    while batches < max_batches:
        with db.atomic():
            # Oldest first by (created_at, id): the created_at index serves it on both
            # databases, and the delete is bounded by the batch's own time range.
            rows = list(
                TestResult.select(TestResult.id, TestResult.created_at)
                .where(TestResult.created_at < cutoff)
                .order_by(TestResult.created_at, TestResult.id)
                .limit(batch)
                .tuples()
            )
            if rows:
                TestResult.delete().where(
                    TestResult.created_at.between(rows[0][1], rows[-1][1]),
                    TestResult.id.in_([row_id for row_id, _ in rows]),
                ).execute()
        if not rows:
            complete = True
            break
        deleted += len(rows)
        batches += 1
        if len(rows) < batch:
            complete = True
            break
    if dropped.partitions:
        log.info(
            "retention: dropped partitions %s (about %d results) older than %s",
            ", ".join(dropped.partitions),
            dropped.rows,
            cutoff,
        )
    if deleted:
        log.info(
            "retention: deleted %d results older than %s in %d batches", deleted, cutoff, batches
        )
    return RetentionReport(
        cutoff=cutoff,
        deleted=deleted,
        batches=batches,
        complete=complete,
        partitions_dropped=tuple(dropped.partitions),
        partition_rows=dropped.rows,
    )


def purge_deliveries(*, days: int = DELIVERY_DAYS, now: datetime | None = None) -> int:
    """Delete recorded GitHub webhook deliveries older than ``days``; return how many."""
    cutoff = (now or utcnow()) - timedelta(days=days)
    deleted = int(WebhookDelivery.delete().where(WebhookDelivery.received_at < cutoff).execute())
    if deleted:
        log.info("retention: deleted %d webhook deliveries older than %s", deleted, cutoff)
    return deleted
