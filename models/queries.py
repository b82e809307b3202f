"""Hot-path queries in plain SQL, for both databases (the ORM costs too much per row here)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import orjson

from models.base import db, is_postgres

CHUNK = 900  # ids per IN (...) list, under SQLite's variable limit

SCORE_COLUMNS = (
    "test_case_id",
    "repository_id",
    "state",
    "score",
    "low",
    "high",
    "quarantine_recommended",
    "reason",
    "evidence",
    "engine_state",
    "runs_seen",
    "state_since",
    "updated_at",
)
_JSON_COLUMNS = frozenset({"evidence", "engine_state"})
_PG_TYPES = {
    "test_case_id": "int",
    "repository_id": "int",
    "state": "text",
    "score": "float8",
    "low": "float8",
    "high": "float8",
    "quarantine_recommended": "bool",
    "reason": "text",
    "evidence": "jsonb",
    "engine_state": "jsonb",
    "runs_seen": "int",
    "state_since": "timestamp",
    "updated_at": "timestamp",
}


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


def run_results(run_id: int) -> list[tuple[int, str, str, int]]:
    """(test_case_id, key, status, retry) of every result of one run."""
    cursor = db.execute_sql(
        "SELECT r.test_case_id, c.key, r.status, r.retry FROM test_result r "
        f"JOIN test_case c ON c.id = r.test_case_id WHERE r.run_id = {_param()}",
        (run_id,),
    )
    return list(cursor.fetchall())


def score_rows(
    test_case_ids: Sequence[int],
) -> dict[int, tuple[str, datetime, str | None, float]]:
    """test_case_id -> (state, state_since, engine_state JSON text, low) for existing scores."""
    cast = "engine_state::text" if is_postgres() else "engine_state"
    found: dict[int, tuple[str, datetime, str | None, float]] = {}
    for chunk, where in _id_chunks("test_case_id", test_case_ids):
        cursor = db.execute_sql(
            f"SELECT test_case_id, state, state_since, {cast}, low FROM flake_score WHERE {where}",
            chunk,
        )
        for test_case_id, state, since, engine_state, low in cursor.fetchall():
            if isinstance(since, str):  # SQLite hands timestamps back as text
                since = datetime.fromisoformat(since)
            found[test_case_id] = (state, since, engine_state, low)
    return found


def upsert_scores(rows: Sequence[dict[str, Any]]) -> None:
    """Insert or update FlakeScore rows keyed by test_case_id (JSON columns given as text)."""
    if not rows:
        return
    columns = ", ".join(SCORE_COLUMNS)
    updates = ", ".join(f"{c} = excluded.{c}" for c in SCORE_COLUMNS if c != "test_case_id")
    if is_postgres():
        # One JSON document for the whole batch: PostgreSQL parses it in C, where
        # psycopg would escape every array element in Python.
        record = ", ".join(f"{c} {_PG_TYPES[c]}" for c in SCORE_COLUMNS)
        sql = (
            f"INSERT INTO flake_score ({columns}) SELECT {columns} FROM "
            f"jsonb_to_recordset(%s::jsonb) AS x({record}) "
            f"ON CONFLICT (test_case_id) DO UPDATE SET {updates}"
        )
        document = orjson.dumps(
            [
                {
                    c: orjson.Fragment(row[c]) if c in _JSON_COLUMNS else row[c]
                    for c in SCORE_COLUMNS
                }
                for row in rows
            ]
        )
        db.execute_sql(sql, (document.decode(),))
        return
    marks = ", ".join(["?"] * len(SCORE_COLUMNS))
    sql = (
        f"INSERT INTO flake_score ({columns}) VALUES ({marks}) "
        f"ON CONFLICT (test_case_id) DO UPDATE SET {updates}"
    )
    values = [tuple(_sqlite_value(row[c]) for c in SCORE_COLUMNS) for row in rows]
    conn = db.connection()
    conn.executemany(sql, values)


def with_quarantine(test_case_ids: Sequence[int]) -> list[int]:
    """The ids among ``test_case_ids`` that have a Quarantine row."""
    found: list[int] = []
    for chunk, where in _id_chunks("test_case_id", test_case_ids):
        cursor = db.execute_sql(f"SELECT test_case_id FROM quarantine WHERE {where}", chunk)
        found.extend(row[0] for row in cursor.fetchall())
    return found


def _sqlite_value(value: Any) -> Any:
    # peewee's own text format for DateTimeField on SQLite
    return value.isoformat(" ") if isinstance(value, datetime) else value


def _id_chunks(column: str, ids: Sequence[int]) -> list[tuple[list[Any], str]]:
    """(parameters, WHERE clause) pairs matching ``column`` against ``ids``.

    PostgreSQL takes the whole list as one array (``= ANY``); SQLite gets IN lists
    under its variable limit.
    """
    if is_postgres():
        return [([list(ids)], f"{column} = ANY(%s)")] if ids else []
    out = []
    for start in range(0, len(ids), CHUNK):
        chunk = list(ids[start : start + CHUNK])
        out.append((chunk, f"{column} IN ({', '.join('?' * len(chunk))})"))
    return out


def _param() -> str:
    return "%s" if is_postgres() else "?"
