"""Monthly range partitions of ``test_result`` on PostgreSQL (SQLite keeps one plain table).

Since migration 0044 ``test_result`` on PostgreSQL is partitioned by range of
``created_at`` (the run's date, shared by all of its rows): one partition per
calendar month (``test_result_YYYY_MM``), ``test_result_legacy`` holding what was
stored before the migration (everything before its cut-over month), and
``test_result_default`` for rows dated outside every partition (a client clock
years off). The monthly partitions have no primary key: nothing refers to a
result by id (ids still come from the one sequence).

Retention drops a month whose every row is older than the cutoff (metadata
only, whatever its size) instead of deleting its rows; partitions are created
``AHEAD`` months in advance by the same daily job. Each DDL statement runs in its
own short transaction under ``lock_timeout``: a partition that cannot be locked
at once (a long report query on it) is left for the next pass instead of
queueing every upload behind it.

Every function is a no-op where ``test_result`` is not partitioned (SQLite, or
PostgreSQL before 0044 / after its rollback).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime

from models.base import db, is_postgres

log = logging.getLogger(__name__)

TABLE = "test_result"
DEFAULT = "test_result_default"
LEGACY = "test_result_legacy"
AHEAD = 3  # months of partitions kept ready beyond the current one
LOCK_TIMEOUT = "5s"

_BOUND = re.compile(r"FROM \((?P<lo>[^)]*)\) TO \((?P<hi>[^)]*)\)")


@dataclass(frozen=True)
class Partition:
    name: str
    lower: datetime | None  # None: MINVALUE
    upper: datetime | None  # None: MAXVALUE
    rows: int  # the planner's estimate (pg_class.reltuples), 0 when never analysed


def month_start(value: datetime) -> datetime:
    return datetime(value.year, value.month, 1)


def next_month(value: datetime) -> datetime:
    return datetime(value.year + (value.month == 12), value.month % 12 + 1, 1)


def partition_name(month: datetime) -> str:
    return f"{TABLE}_{month:%Y_%m}"


def is_partitioned() -> bool:
    """True when ``test_result`` is a partitioned table (PostgreSQL after migration 0044)."""
    if not is_postgres():
        return False
    row = db.execute_sql(
        "SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", (TABLE,)
    ).fetchone()
    return row is not None and row[0] == "p"


def _bound(text: str) -> datetime | None:
    text = text.strip().strip("'")
    if text in ("MINVALUE", "MAXVALUE"):
        return None
    return datetime.fromisoformat(text)


def partitions() -> list[Partition]:
    """The range partitions of ``test_result`` (not the default one), oldest first."""
    if not is_partitioned():
        return []
    rows = db.execute_sql(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid), greatest(c.reltuples, 0) "
        "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = to_regclass(%s)",
        (TABLE,),
    ).fetchall()
    out = []
    for name, bound, estimate in rows:
        match = _BOUND.search(bound or "")
        if match is None:
            continue  # DEFAULT
        out.append(Partition(name, _bound(match["lo"]), _bound(match["hi"]), int(estimate)))
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
    existing = partitions()
    created = []
    month = month_start(now)
    for _ in range(ahead + 1):
        if not _covered(month, existing):
            try:
                _create(month, lock_timeout)
            except Exception as exc:  # a lock timeout is expected; anything else is raised
                if not _lock_timeout(exc):
                    raise
                # made ``ahead`` months early: a later pass has time to create it
                log.info("partitions: %s not created now (table busy)", partition_name(month))
            else:
                created.append(partition_name(month))
        month = next_month(month)
    return created


def _literal(value: datetime) -> str:
    """A timestamp literal for DDL (which takes no parameters); only our own datetimes."""
    return f"'{value:%Y-%m-%d %H:%M:%S}'"


def _create(month: datetime, lock_timeout: str) -> None:
    """Make one month's partition. Either way it gets every index of the partitioned table
    (the partial index of failures too): PostgreSQL creates them on ``PARTITION OF`` and on
    ``ATTACH`` (the month made beside the table to take rows out of the default partition)."""
    name, lo, hi = partition_name(month), month, next_month(month)
    bounds = f"FROM ({_literal(lo)}) TO ({_literal(hi)})"
    with db.atomic():
        db.execute_sql("SELECT set_config('lock_timeout', %s, true)", (lock_timeout,))
        strays = db.execute_sql(
            f'SELECT 1 FROM "{DEFAULT}" WHERE created_at >= %s AND created_at < %s LIMIT 1',
            (lo, hi),
        ).fetchone()
        if strays is None:
            db.execute_sql(f'CREATE TABLE "{name}" PARTITION OF "{TABLE}" FOR VALUES {bounds}')
            return
        db.execute_sql(f'CREATE TABLE "{name}" (LIKE "{TABLE}" INCLUDING DEFAULTS)')
        db.execute_sql(
            f'WITH moved AS (DELETE FROM "{DEFAULT}" WHERE created_at >= %s AND created_at < %s '
            f'RETURNING *) INSERT INTO "{name}" SELECT * FROM moved',
            (lo, hi),
        )
        db.execute_sql(f'ALTER TABLE "{TABLE}" ATTACH PARTITION "{name}" FOR VALUES {bounds}')


def _lock_timeout(exc: BaseException) -> bool:
    """True for PostgreSQL's lock_timeout (SQLSTATE 55P03), raw or wrapped by peewee."""
    for err in (exc, getattr(exc, "orig", None), exc.__cause__, exc.__context__):
        if getattr(err, "sqlstate", None) == "55P03":
            return True
    return False


@dataclass(frozen=True)
class Dropped:
    partitions: list[str]
    rows: int  # estimated (the planner's row counts of the dropped partitions)


def drop_partitions_before(cutoff: datetime, *, lock_timeout: str = LOCK_TIMEOUT) -> Dropped:
    """Detach and drop every partition whose rows are all older than ``cutoff``.

    One short transaction per partition; one that cannot be locked within
    ``LOCK_TIMEOUT`` stays for the next pass (its rows are still deleted in
    batches by the caller, so the result is the same, only slower).
    """
    names: list[str] = []
    rows = 0
    for part in partitions():
        if part.upper is None or part.upper > cutoff:
            continue
        try:
            with db.atomic():
                db.execute_sql("SELECT set_config('lock_timeout', %s, true)", (lock_timeout,))
                db.execute_sql(f'ALTER TABLE "{TABLE}" DETACH PARTITION "{part.name}"')
                db.execute_sql(f'DROP TABLE "{part.name}"')
        except Exception as exc:  # a lock timeout is expected; anything else is raised
            if not _lock_timeout(exc):
                raise
            continue  # busy now: the next pass drops it
        names.append(part.name)
        rows += part.rows
    return Dropped(names, rows)
