"""Monthly range partitions of the results on PostgreSQL (SQLite keeps plain tables).

Since migration 0047 the three result tables are partitioned by month on
PostgreSQL: ``result_block`` and ``result_attempt`` by ``created_at`` (the
run's date, shared by all of its rows), ``failure_message`` by ``month`` (the
month of the results using it). Each has one partition per calendar month
(``<table>_YYYY_MM``) and a default partition (``<table>_default``) for rows
dated outside every month (a client clock years off). None has a primary key
but ``failure_message`` (``(id, month)``): nothing refers to a result.

Retention drops a month whose every row is older than the cutoff (metadata
only, whatever its size) instead of deleting its rows; partitions are created
``AHEAD`` months in advance by the same daily job. A month is created or dropped
in all three tables at once, in one short transaction under a short
``lock_timeout``: a DDL statement waiting for a lock makes every query on the
table queue behind it, so it gives up quickly and tries again ``RETRIES`` times
(backing off); a month still busy (a long report query on it) is left for the
next pass. ``DETACH PARTITION ... CONCURRENTLY`` (PostgreSQL 14) would wait
without blocking anyone, but PostgreSQL refuses it on a table with a default
partition, which these have.

Every function is a no-op where the results are not partitioned (SQLite).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from models.base import db, is_postgres

log = logging.getLogger(__name__)

# each partitioned table and its partition key; months are dropped in this order
TABLES = {"result_block": "created_at", "result_attempt": "created_at", "failure_message": "month"}
AHEAD = 3  # months of partitions kept ready beyond the current one
LOCK_TIMEOUT = "200ms"  # how long a DDL statement may hold up the queries queued behind it
RETRIES = 4  # further tries of a month that timed out, after 0.5, 1, 2 and 4 s
BACKOFF_SECONDS = 0.5
Pause = Callable[[float], object]

_BOUND = re.compile(r"FROM \((?P<lo>[^)]*)\) TO \((?P<hi>[^)]*)\)")


@dataclass(frozen=True)
class Partition:
    table: str
    name: str
    lower: datetime | None  # None: MINVALUE
    upper: datetime | None  # None: MAXVALUE
    rows: int  # the planner's estimate (pg_class.reltuples), 0 when never analysed


def month_start(value: datetime) -> datetime:
    return datetime(value.year, value.month, 1)


def next_month(value: datetime) -> datetime:
    return datetime(value.year + (value.month == 12), value.month % 12 + 1, 1)


def partition_name(table: str, month: datetime) -> str:
    return f"{table}_{month:%Y_%m}"


def is_partitioned() -> bool:
    """True when the results are partitioned (PostgreSQL)."""
    if not is_postgres():
        return False
    row = db.execute_sql(
        "SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", (next(iter(TABLES)),)
    ).fetchone()
    return row is not None and row[0] == "p"


def _bound(text: str) -> datetime | None:
    text = text.strip().strip("'")
    if text in ("MINVALUE", "MAXVALUE"):
        return None
    return datetime.fromisoformat(text)


def partitions(table: str = "result_block") -> list[Partition]:
    """The range partitions of one of the ``TABLES`` (not the default one), oldest first."""
    if not is_partitioned():
        return []
    rows = db.execute_sql(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid), greatest(c.reltuples, 0) "
        "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = to_regclass(%s)",
        (table,),
    ).fetchall()
    out = []
    for name, bound, estimate in rows:
        match = _BOUND.search(bound or "")
        if match is None:
            continue  # DEFAULT
        lower, upper = _bound(match["lo"]), _bound(match["hi"])
        out.append(Partition(table, name, lower, upper, int(estimate)))
    return sorted(out, key=lambda p: (p.lower is not None, p.lower or datetime.min))


def _covered(month: datetime, existing: list[Partition]) -> bool:
    end = next_month(month)
    return any(
        (p.lower is None or p.lower < end) and (p.upper is None or p.upper > month)
        for p in existing
    )


def ensure_partitions(
    now: datetime,
    *,
    ahead: int = AHEAD,
    lock_timeout: str = LOCK_TIMEOUT,
    retries: int = RETRIES,
    pause: Pause = time.sleep,
) -> list[str]:
    """Create the monthly partitions of this month and the next ``ahead``; return their names.

    A month's partitions of the three tables are made together (all or none).
    Rows already in the default partition for such a month are moved into it
    (the default partition may not hold rows of a range attached beside it).
    """
    if not is_partitioned():
        return []
    existing = {table: partitions(table) for table in TABLES}
    created = []
    month = month_start(now)
    for _ in range(ahead + 1):
        missing = [table for table in TABLES if not _covered(month, existing[table])]

        def create(month: datetime = month, missing: list[str] = missing) -> None:
            for table in missing:
                _create(table, month)

        if missing and _in_short_transactions(create, lock_timeout, retries, pause):
            created += [partition_name(table, month) for table in missing]
        elif missing:  # made ``ahead`` months early: a later pass has time to create it
            log.info("partitions: %s not created now (tables busy)", f"{month:%Y-%m}")
        month = next_month(month)
    return created


def _in_short_transactions(
    action: Callable[[], None], lock_timeout: str, retries: int, pause: Pause
) -> bool:
    """Run ``action`` in a transaction under ``lock_timeout``; after a lock timeout pause and
    try again, up to ``retries`` times. False when every try timed out."""
    delay = BACKOFF_SECONDS
    for attempt in range(retries + 1):
        try:
            with db.atomic():
                db.execute_sql("SELECT set_config('lock_timeout', %s, true)", (lock_timeout,))
                action()
            return True
        except Exception as exc:  # a lock timeout is expected; anything else is raised
            if not is_lock_timeout(exc):
                raise
        if attempt < retries:
            pause(delay)
            delay *= 2
    return False


def _literal(value: datetime) -> str:
    """A timestamp literal for DDL (which takes no parameters); only our own datetimes."""
    return f"'{value:%Y-%m-%d %H:%M:%S}'"


def _create(table: str, month: datetime) -> None:
    """Make one month's partition (in the caller's transaction). Either way it gets every
    index of the partitioned table: PostgreSQL creates them on ``PARTITION OF`` and on
    ``ATTACH`` (the month made beside the table to take rows out of the default partition)."""
    name, lo, hi = partition_name(table, month), month, next_month(month)
    key, default = TABLES[table], f"{table}_default"
    bounds = f"FROM ({_literal(lo)}) TO ({_literal(hi)})"
    strays = db.execute_sql(
        f'SELECT 1 FROM "{default}" WHERE {key} >= %s AND {key} < %s LIMIT 1', (lo, hi)
    ).fetchone()
    if strays is None:
        db.execute_sql(f'CREATE TABLE "{name}" PARTITION OF "{table}" FOR VALUES {bounds}')
        return
    db.execute_sql(f'CREATE TABLE "{name}" (LIKE "{table}" INCLUDING DEFAULTS)')
    db.execute_sql(
        f'WITH moved AS (DELETE FROM "{default}" WHERE {key} >= %s AND {key} < %s '
        f'RETURNING *) INSERT INTO "{name}" SELECT * FROM moved',
        (lo, hi),
    )
    db.execute_sql(f'ALTER TABLE "{table}" ATTACH PARTITION "{name}" FOR VALUES {bounds}')


def is_lock_timeout(exc: BaseException) -> bool:
    """True for PostgreSQL's lock_timeout (SQLSTATE 55P03), raw or wrapped by peewee."""
    for err in (exc, getattr(exc, "orig", None), exc.__cause__, exc.__context__):
        if getattr(err, "sqlstate", None) == "55P03":
            return True
    return False


@dataclass(frozen=True)
class Dropped:
    partitions: list[str]
    rows: int  # estimated (the planner's row counts of the dropped partitions, all tables)


def drop_partitions_before(
    cutoff: datetime,
    *,
    lock_timeout: str = LOCK_TIMEOUT,
    retries: int = RETRIES,
    pause: Pause = time.sleep,
) -> Dropped:
    """Detach and drop every month whose rows are all older than ``cutoff``, oldest first.

    A month's partitions of the three tables go together, in one short
    transaction; a month still busy after the retries stays for the next pass
    (its rows are still deleted in batches by the caller, so the result is the
    same, only slower) and the later months go on.
    """
    months: dict[datetime, list[Partition]] = {}
    for table in TABLES:
        for part in partitions(table):
            if part.upper is not None and part.upper <= cutoff:
                months.setdefault(part.lower or datetime.min, []).append(part)
    names: list[str] = []
    rows = 0
    for month in sorted(months):
        parts = months[month]

        def drop(parts: list[Partition] = parts) -> None:
            for part in parts:
                db.execute_sql(f'ALTER TABLE "{part.table}" DETACH PARTITION "{part.name}"')
                db.execute_sql(f'DROP TABLE "{part.name}"')

        if _in_short_transactions(drop, lock_timeout, retries, pause):
            names += [part.name for part in parts]
            rows += sum(part.rows for part in parts)
        else:
            log.info("partitions: %s left for the next pass (busy)", f"{month:%Y-%m}")
    return Dropped(names, rows)
