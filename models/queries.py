"""Hot-path queries in plain SQL, for both databases (the ORM costs too much per row here)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime
from typing import Any, NamedTuple

from models.base import db, is_postgres

CHUNK = 900  # ids per IN (...) list, under SQLite's variable limit

# What analysis writes per test; upsert_scores adds repository_id, state_since
# (kept while the state stays the same) and updated_at.
SCORE_COLUMNS = (
    "test_case_id",
    "state",
    "score",
    "low",
    "high",
    "quarantine_recommended",
    "reason",
    "evidence",
    "engine_state",
    "runs_seen",
)
_SCORE_LIST = ", ".join(SCORE_COLUMNS)
_SCORE_SET = ", ".join(f"{c} = excluded.{c}" for c in SCORE_COLUMNS[1:])
_KEEP_SINCE = (
    "state_since = CASE WHEN flake_score.state = excluded.state "
    "THEN flake_score.state_since ELSE excluded.state_since END, "
    "updated_at = excluded.updated_at"
)
# PostgreSQL: COPY (binary) into a session-local staging table, then one UPDATE
# joined on it.  The fastest way in; and an UPDATE, unlike INSERT ... ON
# CONFLICT, does not burn a sequence value per row.
_PG_STAGING_TYPES = (
    "int4",
    "text",
    "float8",
    "float8",
    "float8",
    "bool",
    "text",
    "text",  # evidence: JSON text, cast to jsonb by the server
    "bytea",
    "int4",
)
_PG_STAGING = (
    "CREATE TEMP TABLE IF NOT EXISTS flake_score_in ("
    + ", ".join(f"{c} {t}" for c, t in zip(SCORE_COLUMNS, _PG_STAGING_TYPES, strict=True))
    + ") ON COMMIT DELETE ROWS; "
    # Empty but for rows staged earlier in this same transaction (cheaper than TRUNCATE).
    "DELETE FROM flake_score_in"
)
_PG_COPY = f"COPY flake_score_in ({_SCORE_LIST}) FROM STDIN (FORMAT BINARY)"
_STAGED = ", ".join(f"i.{c}::jsonb" if c == "evidence" else f"i.{c}" for c in SCORE_COLUMNS)
_PG_UPDATE = (
    "UPDATE flake_score SET "
    + ", ".join(
        f"{c} = i.{c}::jsonb" if c == "evidence" else f"{c} = i.{c}" for c in SCORE_COLUMNS[1:]
    )
    + ", state_since = CASE WHEN flake_score.state = i.state "
    "THEN flake_score.state_since ELSE %(stamp)s END, updated_at = %(stamp)s "
    "FROM flake_score_in i WHERE flake_score.test_case_id = i.test_case_id"
)
_PG_INSERT = (
    f"INSERT INTO flake_score ({_SCORE_LIST}, repository_id, state_since, updated_at) "
    f"SELECT {_STAGED}, %(repository_id)s, %(stamp)s, %(stamp)s FROM flake_score_in i "
    "WHERE i.test_case_id = ANY(%(new)s::int[]) "
    f"ON CONFLICT (test_case_id) DO UPDATE SET {_SCORE_SET}, {_KEEP_SINCE}"
)
_SQLITE_UPSERT = (
    f"INSERT INTO flake_score ({_SCORE_LIST}, repository_id, state_since, updated_at) "
    f"VALUES ({', '.join('?' * (len(SCORE_COLUMNS) + 3))}) "
    f"ON CONFLICT (test_case_id) DO UPDATE SET {_SCORE_SET}, {_KEEP_SINCE}"
)


@contextmanager
def custom_plans() -> Iterator[None]:
    """Plan the enclosed queries for their own parameters (PostgreSQL; a no-op on SQLite).

    psycopg prepares a statement it has run a few times, and PostgreSQL may then
    use one generic plan for every parameter: for "failures since a date" over a
    big results table that plan is a sequential scan (seconds) where the plan for
    the actual date walks a partial index (milliseconds). Scoped to one transaction.
    """
    if not is_postgres():
        yield
        return
    with db.atomic():
        db.execute_sql("SET LOCAL plan_cache_mode = force_custom_plan")
        yield


@contextmanager
def prefer_indexes() -> Iterator[None]:
    """Plan the enclosed queries without sequential scans (PostgreSQL; a no-op on SQLite).

    The planner prices a trigram GIN index above a sequential scan of a few
    tens of thousands of short names, although the index answers
    ``LIKE '%part%'`` ten times faster; this hint is scoped to one transaction.
    """
    if not is_postgres():
        yield
        return
    with db.atomic():
        db.execute_sql("SET LOCAL enable_seqscan = off")
        yield


def score_rows(test_case_ids: Sequence[int]) -> dict[int, tuple[str, bytes | str | None, float]]:
    """test_case_id -> (state, engine_state, low) for existing scores.

    ``engine_state`` is bytes (``TestState.to_bytes``), or the JSON of a state
    stored before migration 0035 (bytes on PostgreSQL, text on SQLite).
    """
    found: dict[int, tuple[str, bytes | str | None, float]] = {}
    for chunk, where in _id_chunks("test_case_id", test_case_ids):
        query = f"SELECT test_case_id, state, engine_state, low FROM flake_score WHERE {where}"
        if is_postgres():
            with db.connection().cursor(binary=True) as cursor:  # bytea as is
                cursor.execute(query, chunk)
                rows = cursor.fetchall()
        else:
            rows = db.execute_sql(query, chunk).fetchall()
        for test_case_id, state, engine_state, low in rows:
            found[test_case_id] = (state, engine_state, low)
    return found


def upsert_scores(
    repository_id: int,
    rows: Sequence[tuple[Any, ...]],
    *,
    existing: Collection[int],
    stamp: datetime,
) -> None:
    """Write FlakeScore rows: tuples in SCORE_COLUMNS order, evidence as JSON text.

    Rows whose test_case_id is in ``existing`` are updated in place, the others
    inserted (or updated, should one have appeared meanwhile). ``updated_at``
    becomes ``stamp``, and so does ``state_since`` where the state changes.
    """
    if not rows:
        return
    if not is_postgres():
        since = _sqlite_value(stamp)
        db.connection().executemany(
            _SQLITE_UPSERT, [(*row, repository_id, since, since) for row in rows]
        )
        return
    new = [row[0] for row in rows if row[0] not in existing]
    params = {"stamp": stamp, "repository_id": repository_id}
    with _in_transaction(), db.connection().cursor() as cursor:
        cursor.execute(_PG_STAGING)
        with cursor.copy(_PG_COPY) as copy:
            copy.set_types(_PG_STAGING_TYPES)
            for row in rows:
                copy.write_row(row)
        if len(new) < len(rows):
            cursor.execute(_PG_UPDATE, params)
        if new:
            cursor.execute(_PG_INSERT, {**params, "new": _int_array(new)})


class QuarantineRow(NamedTuple):
    """What the analysis reads of a test's Quarantine."""

    test_case_id: int
    state: str
    quarantined_at: datetime | None
    updated_at: datetime
    rate_at_quarantine: float | None
    dismissed_conflicts: int


def quarantine_rows(test_case_ids: Sequence[int]) -> dict[int, QuarantineRow]:
    """test_case_id -> its Quarantine, for those of ``test_case_ids`` that have one."""
    found: dict[int, QuarantineRow] = {}
    for chunk, where in _id_chunks("test_case_id", test_case_ids):
        cursor = db.execute_sql(
            "SELECT test_case_id, state, quarantined_at, updated_at, rate_at_quarantine, "
            f"dismissed_conflicts FROM quarantine WHERE {where}",
            chunk,
        )
        for row in cursor.fetchall():
            test_case_id, state, quarantined_at, updated_at, rate, dismissed = row
            if isinstance(updated_at, str):  # SQLite hands timestamps back as text
                updated_at = datetime.fromisoformat(updated_at)
                if quarantined_at is not None:
                    quarantined_at = datetime.fromisoformat(quarantined_at)
            found[test_case_id] = QuarantineRow(
                test_case_id, state, quarantined_at, updated_at, rate, dismissed
            )
    return found


def touch_test_cases(test_case_ids: Sequence[int], now: datetime, stale: datetime) -> None:
    """Set ``last_seen`` to ``now`` on the given test cases where it is older than ``stale``."""
    for chunk, where in _id_chunks("id", test_case_ids):
        db.execute_sql(
            f"UPDATE test_case SET last_seen = {_param()} WHERE {where} AND last_seen < {_param()}",
            [_sqlite_value(now), *chunk, _sqlite_value(stale)],
        )


def _in_transaction() -> AbstractContextManager[Any]:
    """The current transaction, or a new one when there is none (the staging table needs one)."""
    return nullcontext() if db.in_transaction() else db.atomic()


def _sqlite_value(value: Any) -> Any:
    # peewee's own text format for DateTimeField on SQLite
    return value.isoformat(" ") if isinstance(value, datetime) else value


def _id_chunks(column: str, ids: Sequence[int]) -> list[tuple[list[Any], str]]:
    """(parameters, WHERE clause) pairs matching ``column`` against ``ids``.

    PostgreSQL takes the whole list as one array (``= ANY``); SQLite gets IN lists
    under its variable limit.
    """
    if is_postgres():
        return [([_int_array(ids)], f"{column} = ANY(%s::int[])")] if ids else []
    out = []
    for start in range(0, len(ids), CHUNK):
        chunk = list(ids[start : start + CHUNK])
        out.append((chunk, f"{column} IN ({', '.join('?' * len(chunk))})"))
    return out


def _int_array(ids: Iterable[int]) -> str:
    """A PostgreSQL array literal: psycopg would adapt a list element by element in Python."""
    return "{" + ",".join(map(str, ids)) + "}"


def _param() -> str:
    return "%s" if is_postgres() else "?"


FAMILY_CHUNK = 25  # families per statement (each is a sub-select of its own)
MAX_SIBLINGS = 50  # parametrised members read per family, in key order


def family_states(
    repository_id: int, families: Collection[str], *, per_family: int = MAX_SIBLINGS
) -> list[tuple[int, str, bytes | str]]:
    """(test_case_id, key, engine_state) of scored tests of the given families.

    A family is a key without its parametrisation: its members are the test
    keyed by it and, at most ``per_family`` of them (the first in byte order),
    the tests keyed by it followed by ``[...]``, so that a family of ten
    thousand parametrisations costs what one of fifty does.  A key that
    merely starts so (``fam[x]y[z]`` is of the family ``fam[x]y``) is returned
    too: the caller checks each key's family.

    The members are a range of keys in byte order, from ``<family>[`` to
    ``<family>\\``: exact (case, ``%`` and ``_`` are plain characters, no
    pattern), and an index range on both databases (PostgreSQL's index in the
    C collation, migration 0050; SQLite's binary key index).
    """
    found: list[tuple[int, str, bytes | str]] = []
    names = sorted(families)
    p = _param()
    select = (
        "SELECT t.id, t.key, s.engine_state FROM test_case t "
        "JOIN flake_score s ON s.test_case_id = t.id "
        f"WHERE t.repository_id = {p} AND s.engine_state IS NOT NULL AND "
    )
    key = 't.key COLLATE "C"' if is_postgres() else "t.key"
    members = f"{key} >= {p} AND {key} < {p} ORDER BY {key} LIMIT {p}"
    for start in range(0, len(names), FAMILY_CHUNK):
        chunk = names[start : start + FAMILY_CHUNK]
        arms = [select + f"t.key IN ({', '.join([p] * len(chunk))})"]
        params: list[Any] = [repository_id, *chunk]
        for at, family in enumerate(chunk):
            arms.append(f"SELECT * FROM ({select}{members}) AS f{at}")
            params += [repository_id, family + "[", family + "\\", per_family]
        rows = db.execute_sql(" UNION ALL ".join(arms), params).fetchall()
        found.extend(
            (test_case_id, key, bytes(blob) if isinstance(blob, memoryview) else blob)
            for test_case_id, key, blob in rows
        )
    return found


def test_case_keys(repository_id: int, test_case_ids: Sequence[int]) -> dict[int, str]:
    """test_case_id -> key, for those of the given test cases that are the repository's."""
    found: dict[int, str] = {}
    for chunk, where in _id_chunks("id", test_case_ids):
        for test_case_id, key in db.execute_sql(
            f"SELECT id, key FROM test_case WHERE repository_id = {_param()} AND {where}",
            [repository_id, *chunk],
        ).fetchall():
            found[test_case_id] = key
    return found
