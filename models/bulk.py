"""The bulk loader of one upload's results: test case ids (kept per process), COPY, inserts.

Storing a run's results is the hot path of ingestion, so it is plain SQL for
both databases, batch by batch inside the caller's transaction:

- Ids of known TestCases come from a per-process map (``CASE_IDS``, checked
  against the repository's case count and highest id on every upload); new
  ones are inserted (ON CONFLICT on repository+key) and ``last_seen`` is
  refreshed when older than its resolution.
- TestResults are bulk-loaded, one row per attempt (``retry`` 0 = the first):
  on PostgreSQL through one COPY stream per upload, formatted here in COPY's
  text format (interrupted only to insert new cases); on SQLite with chunked
  ``executemany``.

A case is anything shaped like ``engine.junit.CaseResult`` (key, suite,
classname, name, file, line, status, duration, message, failure_type and
attempts, each with status, duration, message and failure_type): the models
import nothing of the engine.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from peewee import __exception_wrapper__ as driver_errors

from models.base import db, is_postgres
from models.queries import CHUNK, touch_test_cases
from models.results import TestCase, TestResult, next_ordinal

# Column widths of the models (longer values are cut, never refused).
TEXT_WIDTH = 512
FAILURE_TYPE_WIDTH = 255
SQLITE_ROWS = 2_000  # result rows per executemany
# last_seen is a coarse "still reported" mark: refreshing it on every run would rewrite
# every TestCase row per upload; the exact history is in TestResult.
LAST_SEEN_RESOLUTION = timedelta(hours=1)
RESULT_COLUMNS = "run_id, test_case_id, status, duration, retry, message, failure_type, created_at"


class ResultLoader:
    """Store the results of one run batch by batch, in the caller's transaction.

    Known test cases come from ``CASE_IDS`` (checked against the database
    first), so on PostgreSQL one COPY stream stays open for the whole upload
    and is only interrupted to insert test cases seen for the first time.
    Call ``finish`` after the last batch; ``abort`` (a no-op after ``finish``)
    on any error: the caller's transaction then rolls everything back. Errors
    of the driver's own cursors (COPY, the case upsert) come out as peewee's
    (``peewee.DataError`` for a value a column cannot hold), as from the ORM.
    """

    def __init__(self, run_id: int, repository_id: int, *, now: datetime, dated: datetime) -> None:
        self.run_id = run_id
        self.repository_id = repository_id
        self.now = now
        if dated.tzinfo is not None:
            dated = dated.astimezone(UTC).replace(tzinfo=None)
        self._dated = dated.isoformat(" ")  # what peewee stores in SQLite; PostgreSQL reads it
        self._stream = _CopyStream() if is_postgres() else None
        self._known = CASE_IDS.known(repository_id)
        # The kept map is shared: copied (once) only when this upload adds cases.
        self._ids: dict[str, int] = self._known.ids if self._known is not None else {}
        self._copied = self._known is None
        self._seen: set[int] = set()  # this upload's cases, for the last_seen refresh

    def add(self, cases: list[Any]) -> None:
        """Store one batch of cases: new test cases first, then every result row."""
        with driver_errors:
            self._add(cases)

    def _add(self, cases: list[Any]) -> None:
        ids = self._ids
        unknown = [case for case in cases if case.key not in ids]
        if unknown:
            if self._stream is not None:
                self._stream.close()  # the connection is needed for the inserts
            if not self._copied:
                ids = self._ids = dict(ids)
                self._copied = True
            ids.update(upsert_cases(self.repository_id, unknown, self.now))
        if self._known is not None:
            self._seen.update([ids[case.key] for case in cases])
        if self._stream is not None:
            self._stream.write(_copy_block(self.run_id, cases, ids, self._dated))
        else:
            _insert_results(_result_rows(self.run_id, cases, ids, self._dated))

    def finish(self) -> None:
        """Send the last rows and refresh ``last_seen`` of the kept cases this run reported."""
        if self._stream is not None:
            with driver_errors:
                self._stream.close()
        if self._known is not None:
            refresh = self._known.to_refresh(self._seen, self.now)
            if refresh:
                touch_test_cases(refresh, self.now, self.now - LAST_SEEN_RESOLUTION)

    def abort(self) -> None:
        """Leave an unfinished COPY (nothing to do after ``finish``)."""
        if self._stream is not None:
            self._stream.abort()


# -- the kept ids ---------------------------------------------------------------------


@dataclass
class _KnownCases:
    """The key -> id map of one repository's test cases, as of (count, highest id).

    ``touched`` holds the ids whose ``last_seen`` this process has brought within
    the resolution since ``window_start``; only the others need a refresh. (Ids
    are marked before their upload commits: one rolled back may leave a case's
    refresh to the next window.)
    """

    ids: dict[str, int]
    count: int
    max_id: int
    window_start: datetime = datetime.min
    touched: set[int] = field(default_factory=set)

    def to_refresh(self, test_case_ids: Iterable[int], now: datetime) -> list[int]:
        """The ids not refreshed in the current window (a new window every resolution)."""
        if now - self.window_start >= LAST_SEEN_RESOLUTION:
            self.window_start, self.touched = now, set()
        touched = self.touched
        fresh = [test_id for test_id in test_case_ids if test_id not in touched]
        touched.update(fresh)
        return fresh


class CaseIdCache:
    """Ids of known test cases per repository, kept between uploads in this process.

    Looking up every key of every upload costs as much as storing its results.
    A test case's id never changes and test cases are only deleted with their
    repository, so a map once read stays right; each upload checks it against
    the repository's case count and highest id (one index scan) and reads it
    again when they moved (cases added by any process). Repositories with more
    than ``per_repository`` cases, and any past ``total`` keys in all, are not
    kept: their uploads look their keys up batch by batch.
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

    def known(self, repository_id: int) -> _KnownCases | None:
        """The checked map of ``repository_id``'s cases, or None when it is not kept."""
        table = TestCase._meta.table_name
        count, max_id = db.execute_sql(
            f'SELECT count(*), coalesce(max(id), 0) FROM "{table}" '
            f"WHERE repository_id = {db.param}",
            (repository_id,),
        ).fetchone()
        if count > self.per_repository:
            return None
        slot = (id(db.obj), repository_id)
        with self._lock:
            entry = self._entries.get(slot)
            if entry is not None and (entry.count, entry.max_id) == (count, max_id):
                self._entries.move_to_end(slot)
                return entry
        cursor = db.execute_sql(
            f'SELECT key, id FROM "{table}" WHERE repository_id = {db.param}', (repository_id,)
        )
        ids = dict(cursor.fetchall())
        if entry is None:
            entry = _KnownCases(ids, count, max_id)
        else:  # keep the refresh window: those rows did not change
            entry = _KnownCases(ids, count, max_id, entry.window_start, entry.touched)
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


def upsert_cases(repository_id: int, cases: Sequence[Any], now: datetime) -> dict[str, int]:
    """Ids of the cases' TestCases: known ones looked up (stale last_seen refreshed), new ones
    numbered (``next_ordinal``) and inserted in the order they came."""
    first: dict[str, Any] = {}
    for case in cases:
        first.setdefault(case.key, case)
    if not first:
        return {}
    postgres = is_postgres()
    lookup = _known_cases_pg if postgres else _known_cases_sqlite
    insert = _insert_cases_pg if postgres else _insert_cases_sqlite
    keys = list(first)
    stale = now - LAST_SEEN_RESOLUTION
    ids = lookup(repository_id, keys, now, stale)
    missing = [key for key in keys if key not in ids]
    if missing:
        ordinal = next_ordinal(repository_id)  # waits for an upload numbering its own tests
        ids.update(lookup(repository_id, missing, now, stale))  # which may have added these
        missing = [key for key in missing if key not in ids]
        rows = [(key, *_identity(first[key]), ordinal + n) for n, key in enumerate(missing)]
        insert(repository_id, rows, now)
        ids.update(lookup(repository_id, missing, now, stale))
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


def _known_cases_pg(
    repository_id: int, keys: list[str], now: datetime, stale: datetime
) -> dict[str, int]:
    table = TestCase._meta.table_name
    # Keys never hold a newline (the engine collapses whitespace), so one text parameter
    # split on the server is much cheaper to send than a text[] of thousands of elements.
    packed = not any("\n" in key for key in keys)
    keys_sql = "string_to_array(%(keys)s, E'\\n')" if packed else "%(keys)s::text[]"
    params = {
        "repo": repository_id,
        "keys": "\n".join(keys) if packed else keys,
        "now": now,
        "stale": stale,
    }
    with db.connection().cursor() as cursor:
        cursor.execute(
            f"WITH wanted AS (SELECT unnest({keys_sql}) AS key), "
            f'touched AS (UPDATE "{table}" t SET last_seen = %(now)s FROM wanted w '
            "WHERE t.repository_id = %(repo)s AND t.key = w.key AND t.last_seen < %(stale)s) "
            f'SELECT t.key, t.id FROM wanted w JOIN "{table}" t '
            "ON t.repository_id = %(repo)s AND t.key = w.key",
            params,
        )
        return dict(cursor.fetchall())


def _insert_cases_pg(repository_id: int, rows: list[tuple[Any, ...]], now: datetime) -> None:
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
            (repository_id, now, now, *columns),
        )


def _known_cases_sqlite(
    repository_id: int, keys: list[str], now: datetime, stale: datetime
) -> dict[str, int]:
    table = TestCase._meta.table_name
    connection = db.connection()
    ids: dict[str, int] = {}
    refresh: list[int] = []
    stale_text = stale.isoformat(" ")
    for start in range(0, len(keys), CHUNK):
        chunk = keys[start : start + CHUNK]
        marks = ", ".join("?" * len(chunk))
        cursor = connection.execute(
            f'SELECT key, id, last_seen < ? FROM "{table}" '
            f"WHERE repository_id = ? AND key IN ({marks})",
            (stale_text, repository_id, *chunk),
        )
        for key, test_id, is_stale in cursor:
            ids[key] = test_id
            if is_stale:
                refresh.append(test_id)
    for start in range(0, len(refresh), CHUNK):
        chunk = refresh[start : start + CHUNK]
        connection.execute(
            f'UPDATE "{table}" SET last_seen = ? WHERE id IN ({", ".join("?" * len(chunk))})',
            (now.isoformat(" "), *chunk),
        )
    return ids


def _insert_cases_sqlite(repository_id: int, rows: list[tuple[Any, ...]], now: datetime) -> None:
    table = TestCase._meta.table_name
    stamp = now.isoformat(" ")
    db.connection().executemany(
        f'INSERT INTO "{table}" (repository_id, key, suite, classname, name, file, line, '
        "ordinal, first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (repository_id, key) DO NOTHING",
        [(repository_id, *row, stamp, stamp) for row in rows],
    )


# -- test results ---------------------------------------------------------------------


def _result_rows(
    run_id: int, cases: Iterable[Any], ids: dict[str, int], when: datetime | str
) -> Iterable[tuple[Any, ...]]:
    """One row per attempt: (run, test case, status, duration, retry, message, type, at)."""
    for case in cases:
        test_id = ids[case.key]
        if not case.attempts and not case.message and not case.failure_type:
            yield (run_id, test_id, case.status, case.duration, 0, None, None, when)
            continue
        retry = 0
        for attempt in case.attempts:
            yield (
                run_id,
                test_id,
                attempt.status,
                attempt.duration or 0.0,
                retry,
                attempt.message or None,
                _cut(attempt.failure_type, FAILURE_TYPE_WIDTH) or None,
                when,
            )
            retry += 1
        yield (
            run_id,
            test_id,
            case.status,
            case.duration,
            retry,
            case.message or None,
            _cut(case.failure_type, FAILURE_TYPE_WIDTH) or None,
            when,
        )


def _insert_results(rows: Iterable[tuple[Any, ...]]) -> None:
    table = TestResult._meta.table_name
    sql = f'INSERT INTO "{table}" ({RESULT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'
    connection = db.connection()
    chunk: list[tuple[Any, ...]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= SQLITE_ROWS:
            connection.executemany(sql, chunk)
            chunk = []
    if chunk:
        connection.executemany(sql, chunk)


class _CopyAborted(Exception):
    """Handed to an unfinished COPY so that psycopg ends it with an error."""


class _CopyStream:
    """One COPY of test results into PostgreSQL, opened on first write, closed on demand."""

    def __init__(self) -> None:
        self._stack: contextlib.ExitStack | None = None
        self._write: Callable[[bytes], None] | None = None

    def write(self, block: bytes) -> None:
        """Send rows already in COPY's text format (see ``_copy_block``)."""
        write = self._write
        if write is None:
            stack = contextlib.ExitStack()
            cursor = stack.enter_context(db.connection().cursor())
            table = TestResult._meta.table_name
            copy = stack.enter_context(cursor.copy(f'COPY "{table}" ({RESULT_COLUMNS}) FROM STDIN'))
            self._stack, self._write = stack, copy.write
            write = copy.write
        write(block)

    def close(self) -> None:
        """Finish the COPY (the server has every row when this returns)."""
        stack, self._stack, self._write = self._stack, None, None
        if stack is not None:
            stack.close()

    def abort(self) -> None:
        """Leave an unfinished COPY on an error (the transaction rolls back anyway)."""
        stack, self._stack, self._write = self._stack, None, None
        if stack is not None:
            stack.__exit__(_CopyAborted, _CopyAborted("aborted"), None)


# COPY text format: tab-separated columns, a backslash-N for NULL, these characters escaped.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_value(value: str | None) -> str:
    return "\\N" if value is None else value.translate(_COPY_ESCAPES)


def _copy_float(value: float) -> str:
    value = float(value)
    if math.isfinite(value):
        return repr(value)
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def _copy_block(run_id: int, cases: Sequence[Any], ids: dict[str, int], when: str) -> bytes:
    """The rows of ``_result_rows`` in COPY's text format, in one buffer.

    Cheaper than handing psycopg one tuple per row (its per-row call was a fifth
    of the upload's time in a profile); the common row (one attempt, no message
    or failure type) is one f-string.
    """
    lines: list[str] = []
    append = lines.append
    head = f"{run_id}\t"
    tail = f"\t{when}\n"
    for case in cases:
        test_id = ids[case.key]
        if not case.attempts and not case.message and not case.failure_type:
            append(
                f"{head}{test_id}\t{case.status}\t{_copy_float(case.duration)}\t0\t\\N\t\\N{tail}"
            )
            continue
        for _, _, status, duration, retry, message, kind, _ in _result_rows(
            run_id, [case], ids, when
        ):
            append(
                f"{head}{test_id}\t{status}\t{_copy_float(duration)}\t{retry}\t"
                f"{_copy_value(message)}\t{_copy_value(kind)}{tail}"
            )
    return "".join(lines).encode()
