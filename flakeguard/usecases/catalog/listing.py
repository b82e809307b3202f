"""The tests of one repository: filtered by state, searched by name, sorted, keyset-paginated."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from peewee import Cast, Value, fn

from flakeguard.errors import BadRequestError
from flakeguard.usecases import cursor as cursors
from flakeguard.usecases.catalog.rows import TestRow, row_query, to_row
from flakeguard.usecases.status import contains_text, resolve_repository
from models import (
    FlakeScore,
    Quarantine,
    TestCase,
    queries,
)

STATES = ("flaky", "broken", "quarantined", "healthy")
SORTS = ("score", "name", "since", "last_seen")
SORT_TYPES: dict[str, type] = {
    "score": float,
    "name": str,
    "since": datetime,
    "last_seen": datetime,
}
PAGE_DEFAULT = 50
PAGE_MAX = 200
QUERY_MAX = 200


@dataclass(frozen=True)
class TestPage:
    """One page of a repository's tests; ``next_cursor`` None on the last page."""

    __test__ = False

    repository: str
    state: str | None
    query: str
    sort: str
    items: tuple[TestRow, ...]
    next_cursor: str | None = None
    limit: int = PAGE_DEFAULT


def list_tests(
    full_name: str,
    *,
    tenant_id: int,
    state: str | None = None,
    query: str = "",
    sort: str = "score",
    cursor: str | None = None,
    limit: int = PAGE_DEFAULT,
) -> TestPage:
    """One page of the tenant's repository's tests, filtered, searched and sorted.

    ``state``: flaky | broken | quarantined | healthy (None: every test).
    ``sort``: score (highest first), name, since (newest state first), last_seen
    (most recent first); ties by id. ``cursor`` is the ``next_cursor`` of the
    previous page (keyset: stable while rows are added). Bad values raise
    BadRequestError (400) before anything is read.
    """
    if state is not None and state not in STATES:
        raise BadRequestError(f"state must be one of {', '.join(STATES)}")
    if sort not in SORTS:
        raise BadRequestError(f"sort must be one of {', '.join(SORTS)}")
    if not 1 <= limit <= PAGE_MAX:
        raise BadRequestError(f"limit must be between 1 and {PAGE_MAX}")
    query = query.strip()
    if len(query) > QUERY_MAX:
        raise BadRequestError(f"the search is longer than {QUERY_MAX} characters")
    if any(ord(c) < 32 for c in query):
        raise BadRequestError("the search has control characters")
    after = cursors.decode(cursor, sort=sort) if cursor is not None else None
    repo = resolve_repository(full_name, tenant_id=tenant_id)

    key, descending = _sort_key(sort, state)
    rows = row_query().where(TestCase.repository == repo.id)
    condition = _state_condition(state)
    if condition is not None:
        rows = rows.where(condition)
    if query:
        rows = rows.where(contains_text(TestCase.name, query))
    if after is not None:
        value = after.value
        if not isinstance(value, SORT_TYPES[sort]) or (sort == "score" and not 0 <= value <= 1):
            raise cursors.BadCursorError("the cursor is not one this server gave out")
        if sort == "score":
            # Scores are single precision (REAL) on PostgreSQL: compare in that precision,
            # or 0.2 read back would never equal the 0.2 stored.
            value = Cast(Value(value), "REAL")
        beyond = key < value if descending else key > value
        rows = rows.where(beyond | ((key == value) & (TestCase.id > after.id)))
    rows = rows.order_by(key.desc() if descending else key.asc(), TestCase.id).limit(limit + 1)
    with queries.prefer_indexes() if query else nullcontext():
        raw = list(rows.tuples())
    found = [to_row(repo.full_name, row) for row in raw[:limit]]
    next_cursor = None
    if len(raw) > limit:
        last = raw[limit - 1]
        next_cursor = cursors.encode(cursors.Cursor(sort, _sort_value(sort, state, last), last[0]))
    return TestPage(
        repository=repo.full_name,
        state=state,
        query=query,
        sort=sort,
        items=tuple(found),
        next_cursor=next_cursor,
        limit=limit,
    )


def _state_condition(state: str | None) -> Any:
    not_quarantined = Quarantine.state.is_null() | (Quarantine.state != "quarantined")
    if state == "quarantined":
        return Quarantine.state == "quarantined"
    if state in ("flaky", "broken"):
        return (FlakeScore.state == state) & not_quarantined
    if state == "healthy":
        return (
            FlakeScore.state.is_null() | FlakeScore.state.not_in(("flaky", "broken"))
        ) & not_quarantined
    return None


def _sort_key(sort: str, state: str | None) -> tuple[Any, bool]:
    """The SQL sort expression (never NULL) and whether it sorts highest first."""
    if sort == "score":
        return fn.COALESCE(FlakeScore.score, 0.0), True
    if sort == "name":
        return TestCase.name, False
    if sort == "last_seen":
        return TestCase.last_seen, True
    if state == "quarantined":
        return Quarantine.quarantined_at, True
    return fn.COALESCE(FlakeScore.state_since, TestCase.first_seen), True


def _sort_value(sort: str, state: str | None, row: tuple[Any, ...]) -> float | str | datetime:
    """What ``_sort_key`` is for a selected row (the cursor keeps it)."""
    if sort == "score":
        return float(row[7] if row[7] is not None else 0.0)
    if sort == "name":
        return str(row[2])
    if sort == "last_seen":
        return row[5]
    if state == "quarantined":
        return row[16] or row[4]
    return row[11] or row[4]
