"""Results at scale: storage, ingest and the hot reads as the results table grows (PostgreSQL).

For each size (``--sizes 1M,10M``; default 200k, a few minutes) a scratch
database gets a repository of ``--tests`` tests (2,000) with history loaded
through the real bulk path (``models.bulk.ResultLoader``: test case ids, one
COPY per run, one commit per run): one run of every test per CI run, 2 % of
the tests failing in half the runs (twenty distinct messages), 1 % retried once in
half the runs; the runs are
spread evenly over ``--months`` months ending now; the last 30 runs are
analysed so that verdicts exist. Then it prints:

- bytes per result after VACUUM ANALYZE: heap, each index, total
  (``pg_total_relation_size``: heap, indexes, TOAST, free-space and visibility maps);
- the storage rate of a 10,000-case upload (a repository of 10,000 known tests:
  the run row, the ResultLoader COPY and the commit; XML parsing left out), median of 5;
- ``analyze_run`` p50 for a 2,000-test run (7 runs);
- p95 of the status use case (``status_for``, what ``/flakeguard status`` shows),
  the test detail use case (``test_detail``, ``/flakeguard test``), one test's 50
  newest results with their runs, and a repository's 20 latest runs;
- the time to remove the oldest calendar month through the retention use case
  (``purge_results``: partitions dropped where ``test_result`` is partitioned, the rest
  in batches; inside a transaction rolled back afterwards, so the table is measured
  as loaded; the work is the same).

``--ab`` (after migration 0044) also times the partitioned ``test_result`` against
a plain copy of it with the primary key, read by read and upload by upload in turn,
so that both see the same machine load.

At the first size (or ``--compare-at``) the same history is replayed, run by run
with the same run and test ids, into candidate layouts in scratch tables of the
same database (not the production schema), side by side with the current one:

- ``current``: the ``test_result`` table as migrated (what the figures above measure);
- ``no-pk``: the same columns without the primary key and the ``created_at`` index;
- ``narrow``: one row per result, monthly range partitions on ``created_on`` (date),
  ``repository_id`` carried, status and retry folded in one smallint, duration in
  integer milliseconds, messages stored once per distinct (message, type) and referenced;
- ``packed``: one row per (run, block of 64 consecutive test ids): the final code
  of each test (status, retries folded) at its position in a 64-byte ``bytea`` and the
  durations (uint32 ms) in another; earlier attempts, duplicates and failure
  messages (referenced, as in ``narrow``) in a narrow side table; monthly partitions.

For each it prints bytes per passing result, the ingest rate of the same 10,000-case
upload (formatted in Python from the same case objects, one COPY, one commit), the
read of one run's results (the analysis input), one test's 50 newest results, and
the removal of the oldest month (batched DELETE for the unpartitioned ones,
DETACH + DROP PARTITION for the others); and the EXPLAIN of the hot reads of ``packed``.

    .venv/bin/python bench/scale_bench.py [--sizes 1M,10M] [--tests 2000] [--months 6]
"""

from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import struct
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flakeguard.settings import Settings
from models import TestRun, db, init_db, partitions
from models.base import close_database, utcnow
from models.bulk import CASE_IDS, RESULT_COLUMNS, ResultLoader, _copy_block
from models.migrate import apply_migrations

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS = "redis://127.0.0.1:6379/14"
MESSAGES = [
    (
        f"AssertionError: expected {n} == {n + 1}\n  at tests/test_mod{n}.py:{10 + n}",
        "AssertionError",
    )
    for n in range(20)
]
STATUS_CODES = {"passed": 1, "failed": 2, "error": 3, "skipped": 4}
CODE_STATUS = {code: status for status, code in STATUS_CODES.items()}
# code = status | retry << 3 (retry capped at 1023); DETAIL marks a side row that only
# carries the message of a packed result (not a result of its own)
MAX_RETRY = 1023
DETAIL = 1 << 13


def encode(status: str, retry: int) -> int:
    return STATUS_CODES.get(status, 3) | min(retry, MAX_RETRY) << 3


def decode(code: int) -> tuple[str, int]:
    return CODE_STATUS.get(code & 7, "error"), (code >> 3) & MAX_RETRY


BLOCK = 64  # test ids per packed row


# -- synthetic history --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Attempt:
    status: str
    duration: float
    message: str | None
    failure_type: str | None


@dataclass(frozen=True, slots=True)
class Case:
    """Shaped like engine.junit.CaseResult (what the bulk loader takes)."""

    key: str
    suite: str
    classname: str
    name: str
    file: str | None
    line: int | None
    status: str
    duration: float
    message: str | None
    failure_type: str | None
    attempts: tuple[Attempt, ...]


class Suite:
    """A repository's tests, each with a passing, a failing and a retried variant."""

    def __init__(self, tests: int, prefix: str = "tests") -> None:
        self.tests = tests
        self.variants: list[tuple[Case, Case, Case]] = []
        for i in range(tests):
            classname = f"{prefix}.pkg{i // 500}.test_mod{i // 25}.TestThing{i // 5}"
            name = f"test_case_{i}[p{i % 3}]"
            base = {
                "key": f"{classname}::{name}",
                "suite": f"suite{i // 500}",
                "classname": classname,
                "name": name,
                "file": f"{prefix}/pkg{i // 500}/test_mod{i // 25}.py",
                "line": 10 + i % 200,
                "duration": round(0.001 + (i % 97) * 0.0123, 3),
            }
            message, kind = MESSAGES[i % len(MESSAGES)]
            passing = Case(status="passed", message=None, failure_type=None, attempts=(), **base)
            failing = Case(status="failed", message=message, failure_type=kind, attempts=(), **base)
            retried = Case(
                status="passed",
                message=None,
                failure_type=None,
                attempts=(Attempt("failed", base["duration"], "timeout after 5s", "TimeoutError"),),
                **base,
            )
            self.variants.append((passing, failing, retried))

    def run(self, n: int) -> list[Case]:
        """The cases of run ``n``: the same for the same ``n`` (replayed into each layout).

        Every 100th test is flaky (retried once in half the runs), every 50th (+1)
        fails in half the runs, the others pass: verdicts settle, as in a real suite.
        """
        rng = random.Random(1_000_003 * n + self.tests)
        cases = []
        for i, (passing, failing, retried) in enumerate(self.variants):
            if i % 100 == 0 and rng.random() < 0.5:
                cases.append(retried)
            elif i % 50 == 1 and rng.random() < 0.5:
                cases.append(failing)
            else:
                cases.append(passing)
        return cases


@dataclass
class History:
    repository_id: int
    tenant_id: int
    full_name: str
    suite: Suite
    runs: list[tuple[int, int, datetime]]  # (n, run id, dated)


def new_run(repository_id: int, n: int, dated: datetime, tests: int) -> int:
    digest = hashlib.sha256(f"{repository_id}-{n}".encode()).hexdigest()
    return int(
        TestRun.insert(
            repository=repository_id,
            sha=f"{n:040x}",
            branch="main",
            ci_run_id=str(n),
            job="test",
            content_digest=digest,
            started_at=dated,
            received_at=dated,
            tests=tests,
            passed=tests,
        ).execute()
    )


def store(repository_id: int, run_id: int, cases: list[Case], dated: datetime) -> int:
    """The real bulk path: ResultLoader over batches of 1,000 cases. Returns result rows."""
    loader = ResultLoader(run_id, repository_id, now=dated, dated=dated)
    try:
        for start in range(0, len(cases), 1000):
            loader.add(cases[start : start + 1000])
        loader.finish()
    finally:
        loader.abort()
    return sum(1 + len(c.attempts) for c in cases)


def load_history(size: int, tests: int, months: int, end: datetime) -> History:
    from flakeguard.usecases import analysis
    from flakeguard.usecases.repos import add_repository

    repo, _ = add_repository(f"bench/hot-{uuid.uuid4().hex[:6]}")
    suite = Suite(tests)
    per_run = tests * 1.005
    count = max(40, int(size / per_run))
    start = end - timedelta(days=30 * months)
    # monthly partitions for the whole history (PostgreSQL after migration 0044)
    partitions.ensure_partitions(start, ahead=months + 2)
    step = (end - start) / count
    runs = []
    rows = 0
    began = time.perf_counter()
    for n in range(count):
        dated = start + step * n
        with db.atomic():
            run_id = new_run(repo.id, n, dated, tests)
            rows += store(repo.id, run_id, suite.run(n), dated)
        runs.append((n, run_id, dated))
        if n and n % 500 == 0:
            rate = rows / (time.perf_counter() - began)
            print(f"    loaded {rows:,} results ({n:,} runs), {rate:,.0f} results/s", flush=True)
    took = time.perf_counter() - began
    print(f"    loaded {rows:,} results in {count:,} runs in {took:.0f} s ({rows / took:,.0f}/s)")
    for _, run_id, dated in runs[-30:]:
        analysis.analyze_run(run_id, now=dated)
    return History(repo.id, repo.tenant_id, repo.full_name, suite, runs)


# -- measuring helpers --------------------------------------------------------------


def p(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(q * len(values)) - 1))]


def timed(func: Callable[[], Any], times: int) -> list[float]:
    out = []
    for _ in range(times):
        began = time.perf_counter()
        func()
        out.append((time.perf_counter() - began) * 1000)
    return out


def admin_sql(url: str, *statements: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def sizes(url: str, tables: list[str]) -> tuple[int, int, dict[str, int], int]:
    """(heap, toast, {index: bytes}, total) summed over ``tables`` (and their partitions)."""
    with psycopg.connect(url) as conn:
        rels = []
        for table in tables:
            rels += [
                r[0]
                for r in conn.execute(
                    "SELECT c.oid FROM pg_class c WHERE c.oid = %s::regclass "
                    "UNION SELECT inhrelid FROM pg_inherits WHERE inhparent = %s::regclass",
                    (table, table),
                ).fetchall()
            ]
        heap = toast = total = 0
        indexes: dict[str, int] = {}
        for oid in rels:
            h, t, tot, kind = conn.execute(
                "SELECT pg_relation_size(c.oid), "
                "coalesce(pg_total_relation_size(c.reltoastrelid), 0), "
                "pg_total_relation_size(c.oid), c.relkind FROM pg_class c WHERE c.oid = %s",
                (oid,),
            ).fetchone()
            if kind == "p":
                continue
            heap += h
            toast += t
            total += tot
            for name, size in conn.execute(
                "SELECT ic.relname, pg_relation_size(i.indexrelid) FROM pg_index i "
                "JOIN pg_class ic ON ic.oid = i.indexrelid WHERE i.indrelid = %s",
                (oid,),
            ).fetchall():
                base = name
                for table in tables:  # the partitions' indexes under their parent's name
                    base = base.replace(table + "_p", table + "_")
                key = "_".join(part for part in base.split("_") if not part.isdigit())
                indexes[key] = indexes.get(key, 0) + size
        return heap, toast, indexes, total


def vacuum(url: str, *tables: str) -> None:
    admin_sql(url, *(f"VACUUM ANALYZE {t}" for t in tables))


def months_between(first: datetime, last: datetime) -> list[date]:
    out = []
    month = date(first.year, first.month, 1)
    while month <= last.date():
        out.append(month)
        month = date(month.year + (month.month == 12), month.month % 12 + 1, 1)
    out.append(month)
    return out


# -- the current layout, through the use cases --------------------------------------


def measure_current(url: str, history: History, big: tuple[int, Suite], label: str) -> dict:
    from flakeguard.usecases import analysis, retention, status

    vacuum(url, "test_result", "test_run", "test_case")
    heap, toast, indexes, total = sizes(url, ["test_result"])
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT count(*) FROM test_result").fetchone()[0]
    kind = "partitioned by month" if partitions.is_partitioned() else "one plain table"
    print(f"  [{label}, {kind}] {rows:,} results; bytes per result:")
    print(f"    heap {heap / rows:.1f}, toast {toast / rows:.1f}")
    for name, size in sorted(indexes.items()):
        print(f"    index {name}: {size / rows:.1f}")
    print(f"    total {total / rows:.1f}")
    out: dict[str, Any] = {"rows": rows, "bytes": total / rows}

    # ingest of a 10,000-case upload (known test cases), median of 5
    big_repo, big_suite = big
    rates = []
    for k in range(6):
        dated = utcnow()
        cases = big_suite.run(10_000 + k)
        began = time.perf_counter()
        with db.atomic():
            run_id = new_run(big_repo, 10_000 + k + rows, dated, len(cases))
            stored = store(big_repo, run_id, cases, dated)
        if k:  # the first one creates the test cases
            rates.append(stored / (time.perf_counter() - began))
    out["ingest"] = statistics.median(rates)
    print(f"    ingest of a 10,000-case upload: {out['ingest']:,.0f} results/s (median of 5)")

    # analyze_run of a 2,000-test run
    last_n = history.runs[-1][0]
    analyze = []
    for k in range(7):
        dated = utcnow()
        with db.atomic():
            run_id = new_run(history.repository_id, last_n + 1 + k, dated, history.suite.tests)
            store(history.repository_id, run_id, history.suite.run(last_n + 1 + k), dated)
        began = time.perf_counter()
        analysis.analyze_run(run_id, now=dated)
        analyze.append((time.perf_counter() - began) * 1000)
    out["analyze"] = statistics.median(analyze)
    print(f"    analyze_run of a {history.suite.tests:,}-test run: p50 {out['analyze']:.1f} ms")

    rng = random.Random(5)
    test_ids = [
        r[0]
        for r in db.execute_sql(
            "SELECT id FROM test_case WHERE repository_id = %s", (history.repository_id,)
        ).fetchall()
    ]
    status_ms = timed(lambda: status.status_for(history.full_name, tenant_id=history.tenant_id), 40)
    detail_ms = timed(
        lambda: status.test_detail(rng.choice(test_ids), tenant_id=history.tenant_id), 100
    )
    history_sql = (
        "SELECT r.status, r.duration, r.retry, r.created_at, t.sha, t.branch FROM test_result r "
        "JOIN test_run t ON t.id = r.run_id WHERE r.test_case_id = %s "
        "ORDER BY r.created_at DESC, r.id DESC LIMIT 50"
    )
    history_ms = timed(lambda: db.execute_sql(history_sql, (rng.choice(test_ids),)).fetchall(), 100)
    runs_sql = (
        "SELECT id, sha, branch, job, received_at, tests, failures FROM test_run "
        "WHERE repository_id = %s ORDER BY received_at DESC LIMIT 20"
    )
    runs_ms = timed(lambda: db.execute_sql(runs_sql, (history.repository_id,)).fetchall(), 100)
    out.update(
        status=p(status_ms, 0.95),
        detail=p(detail_ms, 0.95),
        history=p(history_ms, 0.95),
        runs=p(runs_ms, 0.95),
    )
    print(
        f"    p95 ms: status {out['status']:.1f}, test detail {out['detail']:.1f}, "
        f"one test's 50 newest results {out['history']:.1f}, "
        f"a repository's 20 latest runs {out['runs']:.1f}"
    )

    # retention: the oldest calendar month, rolled back afterwards
    first = history.runs[0][2]
    boundary = months_between(first, history.runs[-1][2])[1]
    cutoff = datetime(boundary.year, boundary.month, 1)
    with db.atomic() as txn:
        began = time.perf_counter()
        report = retention.purge_results(30, now=cutoff + timedelta(days=30), max_batches=10**6)
        took = time.perf_counter() - began
        txn.rollback()
    out["retention"] = took
    print(
        f"    retention of the oldest month (< {cutoff:%Y-%m-%d}): {report.deleted:,} rows "
        f"in {report.batches} batches, partitions dropped {list(report.partitions_dropped)} "
        f"(~{report.partition_rows:,} rows), {took:.2f} s"
    )
    return out


# -- candidate layouts (scratch tables) ---------------------------------------------


def _ms(seconds: float) -> int:
    return max(0, min(2**31 - 1, round(seconds * 1000)))


class Layout:
    name = ""
    tables: list[str] = []
    partitioned = False

    def __init__(self, url: str, repository_id: int, months: list[date]) -> None:
        self.url = url
        self.repository_id = repository_id
        self.months = months
        self.messages: dict[tuple[str, str | None], int] = {}

    def create(self, conn: psycopg.Connection) -> None:
        raise NotImplementedError

    def partitions(self, conn: psycopg.Connection, table: str) -> None:
        for lo, hi in zip(self.months, self.months[1:], strict=False):
            conn.execute(
                f"CREATE TABLE {table}_p{lo:%Y%m} PARTITION OF {table} "
                f"FOR VALUES FROM ('{lo}') TO ('{hi}')"
            )

    def message_ids(self, conn: psycopg.Connection, cases: list[Case]) -> None:
        """Store each distinct (message, type) once; keep their ids in this process."""
        wanted = set()
        for case in cases:
            for item in (*case.attempts, case):
                if item.message and (item.message, item.failure_type) not in self.messages:
                    wanted.add((item.message, item.failure_type))
        if not wanted:
            return
        rows = [(hashlib.sha256(f"{t}\0{m}".encode()).digest(), m, t) for m, t in sorted(wanted)]
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO bench_message (digest, message, failure_type) VALUES (%s, %s, %s) "
                "ON CONFLICT (digest) DO NOTHING",
                rows,
            )
            for digest, m, t in rows:
                cur.execute("SELECT id FROM bench_message WHERE digest = %s", (digest,))
                self.messages[(m, t)] = cur.fetchone()[0]

    def write(
        self,
        conn: psycopg.Connection,
        run_id: int,
        cases: list[Case],
        ids: dict[str, int],
        dated: datetime,
    ) -> None:
        raise NotImplementedError

    def run_results(
        self, conn: psycopg.Connection, run_id: int, dated: datetime
    ) -> list[tuple[int, str, int]]:
        """(test case, status, retry) of one run: the analysis input."""
        raise NotImplementedError

    def history(self, conn: psycopg.Connection, test_id: int) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def drop_oldest(self, conn: psycopg.Connection, cutoff: date) -> float:
        """Remove the results older than ``cutoff`` (the oldest month); return the seconds."""
        raise NotImplementedError

    def count_before(self, conn: psycopg.Connection, cutoff: date) -> int:
        """Rows (of all the layout's tables) older than ``cutoff``."""
        column = "created_on" if self.partitioned else "created_at"
        return sum(
            conn.execute(f"SELECT count(*) FROM {t} WHERE {column} < %s", (cutoff,)).fetchone()[0]
            for t in self.tables
        )


def _copy(conn: psycopg.Connection, sql: str, block: bytes) -> None:
    with conn.cursor() as cur, cur.copy(sql) as copy:
        copy.write(block)


class Current(Layout):
    """The migrated test_result table, written by the same raw COPY as the candidates."""

    name = "current"
    tables = ["test_result"]

    def write(self, conn, run_id, cases, ids, dated):  # type: ignore[no-untyped-def]
        block = _copy_block(run_id, cases, ids, dated.isoformat(" "))
        _copy(conn, f"COPY test_result ({RESULT_COLUMNS}) FROM STDIN", block)

    def run_results(self, conn, run_id, dated):  # type: ignore[no-untyped-def]
        return conn.execute(
            "SELECT test_case_id, status, retry FROM test_result WHERE run_id = %s", (run_id,)
        ).fetchall()

    def history(self, conn, test_id):  # type: ignore[no-untyped-def]
        return conn.execute(
            "SELECT r.status, r.duration, r.retry, r.created_at, t.sha FROM test_result r "
            "JOIN test_run t ON t.id = r.run_id WHERE r.test_case_id = %s "
            "ORDER BY r.created_at DESC, r.id DESC LIMIT 50",
            (test_id,),
        ).fetchall()


class NoPk(Layout):
    name = "no-pk"
    tables = ["bench_nopk"]

    def create(self, conn: psycopg.Connection) -> None:
        conn.execute(
            "CREATE TABLE bench_nopk (run_id int NOT NULL, test_case_id int NOT NULL, "
            "status varchar(8) NOT NULL, duration float8 NOT NULL, retry int2 NOT NULL, "
            "message text, failure_type varchar(255), created_at timestamp NOT NULL)"
        )
        conn.execute("CREATE INDEX bench_nopk_run ON bench_nopk (run_id)")
        conn.execute("CREATE INDEX bench_nopk_test ON bench_nopk (test_case_id, created_at)")

    def write(self, conn, run_id, cases, ids, dated):  # type: ignore[no-untyped-def]
        block = _copy_block(run_id, cases, ids, dated.isoformat(" "))
        _copy(
            conn,
            "COPY bench_nopk (run_id, test_case_id, status, duration, retry, message, "
            "failure_type, created_at) FROM STDIN",
            block,
        )

    def run_results(self, conn, run_id, dated):  # type: ignore[no-untyped-def]
        return conn.execute(
            "SELECT test_case_id, status, retry FROM bench_nopk WHERE run_id = %s", (run_id,)
        ).fetchall()

    def history(self, conn, test_id):  # type: ignore[no-untyped-def]
        return conn.execute(
            "SELECT r.status, r.duration, r.retry, r.created_at, t.sha FROM bench_nopk r "
            "JOIN test_run t ON t.id = r.run_id WHERE r.test_case_id = %s "
            "ORDER BY r.created_at DESC, r.run_id DESC, r.retry DESC LIMIT 50",
            (test_id,),
        ).fetchall()

    def drop_oldest(self, conn, cutoff):  # type: ignore[no-untyped-def]
        began = time.perf_counter()
        while True:  # batched, as the retention use case does (ctid: no key to page by)
            cur = conn.execute(
                "DELETE FROM bench_nopk WHERE ctid = ANY(ARRAY(SELECT ctid FROM bench_nopk "
                "WHERE created_at < %s LIMIT 5000))",
                (cutoff,),
            )
            conn.commit()
            if cur.rowcount < 5000:
                return time.perf_counter() - began


class Narrow(Layout):
    name = "narrow"
    tables = ["bench_narrow"]
    partitioned = True

    def create(self, conn: psycopg.Connection) -> None:
        conn.execute(
            "CREATE TABLE bench_narrow (repository_id int NOT NULL, run_id int NOT NULL, "
            "test_case_id int NOT NULL, duration_ms int NOT NULL, created_on date NOT NULL, "
            "code int2 NOT NULL, message_id int) PARTITION BY RANGE (created_on)"
        )
        self.partitions(conn, "bench_narrow")
        conn.execute("CREATE INDEX bench_narrow_run ON bench_narrow (run_id)")
        conn.execute("CREATE INDEX bench_narrow_test ON bench_narrow (test_case_id, created_on)")

    def write(self, conn, run_id, cases, ids, dated):  # type: ignore[no-untyped-def]
        self.message_ids(conn, cases)
        head = f"{self.repository_id}\t{run_id}\t"
        day = dated.date().isoformat()
        lines = []
        for case in cases:
            test = ids[case.key]
            for retry, item in enumerate((*case.attempts, case)):
                ref = self.messages.get((item.message, item.failure_type)) if item.message else None
                lines.append(
                    f"{head}{test}\t{_ms(item.duration)}\t{day}\t{encode(item.status, retry)}"
                    f"\t{NULL if ref is None else ref}\n"
                )
        _copy(
            conn,
            "COPY bench_narrow (repository_id, run_id, test_case_id, duration_ms, created_on, "
            "code, message_id) FROM STDIN",
            "".join(lines).encode(),
        )

    def run_results(self, conn, run_id, dated):  # type: ignore[no-untyped-def]
        return [
            (t, *decode(code))
            for t, code in conn.execute(
                "SELECT test_case_id, code FROM bench_narrow "
                "WHERE repository_id = %s AND created_on = %s AND run_id = %s",
                (self.repository_id, dated.date(), run_id),
            ).fetchall()
        ]

    def history(self, conn, test_id):  # type: ignore[no-untyped-def]
        return conn.execute(
            "SELECT r.code, r.duration_ms, r.created_on, t.sha FROM ("
            "SELECT * FROM bench_narrow WHERE repository_id = %s AND test_case_id = %s "
            "ORDER BY created_on DESC, run_id DESC, code DESC LIMIT 50) r "
            "JOIN test_run t ON t.id = r.run_id ORDER BY r.created_on DESC, r.run_id DESC",
            (self.repository_id, test_id),
        ).fetchall()

    def drop_oldest(self, conn, cutoff):  # type: ignore[no-untyped-def]
        return _drop_partition(conn, self.tables, self.months[0])


def _drop_partition(conn: psycopg.Connection, tables: list[str], month: date) -> float:
    """Seconds to detach and drop the oldest month's partitions (one short transaction)."""
    began = time.perf_counter()
    for table in tables:
        part = f"{table}_p{month:%Y%m}"
        conn.execute(f"ALTER TABLE {table} DETACH PARTITION {part}")
        conn.execute(f"DROP TABLE {part}")
    conn.commit()
    return time.perf_counter() - began


NULL = "\\N"  # COPY text format
# newest first per partition (ordered Append, Index Scan Backward), the runs joined after
PACKED_HISTORY = (
    "SELECT p.code, p.durations, p.created_on, t.sha FROM ("
    "SELECT get_byte(codes, %(slot)s) AS code, durations, created_on, run_id FROM bench_pack "
    "WHERE repository_id = %(repo)s AND block = %(block)s AND get_byte(codes, %(slot)s) <> 0 "
    "ORDER BY created_on DESC, run_id DESC LIMIT 50) p "
    "JOIN test_run t ON t.id = p.run_id ORDER BY p.created_on DESC, p.run_id DESC"
)
_ZERO_CODES = bytes(BLOCK)
_ZERO_DURATIONS = bytes(4 * BLOCK)


class Packed(Layout):
    """One row per (run, block of 64 test ids); what a row cannot hold goes to a side table."""

    name = "packed"
    tables = ["bench_pack", "bench_extra"]
    partitioned = True

    def create(self, conn: psycopg.Connection) -> None:
        conn.execute(
            "CREATE TABLE bench_pack (repository_id int NOT NULL, run_id int NOT NULL, "
            "block int NOT NULL, created_on date NOT NULL, codes bytea NOT NULL, "
            "durations bytea NOT NULL) PARTITION BY RANGE (created_on)"
        )
        self.partitions(conn, "bench_pack")
        conn.execute("CREATE INDEX bench_pack_run ON bench_pack (run_id)")
        conn.execute(
            "CREATE INDEX bench_pack_test ON bench_pack (repository_id, block, created_on, run_id)"
        )
        # earlier attempts, second occurrences of a test in a run, and failure messages
        conn.execute(
            "CREATE TABLE bench_extra (repository_id int NOT NULL, run_id int NOT NULL, "
            "test_case_id int NOT NULL, duration_ms int NOT NULL, created_on date NOT NULL, "
            "code int2 NOT NULL, message_id int) PARTITION BY RANGE (created_on)"
        )
        self.partitions(conn, "bench_extra")
        conn.execute("CREATE INDEX bench_extra_run ON bench_extra (run_id)")
        conn.execute("CREATE INDEX bench_extra_test ON bench_extra (test_case_id, created_on)")

    def write(self, conn, run_id, cases, ids, dated):  # type: ignore[no-untyped-def]
        self.message_ids(conn, cases)
        day = dated.date().isoformat()
        head = f"{self.repository_id}\t{run_id}\t"
        blocks: dict[int, tuple[bytearray, bytearray]] = {}
        extra = []
        for case in cases:
            test = ids[case.key]
            block, slot = divmod(test, BLOCK)
            row = blocks.get(block)
            if row is None:
                row = blocks[block] = (bytearray(_ZERO_CODES), bytearray(_ZERO_DURATIONS))
            retries = len(case.attempts)
            if row[0][slot]:  # a second occurrence in this run: a side row
                extra.append((test, case, retries, 0))
            else:
                # one byte: status, and the retries up to 31 (more: the side rows count)
                row[0][slot] = STATUS_CODES.get(case.status, 3) | min(retries, 31) << 3
                struct.pack_into("<I", row[1], 4 * slot, _ms(case.duration))
                if case.message or case.failure_type:
                    extra.append((test, case, retries, DETAIL))
            for retry, attempt in enumerate(case.attempts):
                extra.append((test, attempt, retry, 0))
        lines = [
            f"{head}{block}\t{day}\t\\\\x{codes.hex()}\t\\\\x{durations.hex()}\n"
            for block, (codes, durations) in blocks.items()
        ]
        _copy(
            conn,
            "COPY bench_pack (repository_id, run_id, block, created_on, codes, durations) "
            "FROM STDIN",
            "".join(lines).encode(),
        )
        if extra:
            rows = []
            for test, item, retry, flag in extra:
                ref = self.messages.get((item.message, item.failure_type)) if item.message else None
                rows.append(
                    f"{head}{test}\t{_ms(item.duration)}\t{day}\t"
                    f"{encode(item.status, retry) | flag}\t{NULL if ref is None else ref}\n"
                )
            _copy(
                conn,
                "COPY bench_extra (repository_id, run_id, test_case_id, duration_ms, "
                "created_on, code, message_id) FROM STDIN",
                "".join(rows).encode(),
            )

    def run_results(self, conn, run_id, dated):  # type: ignore[no-untyped-def]
        out = []
        where = {"repo": self.repository_id, "on": dated.date(), "run": run_id, "detail": DETAIL}
        for block, codes in conn.execute(
            "SELECT block, codes FROM bench_pack "
            "WHERE repository_id = %(repo)s AND created_on = %(on)s AND run_id = %(run)s",
            where,
        ).fetchall():
            base = block * BLOCK
            for slot, code in enumerate(codes):
                if code:
                    out.append((base + slot, CODE_STATUS.get(code & 7, "error"), code >> 3))
        for test, code in conn.execute(
            "SELECT test_case_id, code FROM bench_extra WHERE repository_id = %(repo)s "
            "AND created_on = %(on)s AND run_id = %(run)s AND code & %(detail)s = 0",
            where,
        ).fetchall():
            out.append((test, *decode(code)))
        return out

    def history(self, conn, test_id):  # type: ignore[no-untyped-def]
        block, slot = divmod(test_id, BLOCK)
        rows = conn.execute(
            PACKED_HISTORY, {"repo": self.repository_id, "block": block, "slot": slot}
        ).fetchall()
        return [
            (code, struct.unpack_from("<I", durations, 4 * slot)[0], on, sha)
            for code, durations, on, sha in rows
        ]

    def drop_oldest(self, conn, cutoff):  # type: ignore[no-untyped-def]
        return _drop_partition(conn, self.tables, self.months[0])


HOT_EXPLAIN = {
    "one test's history, newest first": PACKED_HISTORY.replace("%(slot)s", "17")
    .replace("%(repo)s", "{repo}")
    .replace("%(block)s", "{block}"),
    "one run's results (analysis)": (
        "SELECT block, codes FROM bench_pack "
        "WHERE repository_id = {repo} AND created_on = '{on}' AND run_id = {run}"
    ),
    "a repository's recent runs": (
        "SELECT id, sha, branch, job, received_at, tests, failures FROM test_run "
        "WHERE repository_id = {repo} ORDER BY received_at DESC LIMIT 20"
    ),
}


def raw_run(
    conn: psycopg.Connection, repository_id: int, tag: str, dated: datetime, tests: int
) -> int:
    """A TestRun row written with psycopg (the candidates' uploads are timed with it)."""
    digest = hashlib.sha256(tag.encode()).hexdigest()
    row = conn.execute(
        "INSERT INTO test_run (repository_id, sha, branch, pr, ci_run_id, job, attempt, source, "
        "content_digest, tests, passed, failures, errors, skipped, duration, started_at, "
        "received_at, tainted) VALUES (%s, %s, 'main', NULL, %s, 'test', 1, 'upload', %s, %s, "
        "%s, 0, 0, 0, 0, %s, %s, false) RETURNING id",
        (repository_id, digest[:40], tag, digest, tests, tests, dated, dated),
    ).fetchone()
    return int(row[0])


def partition_ab(url: str, history: History, big: tuple[int, Suite]) -> None:
    """The partitioned test_result against a plain copy of it, measured alternately.

    Same rows, same indexes and foreign keys, the copy with the primary key and no
    partitions; each read and upload goes to both tables in turn (random order per
    round), so both see the same machine load.
    """
    conn = psycopg.connect(url)
    began = time.perf_counter()
    conn.execute("CREATE TABLE ab_plain (LIKE test_result INCLUDING DEFAULTS)")
    conn.execute("INSERT INTO ab_plain SELECT * FROM test_result")
    conn.execute("ALTER TABLE ab_plain ADD PRIMARY KEY (id)")
    conn.execute("CREATE INDEX ON ab_plain (run_id)")
    conn.execute("CREATE INDEX ON ab_plain (test_case_id, created_at)")
    conn.execute("CREATE INDEX ON ab_plain (created_at)")
    conn.execute("ALTER TABLE ab_plain ADD FOREIGN KEY (run_id) REFERENCES test_run (id)")
    conn.execute("ALTER TABLE ab_plain ADD FOREIGN KEY (test_case_id) REFERENCES test_case (id)")
    conn.commit()
    vacuum(url, "ab_plain", "test_result")
    took = time.perf_counter() - began
    print(f"  A/B: partitioned test_result vs a plain copy (copied in {took:.0f} s)")
    rng = random.Random(11)
    test_ids = [
        r[0]
        for r in conn.execute(
            "SELECT id FROM test_case WHERE repository_id = %s", (history.repository_id,)
        ).fetchall()
    ]
    runs = [run_id for _, run_id, _ in history.runs]
    tables = ("test_result", "ab_plain")
    timings: dict[tuple[str, str], list[float]] = {}

    def clock(kind: str, table: str, sql: str, params: tuple[Any, ...]) -> None:
        start = time.perf_counter()
        conn.execute(sql.format(t=table), params).fetchall()
        timings.setdefault((kind, table), []).append((time.perf_counter() - start) * 1000)

    for _ in range(300):
        test_id, run_id = rng.choice(test_ids), rng.choice(runs)
        for table in rng.sample(tables, 2):
            clock(
                "history (20 newest of one test)",
                table,
                "SELECT status FROM {t} WHERE test_case_id = %s "
                "ORDER BY created_at DESC, id DESC LIMIT 20",
                (test_id,),
            )
            clock(
                "one run's results",
                table,
                "SELECT test_case_id, status, retry FROM {t} WHERE run_id = %s",
                (run_id,),
            )
    conn.commit()
    big_repo, big_suite = big
    big_ids = dict(
        conn.execute("SELECT key, id FROM test_case WHERE repository_id = %s", (big_repo,))
    )
    last = history.runs[-1][2]
    for k in range(6):
        cases = big_suite.run(30_000 + k)
        for table in rng.sample(tables, 2):
            run_id = raw_run(conn, big_repo, f"ab-{table}-{k}", last, len(cases))
            block = _copy_block(run_id, cases, big_ids, last.isoformat(" "))
            start = time.perf_counter()
            _copy(conn, f"COPY {table} ({RESULT_COLUMNS}) FROM STDIN", block)
            conn.commit()
            if k:
                rate = len(block.splitlines()) / (time.perf_counter() - start)
                timings.setdefault(("ingest", table), []).append(rate)
    for kind in ("history (20 newest of one test)", "one run's results"):
        a, b = timings[(kind, "test_result")], timings[(kind, "ab_plain")]
        print(
            f"    {kind}: partitioned p50 {p(a, 0.5):.2f} / p95 {p(a, 0.95):.2f} ms; "
            f"plain p50 {p(b, 0.5):.2f} / p95 {p(b, 0.95):.2f} ms"
        )
    a, b = timings[("ingest", "test_result")], timings[("ingest", "ab_plain")]
    print(
        f"    COPY of a 10,000-case upload: partitioned {statistics.median(a):,.0f}/s, "
        f"plain {statistics.median(b):,.0f}/s (median of 5 each)"
    )
    conn.execute("DROP TABLE ab_plain")
    conn.commit()
    conn.close()


def _short(name: str) -> str:
    return name.removeprefix("bench_").removesuffix("_idx")


def compare_layouts(url: str, history: History, big: tuple[int, Suite], base: dict) -> None:
    """Replay the history into each candidate layout; print them side by side."""
    first, last = history.runs[0][2], history.runs[-1][2]
    months = months_between(first, last + timedelta(days=40))
    print(f"  candidate layouts ({len(months) - 1} monthly partitions where partitioned):")
    conn = psycopg.connect(url)
    conn.execute(
        "CREATE TABLE IF NOT EXISTS bench_message (id serial PRIMARY KEY, digest bytea UNIQUE, "
        "message text, failure_type text)"
    )
    conn.commit()
    ids = dict(
        conn.execute(
            "SELECT key, id FROM test_case WHERE repository_id = %s", (history.repository_id,)
        ).fetchall()
    )
    big_repo, big_suite = big
    big_ids = dict(
        conn.execute("SELECT key, id FROM test_case WHERE repository_id = %s", (big_repo,))
    )
    test_ids = list(ids.values())
    _, recent_run, recent_dated = history.runs[-1]
    rows = base["history_rows"]
    failing = sum(
        1
        for n, _, _ in history.runs
        for case in history.suite.run(n)
        if case.attempts or case.message
    )
    table = []
    for cls in (Current, NoPk, Narrow, Packed):
        layout = cls(url, history.repository_id, months)
        if cls is not Current:
            layout.create(conn)
            conn.commit()
            for n, run_id, dated in history.runs:
                layout.write(conn, run_id, history.suite.run(n), ids, dated)
                conn.commit()
            vacuum(url, *layout.tables)
            per_table = {t: sizes(url, [t]) for t in layout.tables}
        else:
            per_table = {"test_result": (0, 0, {}, 0)}  # measured before the use cases ran
        # ingest: the same 10,000-case uploads into each layout (one COPY, one commit)
        rates = []
        writer = cls(url, big_repo, months)
        writer.messages = layout.messages
        for k in range(1, 6):
            cases = big_suite.run(20_000 + k)
            began = time.perf_counter()
            run_id = raw_run(conn, big_repo, f"{cls.name}-{k}", last, len(cases))
            writer.write(conn, run_id, cases, big_ids, last)
            conn.commit()
            rates.append(sum(1 + len(c.attempts) for c in cases) / (time.perf_counter() - began))
        rng = random.Random(9)
        run_ms = timed(lambda lay=layout: lay.run_results(conn, recent_run, recent_dated), 20)
        hist_ms = timed(lambda lay=layout, r=rng: lay.history(conn, r.choice(test_ids)), 200)
        conn.commit()
        read = len(layout.run_results(conn, recent_run, recent_dated))
        conn.commit()
        if cls is Current:
            total = base["bytes"] * rows
            detail = f"heap {base['heap']:.1f}; " + ", ".join(
                f"{_short(k)} {v:.1f}" for k, v in base["indexes"].items()
            )
            drop = f"{base['retention']:.2f} s (the retention use case)"
        else:
            total = sum(t[3] for t in per_table.values())
            parts = []
            for name, (heap, _toast, indexes, _size) in per_table.items():
                parts.append(
                    f"{_short(name)}: heap {heap / rows:.1f}; "
                    + ", ".join(f"{_short(k)} {v / rows:.1f}" for k, v in indexes.items())
                )
            detail = " | ".join(parts)
            dropped = layout.count_before(conn, months[1])
            conn.commit()
            seconds = layout.drop_oldest(conn, months[1])
            how = "DETACH + DROP PARTITION" if layout.partitioned else "batched DELETE"
            drop = f"{seconds:.2f} s ({how}, {dropped:,} rows)"
        table.append(
            (
                cls.name,
                total / rows,
                statistics.median(rates),
                statistics.median(run_ms),
                p(hist_ms, 0.5),
                p(hist_ms, 0.95),
                drop,
                detail,
                read,
            )
        )
    print(
        f"    {rows:,} results in the history ({failing:,} failed or retried, "
        f"{100 * failing / rows:.1f} %); bytes are per result of that history"
    )
    print(
        f"    {'layout':<8} {'B/result':>8} {'ingest/s':>9} {'run read':>9} "
        f"{'hist p50':>9} {'hist p95':>9}  oldest month"
    )
    for name, per, ingest, run, h50, h95, drop, _, _read in table:
        print(
            f"    {name:<8} {per:>8.1f} {ingest:>9,.0f} {run:>7.2f}ms {h50:>7.2f}ms "
            f"{h95:>7.2f}ms  {drop}"
        )
    print("    bytes per result by relation:")
    for name, *_, detail, read in table:
        print(f"      {name}: {detail}  [{read} results read back for one run]")
    pack = sizes(url, ["bench_pack"])[3]
    print(
        f"    packed, the pack table alone (every passing result): {pack / rows:.1f} B/result; "
        f"the side table per failed or retried result: "
        f"{sizes(url, ['bench_extra'])[3] / max(1, failing):.1f} B"
    )
    block = test_ids[0] // BLOCK
    print("  EXPLAIN (packed), repository_id carried as the distribution column:")
    for title, sql in HOT_EXPLAIN.items():
        query = sql.format(
            repo=history.repository_id, block=block, run=recent_run, on=recent_dated.date()
        )
        plan = conn.execute(f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) {query}").fetchall()
        print(f"    -- {title}")
        for (line,) in plan:
            print(f"       {line}")
    conn.close()


# -- driver -------------------------------------------------------------------------


def parse_size(text: str) -> int:
    text = text.strip().upper()
    scale = {"K": 1_000, "M": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("KM")) * scale)


@contextmanager
def scratch_database() -> Iterator[str]:
    name = f"flakeguard_scale_{uuid.uuid4().hex[:8]}"
    admin_sql(PG_ADMIN, f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}"
    finally:
        admin_sql(PG_ADMIN, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def bench_size(size: int, args: argparse.Namespace, compare: bool) -> dict:
    import tasks

    with scratch_database() as url:
        database = init_db(url)
        apply_migrations(database)
        # analysis enqueues its effects (a consumer runs them elsewhere), as in production
        queue = tasks.configure(
            Settings(database_url=url, redis_url=REDIS),
            name=f"flakeguard-scale-{uuid.uuid4().hex[:8]}",
        )
        CASE_IDS.clear()
        print(f"\n== {size:,} results ({args.tests:,} tests, {args.months} months) ==", flush=True)
        end = utcnow() - timedelta(days=1)
        history = load_history(size, args.tests, args.months, end)
        history_rows = db.execute_sql("SELECT count(*) FROM test_result").fetchone()[0]
        from flakeguard.usecases.repos import add_repository

        big_repo, _ = add_repository(f"bench/big-{uuid.uuid4().hex[:6]}")
        big = (big_repo.id, Suite(10_000, prefix="big"))
        if compare:  # the layouts are compared on the loaded history alone
            vacuum(url, "test_result")
            heap, _toast, indexes, total = sizes(url, ["test_result"])
        out = measure_current(url, history, big, f"current layout at {size:,}")
        if compare:
            base = {
                "history_rows": history_rows,
                "heap": heap / history_rows,
                "indexes": {k: v / history_rows for k, v in indexes.items()},
                "bytes": total / history_rows,
                "ingest": out["ingest"],
                "retention": out["retention"],
            }
            compare_layouts(url, history, big, base)
        if args.ab and partitions.is_partitioned():
            partition_ab(url, history, big)
        queue.flush()
        tasks.configure(Settings(queue_mode="immediate"))
        close_database(database)
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="200k", help="comma-separated, e.g. 1M,10M")
    parser.add_argument("--tests", type=int, default=2000)
    parser.add_argument("--months", type=int, default=6)
    parser.add_argument(
        "--compare-at", default=None, help="size at which to compare layouts (default: the first)"
    )
    parser.add_argument("--no-compare", action="store_true")
    parser.add_argument(
        "--ab",
        action="store_true",
        help="also time the partitioned test_result against a plain copy, alternately",
    )
    args = parser.parse_args()
    wanted = [parse_size(s) for s in args.sizes.split(",")]
    compare_at = parse_size(args.compare_at) if args.compare_at else wanted[0]
    summary = {}
    for size in wanted:
        summary[size] = bench_size(size, args, compare=not args.no_compare and size == compare_at)
    if len(summary) > 1:
        first = summary[wanted[0]]
        print("\n== latency at each size / at the first ==")
        for size in wanted[1:]:
            s = summary[size]
            print(
                f"  {size:,}: analyze {s['analyze'] / first['analyze']:.2f}x, "
                f"status {s['status'] / first['status']:.2f}x, "
                f"detail {s['detail'] / first['detail']:.2f}x, "
                f"history {s['history'] / first['history']:.2f}x, "
                f"ingest {s['ingest'] / first['ingest']:.2f}x"
            )


if __name__ == "__main__":
    main()
