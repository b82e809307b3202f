"""The layouts ``bench/scale_bench.py`` measures side by side: scratch tables, and the one in place.

Each writes one run's cases (formatted in Python, one COPY), reads a run's
results back (the analysis input), one test's 50 newest runs, one test's failures,
and removes its oldest month. ``Before`` is ``test_result`` as migrations 0001,
0040 and 0044 made it, written as the loader before migration 0047 wrote it
(its COPY formatting is kept here); ``Packed`` is the layout in place, written
and read through the models.
"""

from __future__ import annotations

import hashlib
import time
from datetime import date, datetime, timedelta
from typing import Any

import psycopg

from models import TestCase, db, failure_reads, partitions, result_reads
from models.bulk import ResultLoader

STATUS_CODES = {"passed": 1, "failed": 2, "error": 3, "skipped": 4}
CODE_STATUS = {code: status for status, code in STATUS_CODES.items()}
NULL = "\\N"  # COPY text format
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
HISTORY_RUNS = 50
FAILURES_READ = 500


def months_between(first: datetime, last: datetime) -> list[date]:
    """The first days of the months from ``first``'s to the one after ``last``'s."""
    out = []
    month = date(first.year, first.month, 1)
    while month <= last.date():
        out.append(month)
        month = date(month.year + (month.month == 12), month.month % 12 + 1, 1)
    out.append(month)
    return out


def raw_run(
    conn: psycopg.Connection, repository_id: int, tag: str, at: datetime, tests: int
) -> int:
    """A TestRun row written with psycopg (the scratch layouts' uploads are timed with it)."""
    digest = hashlib.sha256(tag.encode()).hexdigest()
    row = conn.execute(
        "INSERT INTO test_run (repository_id, sha, branch, pr, ci_run_id, job, attempt, source, "
        "content_digest, tests, passed, failures, errors, skipped, duration, started_at, "
        "received_at, tainted) VALUES (%s, %s, 'main', NULL, %s, 'test', 1, 'upload', %s, %s, "
        "%s, 0, 0, 0, 0, %s, %s, false) RETURNING id",
        (repository_id, digest[:40], tag, digest, tests, tests, at, at),
    ).fetchone()
    return int(row[0])


def _copy(conn: psycopg.Connection, sql: str, block: bytes) -> None:
    with conn.cursor() as cur, cur.copy(sql) as copy:
        copy.write(block)


def _text(value: str | None) -> str:
    return NULL if value is None else value.translate(_ESCAPES)


def _ms(seconds: float | None) -> int:
    return max(0, min(2**31 - 1, round((seconds or 0.0) * 1000)))


def attempt_rows(run_id: int, cases: list[Any], ids: dict[str, int], when: str) -> bytes:
    """One row per attempt in COPY's text format, as the loader before migration 0047 wrote:
    (run, test case, status, duration, retry, message, failure type, created_at)."""
    lines = []
    for case in cases:
        test_id = ids[case.key]
        for retry, item in enumerate((*case.attempts, case)):
            lines.append(
                f"{run_id}\t{test_id}\t{item.status}\t{float(item.duration or 0.0)!r}\t{retry}\t"
                f"{_text(item.message)}\t{_text(item.failure_type)}\t{when}\n"
            )
    return "".join(lines).encode()


class Layout:
    name = ""
    tables: list[str] = []

    def __init__(self, url: str, repository_id: int, months: list[date]) -> None:
        self.url = url
        self.repository_id = repository_id
        self.months = months
        self.messages: dict[tuple[str, str | None], int] = {}

    def create(self, conn: psycopg.Connection) -> None:
        raise NotImplementedError

    def partitions(self, conn: psycopg.Connection, table: str, key: str = "created_at") -> None:
        for lo, hi in zip(self.months, self.months[1:], strict=False):
            conn.execute(
                f"CREATE TABLE {table}_p{lo:%Y%m} PARTITION OF {table} "
                f"FOR VALUES FROM ('{lo}') TO ('{hi}')"
            )

    def write(
        self,
        conn: psycopg.Connection,
        run_id: int,
        cases: list[Any],
        ids: dict[str, int],
        at: datetime,
    ) -> None:
        raise NotImplementedError

    def run_results(self, conn: psycopg.Connection, run_id: int, at: datetime) -> list[Any]:
        raise NotImplementedError

    def history(self, conn: psycopg.Connection, test_id: int) -> list[Any]:
        raise NotImplementedError

    def failures(self, conn: psycopg.Connection, test_id: int) -> list[Any]:
        raise NotImplementedError

    def drop_oldest(self, conn: psycopg.Connection, month: date) -> tuple[float, str]:
        """Remove the results of the oldest month; (seconds, how)."""
        began = time.perf_counter()
        for table in self.tables:
            part = f"{table}_p{month:%Y%m}"
            conn.execute(f"ALTER TABLE {table} DETACH PARTITION {part}")
            conn.execute(f"DROP TABLE {part}")
        conn.commit()
        return time.perf_counter() - began, "DETACH + DROP PARTITION"

    def count_before(self, conn: psycopg.Connection, cutoff: date) -> int:
        """Rows (of all the layout's tables) older than ``cutoff``."""
        return sum(
            conn.execute(f"SELECT count(*) FROM {t} WHERE created_at < %s", (cutoff,)).fetchone()[0]
            for t in self.tables
        )


class Before(Layout):
    """test_result as 0001, 0040 and 0044 made it: a row per attempt, monthly partitions."""

    name = "before"
    tables = ["bench_before"]
    newest = "created_at DESC, id DESC"  # the order of the reads before 0047

    def create(self, conn: psycopg.Connection) -> None:
        conn.execute("CREATE SEQUENCE bench_before_id_seq")
        conn.execute(
            "CREATE TABLE bench_before (id bigint NOT NULL DEFAULT nextval('bench_before_id_seq'), "
            "run_id int NOT NULL REFERENCES test_run (id) ON DELETE CASCADE, "
            "test_case_id int NOT NULL REFERENCES test_case (id) ON DELETE CASCADE, "
            "status varchar(8) NOT NULL, duration float8 NOT NULL, retry int2 NOT NULL, "
            "message text, failure_type varchar(255), created_at timestamp NOT NULL) "
            "PARTITION BY RANGE (created_at)"
        )
        self.partitions(conn, "bench_before")
        conn.execute("CREATE INDEX ON bench_before (run_id)")
        conn.execute("CREATE INDEX ON bench_before (test_case_id, created_at)")
        conn.execute("CREATE INDEX ON bench_before (created_at)")
        conn.execute(
            "CREATE INDEX ON bench_before (test_case_id, created_at) "
            "WHERE status IN ('failed', 'error')"
        )

    def write(self, conn, run_id, cases, ids, at):  # type: ignore[no-untyped-def]
        _copy(
            conn,
            f"COPY {self.tables[0]} (run_id, test_case_id, status, duration, retry, message, "
            "failure_type, created_at) FROM STDIN",
            attempt_rows(run_id, cases, ids, at.isoformat(" ")),
        )

    def run_results(self, conn, run_id, at):  # type: ignore[no-untyped-def]
        return conn.execute(
            f"SELECT test_case_id, status, retry FROM {self.tables[0]} WHERE run_id = %s "
            "AND created_at BETWEEN %s AND %s",
            (run_id, at - timedelta(days=1), at + timedelta(days=1)),
        ).fetchall()

    def history(self, conn, test_id):  # type: ignore[no-untyped-def]
        return conn.execute(  # catalog/detail.py before 0047: 4 attempts per run asked for
            "SELECT r.run_id, r.status, r.retry, r.duration, r.created_at, t.sha, t.branch, "
            f"t.job, t.ci_run_id, t.source FROM {self.tables[0]} r "
            "JOIN test_run t ON t.id = r.run_id WHERE r.test_case_id = %s "
            f"ORDER BY r.{self.newest.replace(', ', ', r.')} LIMIT %s",
            (test_id, 4 * HISTORY_RUNS),
        ).fetchall()

    def failures(self, conn, test_id):  # type: ignore[no-untyped-def]
        return conn.execute(
            f"SELECT message, failure_type, created_at, run_id FROM {self.tables[0]} "
            "WHERE test_case_id = %s AND status IN ('failed', 'error') "
            f"ORDER BY {self.newest} LIMIT %s",
            (test_id, FAILURES_READ),
        ).fetchall()


class NoPk(Before):
    """A row per attempt without the primary key and the created_at index, one plain table."""

    name = "no-pk"
    tables = ["bench_nopk"]
    newest = "created_at DESC, run_id DESC, retry DESC"

    def create(self, conn: psycopg.Connection) -> None:
        conn.execute(
            "CREATE TABLE bench_nopk (run_id int NOT NULL, test_case_id int NOT NULL, "
            "status varchar(8) NOT NULL, duration float8 NOT NULL, retry int2 NOT NULL, "
            "message text, failure_type varchar(255), created_at timestamp NOT NULL)"
        )
        conn.execute("CREATE INDEX bench_nopk_run ON bench_nopk (run_id)")
        conn.execute("CREATE INDEX bench_nopk_test ON bench_nopk (test_case_id, created_at)")

    def drop_oldest(self, conn, month):  # type: ignore[no-untyped-def]
        began = time.perf_counter()
        cutoff = date(month.year + (month.month == 12), month.month % 12 + 1, 1)
        while True:  # batched, as retention does (ctid: no key to page by)
            cur = conn.execute(
                "DELETE FROM bench_nopk WHERE ctid = ANY(ARRAY(SELECT ctid FROM bench_nopk "
                "WHERE created_at < %s LIMIT 5000))",
                (cutoff,),
            )
            conn.commit()
            if cur.rowcount < 5000:
                return time.perf_counter() - began, "batched DELETE"


class Narrow(Layout):
    """A row per attempt, monthly partitions, repository_id carried, status and retry in one
    smallint, duration in integer ms, messages stored once and referenced."""

    name = "narrow"
    tables = ["bench_narrow"]

    def create(self, conn: psycopg.Connection) -> None:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_message (id serial PRIMARY KEY, digest bytea UNIQUE, "
            "message text, failure_type text)"
        )
        conn.execute(
            "CREATE TABLE bench_narrow (repository_id int NOT NULL, run_id int NOT NULL, "
            "test_case_id int NOT NULL, duration_ms int NOT NULL, created_at date NOT NULL, "
            "code int2 NOT NULL, message_id int) PARTITION BY RANGE (created_at)"
        )
        self.partitions(conn, "bench_narrow")
        conn.execute("CREATE INDEX bench_narrow_run ON bench_narrow (run_id)")
        conn.execute(
            "CREATE INDEX bench_narrow_test ON bench_narrow "
            "(repository_id, test_case_id, created_at)"
        )

    def message_ids(self, conn: psycopg.Connection, cases: list[Any]) -> None:
        """Store each distinct (message, type) once; keep their ids in this process."""
        wanted = set()
        for case in cases:
            for item in (*case.attempts, case):
                if item.message and (item.message, item.failure_type) not in self.messages:
                    wanted.add((item.message, item.failure_type))
        for message, kind in sorted(wanted):
            digest = hashlib.sha256(f"{kind}\0{message}".encode()).digest()
            conn.execute(
                "INSERT INTO bench_message (digest, message, failure_type) VALUES (%s, %s, %s) "
                "ON CONFLICT (digest) DO NOTHING",
                (digest, message, kind),
            )
            found = conn.execute("SELECT id FROM bench_message WHERE digest = %s", (digest,))
            self.messages[(message, kind)] = found.fetchone()[0]

    def write(self, conn, run_id, cases, ids, at):  # type: ignore[no-untyped-def]
        self.message_ids(conn, cases)
        head = f"{self.repository_id}\t{run_id}\t"
        day = at.date().isoformat()
        lines = []
        for case in cases:
            test = ids[case.key]
            for retry, item in enumerate((*case.attempts, case)):
                ref = self.messages.get((item.message, item.failure_type)) if item.message else None
                code = STATUS_CODES.get(item.status, 3) | min(retry, 1023) << 3
                lines.append(
                    f"{head}{test}\t{_ms(item.duration)}\t{day}\t{code}\t"
                    f"{NULL if ref is None else ref}\n"
                )
        _copy(
            conn,
            "COPY bench_narrow (repository_id, run_id, test_case_id, duration_ms, created_at, "
            "code, message_id) FROM STDIN",
            "".join(lines).encode(),
        )

    def run_results(self, conn, run_id, at):  # type: ignore[no-untyped-def]
        return [
            (test, CODE_STATUS.get(code & 7, "error"), code >> 3)
            for test, code in conn.execute(
                "SELECT test_case_id, code FROM bench_narrow "
                "WHERE repository_id = %s AND created_at = %s AND run_id = %s",
                (self.repository_id, at.date(), run_id),
            ).fetchall()
        ]

    # (columns, condition, what follows) of the two reads of one test's newest rows
    HISTORY = (
        "r.code, r.duration_ms, r.created_at, t.sha",
        "",
        "JOIN test_run t ON t.id = r.run_id ORDER BY r.created_at DESC, r.run_id DESC",
    )
    FAILURES = (
        "m.message, m.failure_type, r.created_at, r.run_id",
        "AND code & 7 IN (2, 3)",
        "LEFT JOIN bench_message m ON m.id = r.message_id",
    )

    def history(self, conn, test_id):  # type: ignore[no-untyped-def]
        return self._newest(conn, test_id, 4 * HISTORY_RUNS, *self.HISTORY)

    def failures(self, conn, test_id):  # type: ignore[no-untyped-def]
        return self._newest(conn, test_id, FAILURES_READ, *self.FAILURES)

    def _newest(  # type: ignore[no-untyped-def]
        self, conn, test_id, limit: int, columns: str, condition: str, then: str
    ):
        """The newest ``limit`` rows of one test (meeting ``condition``), then ``then``."""
        return conn.execute(
            f"SELECT {columns} FROM (SELECT * FROM bench_narrow WHERE repository_id = %s "
            f"AND test_case_id = %s {condition} "
            f"ORDER BY created_at DESC, run_id DESC, code DESC LIMIT %s) r {then}",
            (self.repository_id, test_id, limit),
        ).fetchall()


class Packed(Layout):
    """The layout in place (models.packing), written and read through the models."""

    name = "packed"
    tables = ["result_block", "result_attempt", "failure_message"]

    def __init__(self, url: str, repository_id: int, months: list[date]) -> None:
        super().__init__(url, repository_id, months)
        self.ordinals = dict(
            TestCase.select(TestCase.id, TestCase.ordinal)
            .where(TestCase.repository == repository_id)
            .tuples()
        )

    def write(self, conn, run_id, cases, ids, at):  # type: ignore[no-untyped-def]
        conn.commit()  # the run row, seen by the models' connection
        with db.atomic():
            loader = ResultLoader(run_id, self.repository_id, now=at, dated=at)
            for start in range(0, len(cases), 1000):
                loader.add(cases[start : start + 1000])
            loader.finish()

    def run_results(self, conn, run_id, at):  # type: ignore[no-untyped-def]
        window = result_reads.results_window(at, at)
        return result_reads.run_results(self.repository_id, run_id, window)

    def history(self, conn, test_id):  # type: ignore[no-untyped-def]
        ordinal = self.ordinals[test_id]
        return result_reads.test_history(self.repository_id, test_id, ordinal, runs=HISTORY_RUNS)

    def failures(self, conn, test_id):  # type: ignore[no-untyped-def]
        return failure_reads.test_failures(self.repository_id, test_id, limit=FAILURES_READ)

    def count_before(self, conn, cutoff):  # type: ignore[no-untyped-def]
        return sum(
            conn.execute(f"SELECT count(*) FROM {t} WHERE {k} < %s", (cutoff,)).fetchone()[0]
            for t, k in partitions.TABLES.items()
        )

    def drop_oldest(self, conn, month):  # type: ignore[no-untyped-def]
        cutoff = date(month.year + (month.month == 12), month.month % 12 + 1, 1)
        began = time.perf_counter()
        partitions.drop_partitions_before(datetime(cutoff.year, cutoff.month, 1))
        return time.perf_counter() - began, "DETACH + DROP PARTITION (models.partitions)"
