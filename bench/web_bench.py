"""Read API and catalog at size: p50/p95 server time per call against the same SQL run bare.

Loads a synthetic tenant on PostgreSQL: ``--tests`` tests over ``--repos``
repositories (the first holds half), ``--results`` results in all (each run
reports every test of its repository, runs spread over 60 days), through the
real bulk path (``models.bulk.ResultLoader``, COPY); 2% of the tests flaky
(failing one run in six, most of them passing on retry), 0.5% broken; then the
verdicts, quarantines (half the flaky ones), verdict events and a few storms.

Then for each API call it prints, in ms over ``--samples`` calls:

- ``api``: the request through the Flask app in process (token check, use case,
  JSON): the server time of the call;
- ``catalog``: the use case alone (``flakeguard.usecases.catalog``);
- ``floor``: the same SQL statements the use case ran (caught with peewee's
  query hooks), run bare on one psycopg connection, one after another.

Target (issue 17): p95 under 200 ms with 50,000 tests and 10 million results.

    .venv/bin/python bench/web_bench.py [--tests 5000] [--results 500000] [--repos 4]
        [--samples 30] [--keep | --reuse URL]
"""

from __future__ import annotations

import argparse
import logging
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.timing import timed
from engine.junit import Attempt, CaseResult
from flakeguard.settings import Settings
from models import (
    DomainEvent,
    FlakeScore,
    InfraEvent,
    Quarantine,
    QuarantineEvent,
    Repository,
    Tenant,
    TestCase,
    TestRun,
    db,
    init_db,
    utcnow,
)
from models.base import close_database
from models.bulk import ResultLoader
from models.migrate import apply_migrations

FLAKY_SHARE = 0.02
BROKEN_SHARE = 0.005
DAYS = 60
BATCH = 5_000  # cases per ResultLoader.add


def kind_of(i: int) -> str:
    """flaky | broken | ok for test number ``i`` (deterministic)."""
    if i % int(1 / FLAKY_SHARE) == 7:
        return "flaky"
    if i % int(1 / BROKEN_SHARE) == 11:
        return "broken"
    return "ok"


def case(i: int, status: str, attempts: tuple[Attempt, ...] = (), message: str = "") -> CaseResult:
    return CaseResult(
        suite="bench",
        classname=f"pkg.mod{i % 97}",
        name=f"test_{kind_of(i)}_{i}",
        file=f"pkg/mod{i % 97}.py",
        line=10 + i % 300,
        status=status,
        duration=0.01 + (i % 50) / 100,
        message=message,
        failure_type="AssertionError" if message else "",
        details="",
        attempts=attempts,
        key=f"pkg.mod{i % 97}::test_{i}",
    )


def make_cases(numbers: range, rng: random.Random) -> list[CaseResult]:
    """One run's cases: healthy ones pass, flaky ones fail now and then, broken ones fail."""
    out = []
    for i in numbers:
        kind = kind_of(i)
        if kind == "ok":
            out.append(case(i, "skipped" if i % 200 == 3 else "passed"))
        elif kind == "broken":
            out.append(case(i, "failed", message=f"KeyError: 'user{i % 3}'"))
        elif rng.random() < 1 / 6:
            boom = f"AssertionError: timeout after {rng.choice((5, 10, 30))}s"
            if rng.random() < 0.8:
                out.append(case(i, "passed", (Attempt("failed", boom, 0.5, "AssertionError"),)))
            else:
                out.append(case(i, "failed", message=boom))
        else:
            out.append(case(i, "passed"))
    return out


def load(args: argparse.Namespace) -> tuple[Tenant, list[Repository]]:
    """The synthetic tenant, through the bulk path; returns it and its repositories."""
    rng = random.Random(17)
    tenant = Tenant.create(slug="bench", name="Bench")
    weights = [0.5] + [0.5 / (args.repos - 1)] * (args.repos - 1) if args.repos > 1 else [1.0]
    sizes = [max(1, int(args.tests * w)) for w in weights]
    repos, start = [], 0
    now = utcnow()
    started = time.perf_counter()
    loaded = 0
    for r, size in enumerate(sizes):
        repo = Repository.create(tenant=tenant, full_name=f"bench/repo{r}")
        repos.append(repo)
        numbers = range(start, start + size)
        start += size
        runs = max(1, round(args.results / args.tests))
        for n in range(runs):
            at = now - timedelta(days=DAYS) + timedelta(seconds=DAYS * 86400 * (n + 0.5) / runs)
            with db.atomic():
                run = TestRun.create(
                    repository=repo,
                    sha=f"{r:08x}{n:032x}",
                    branch="main",
                    ci_run_id=str(10_000_000 + r * 100_000 + n),
                    job="pytest",
                    source="github",
                    content_digest=f"{r:032x}{n:032x}",
                    tests=size,
                    duration=300.0 + n % 120,
                    received_at=at,
                    analyzed_at=at,
                )
                loader = ResultLoader(run.id, repo.id, now=at, dated=at)
                for b in range(numbers.start, numbers.stop, BATCH):
                    loader.add(make_cases(range(b, min(b + BATCH, numbers.stop)), rng))
                loader.finish()
            loaded += size
            if n % 20 == 0:
                rate = loaded / (time.perf_counter() - started)
                print(
                    f"  loading repo{r}: run {n + 1}/{runs}, {loaded:,} results ({rate:,.0f}/s)",
                    file=sys.stderr,
                    flush=True,
                )
    verdicts(repos, now, rng)
    # What autovacuum gives a live database: statistics and a visibility map (index-only scans).
    tables = ("result_block", "result_attempt", "test_run", "test_case", "flake_score")
    for table in (*tables, "quarantine"):
        db.execute_sql(f"VACUUM ANALYZE {table}")
    return tenant, repos


def verdicts(repos: list[Repository], now: datetime, rng: random.Random) -> None:
    """Scores for every test, quarantines for half the flaky ones, events, storms."""
    with db.atomic():
        for repo in repos:
            tests = list(
                TestCase.select(TestCase.id, TestCase.name).where(TestCase.repository == repo.id)
            )
            rows = []
            for t in tests:
                kind = t.name.split("_")[1]
                state = {"flaky": "flaky", "broken": "broken"}.get(kind, "healthy")
                rows.append(
                    {
                        "test_case": t.id,
                        "repository": repo.id,
                        "state": state,
                        "score": rng.uniform(0.05, 0.4)
                        if state == "flaky"
                        else float(state == "broken"),
                        "low": 0.02,
                        "high": 0.5,
                        "reason": f"bench {state}",
                        "evidence": {"first_failing_sha": "ab" * 20} if state == "broken" else {},
                        "state_since": now - timedelta(days=rng.uniform(0, 30)),
                        "updated_at": now,
                    }
                )
            for s in range(0, len(rows), 1000):
                FlakeScore.insert_many(rows[s : s + 1000]).execute()
            flaky = [r["test_case"] for r in rows if r["state"] == "flaky"]
            broken = [r["test_case"] for r in rows if r["state"] == "broken"]
            for n, test_id in enumerate(flaky):
                quarantined = n % 2 == 0
                q = Quarantine.create(
                    test_case=test_id,
                    repository=repo.id,
                    state="quarantined" if quarantined else "proposed",
                    reason="flaky",
                    quarantined_at=now - timedelta(days=n % 14) if quarantined else None,
                    version=2 if quarantined else 1,
                )
                QuarantineEvent.create(quarantine=q, action="propose", actor="fg", source="system")
                if quarantined:
                    QuarantineEvent.create(quarantine=q, action="approve", actor="U1", source="api")
            events = [
                {
                    "repository": repo.id,
                    "test_case": t,
                    "kind": kind,
                    "data": {"score": 0.2, "interval": [0.1, 0.3], "reason": "bench"},
                    "created_at": now - timedelta(days=rng.uniform(0, 20)),
                }
                for kind, ids in (("flaky", flaky), ("broken", broken))
                for t in ids
            ]
            for s in range(0, len(events), 1000):
                DomainEvent.insert_many(events[s : s + 1000]).execute()
            for run in TestRun.select(TestRun.id).where(TestRun.repository == repo.id).limit(3):
                InfraEvent.create(run=run.id, failed=400, total=500)


@contextmanager
def statements() -> Iterator[list[tuple[str, Any]]]:
    """The SQL statements (and parameters) run inside the block."""
    seen: list[tuple[str, Any]] = []
    hook = lambda event: seen.append((event.sql, event.params))  # noqa: E731
    db.obj.query_hooks.append(hook)
    try:
        yield seen
    finally:
        db.obj.query_hooks.remove(hook)


def percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[max(0, int(len(ordered) * 0.95) - 1)]


def floor(sql: list[tuple[str, Any]], url: str, samples: int) -> list[float]:
    """The statements run bare, in order, on one connection (one sample: all of them)."""
    with psycopg.connect(url) as conn:  # one transaction per sample (SET LOCAL holds in it)
        out = []
        for n in range(samples + 1):
            start = time.perf_counter()
            for statement, params in sql:
                cursor = conn.execute(statement, params)
                if cursor.description is not None:
                    cursor.fetchall()
            conn.rollback()
            if n:
                out.append((time.perf_counter() - start) * 1000)
        return out


def bench(url: str, args: argparse.Namespace) -> None:
    from flakeguard.app import create_app
    from flakeguard.usecases import api_tokens, catalog

    database = init_db(url)
    apply_migrations(database)
    started = time.perf_counter()
    if args.reuse:
        tenant = Tenant.get(Tenant.slug == "bench")
        repos = list(Repository.select().where(Repository.tenant == tenant).order_by(Repository.id))
    else:
        tenant, repos = load(args)
    results = db.execute_sql("SELECT coalesce(sum(tests), 0) FROM test_run").fetchone()[0]
    tests = TestCase.select().count()
    print(
        f"{'reused' if args.reuse else 'loaded'} {tests:,} tests, {results:,} results, "
        f"{TestRun.select().count():,} runs in {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    big = repos[0]
    flaky_test = (
        FlakeScore.select(FlakeScore.test_case)
        .where(FlakeScore.repository == big.id, FlakeScore.state == "flaky")
        .order_by(FlakeScore.score.desc())
        .first()
        .test_case_id
    )
    healthy_test = (
        (TestCase.select(TestCase.id).where(TestCase.repository == big.id).order_by(TestCase.id))
        .first()
        .id
    )
    page1 = catalog.list_tests(big.full_name, tenant_id=tenant.id, sort="name")
    app = create_app(
        Settings(
            database_url=url,
            queue_mode="immediate",
            public_url="http://bench",
            session_secret="web-bench-session-secret-" + uuid.uuid4().hex,  # the app checks it
            rate_limit_ip="1000000/minute",
            rate_limit_token="1000000/minute",
        )
    )
    client = app.test_client()
    logging.getLogger("flakeguard").setLevel(logging.WARNING)  # no access log per request
    _, token = api_tokens.create_token("bench", tenant_id=tenant.id, created_by="bench")
    headers = {"Authorization": f"Bearer {token}"}
    base = f"/api/v1/repos/{big.full_name}"
    cases: list[tuple[str, str, Callable[[], Any]]] = [
        ("/repos", "/api/v1/repos", lambda: catalog.overview(tenant_id=tenant.id)),
        (
            "/repos/{r}",
            base,
            lambda: catalog.repository_detail(big.full_name, tenant_id=tenant.id),
        ),
        (
            "/tests?state=flaky",
            f"{base}/tests?state=flaky",
            lambda: catalog.list_tests(big.full_name, tenant_id=tenant.id, state="flaky"),
        ),
        (
            "/tests (all, by score)",
            f"{base}/tests",
            lambda: catalog.list_tests(big.full_name, tenant_id=tenant.id),
        ),
        (
            "/tests?state=healthy&sort=name",
            f"{base}/tests?state=healthy&sort=name",
            lambda: catalog.list_tests(
                big.full_name, tenant_id=tenant.id, state="healthy", sort="name"
            ),
        ),
        (
            "/tests?sort=name page 2",
            f"{base}/tests?sort=name&cursor={page1.next_cursor}",
            lambda: catalog.list_tests(
                big.full_name, tenant_id=tenant.id, sort="name", cursor=page1.next_cursor
            ),
        ),
        (
            "/tests?sort=last_seen",
            f"{base}/tests?sort=last_seen",
            lambda: catalog.list_tests(big.full_name, tenant_id=tenant.id, sort="last_seen"),
        ),
        (
            "/tests?q=flaky_1",
            f"{base}/tests?q=flaky_1",
            lambda: catalog.list_tests(big.full_name, tenant_id=tenant.id, query="flaky_1"),
        ),
        (
            "/tests/{flaky}",
            f"/api/v1/tests/{flaky_test}",
            lambda: catalog.test_view(flaky_test, tenant_id=tenant.id),
        ),
        (
            "/tests/{healthy}",
            f"/api/v1/tests/{healthy_test}",
            lambda: catalog.test_view(healthy_test, tenant_id=tenant.id),
        ),
        (
            "/quarantines",
            f"{base}/quarantines",
            lambda: catalog.list_quarantines(big.full_name, tenant_id=tenant.id),
        ),
    ]
    print(
        f"{'call':<32} {'api p50':>8} {'p95':>7} {'catalog p50':>12} {'p95':>7} "
        f"{'floor p50':>10} {'p95':>7} {'queries':>8}"
    )
    for label, path, use_case in cases:
        with db.connection_context():
            response = client.get(path, headers=headers)
            assert response.status_code == 200, (path, response.get_json())
            api = timed(lambda p=path: client.get(p, headers=headers), args.samples, warm=True)
            with statements() as sql:
                use_case()
            bare = timed(use_case, args.samples, warm=True)
        ground = floor(sql, url, args.samples)
        a50, a95 = percentiles(api)
        c50, c95 = percentiles(bare)
        f50, f95 = percentiles(ground)
        print(
            f"{label:<32} {a50:>8.1f} {a95:>7.1f} {c50:>12.1f} {c95:>7.1f} "
            f"{f50:>10.1f} {f95:>7.1f} {len(sql):>8}",
            flush=True,
        )
    close_database(database)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=5_000)
    parser.add_argument("--results", type=int, default=500_000)
    parser.add_argument("--repos", type=int, default=4)
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--keep", action="store_true", help="keep the database (print its URL)")
    parser.add_argument("--reuse", metavar="URL", help="measure a database kept by --keep")
    args = parser.parse_args()
    if args.reuse:
        bench(args.reuse, args)
        return
    name = f"flakeguard_webbench_{uuid.uuid4().hex[:8]}"
    url = args.pg.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(args.pg, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        bench(url, args)
    finally:
        if args.keep:
            print(f"kept {url}")
        else:
            with psycopg.connect(args.pg, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
