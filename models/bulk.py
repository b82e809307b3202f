"""The bulk loader of one upload's results: packed blocks and attempt rows, in one transaction.

Storing a run's results is the hot path of ingestion. Batch by batch, the
loader finds the cases' test ids and ordinals (``models.test_cases``: kept per
process, new tests numbered and inserted) and packs each outcome
(``models.packing.RunPacker``). ``finish`` then stores the run's distinct failure
messages once (``FailureMessage``, per repository and month) and writes the
blocks and attempt rows: on PostgreSQL one COPY per table, formatted here in
COPY's text format; on SQLite ``executemany``. A 10,000-test run is ~160 block
rows and a few hundred attempt rows, so the whole run is written at the end.

A case is anything shaped like ``engine.junit.CaseResult`` (key, suite,
classname, name, file, line, status, duration, message, failure_type and
attempts, each with status, duration, message and failure_type): the models
import nothing of the engine. ``store_results`` stores outcomes given by test
case id (hand-made history: the benches, the tests).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from peewee import __exception_wrapper__ as driver_errors

from models.base import db, is_postgres
from models.packing import AttemptRow, RunPacker
from models.queries import CHUNK
from models.result_reads import RUN_DATE_SLACK
from models.results import FailureMessage, ResultAttempt, ResultBlock, TestCase, TestRun
from models.test_cases import CASE_IDS, Identity, touch_last_seen, upsert_cases

FAILURE_TYPE_WIDTH = 255
BLOCK_COLUMNS = ("created_at", "repository_id", "run_id", "block", "codes", "durations")
ATTEMPT_COLUMNS = (
    "created_at",
    "repository_id",
    "run_id",
    "test_case_id",
    "duration_ms",
    "message_id",
    "status",
    "retry",
    "packed",
)


class ResultLoader:
    """Store the results of one run batch by batch, in the caller's transaction.

    Call ``finish`` after the last batch. Errors of the driver's own cursors
    (COPY, the case upsert) come out as peewee's (``peewee.DataError`` for a
    value a column cannot hold), as from the ORM; the caller's transaction then
    rolls everything back.
    """

    def __init__(self, run_id: int, repository_id: int, *, now: datetime, dated: datetime) -> None:
        self.run_id = run_id
        self.repository_id = repository_id
        self.now = now
        self.dated = _naive(dated)
        # A test is first seen at its first run's date when that is earlier than its upload
        # (a backfill): the reads of its history stop at first_seen (less RUN_DATE_SLACK).
        self.first_seen = min(_naive(now), self.dated)
        self._back_dated = self.dated < _naive(now) - RUN_DATE_SLACK
        self._known = CASE_IDS.known(repository_id)
        # The kept map is shared: copied (once) only when this upload adds cases.
        self._ids: dict[str, Identity] = self._known.ids if self._known is not None else {}
        self._copied = self._known is None
        self._packer = RunPacker()
        self._seen: set[int] = set()  # this upload's cases, for the last_seen refresh

    def add(self, cases: list[Any]) -> None:
        """Pack one batch of cases (new test cases are inserted first)."""
        ids = self._ids
        unknown = [case for case in cases if case.key not in ids]
        if unknown:
            if not self._copied:
                ids = self._ids = dict(ids)
                self._copied = True
            with driver_errors:
                found = upsert_cases(
                    self.repository_id, unknown, self.now, first_seen=self.first_seen
                )
            ids.update(found)
            last = self._known.last if self._known is not None else None
            if last is not None and any(ordinal <= last[1] for _, ordinal in found.values()):
                CASE_IDS.forget(self.repository_id)  # committed out of order: read it again
        add = self._packer.add
        for case in cases:
            test_id, ordinal = ids[case.key]
            add(test_id, ordinal, case, case.attempts)
        self._seen.update([ids[case.key][0] for case in cases])

    def finish(self) -> None:
        """Write the run's blocks, attempts and messages; refresh the cases' stale ``last_seen``
        (those this process has not refreshed lately, when the repository's ids are kept);
        of a back-dated run, bring every case's later ``first_seen`` down to its date."""
        with driver_errors:
            write_packed(self.run_id, self.repository_id, self.dated, self._packer)
            seen = self._seen
            refresh = seen if self._known is None else self._known.to_refresh(seen, self.now)
            if self._back_dated:
                refresh = seen
            if refresh:
                dated = self.dated if self._back_dated else None
                touch_last_seen(refresh, self.now, dated=dated)


class Outcome(NamedTuple):
    """One attempt of a test in a run, by test case id (``store_results``)."""

    test_case_id: int
    status: str
    duration: float = 0.0
    retry: int = 0
    message: str | None = None
    failure_type: str | None = None


def store_results(
    run_id: int, outcomes: Iterable[Outcome], *, dated: datetime | None = None
) -> None:
    """Store attempts of tests in one run, dated ``dated`` (default: the run's date).

    A test's attempts count up from retry 0 in the order given; one that starts
    again from 0 is the test reported a second time in the run.
    """
    repository_id, started_at, received_at = (
        TestRun.select(TestRun.repository, TestRun.started_at, TestRun.received_at)
        .where(TestRun.id == run_id)
        .tuples()
        .get()
    )
    occurrences: dict[int, list[list[Outcome]]] = {}
    for outcome in outcomes:
        runs = occurrences.setdefault(outcome.test_case_id, [])
        if not runs or outcome.retry <= runs[-1][-1].retry:
            runs.append([])
        runs[-1].append(outcome)
    ordinals = dict(
        TestCase.select(TestCase.id, TestCase.ordinal)
        .where(TestCase.id.in_(list(occurrences)))
        .tuples()
    )
    packer = RunPacker()
    for test_id, runs in occurrences.items():
        for attempts in runs:
            packer.add(test_id, ordinals[test_id], attempts[-1], attempts[:-1])
    with db.atomic():
        write_packed(run_id, repository_id, _naive(dated or started_at or received_at), packer)


def write_packed(run_id: int, repository_id: int, dated: datetime, packer: RunPacker) -> None:
    """Write a packed run: its messages (once per repository and month), blocks and attempts."""
    stamp = dated.isoformat(" ")  # what peewee stores in SQLite; PostgreSQL reads it
    month = datetime(dated.year, dated.month, 1)
    message_ids = _message_ids(repository_id, month, packer.attempts)
    blocks = [
        (stamp, repository_id, run_id, block, codes, durations)
        for block, codes, durations in packer.packed_blocks()
    ]
    attempts = [
        (
            stamp,
            repository_id,
            run_id,
            row.test_case_id,
            row.duration_ms,
            message_ids.get(_message_key(row)),
            row.status,
            row.retry,
            row.packed,
        )
        for row in packer.attempts
    ]
    if is_postgres():
        _copy(ResultBlock, BLOCK_COLUMNS, blocks)
        _copy(ResultAttempt, ATTEMPT_COLUMNS, attempts)
    else:
        _insert(ResultBlock, BLOCK_COLUMNS, blocks)
        _insert(ResultAttempt, ATTEMPT_COLUMNS, attempts)


# -- failure messages -----------------------------------------------------------------


def _message_key(row: AttemptRow) -> tuple[str, str] | None:
    if row.message is None and row.failure_type is None:
        return None
    return (row.message or "", (row.failure_type or "")[:FAILURE_TYPE_WIDTH])


def _digest(key: tuple[str, str]) -> bytes:
    message, failure_type = key
    return hashlib.sha256(f"{failure_type}\0{message}".encode()).digest()


def _message_ids(
    repository_id: int, month: datetime, attempts: Sequence[AttemptRow]
) -> dict[tuple[str, str], int]:
    """Ids of the distinct messages of ``attempts`` in the repository's month, new ones stored.

    Inserted in digest order, so that two uploads storing the same new messages
    at once wait for each other in the same order (no deadlock).
    """
    keys = {key for row in attempts if (key := _message_key(row)) is not None}
    if not keys:
        return {}
    by_digest = dict(sorted((_digest(key), key) for key in keys))
    table = FailureMessage._meta.table_name
    digests = list(by_digest)
    rows = [(digest, key[0] or None, key[1] or None) for digest, key in by_digest.items()]
    found: dict[bytes, int] = {}
    if is_postgres():
        with db.connection().cursor() as cursor:
            cursor.execute(
                f'INSERT INTO "{table}" (repository_id, month, digest, message, failure_type) '
                "SELECT %s, %s, d, m, t FROM unnest(%s::bytea[], %s::text[], %s::text[]) "
                "AS u(d, m, t) ORDER BY d "
                "ON CONFLICT (repository_id, month, digest) DO NOTHING",
                (repository_id, month, *map(list, zip(*rows, strict=True))),
            )
            cursor.execute(
                f'SELECT digest, id FROM "{table}" '
                "WHERE repository_id = %s AND month = %s AND digest = ANY(%s::bytea[])",
                (repository_id, month, digests),
            )
            found.update((bytes(digest), message_id) for digest, message_id in cursor)
    else:
        stamp = month.isoformat(" ")
        connection = db.connection()
        connection.executemany(
            f'INSERT INTO "{table}" (repository_id, month, digest, message, failure_type) '
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (repository_id, month, digest) DO NOTHING",
            [(repository_id, stamp, *row) for row in rows],
        )
        for start in range(0, len(digests), CHUNK):
            chunk = digests[start : start + CHUNK]
            cursor = connection.execute(
                f'SELECT digest, id FROM "{table}" WHERE repository_id = ? AND month = ? '
                f"AND digest IN ({', '.join('?' * len(chunk))})",
                (repository_id, stamp, *chunk),
            )
            found.update((bytes(digest), message_id) for digest, message_id in cursor)
    return {key: found[digest] for digest, key in by_digest.items()}


# -- writing rows ---------------------------------------------------------------------


def _insert(model: Any, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
    if rows:
        db.connection().executemany(
            f'INSERT INTO "{model._meta.table_name}" ({", ".join(columns)}) '
            f"VALUES ({', '.join('?' * len(columns))})",
            rows,
        )


def _copy(model: Any, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
    """COPY ``rows`` in its text format, one buffer (cheaper than psycopg's row by row)."""
    if not rows:
        return
    text = "".join("\t".join(map(_copy_value, row)) + "\n" for row in rows)
    sql = f'COPY "{model._meta.table_name}" ({", ".join(columns)}) FROM STDIN'
    with db.connection().cursor() as cursor, cursor.copy(sql) as copy:
        copy.write(text.encode())


# COPY text format: tab-separated columns, a backslash-N for NULL, these characters escaped.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_value(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bytes):
        return "\\\\x" + value.hex()
    if isinstance(value, str):
        return value.translate(_COPY_ESCAPES)
    return str(value)  # int, bool (PostgreSQL reads True/False)


def _naive(value: datetime) -> datetime:
    """UTC without a time zone, as every DateTimeField stores it."""
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo is not None else value
