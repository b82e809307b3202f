"""Retention: remove raw test results older than N days.

Only the results go (``ResultBlock``, ``ResultAttempt``, ``FailureMessage``: the
big tables). Runs keep their totals, tests their identity, and verdicts
(``FlakeScore`` with its bounded engine state), domain events and quarantines
stay, so scoring goes on from the aggregates.

On PostgreSQL (the result tables partitioned by month, ``models.partitions``) a
month whose every row is past the cutoff is detached and dropped whatever its
size; what is left past the cutoff (the part of the boundary month, on SQLite
everything) is deleted in batches, oldest first, each batch its own short
transaction, so a backlog never holds a long lock and an interrupted pass
resumes where it stopped. A month's failure messages go once every result of
that month has gone. The same pass creates the coming months' partitions.

GitHub webhook delivery ids (kept so a redelivery is a no-op) go after
``DELIVERY_DAYS``: GitHub redelivers from its last three days only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from models import (
    FailureMessage,
    ResultAttempt,
    ResultBlock,
    WebhookDelivery,
    db,
    is_postgres,
    partitions,
    utcnow,
)

log = logging.getLogger(__name__)

BATCH = 5_000
MAX_BATCHES = 1_000  # one pass deletes at most 5 million rows; the next pass goes on
DELIVERY_DAYS = 14  # well past GitHub's three-day redelivery window


@dataclass(frozen=True)
class RetentionReport:
    """What one retention pass deleted."""

    cutoff: datetime
    deleted: int  # rows deleted in batches (result blocks, attempts, messages)
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
    """Remove results dated more than ``days`` days ago: whole expired partitions dropped,
    then the rest ``batch`` rows at a time (oldest first), then the messages of gone months."""
    if days < 1:
        raise ValueError("retention must keep at least one day of results")
    now = now or utcnow()
    cutoff = now - timedelta(days=days)
    partitions.ensure_partitions(now)
    dropped = partitions.drop_partitions_before(cutoff)
    deleted = batches = 0
    complete = True
    skipped: list[str] = []
    for column, until in (
        (ResultBlock.created_at, cutoff),
        (ResultAttempt.created_at, cutoff),
        # a month's messages are used by that month's attempts only
        (FailureMessage.month, partitions.month_start(cutoff)),
    ):
        for month in _months_with_rows(column, until):
            end = min(partitions.next_month(month), until)
            while complete:
                if batches >= max_batches:
                    complete = False
                    break
                try:
                    with db.atomic():
                        if is_postgres():  # a locked month is skipped, not waited for
                            db.execute_sql(
                                "SELECT set_config('lock_timeout', %s, true)",
                                (partitions.LOCK_TIMEOUT,),
                            )
                        gone = _delete_oldest(column, month, end, batch)
                except Exception as exc:  # a lock timeout skips the month; others are raised
                    if not partitions.is_lock_timeout(exc):
                        raise
                    skipped.append(f"{column.model._meta.table_name} {month:%Y-%m}")
                    break
                if not gone:
                    break
                deleted += gone
                batches += 1
    if skipped:
        complete = False
        log.warning("retention: busy, left for the next pass: %s", ", ".join(skipped))
    if dropped.partitions:
        log.info(
            "retention: dropped partitions %s (about %d rows) older than %s",
            ", ".join(dropped.partitions),
            dropped.rows,
            cutoff,
        )
    if deleted:
        log.info("retention: deleted %d rows older than %s in %d batches", deleted, cutoff, batches)
    return RetentionReport(
        cutoff=cutoff,
        deleted=deleted,
        batches=batches,
        complete=complete,
        partitions_dropped=tuple(dropped.partitions),
        partition_rows=dropped.rows,
    )


def _months_with_rows(column: Any, until: datetime) -> Iterator[datetime]:
    """The months (their first day) holding rows dated before ``until``, oldest first: one
    index probe each."""
    model = column.model
    after = datetime.min
    while True:
        first = (
            model.select(column)
            .where(column >= after, column < until)
            .order_by(column)
            .limit(1)
            .scalar()
        )
        if first is None:
            return
        if isinstance(first, str):  # SQLite's text, where peewee left it
            first = datetime.fromisoformat(first)
        month = partitions.month_start(first)
        yield month
        after = partitions.next_month(month)


def _delete_oldest(column: Any, since: datetime, until: datetime, batch: int) -> int:
    """Delete about ``batch`` of the oldest rows dated from ``since`` to before ``until``;
    return how many.

    The rows of a run share their date: a batch ends at the date of its
    ``batch``-th oldest row (all of the oldest date when that is the same one), so
    it needs no key and the index on the date serves it on both databases.
    """
    model = column.model
    within = (column >= since) & (column < until)
    first = model.select(column).where(within).order_by(column).limit(1).scalar()
    if first is None:
        return 0
    edge = model.select(column).where(within).order_by(column).offset(batch).limit(1).scalar()
    if edge is None:
        return int(model.delete().where(within).execute())
    if edge == first:
        return int(model.delete().where((column >= since) & (column <= edge)).execute())
    return int(model.delete().where((column >= since) & (column < edge)).execute())


def purge_deliveries(*, days: int = DELIVERY_DAYS, now: datetime | None = None) -> int:
    """Delete recorded GitHub webhook deliveries older than ``days``; return how many."""
    cutoff = (now or utcnow()) - timedelta(days=days)
    deleted = int(WebhookDelivery.delete().where(WebhookDelivery.received_at < cutoff).execute())
    if deleted:
        log.info("retention: deleted %d webhook deliveries older than %s", deleted, cutoff)
    return deleted
