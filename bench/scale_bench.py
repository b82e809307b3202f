"""Results at scale: storage, ingest and the hot reads as the results grow (PostgreSQL).

For each size (``--sizes 1M,10M,50M``; default 200k, a few minutes) a scratch
database gets a repository of ``--tests`` tests (2,000) with history loaded
through the real bulk path (``models.bulk.ResultLoader``: test case ids, the
packed blocks and attempt rows, one commit per run): one run of every test per
CI run, every 50th (+1) test failing in half the runs (twenty distinct
messages), every 100th retried once in half the runs; the runs spread evenly
over ``--months`` months ending now; the last 30 runs analysed so that verdicts
exist. Every size's database is loaded first (it prints how long each took) and
kept; then each measurement is taken at every size in turn, in a random order
per round, so that all sizes see the same machine load and the ratios between
sizes mean something on a busy machine:

- bytes per result after VACUUM ANALYZE: per table (heap and each index, all
  partitions), in all and for the passing results (``result_block`` alone);
- the storage rate of a 10,000-case upload (a repository of 10,000 known tests:
  the run row, the ResultLoader and the commit; XML parsing left out), median of 5;
- ``analyze_run`` p50 for a 2,000-test run (7 runs, after 2 that warm the caches);
- p95 (``--rounds``, 60) of ``/flakeguard status`` (``status.status_for``),
  ``/flakeguard test`` (``testcases.test_detail``), the dashboard's test page
  (``GET /tests/<id>`` through the Flask app, signed in) and the read API's test
  history (``GET /api/v1/tests/<id>``, an API token);
- the time to remove the oldest calendar month through the retention use case
  (``purge_results``: partitions dropped, the rest in batches), inside a
  transaction rolled back afterwards (the tables stay as loaded; the work is the
  same), median of 3.

``--migration 1M`` instead times migration 0047, up and down, on a database
holding that many results in ``test_result`` (as the loader before it wrote them).

At the first size (or ``--compare-at``) the same history is replayed, run by run
with the same run and test ids, into the layout before migration 0047 and two
other candidates, in scratch tables of the same database, and measured side by
side with the packed layout in place, interleaved (each round times every
layout in a random order, so all see the same machine load):

- ``before``: ``test_result`` as migrations 0001, 0040 and 0044 left it (a row per
  attempt, monthly partitions, four indexes, two foreign keys);
- ``no-pk``: the same columns without the primary key and the ``created_at`` index;
- ``narrow``: a row per attempt, monthly partitions, ``repository_id`` carried,
  status and retry in one smallint, duration in integer ms, messages stored once;
- ``packed``: the layout in place (``models.packing``), read through
  ``models.result_reads`` and ``models.failure_reads``.

For each: bytes per result, the ingest rate of the same five 10,000-case uploads
(a COPY of rows formatted from the same case objects; for ``packed`` the real
loader), a run's results read back (the analysis input), one test's 50 newest
runs, one test's failures, and the removal of the oldest month. Then the blocks
an id-keyed packing would need where several repositories add tests in turn,
against the ordinal-keyed packing in place, the plans of the hot reads, and the
bytes per result of CI sharded 16 ways (each run a few tests of every block; also
alone with ``--sharded``), with a block's durations for the tests it holds (in
place) and padded to all 64.

    .venv/bin/python bench/scale_bench.py --sizes 1M,10M,50M [--tests 2000] [--months 6]
        [--rounds 60] [--compare-at 1M] [--no-compare]
    .venv/bin/python bench/scale_bench.py --migration 1M
    .venv/bin/python bench/scale_bench.py --sharded
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.scale_layouts import (
    Before,
    Layout,
    Narrow,
    NoPk,
    Packed,
    attempt_rows,
    months_between,
    raw_run,
)
from bench.timing import timed
from flakeguard.settings import Settings
from models import ResultBlock, TestCase, TestRun, db, partitions
from models.base import close_database, make_database, utcnow
from models.bulk import ResultLoader
from models.migrate import apply_migrations

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS = "redis://127.0.0.1:6379/14"
SESSION_SECRET = "scale-bench-session-secret-" + uuid.uuid4().hex  # its own app's, unused
RESULT_TABLES = ["result_block", "result_attempt", "failure_message"]
MESSAGES = [
    (
        f"AssertionError: expected {n} == {n + 1}\n  at tests/test_mod{n}.py:{10 + n}",
        "AssertionError",
    )
    for n in range(20)
]


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
        """The cases of run ``n``: the same for the same ``n`` (replayed into each layout)."""
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
    results: int


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
    """The real bulk path: ResultLoader over batches of 1,000 cases. Returns the results."""
    loader = ResultLoader(run_id, repository_id, now=dated, dated=dated)
    for start in range(0, len(cases), 1000):
        loader.add(cases[start : start + 1000])
    loader.finish()
    return sum(1 + len(c.attempts) for c in cases)


def load_history(size: int, tests: int, months: int, end: datetime) -> History:
    from flakeguard.usecases import analysis
    from flakeguard.usecases.repos import add_repository

    repo, _ = add_repository(f"bench/hot-{uuid.uuid4().hex[:6]}")
    suite = Suite(tests)
    count = max(40, int(size / (tests * 1.005)))
    start = end - timedelta(days=30 * months)
    partitions.ensure_partitions(start, ahead=months + 2)  # monthly partitions for it all
    step = (end - start) / count
    runs = []
    results = 0
    began = time.perf_counter()
    for n in range(count):
        dated = start + step * n
        with db.atomic():
            run_id = new_run(repo.id, n, dated, tests)
            results += store(repo.id, run_id, suite.run(n), dated)
        runs.append((n, run_id, dated))
        if n and n % 1000 == 0:
            rate = results / (time.perf_counter() - began)
            print(f"    loaded {results:,} results ({n:,} runs), {rate:,.0f}/s", flush=True)
    took = time.perf_counter() - began
    print(
        f"    loaded {results:,} results in {count:,} runs in {took:.0f} s "
        f"({results / took:,.0f}/s)",
        flush=True,
    )
    for _, run_id, dated in runs[-30:]:
        analysis.analyze_run(run_id, now=dated)
    return History(repo.id, repo.tenant_id, repo.full_name, suite, runs, results)


# -- measuring helpers --------------------------------------------------------------


def p(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(q * len(values)) - 1))]


def admin_sql(url: str, *statements: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def sizes(url: str, table: str) -> tuple[int, dict[str, int], int]:
    """(heap, {index: bytes}, total) of ``table`` and its partitions."""
    with psycopg.connect(url) as conn:
        rels = [
            r[0]
            for r in conn.execute(
                "SELECT c.oid FROM pg_class c WHERE c.oid = %s::regclass "
                "UNION SELECT inhrelid FROM pg_inherits WHERE inhparent = %s::regclass",
                (table, table),
            ).fetchall()
        ]
        heap = total = 0
        indexes: dict[str, int] = {}
        for oid in rels:
            h, tot, kind = conn.execute(
                "SELECT pg_relation_size(c.oid), pg_total_relation_size(c.oid), c.relkind "
                "FROM pg_class c WHERE c.oid = %s",
                (oid,),
            ).fetchone()
            if kind == "p":
                continue
            heap += h
            total += tot
            for columns, size in conn.execute(
                "SELECT pg_get_indexdef(i.indexrelid), pg_relation_size(i.indexrelid) "
                "FROM pg_index i WHERE i.indrelid = %s",
                (oid,),
            ).fetchall():
                key = columns[columns.index(" USING ") + 7 :].replace("btree ", "")
                indexes[key] = indexes.get(key, 0) + size
        return heap, indexes, total


def vacuum(url: str, *tables: str) -> None:
    admin_sql(url, *(f"VACUUM ANALYZE {t}" for t in tables))


def signed_in_client(app: Any, tenant_id: int) -> Any:
    """A test client of ``app`` signed in to the dashboard through a one-time link."""
    import re

    from flakeguard.usecases import web_auth
    from models import Tenant

    client = app.test_client()
    secret = web_auth.issue_login_link(Tenant.get_by_id(tenant_id))
    page = client.get(f"/sign-in/link?token={secret}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token, "no sign-in form"
    answer = client.post("/sign-in/link", data={"secret": secret, "csrf_token": token.group(1)})
    assert answer.status_code == 302, answer.status_code
    return client


# -- the layout in place, at each size, through the use cases --------------------------


@dataclass
class Sized:
    """One size's scratch database, loaded, with what its measurements need."""

    size: int
    url: str
    database: Any
    history: History
    big: tuple[int, Suite]
    calls: dict[str, Callable[[], Any]] = field(default_factory=dict)
    timings: dict[str, list[float]] = field(default_factory=dict)
    extra_runs: int = 0
    load_seconds: float = 0.0

    @contextmanager
    def bound(self) -> Iterator[None]:
        """The models on this size's database for the block (each keeps its connections)."""
        db.initialize(self.database)
        yield

    def record(self, name: str, value: float) -> None:
        self.timings.setdefault(name, []).append(value)


def prepare(size: int, args: argparse.Namespace, url: str, app: Any) -> Sized:
    """Load a size's history and get its clients: a dashboard session, an API token."""
    from flakeguard.usecases import api_tokens, status, testcases
    from flakeguard.usecases.repos import add_repository

    database = make_database(url)
    db.initialize(database)
    apply_migrations(database)
    print(f"\n== {size:,} results ({args.tests:,} tests, {args.months} months) ==", flush=True)
    began = time.perf_counter()
    history = load_history(size, args.tests, args.months, utcnow() - timedelta(days=1))
    big_repo, _ = add_repository(f"bench/big-{uuid.uuid4().hex[:6]}")
    sized = Sized(size, url, database, history, (big_repo.id, Suite(10_000, prefix="big")))
    sized.load_seconds = time.perf_counter() - began
    tenant = history.tenant_id
    rng = random.Random(5)
    test_ids = [
        test_id
        for (test_id,) in TestCase.select(TestCase.id)
        .where(TestCase.repository == history.repository_id)
        .tuples()
    ]
    dashboard = signed_in_client(app, tenant)
    _, token = api_tokens.create_token("bench", tenant_id=tenant, created_by="bench")
    api = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}

    def page(client: Any, path: str, **kwargs: Any) -> None:
        answer = client.get(path, **kwargs)
        assert answer.status_code == 200, (path, answer.status_code)

    sized.calls = {
        "status": lambda: status.status_for(history.full_name, tenant_id=tenant),
        "test": lambda: testcases.test_detail(rng.choice(test_ids), tenant_id=tenant),
        "page": lambda: page(dashboard, f"/tests/{rng.choice(test_ids)}"),
        "api": lambda: page(api, f"/api/v1/tests/{rng.choice(test_ids)}", headers=headers),
    }
    return sized


def storage(sized: Sized) -> dict[str, float]:
    """Bytes per result of the loaded history, table by table (after VACUUM ANALYZE)."""
    url, rows = sized.url, sized.history.results
    vacuum(url, *RESULT_TABLES, "test_run", "test_case")
    print(f"  [{sized.size:,}] {rows:,} results in the history; bytes per result:")
    total = 0
    for table in RESULT_TABLES:
        heap, indexes, size = sizes(url, table)
        total += size
        parts = ", ".join(f"{k} {v / rows:.2f}" for k, v in sorted(indexes.items()))
        print(f"    {table}: {size / rows:.2f} (heap {heap / rows:.2f}; {parts})")
    passing = sizes(url, "result_block")[2]
    print(f"    total {total / rows:.1f}; a passing result (its block alone) {passing / rows:.1f}")
    return {"bytes": total / rows, "passing": passing / rows}


def sample_ingest(sized: Sized) -> None:
    """Store one 10,000-case upload (known test cases) and time it."""
    big_repo, big_suite = sized.big
    sized.extra_runs += 1
    n = 10_000 + sized.extra_runs
    dated = utcnow()
    cases = big_suite.run(n)
    began = time.perf_counter()
    with db.atomic():
        run_id = new_run(big_repo, n, dated, len(cases))
        stored = store(big_repo, run_id, cases, dated)
    if sized.extra_runs > 1:  # the first one creates the test cases
        sized.record("ingest", stored / (time.perf_counter() - began))


def sample_analysis(sized: Sized) -> None:
    """Store a run of the history's suite and time its analysis."""
    from flakeguard.usecases import analysis

    history = sized.history
    sized.extra_runs += 1
    n = history.runs[-1][0] + sized.extra_runs
    dated = utcnow()
    with db.atomic():
        run_id = new_run(history.repository_id, n, dated, history.suite.tests)
        store(history.repository_id, run_id, history.suite.run(n), dated)
    began = time.perf_counter()
    analysis.analyze_run(run_id, now=dated)
    sized.record("analyze", (time.perf_counter() - began) * 1000)


def sample_retention(sized: Sized) -> None:
    """Remove the oldest month through the retention use case, rolled back afterwards."""
    from flakeguard.usecases import retention

    runs = sized.history.runs
    boundary = months_between(runs[0][2], runs[-1][2])[1]
    cutoff = datetime(boundary.year, boundary.month, 1)
    with db.atomic() as txn:
        began = time.perf_counter()
        report = retention.purge_results(30, now=cutoff + timedelta(days=30), max_batches=10**6)
        sized.record("retention", time.perf_counter() - began)
        txn.rollback()
    sized.calls["retention report"] = lambda: report


def measure_interleaved(every: list[Sized], rounds: int) -> None:
    """Each measurement taken at every size in turn (a random order per round), so that all
    sizes see the same machine load: ratios between sizes mean something on a busy machine."""
    rng = random.Random(7)
    samplers: list[tuple[str, Callable[[Sized], None], int]] = [
        ("ingest", sample_ingest, 6),
        ("analyze", sample_analysis, 9),
        ("retention", sample_retention, 3),
    ]
    for _, sampler, times in samplers:
        for _ in range(times):
            for sized in rng.sample(every, len(every)):
                with sized.bound():
                    sampler(sized)
    for sized in every:  # one call of each first: templates compiled, caches warm
        with sized.bound():
            for name in list(sized.calls)[:4]:
                sized.calls[name]()
    for _ in range(rounds):
        for sized in rng.sample(every, len(every)):
            with sized.bound():
                for name in rng.sample(list(sized.calls)[:4], 4):
                    began = time.perf_counter()
                    sized.calls[name]()
                    sized.record(name, (time.perf_counter() - began) * 1000)


def summarise(sized: Sized, stored: dict[str, float]) -> dict[str, float]:
    t = sized.timings
    out = dict(stored)
    out.update(
        ingest=statistics.median(t["ingest"]),
        analyze=statistics.median(t["analyze"][2:]),  # the first two warm the caches
        retention=statistics.median(t["retention"]),
        load=sized.load_seconds,
        **{name: p(t[name], 0.95) for name in ("status", "test", "page", "api")},
    )
    report = sized.calls["retention report"]()
    print(
        f"  [{sized.size:,}] storing a 10,000-case upload {out['ingest']:,.0f} results/s "
        f"(median of 5); analyze_run of a {sized.history.suite.tests:,}-test run p50 "
        f"{out['analyze']:.1f} ms; p95 ms: /flakeguard status {out['status']:.1f}, "
        f"/flakeguard test {out['test']:.1f}, the dashboard's test page {out['page']:.1f}, "
        f"the read API's test history {out['api']:.1f}; the oldest month "
        f"{out['retention']:.2f} s (partitions {list(report.partitions_dropped)}, "
        f"~{report.partition_rows:,} rows; {report.deleted:,} rows in batches)"
    )
    return out


# -- side by side: the layout before and the candidates ------------------------------


def compare_layouts(
    url: str, history: History, big: tuple[int, Suite], packed_bytes: float
) -> None:
    """Replay the history into each scratch layout; time every layout interleaved."""
    first, last = history.runs[0][2], history.runs[-1][2]
    months = months_between(first, last + timedelta(days=40))
    print(f"  side by side ({len(months) - 1} monthly partitions where partitioned):")
    conn = psycopg.connect(url)
    ids = dict(
        conn.execute(
            "SELECT key, id FROM test_case WHERE repository_id = %s", (history.repository_id,)
        ).fetchall()
    )
    big_repo, big_suite = big
    big_ids = dict(
        conn.execute("SELECT key, id FROM test_case WHERE repository_id = %s", (big_repo,))
    )
    layouts: list[Layout] = [
        Before(url, history.repository_id, months),
        NoPk(url, history.repository_id, months),
        Narrow(url, history.repository_id, months),
        Packed(url, history.repository_id, months),
    ]
    for layout in layouts:
        if isinstance(layout, Packed):
            continue  # loaded already, through the real path
        began = time.perf_counter()
        layout.create(conn)
        conn.commit()
        for n, run_id, dated in history.runs:
            layout.write(conn, run_id, history.suite.run(n), ids, dated)
            conn.commit()
        vacuum(url, *layout.tables)
        print(f"    {layout.name}: replayed in {time.perf_counter() - began:.0f} s", flush=True)
    rows = history.results
    bytes_of = {  # the packed tables hold more by now: their size as loaded
        layout.name: packed_bytes
        if isinstance(layout, Packed)
        else sum(sizes(url, t)[2] for t in layout.tables) / rows
        for layout in layouts
    }
    rng = random.Random(9)
    test_ids = list(ids.values())
    ingest: dict[str, list[float]] = {layout.name: [] for layout in layouts}
    for k in range(1, 6):
        cases = big_suite.run(20_000 + k)
        for layout in rng.sample(layouts, len(layouts)):
            writer = type(layout)(url, big_repo, months)
            writer.messages = layout.messages
            began = time.perf_counter()
            run_id = raw_run(conn, big_repo, f"{layout.name}-{k}", last, len(cases))
            writer.write(conn, run_id, cases, big_ids, last)
            conn.commit()
            results = sum(1 + len(c.attempts) for c in cases)
            ingest[layout.name].append(results / (time.perf_counter() - began))
    reads: dict[tuple[str, str], list[float]] = {}
    _, recent_run, recent_dated = history.runs[-1]
    for _ in range(100):
        test_id = rng.choice(test_ids)
        for layout in rng.sample(layouts, len(layouts)):
            for kind, call in (
                ("run", lambda lay=layout: lay.run_results(conn, recent_run, recent_dated)),
                ("history", lambda lay=layout, t=test_id: lay.history(conn, t)),
                ("failures", lambda lay=layout, t=test_id: lay.failures(conn, t)),
            ):
                reads.setdefault((layout.name, kind), []).extend(timed(call, 1))
                conn.commit()
    print(f"    {rows:,} results in the history; reads p50 / p95 in ms, each layout in turn")
    print(
        f"    {'layout':<8} {'B/result':>8} {'ingest/s':>9} {'run read':>14} "
        f"{'50 newest runs':>15} {'failures':>14}  oldest month"
    )
    for layout in layouts:
        name = layout.name
        cells = [
            f"{p(reads[(name, kind)], 0.5):>6.2f}/{p(reads[(name, kind)], 0.95):<6.2f}"
            for kind in ("run", "history", "failures")
        ]
        dropped = layout.count_before(conn, months[1])
        conn.commit()
        seconds, how = layout.drop_oldest(conn, months[0])
        print(
            f"    {name:<8} {bytes_of[name]:>8.1f} {statistics.median(ingest[name]):>9,.0f} "
            f"{cells[0]:>14} {cells[1]:>15} {cells[2]:>14}  {seconds:.2f} s, {how} "
            f"({dropped:,} rows)",
            flush=True,
        )
    conn.close()


def explain_hot_reads(sized: Sized) -> None:
    """The plans (EXPLAIN ANALYZE) of the hot reads at this size, as PostgreSQL runs them."""
    from models import failure_reads, result_reads

    history = sized.history
    _, run_id, dated = history.runs[-1]
    test_id, ordinal = (
        TestCase.select(TestCase.id, TestCase.ordinal)
        .where(TestCase.repository == history.repository_id, TestCase.ordinal == 65)
        .tuples()
        .get()
    )
    repo = history.repository_id
    reads = {
        "one test's history, newest first": result_reads.history_sql(repo, ordinal, 50),
        "a run's results (the analysis input)": result_reads.run_blocks_sql(
            repo, [run_id], *result_reads.results_window(dated, dated)
        ),
        "one test's failures": failure_reads.failures_query(repo, test_id, 500).sql(),
    }
    print(f"  EXPLAIN of the hot reads at {sized.size:,} (repository_id = {repo}):")
    for title, (sql, params) in reads.items():
        plan = db.execute_sql(f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) {sql}", params)
        print(f"    -- {title}")
        for (line,) in plan.fetchall():
            print(f"       {line}")


def interleaved_repositories(url: str) -> None:
    """Blocks per run keyed by ordinal (in place) against keyed by test case id, where four
    repositories add tests in turn (as their CI runs would)."""
    from flakeguard.usecases.repos import add_repository

    repos = [add_repository(f"bench/multi-{uuid.uuid4().hex[:6]}-{i}")[0] for i in range(4)]
    suites = [Suite(2_000, prefix=f"multi{i}") for i in range(4)]
    at = utcnow()
    for step in range(20):  # each repository reports 100 more tests each time
        for repo, suite in zip(repos, suites, strict=True):
            with db.atomic():
                run_id = new_run(repo.id, 50_000 + step, at, 100 * (step + 1))
                store(repo.id, run_id, suite.run(step)[: 100 * (step + 1)], at)
    ordinal_blocks = id_blocks = 0
    for repo in repos:
        pairs = list(
            TestCase.select(TestCase.id, TestCase.ordinal)
            .where(TestCase.repository == repo.id)
            .tuples()
        )
        ordinal_blocks += len({ordinal // 64 for _, ordinal in pairs})
        id_blocks += len({test_id // 64 for test_id, _ in pairs})
    print(
        "  four repositories adding 100 tests each in turn, a full run of each's 2,000: "
        f"{ordinal_blocks / 4:.0f} blocks per run keyed by ordinal (in place), "
        f"{id_blocks / 4:.0f} keyed by test case id ({id_blocks / ordinal_blocks:.1f}x the bytes)"
    )


def sharded_runs(shards: int = 16, runs: int = 1_600) -> None:
    """Bytes per result where CI is sharded by test: after one full run (the tests numbered in
    suite order) each run holds every ``shards``-th test of a 2,000-test suite (a few tests
    in each of ~32 blocks), in a scratch database of its own; then the same rows with every
    block's durations padded to 64 (the full form)."""
    from flakeguard.usecases.repos import add_repository

    previous = db.obj
    with scratch_database() as url:
        database = make_database(url)
        db.initialize(database)
        try:
            apply_migrations(database)
            repo, _ = add_repository(f"bench/sharded-{uuid.uuid4().hex[:6]}")
            suite = Suite(2_000, prefix="sharded")
            end = utcnow() - timedelta(days=1)
            start = end - timedelta(days=30)
            partitions.ensure_partitions(start, ahead=3)
            results = 0
            for n in range(runs):  # the first run holds every test: numbered in suite order
                cases = suite.run(n)[n % shards :: shards] if n else suite.run(n)
                dated = start + (end - start) * n / runs
                with db.atomic():
                    run_id = new_run(repo.id, n, dated, len(cases))
                    results += store(repo.id, run_id, cases, dated)
            blocks = ResultBlock.select().count()

            def measured() -> tuple[float, float]:
                vacuum(url, *RESULT_TABLES)
                total = sum(sizes(url, table)[2] for table in RESULT_TABLES)
                return total / results, sizes(url, "result_block")[2] / results

            sparse, sparse_blocks = measured()
            admin_sql(
                url,
                "UPDATE result_block SET durations = durations || "
                "decode(repeat('00', 256 - length(durations)), 'hex')",
                "VACUUM FULL result_block",
            )
            full, full_blocks = measured()
        finally:
            close_database(database)
            db.initialize(previous)
    print(
        f"  CI sharded {shards} ways ({results:,} results, {results / blocks:.1f} tests per "
        f"block row): {sparse:.1f} bytes per result ({sparse_blocks:.1f} in result_block) with "
        f"the durations of the tests a block holds only; {full:.1f} ({full_blocks:.1f}) with "
        "every block's 64"
    )


# -- migration 0047 at size ---------------------------------------------------------


def time_migration(size: int, args: argparse.Namespace) -> None:
    """Migration 0047 (up, then down) on a database holding ``size`` results in test_result,
    as a database migrated before 0047 holds them (written as the loader then wrote them)."""
    from playhouse.migrations import Runner

    from flakeguard.usecases.repos import add_repository
    from models.migrate import HISTORY_TABLE, MIGRATIONS_DIR

    with scratch_database() as url:
        database = make_database(url, pooled=False)
        db.initialize(database)
        runner = Runner(database, str(MIGRATIONS_DIR), table_name=HISTORY_TABLE)
        runner.up("0046_test_case_ordinal")
        repo, _ = add_repository(f"bench/migrate-{uuid.uuid4().hex[:6]}")
        suite = Suite(args.tests)
        ids = {}
        for n, case in enumerate(suite.run(0)):
            ids[case.key] = TestCase.create(
                repository=repo.id, key=case.key, name=case.name, ordinal=n
            ).id
        count = max(40, int(size / (args.tests * 1.005)))
        start = utcnow() - timedelta(days=30 * args.months)
        step = timedelta(days=30 * args.months) / count
        rows = 0
        with psycopg.connect(url) as conn:
            for n in range(count):
                dated = start + step * n
                run_id = raw_run(conn, repo.id, f"m{n}", dated, args.tests)
                cases = suite.run(n)
                block = attempt_rows(run_id, cases, ids, dated.isoformat(" "))
                with (
                    conn.cursor() as cur,
                    cur.copy(
                        "COPY test_result (run_id, test_case_id, status, duration, retry, message, "
                        "failure_type, created_at) FROM STDIN"
                    ) as copy,
                ):
                    copy.write(block)
                conn.commit()
                rows += sum(1 + len(c.attempts) for c in cases)
        vacuum(url, "test_result")
        print(f"\n== migration 0047 with {rows:,} results in test_result ==", flush=True)
        began = time.perf_counter()
        runner.up("0047_packed_results")
        up = time.perf_counter() - began
        print(f"  up: {up:.1f} s ({rows / up:,.0f} results/s)", flush=True)
        began = time.perf_counter()
        runner.down("0047_packed_results")
        down = time.perf_counter() - began
        print(f"  down (the rollback): {down:.1f} s ({rows / down:,.0f} results/s)", flush=True)
        database.close()


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


def main() -> None:
    import tasks
    from flakeguard.app import create_app

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="200k", help="comma-separated, e.g. 1M,10M,50M")
    parser.add_argument("--tests", type=int, default=2000)
    parser.add_argument("--months", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=60, help="samples of each read per size")
    parser.add_argument(
        "--compare-at", default=None, help="size at which to compare layouts (default: the first)"
    )
    parser.add_argument("--no-compare", action="store_true")
    parser.add_argument(
        "--migration",
        default=None,
        help="only time migration 0047 (up and down) on this many results, e.g. 1M",
    )
    parser.add_argument(
        "--sharded", action="store_true", help="only the bytes per result of sharded CI runs"
    )
    args = parser.parse_args()
    if args.sharded:
        sharded_runs()
        return
    if args.migration:
        time_migration(parse_size(args.migration), args)
        return
    wanted = [parse_size(s) for s in args.sizes.split(",")]
    compare_at = parse_size(args.compare_at) if args.compare_at else wanted[0]
    with ExitStack() as stack:
        urls = [stack.enter_context(scratch_database()) for _ in wanted]
        app = create_app(
            Settings(
                database_url=urls[0],
                queue_mode="immediate",
                public_url="http://bench",
                session_secret=SESSION_SECRET,
                rate_limit_ip="1000000/minute",
                rate_limit_token="1000000/minute",
            )
        )
        logging.getLogger("flakeguard").setLevel(logging.WARNING)  # no access log per request
        # analysis enqueues its effects (a consumer runs them elsewhere), as in production
        queue = tasks.configure(
            Settings(database_url=urls[0], redis_url=REDIS),
            name=f"flakeguard-scale-{uuid.uuid4().hex[:8]}",
        )
        stack.callback(queue.flush)
        every = [prepare(size, args, url, app) for size, url in zip(wanted, urls, strict=True)]
        stack.callback(lambda: [close_database(s.database) for s in every])
        stored = {}
        for sized in every:
            with sized.bound():
                stored[sized.size] = storage(sized)
        measure_interleaved(every, args.rounds)
        summary = {}
        for sized in every:
            with sized.bound():
                summary[sized.size] = summarise(sized, stored[sized.size])
        for sized in every:
            if not args.no_compare and sized.size == compare_at:
                with sized.bound():
                    compare_layouts(
                        sized.url, sized.history, sized.big, stored[sized.size]["bytes"]
                    )
                    interleaved_repositories(sized.url)
                    explain_hot_reads(sized)
                sharded_runs()
        first = summary[wanted[0]]
        print("\n== at each size / at the first, measured in turn (latencies: within 1.5x) ==")
        names = ("analyze", "status", "test", "page", "api")
        for size in wanted:
            s = summary[size]
            ratios = ", ".join(f"{name} {s[name] / first[name]:.2f}x" for name in names)
            print(
                f"  {size:,}: {ratios}; ingest {s['ingest'] / first['ingest']:.2f}x; "
                f"{s['bytes']:.1f} B/result ({s['passing']:.1f} passing); oldest month "
                f"{s['retention']:.2f} s; loaded in {s['load']:.0f} s"
            )


if __name__ == "__main__":
    main()
