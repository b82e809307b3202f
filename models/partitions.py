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
``AHEAD`` months in advance by the same daily job. Each DDL statement runs in its
own short transaction under ``lock_timeout``: a partition that cannot be locked
at once (a long report query on it) is left for the next pass instead of
queueing every upload behind it.

Every function is a no-op where the results are not partitioned (SQLite).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime

from models.base import db, is_postgres

log = logging.getLogger(__name__)

# each partitioned table and its partition key; months are dropped in this order
TABLES = {"result_block": "created_at", "result_attempt": "created_at", "failure_message": "month"}
AHEAD = 3  # months of partitions kept ready beyond the current one
LOCK_TIMEOUT = "5s"

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
    now: datetime, *, ahead: int = AHEAD, lock_timeout: str = LOCK_TIMEOUT
) -> list[str]:
    """Create the monthly partitions of this month and the next ``ahead``; return their names.

    Rows already in the default partition for such a month are moved into it
    (the default partition may not hold rows of a range attached beside it).
    """
    if not is_partitioned():
        return []
    created = []
    for table in TABLES:
        existing = partitions(table)
        month = month_start(now)
        for _ in range(ahead + 1):
            name = partition_name(table, month)
            if not _covered(month, existing):
                try:
                    _create(table, month, lock_timeout)
                except Exception as exc:  # a lock timeout is expected; anything else is raised
                    if not _lock_timeout(exc):
                        raise
                    # made ``ahead`` months early: a later pass has time to create it
                    log.info("partitions: %s not created now (table busy)", name)
                else:
                    created.append(name)
            month = next_month(month)
    return created


def _literal(value: datetime) -> str:
    """A timestamp literal for DDL (which takes no parameters); only our own datetimes."""
    return f"'{value:%Y-%m-%d %H:%M:%S}'"


def _create(table: str, month: datetime, lock_timeout: str) -> None:
    """Make one month's partition. Either way it gets every index of the partitioned table:
    PostgreSQL creates them on ``PARTITION OF`` and on ``ATTACH`` (the month made beside the
    table to take rows out of the default partition)."""
    name, lo, hi = partition_name(table, month), month, next_month(month)
    key, default = TABLES[table], f"{table}_default"
    bounds = f"FROM ({_literal(lo)}) TO ({_literal(hi)})"
    with db.atomic():
        db.execute_sql("SELECT set_config('lock_timeout', %s, true)", (lock_timeout,))
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


def _lock_timeout(exc: BaseException) -> bool:
    """True for PostgreSQL's lock_timeout (SQLSTATE 55P03), raw or wrapped by peewee."""
    for err in (exc, getattr(exc, "orig", None), exc.__cause__, exc.__context__):
        if getattr(err, "sqlstate", None) == "55P03":
            return True
    return False


@dataclass(frozen=True)
class Dropped:
    partitions: list[str]
    rows: int  # estimated (the planner's row counts of the dropped partitions, all tables)


def drop_partitions_before(cutoff: datetime, *, lock_timeout: str = LOCK_TIMEOUT) -> Dropped:
    """Detach and drop every partition whose rows are all older than ``cutoff``.

    One short transaction per partition; one that cannot be locked within
    ``LOCK_TIMEOUT`` stays for the next pass (its rows are still deleted in
    batches by the caller, so the result is the same, only slower).
    """
    names: list[str] = []
    rows = 0
    for table in TABLES:
        for part in partitions(table):
            if part.upper is None or part.upper > cutoff:
                continue
            try:
                with db.atomic():
                    db.execute_sql("SELECT set_config('lock_timeout', %s, true)", (lock_timeout,))
                    db.execute_sql(f'ALTER TABLE "{table}" DETACH PARTITION "{part.name}"')
                    db.execute_sql(f'DROP TABLE "{part.name}"')
            except Exception as exc:  # a lock timeout is expected; anything else is raised
                if not _lock_timeout(exc):
                    raise
                continue  # busy now: the next pass drops it
            names.append(part.name)
            rows += part.rows
    return Dropped(names, rows)
