"""Test case identities for the bulk loader: ids and ordinals, kept per process; new ones inserted.

Looking up every key of every upload costs as much as storing its results, so
the ids and ordinals of a repository's known tests are kept in this process
(``CASE_IDS``) and checked against the database on every upload with one
index probe (the repository's highest ordinal: ordinals are never reused).
Tests seen for the first time are numbered (``reserve_ordinals``: a range
reserved at once, outside the upload's transaction) and inserted in key order.

Uploads that add tests commit in any order, so a map read after one upload
committed ordinals 110-119 may miss the tests of another that commits 100-109
later: the highest ordinal does not move. Users of a map notice an ordinal or
a key it lacks and ``forget`` it (the loader: a key found below the map's
highest ordinal; the reads: an ordinal in a block), so it is read again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from models.base import db, is_postgres
from models.queries import CHUNK
from models.results import TestCase, reserve_ordinals

TEXT_WIDTH = 512  # the models' column width (longer values are cut, never refused)
# last_seen is a coarse "still reported" mark: refreshing it on every run would rewrite
# every TestCase row per upload; the exact history is in the results.
LAST_SEEN_RESOLUTION = timedelta(hours=1)
Identity = tuple[int, int]  # (test case id, ordinal)


# -- the kept ids ---------------------------------------------------------------------


@dataclass
class _KnownCases:
    """The key -> (id, ordinal) map of one repository's test cases, as of its highest ordinal.

    ``touched`` holds the ids whose ``last_seen`` this process has brought within
    the resolution since ``window_start``; only the others need a refresh. (Ids
    are marked before their upload commits: one rolled back may leave a case's
    refresh to the next window.)
    """

    ids: dict[str, Identity]
    last: Identity | None  # (id, ordinal) of the test with the highest ordinal
    window_start: datetime = datetime.min
    touched: set[int] = field(default_factory=set)
    by_ordinal: dict[int, int] | None = None

    def ids_by_ordinal(self) -> dict[int, int]:
        """ordinal -> test case id (made once per map: the reads of a run's blocks use it)."""
        if self.by_ordinal is None:
            self.by_ordinal = {ordinal: test_id for test_id, ordinal in self.ids.values()}
        return self.by_ordinal

    def to_refresh(self, test_case_ids: Iterable[int], now: datetime) -> list[int]:
        """The ids not refreshed in the current window (a new window every resolution)."""
        if now - self.window_start >= LAST_SEEN_RESOLUTION:
            self.window_start, self.touched = now, set()
        touched = self.touched
        fresh = [test_id for test_id in test_case_ids if test_id not in touched]
        touched.update(fresh)
        return fresh


class CaseIdCache:
    """Ids and ordinals of known test cases per repository, kept between uploads in this process.

    A test case's id and ordinal never change and test cases are only deleted
    with their repository, so a map once read stays right; each upload checks it
    against the repository's highest ordinal (one probe of the unique index;
    ordinals are never reused, so it moves when a test is committed above it)
    and reads it again when that moved; a test committed below it, out of order,
    is noticed by the map's users, who ``forget`` the map. Repositories with
    more than ``per_repository`` cases, and any past ``total`` keys in all, are
    not kept: their uploads look their keys up batch by batch.
    """

    def __init__(self, *, per_repository: int = 100_000, total: int = 400_000) -> None:
        self.per_repository = per_repository
        self.total = total
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[int, int], _KnownCases] = OrderedDict()

    def clear(self) -> None:
        """Forget everything (tests that empty the tables call this)."""
        with self._lock:
            self._entries.clear()

    def forget(self, repository_id: int) -> None:
        """Forget one repository's map: it lacks a test committed after it was read."""
        with self._lock:
            self._entries.pop((id(db.obj), repository_id), None)

    def known(self, repository_id: int) -> _KnownCases | None:
        """The checked map of ``repository_id``'s cases, or None when it is not kept."""
        table = TestCase._meta.table_name
        param = "%s" if is_postgres() else "?"
        row = db.execute_sql(
            f'SELECT id, ordinal FROM "{table}" WHERE repository_id = {param} '
            "ORDER BY ordinal DESC LIMIT 1",
            (repository_id,),
        ).fetchone()
        last = None if row is None else (row[0], row[1])
        if last is not None and last[1] >= self.per_repository:
            return None
        slot = (id(db.obj), repository_id)
        with self._lock:
            entry = self._entries.get(slot)
            if entry is not None and entry.last == last:
                self._entries.move_to_end(slot)
                return entry
        cursor = db.execute_sql(
            f'SELECT key, id, ordinal FROM "{table}" WHERE repository_id = {param}',
            (repository_id,),
        )
        ids = {key: (test_id, ordinal) for key, test_id, ordinal in cursor.fetchall()}
        if entry is None:
            entry = _KnownCases(ids, last)
        else:  # keep the refresh window: those rows did not change
            entry = _KnownCases(ids, last, entry.window_start, entry.touched)
        with self._lock:
            self._entries[slot] = entry
            self._entries.move_to_end(slot)
            held = sum(len(e.ids) for e in self._entries.values())
            while held > self.total and len(self._entries) > 1:
                _, dropped = self._entries.popitem(last=False)
                held -= len(dropped.ids)
        return entry


CASE_IDS = CaseIdCache()


# -- test cases -----------------------------------------------------------------------


def upsert_cases(
    repository_id: int, cases: Sequence[Any], now: datetime, *, first_seen: datetime | None = None
) -> dict[str, Identity]:
    """(id, ordinal) of the cases' TestCases: known ones looked up, new ones numbered
    (``reserve_ordinals``) and inserted in key order, first seen at ``first_seen`` (default
    ``now``; a back-dated run's date: the reads of a test's history stop at it).

    Locks no existing row (``last_seen`` is the caller's to refresh, ``touch_last_seen``).
    """
    first: dict[str, Any] = {}
    for case in cases:
        first.setdefault(case.key, case)
    if not first:
        return {}
    postgres = is_postgres()
    lookup = _known_cases_pg if postgres else _known_cases_sqlite
    insert = _insert_cases_pg if postgres else _insert_cases_sqlite
    keys = list(first)
    ids = lookup(repository_id, keys)
    missing = [key for key in keys if key not in ids]
    if missing:
        # Reserved in a transaction of its own: nothing here waits for another upload's
        # commit, but an insert of a key another upload is inserting too (then skipped).
        # Keys in order: two uploads adding the same tests wait for each other in one order.
        missing.sort()
        ordinal = reserve_ordinals(repository_id, len(missing))
        rows = [(key, *_identity(first[key]), ordinal + n) for n, key in enumerate(missing)]
        insert(repository_id, rows, now, now if first_seen is None else first_seen)
        ids.update(lookup(repository_id, missing))
    return ids


def _cut(value: str | None, width: int) -> str | None:
    if value is None:
        return None
    return value if len(value) <= width else value[:width]


def _identity(case: Any) -> tuple[Any, ...]:
    """(suite, classname, name, file, line) cut to the columns."""
    line = case.line if case.line is None or -(2**31) <= case.line < 2**31 else None
    return (
        _cut(case.suite, TEXT_WIDTH),
        _cut(case.classname, TEXT_WIDTH),
        _cut(case.name, TEXT_WIDTH),
        _cut(case.file, TEXT_WIDTH),
        line,
    )


def _known_cases_pg(repository_id: int, keys: list[str]) -> dict[str, Identity]:
    table = TestCase._meta.table_name
    # Keys never hold a newline (the engine collapses whitespace), so one text parameter
    # split on the server is much cheaper to send than a text[] of thousands of elements.
    packed = not any("\n" in key for key in keys)
    keys_sql = "string_to_array(%(keys)s, E'\\n')" if packed else "%(keys)s::text[]"
    params = {"repo": repository_id, "keys": "\n".join(keys) if packed else keys}
    with db.connection().cursor() as cursor:
        cursor.execute(
            f"WITH wanted AS (SELECT unnest({keys_sql}) AS key) "
            f'SELECT t.key, t.id, t.ordinal FROM wanted w JOIN "{table}" t '
            "ON t.repository_id = %(repo)s AND t.key = w.key",
            params,
        )
        return {key: (test_id, ordinal) for key, test_id, ordinal in cursor.fetchall()}


def _insert_cases_pg(
    repository_id: int, rows: list[tuple[Any, ...]], now: datetime, first_seen: datetime
) -> None:
    table = TestCase._meta.table_name
    columns = [list(column) for column in zip(*rows, strict=True)]
    with db.connection().cursor() as cursor:
        cursor.execute(
            f'INSERT INTO "{table}" (repository_id, key, suite, classname, name, file, line, '
            "ordinal, first_seen, last_seen) "
            "SELECT %s, k, s, c, n, f, l, o, %s, %s FROM unnest("
            "%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::int[], %s::int[]"
            ") AS u(k, s, c, n, f, l, o) "
            "ON CONFLICT (repository_id, key) DO NOTHING",
            (repository_id, first_seen, now, *columns),
        )


def _known_cases_sqlite(repository_id: int, keys: list[str]) -> dict[str, Identity]:
    table = TestCase._meta.table_name
    connection = db.connection()
    ids: dict[str, Identity] = {}
    for start in range(0, len(keys), CHUNK):
        chunk = keys[start : start + CHUNK]
        marks = ", ".join("?" * len(chunk))
        cursor = connection.execute(
            f'SELECT key, id, ordinal FROM "{table}" WHERE repository_id = ? AND key IN ({marks})',
            (repository_id, *chunk),
        )
        ids.update((key, (test_id, ordinal)) for key, test_id, ordinal in cursor)
    return ids


def touch_last_seen(
    test_case_ids: Iterable[int], now: datetime, *, dated: datetime | None = None
) -> None:
    """Set ``last_seen`` to ``now`` where it is older than the resolution and, given a run's
    ``dated`` (a back-dated one), bring ``first_seen`` down to it where later: one statement,
    in id order.

    The one place an upload locks existing test case rows, at its end and after
    any insert of new tests: two uploads that see the same tests lock them in the
    same order, so one waits for the other and neither waits for a lock the other
    takes later (a second pass over the rows, in the same transaction, could).
    """
    ids = sorted(set(test_case_ids))
    table = TestCase._meta.table_name
    stale = now - LAST_SEEN_RESOLUTION
    # no date: a first_seen bound no row is past
    since = datetime.max if dated is None else dated
    if is_postgres():
        db.execute_sql(
            f'UPDATE "{table}" t SET last_seen = CASE WHEN t.last_seen < %s THEN %s '
            "ELSE t.last_seen END, first_seen = least(t.first_seen, %s) "
            f'FROM (SELECT id FROM "{table}" WHERE id = ANY(%s::int[]) '
            "AND (last_seen < %s OR first_seen > %s) ORDER BY id FOR UPDATE) AS s "
            "WHERE t.id = s.id",
            (stale, now, since, ids, stale, since),
        )
        return
    stale_stamp, since_stamp = stale.isoformat(" "), since.isoformat(" ")
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        db.execute_sql(
            f'UPDATE "{table}" SET last_seen = CASE WHEN last_seen < ? THEN ? '
            "ELSE last_seen END, first_seen = min(first_seen, ?) "
            f"WHERE id IN ({', '.join('?' * len(chunk))}) AND (last_seen < ? OR first_seen > ?)",
            (stale_stamp, now.isoformat(" "), since_stamp, *chunk, stale_stamp, since_stamp),
        )


def _insert_cases_sqlite(
    repository_id: int, rows: list[tuple[Any, ...]], now: datetime, first_seen: datetime
) -> None:
    table = TestCase._meta.table_name
    stamp, first = now.isoformat(" "), first_seen.isoformat(" ")
    db.connection().executemany(
        f'INSERT INTO "{table}" (repository_id, key, suite, classname, name, file, line, '
        "ordinal, first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (repository_id, key) DO NOTHING",
        [(repository_id, *row, first, stamp) for row in rows],
    )
