"""Ingestion speed: JUnit uploads through the real WSGI app into committed rows, vs the floor.

Generates reports in memory (nothing is read from or written to report files):
a repository of ``--tests`` tests, one report per CI run, until the reports hold
``--results`` test results (1,000,000 by default; 2 % of the tests fail, 1 % are
retried once so they have two result rows). Then, in one process:

1. end to end on PostgreSQL: every report is POSTed to ``/api/v1/reports``
   through the real Flask app (test client, in process), which parses, upserts
   the test cases, packs the results and COPYs them, and commits; results/s
   counts the committed results (outcomes in ``result_block`` and attempt rows
   of their own, checked from another connection) over the wall time;
2. the floor on PostgreSQL, same reports (alternating report by report with 1,
   so that both see the same machine load): bare ``xml.etree`` iterparse of the
   bytes, the least packing the layout needs (a byte and a duration per test in
   its block, a row per failure or earlier attempt, each distinct message stored
   once) and a bare psycopg COPY into the same tables (test case ids and
   ordinals already known), one commit per report;
3. for reference, the layout before migration 0047, alternating with 1 and 2: the
   same iterparse and a COPY of one row per attempt into a table shaped as
   ``test_result`` was (four indexes, two foreign keys, no partitions);
4. the same end-to-end path on SQLite.

Targets (issue 4): PostgreSQL end to end >= 0.5x the floor and >= 50,000
results/s in one process. ``--small`` runs 50,000 results for a quick check;
``--concurrency N`` also runs the end-to-end PostgreSQL pass with N threads
posting through the app at once (as a threaded server, gunicorn --threads, would).

    .venv/bin/python bench/ingest_bench.py [--small] [--results N] [--tests N] [--no-sqlite]
"""

from __future__ import annotations

import argparse
import io
import random
import sys
import tempfile
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import quoteattr

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.junit import iter_cases
from flakeguard.settings import Settings
from models import db, init_db
from models.base import close_database
from models.migrate import apply_migrations

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS = "redis://127.0.0.1:6379/14"
SHA = "c0ffee" + "0" * 34
NOW = datetime.now(UTC)
DATED = f"{NOW:%Y-%m-%d %H:%M:%S}"  # the floor's runs are dated now, as uploads are
MONTH = f"{NOW:%Y-%m}-01"
# the bench's own app secrets: create_app wants them on PostgreSQL (never used to sign anything)
SESSION_SECRET = "ingest-bench-session-secret-" + uuid.uuid4().hex
BLOCK_COPY = (
    "COPY result_block (created_at, repository_id, run_id, block, codes, durations) FROM STDIN"
)
ATTEMPT_COPY = (
    "COPY result_attempt (created_at, repository_id, run_id, test_case_id, duration_ms, "
    "message_id, status, retry, packed) FROM STDIN"
)
LEGACY_COPY = (
    "COPY legacy_result (run_id, test_case_id, status, duration, retry, message, failure_type, "
    "created_at) FROM STDIN"
)
# test_result as it was before migration 0047 (and 0044): what the reference pass writes
LEGACY_TABLE = (
    "CREATE TABLE legacy_result (id BIGSERIAL PRIMARY KEY, "
    "run_id INTEGER NOT NULL REFERENCES test_run (id) ON DELETE CASCADE, "
    "test_case_id INTEGER NOT NULL REFERENCES test_case (id) ON DELETE CASCADE, "
    "status VARCHAR(8) NOT NULL, duration DOUBLE PRECISION NOT NULL, retry SMALLINT NOT NULL, "
    "message TEXT, failure_type VARCHAR(255), created_at TIMESTAMP NOT NULL); "
    "CREATE INDEX ON legacy_result (run_id); "
    "CREATE INDEX ON legacy_result (test_case_id, created_at); "
    "CREATE INDEX ON legacy_result (created_at); "
    "CREATE INDEX ON legacy_result (test_case_id, created_at) WHERE status IN ('failed', 'error')"
)
CODES = {"passed": 1, "failed": 2, "error": 3, "skipped": 4}


# -- data ------------------------------------------------------------------------------


def make_reports(total_results: int, tests: int, seed: int = 4) -> tuple[list[bytes], int]:
    """Reports of one test suite run repeatedly, holding about ``total_results`` results."""
    rng = random.Random(seed)
    names = [
        (f"tests.pkg{i // 2000}.test_mod{i // 50}.TestThing{i // 10}", f"test_case_{i}[p{i % 3}]")
        for i in range(tests)
    ]
    reports: list[bytes] = []
    results = 0
    while results < total_results:
        parts = ['<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="pytest tests">']
        for start in range(0, tests, 500):
            parts.append(f'<testsuite name="suite{start // 500}" tests="500">')
            for classname, name in names[start : start + 500]:
                roll = rng.random()
                head = f"<testcase classname={quoteattr(classname)} name={quoteattr(name)} "
                duration = f'time="{rng.random():.3f}"'
                if roll < 0.01:  # retried once: a failed attempt, then passed
                    parts.append(
                        f'{head}{duration}><flakyFailure message="timeout after 5s" '
                        f'type="TimeoutError">Traceback: ...</flakyFailure></testcase>'
                    )
                    results += 2
                elif roll < 0.03:
                    parts.append(
                        f'{head}{duration}><failure message="assert 41 == 42" '
                        'type="AssertionError">def test():\n&gt;  assert 41 == 42\nE  '
                        "AssertionError</failure></testcase>"
                    )
                    results += 1
                else:
                    parts.append(f"{head}{duration}/>")
                    results += 1
            parts.append("</testsuite>")
        parts.append("</testsuites>")
        reports.append("".join(parts).encode())
    return reports, results


# -- databases -------------------------------------------------------------------------


def create_pg_database() -> str:
    name = f"flakeguard_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}"


def drop_pg_database(url: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def count_results(url: str) -> int:
    """Committed results (outcomes in blocks, attempt rows of their own), from another
    connection."""
    blocks = "SELECT codes FROM result_block"
    others = "SELECT count(*) FROM result_attempt WHERE NOT packed"
    if url.startswith("sqlite"):
        import sqlite3

        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        try:
            codes = conn.execute(blocks).fetchall()
            extra = conn.execute(others).fetchone()[0]
        finally:
            conn.close()
    else:
        with psycopg.connect(url) as pg:
            codes = pg.execute(blocks).fetchall()
            extra = pg.execute(others).fetchone()[0]  # type: ignore[index]
    return int(extra) + sum(1 for (packed,) in codes for code in bytes(packed) if code)


# -- end to end ------------------------------------------------------------------------


def setup_app(url: str, queue: str) -> tuple[object, str]:
    """The real app on ``url`` with a repository; analysis jobs go to ``queue``."""
    import tasks
    from flakeguard import jobs
    from flakeguard.app import create_app
    from flakeguard.usecases.repos import add_repository

    database = init_db(url)
    apply_migrations(database)
    secrets = {"session_secret": SESSION_SECRET, "log_level": "WARNING"}
    if queue == "redis":
        settings = Settings(database_url=url, redis_url=REDIS, **secrets)
    else:
        settings = Settings(database_url=url, queue_mode="immediate", **secrets)
    app = create_app(settings)
    if queue == "redis":
        tasks.huey.flush()
    else:
        # Measure ingestion, not analysis: the job is accepted and dropped.
        jobs.register(jobs.Job.ANALYZE_RUN, lambda run_id: None)
    with db.connection_context():
        _, token = add_repository(f"bench/shop-{uuid.uuid4().hex[:6]}")
        repo = db.execute_sql("SELECT full_name FROM repository").fetchone()[0]
    app.config["bench_repo"] = repo
    return app, token


def poster(app, token: str, reports: list[bytes]):  # type: ignore[no-untyped-def]
    """A function that POSTs report ``index`` as run ``index`` (a test client per thread)."""
    repo = app.config["bench_repo"]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/xml"}
    clients = threading.local()

    def post(index: int) -> None:
        client = getattr(clients, "client", None)
        if client is None:
            client = clients.client = app.test_client()
        query = {"repo": repo, "sha": SHA, "branch": "main", "run_id": str(index), "job": "t"}
        response = client.post(
            "/api/v1/reports", query_string=query, data=reports[index], headers=headers
        )
        if response.status_code != 201:
            raise SystemExit(f"upload {index}: {response.status_code} {response.get_data()!r}")

    return post


def upload_all(app, token: str, reports: list[bytes], *, concurrency: int = 1) -> float:  # type: ignore[no-untyped-def]
    """POST every report (one run each) from ``concurrency`` threads; return the wall time."""
    post = poster(app, token, reports)
    indexes = iter(range(len(reports)))
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                index = next(indexes, None)
            if index is None:
                return
            post(index)

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


# -- the floor -------------------------------------------------------------------------


def iter_attempts(data: bytes) -> Iterator[tuple[tuple[str, str], list[tuple]]]:
    """Bare iterparse: per <testcase>, its (status, seconds, message, type) attempts, the
    final one last."""
    for _, element in ET.iterparse(io.BytesIO(data)):
        if element.tag != "testcase":
            continue
        duration = float(element.get("time") or 0)
        attempts, final = [], ("passed", duration, None, None)
        for child in element:
            if child.tag == "flakyFailure":
                attempts.append(("failed", duration, child.get("message"), child.get("type")))
            elif child.tag == "failure":
                final = ("failed", duration, child.get("message"), child.get("type"))
        attempts.append(final)
        yield (element.get("classname", ""), element.get("name", "")), attempts
        element.clear()


def _text(value: object) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bytes | bytearray):
        return "\\\\x" + bytes(value).hex()
    return str(value)


class Floor:
    """iterparse, the least packing, and COPY into the packed tables (and, for reference, the
    same iterparse and a COPY of one row per attempt into the layout before 0047)."""

    def __init__(self, url: str, reports: list[bytes]) -> None:
        self.reports = reports
        names = {}
        for _, element in ET.iterparse(io.BytesIO(reports[0])):
            if element.tag == "testcase":
                names[(element.get("classname", ""), element.get("name", ""))] = None
        self.conn = psycopg.connect(url)
        conn = self.conn
        conn.execute(LEGACY_TABLE)
        self.repo_id = conn.execute(
            "INSERT INTO repository (tenant_id, full_name, default_branch, settings, active, "
            "created_at) VALUES ((SELECT min(id) FROM tenant), 'floor/x', 'main', '{}', true, "
            "now()) RETURNING id"
        ).fetchone()[0]
        self.ids = {}
        for ordinal, (classname, name) in enumerate(names):
            self.ids[(classname, name)] = (
                conn.execute(
                    "INSERT INTO test_case (repository_id, key, suite, classname, name, ordinal, "
                    "first_seen, last_seen) VALUES (%s, %s, '', %s, %s, %s, now(), now()) "
                    "RETURNING id",
                    (self.repo_id, f"{classname}::{name}", classname, name, ordinal),
                ).fetchone()[0],
                ordinal,
            )
        self.run_ids = [
            conn.execute(
                "INSERT INTO test_run (repository_id, sha, branch, ci_run_id, job, attempt, "
                "source, content_digest, tests, passed, failures, errors, skipped, duration, "
                "received_at, tainted) VALUES (%s, %s, 'main', %s, 'floor', 1, 'upload', %s, "
                "0, 0, 0, 0, 0, 0, now(), false) RETURNING id",
                (self.repo_id, SHA, str(i), str(i)),
            ).fetchone()[0]
            for i in range(len(reports))
        ]
        self.messages: dict[tuple[str | None, str | None], int] = {}
        conn.commit()

    def _message(self, message: str | None, kind: str | None) -> int:
        found = self.messages.get((message, kind))
        if found is None:
            found = self.messages[(message, kind)] = self.conn.execute(
                "INSERT INTO failure_message (repository_id, month, digest, message, "
                "failure_type) VALUES (%s, %s, %s, %s, %s) RETURNING id",
                (self.repo_id, MONTH, f"{kind}\0{message}".encode(), message, kind),
            ).fetchone()[0]
        return found

    def load(self, index: int) -> None:
        """Parse report ``index``, pack it and COPY the blocks and attempt rows; commit."""
        run_id = self.run_ids[index]
        blocks: dict[int, tuple[bytearray, bytearray]] = {}
        attempt_rows = []
        head = f"{DATED}\t{self.repo_id}\t{run_id}\t"
        for name, attempts in iter_attempts(self.reports[index]):
            test_id, ordinal = self.ids[name]
            block, slot = divmod(ordinal, 64)
            codes, durations = blocks.setdefault(block, (bytearray(64), bytearray(256)))
            status, seconds, message, kind = attempts[-1]
            retries = len(attempts) - 1
            codes[slot] = CODES[status] | retries << 3
            durations[4 * slot : 4 * slot + 4] = round(seconds * 1000).to_bytes(4, "little")
            for retry, (status, seconds, message, kind) in enumerate(attempts):
                packed = retry == retries
                if packed and not retries and status == "passed":
                    continue
                message_id = self._message(message, kind) if status != "passed" else None
                attempt_rows.append(
                    f"{head}{test_id}\t{round(seconds * 1000)}\t{_text(message_id)}\t"
                    f"{CODES[status]}\t{retry}\t{packed}\n"
                )
        block_rows = [
            f"{head}{block}\t{_text(codes)}\t{_text(durations)}\n"
            for block, (codes, durations) in blocks.items()
        ]
        with self.conn.cursor() as cursor:
            with cursor.copy(BLOCK_COPY) as copy:
                copy.write("".join(block_rows).encode())
            with cursor.copy(ATTEMPT_COPY) as copy:
                copy.write("".join(attempt_rows).encode())
        self.conn.commit()

    def load_legacy(self, index: int) -> None:
        """Parse report ``index`` and COPY one row per attempt into legacy_result; commit."""
        run_id = self.run_ids[index]
        with self.conn.cursor() as cursor, cursor.copy(LEGACY_COPY) as copy:
            for name, attempts in iter_attempts(self.reports[index]):
                test_id = self.ids[name][0]
                for retry, (status, seconds, message, kind) in enumerate(attempts):
                    copy.write_row((run_id, test_id, status, seconds, retry, message, kind, DATED))
        self.conn.commit()

    def legacy_rows(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM legacy_result").fetchone()[0])

    def close(self) -> None:
        self.conn.close()


# -- main ------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=int, default=1_000_000, help="results in all reports")
    parser.add_argument("--tests", type=int, default=10_000, help="tests in the suite (per report)")
    parser.add_argument("--small", action="store_true", help="50,000 results, for a quick check")
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite pass")
    parser.add_argument(
        "--queue",
        choices=("drop", "redis"),
        default="drop",
        help="analysis jobs: dropped (default) or enqueued on Redis",
    )
    parser.add_argument(
        "--concurrency", type=int, default=1, help="also run PostgreSQL with N client threads"
    )
    args = parser.parse_args()
    total = 50_000 if args.small else args.results
    tests = min(args.tests, 5_000) if args.small else args.tests

    reports, results = make_reports(total, tests)
    size = sum(len(r) for r in reports)
    print(
        f"data: {len(reports)} reports x {tests} tests = {results:,} results, "
        f"{size / 2**20:.0f} MiB of XML"
    )

    pg_url = create_pg_database()
    floor_url = create_pg_database()
    floor: Floor | None = None
    try:
        init_db(floor_url, pooled=False)
        apply_migrations(db.obj)
        close_database(db.obj)
        floor = Floor(floor_url, reports)
        app, token = setup_app(pg_url, args.queue)
        post = poster(app, token, reports)
        # Alternate report by report so that all three see the same machine load.
        e2e_seconds = floor_seconds = legacy_seconds = 0.0
        for index in range(len(reports)):
            started = time.perf_counter()
            post(index)
            e2e_seconds += time.perf_counter() - started
            started = time.perf_counter()
            floor.load(index)
            floor_seconds += time.perf_counter() - started
            started = time.perf_counter()
            floor.load_legacy(index)
            legacy_seconds += time.perf_counter() - started
        for url, label in ((pg_url, "end to end"), (floor_url, "floor")):
            stored = count_results(url)
            assert stored == results, f"{label}: {stored} results committed, expected {results}"
        assert floor.legacy_rows() == results
        e2e = results / e2e_seconds
        floor_rate = results / floor_seconds
        print(
            f"PostgreSQL end to end: {e2e:,.0f} results/s ({e2e_seconds:.1f} s, "
            f"{results:,} results committed)"
        )
        print(
            f"PostgreSQL floor (iterparse + packing + COPY): {floor_rate:,.0f} results/s "
            f"({floor_seconds:.1f} s, same reports, alternating with the above)"
        )
        print(
            f"reference, the layout before 0047 (iterparse + COPY of a row per attempt): "
            f"{results / legacy_seconds:,.0f} results/s ({legacy_seconds:.1f} s, alternating)"
        )
        started = time.perf_counter()
        parsed = sum(1 for data in reports for _ in iter_cases(data, max_bytes=len(data) + 1))
        parse_rate = parsed / (time.perf_counter() - started)
        print(f"for reference, engine.junit.iter_cases alone: {parse_rate:,.0f} cases/s")
        ratio = e2e / floor_rate
        met = "met" if ratio >= 0.5 and e2e >= 50_000 else "NOT met"
        print(
            f"ratio end to end / floor: {ratio:.2f}x   (target >= 0.5x, and >= 50,000 "
            f"results/s: {met})"
        )

        if args.concurrency > 1:
            close_database(db.obj)
            drop_pg_database(pg_url)
            pg_url = create_pg_database()
            app, token = setup_app(pg_url, args.queue)
            seconds = upload_all(app, token, reports, concurrency=args.concurrency)
            assert count_results(pg_url) == results
            print(
                f"PostgreSQL end to end, {args.concurrency} client threads: "
                f"{results / seconds:,.0f} results/s ({seconds:.1f} s)"
            )
    finally:
        if floor is not None:
            floor.close()
        close_database(db.obj)
        drop_pg_database(pg_url)
        drop_pg_database(floor_url)

    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/bench.db"
            app, token = setup_app(url, "drop")
            seconds = upload_all(app, token, reports)
            stored = count_results(url)
            assert stored == results, f"sqlite: {stored} results, expected {results}"
            print(f"SQLite end to end: {results / seconds:,.0f} results/s ({seconds:.1f} s)")
            close_database(db.obj)


if __name__ == "__main__":
    main()
