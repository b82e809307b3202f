"""Incremental analysis cost: analyze_run for one 2,000-test run on PostgreSQL (and SQLite).

Builds a repository with N tests and H runs of history (every run analyzed),
then times analyze_run on further runs and prints p50/p90/max in ms, plus the
floor measured in the same process over the same data: the engine's update()
alone on already-loaded states (no database), and the median of each phase of
analyze_run (the functions it calls, timed from outside; "other" is the rest:
ORM lookups, events, the run's own update). Target (issue 5): under 50 ms per
2,000-test run on PostgreSQL.

    .venv/bin/python bench/analysis_bench.py [--tests 2000] [--history 30] [--runs 20]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.scoring import Result, Run, TestState, update
from flakeguard.settings import Settings
from models import FlakeScore, Repository, TestCase, TestRun, default_tenant, init_db
from models.base import close_database
from models.migrate import apply_migrations

T0 = datetime(2026, 9, 1, tzinfo=UTC)
# phase -> (module name, function name) of what analyze_run calls for it
PHASES = {
    "load": (
        ("models.queries", "run_results"),
        ("models.queries", "score_rows"),
        ("models.queries", "quarantine_rows"),
    ),
    "decode": (("flakeguard.usecases.analysis", "_load_states"),),
    "engine": (("flakeguard.usecases.analysis", "update"),),
    "encode": (("flakeguard.usecases.analysis", "_score_rows"),),
    "upsert": (("models.queries", "upsert_scores"),),
    "after commit": (("flakeguard.usecases.analysis", "_after_commit"),),
}


class PhaseTimer:
    """Time the functions analyze_run calls for each phase, and its transaction's lock + commit."""

    def __init__(self) -> None:
        self.current: dict[str, float] = {}
        self.runs: list[dict[str, float]] = []

    def install(self) -> None:
        for phase, targets in PHASES.items():
            for module_name, name in targets:
                module = sys.modules[module_name]
                setattr(module, name, self._timed(phase, getattr(module, name)))
        analysis = sys.modules["flakeguard.usecases.analysis"]
        analysis.locked_transaction = self._timed_transaction(analysis.locked_transaction)

    def _add(self, phase: str, seconds: float) -> None:
        self.current[phase] = self.current.get(phase, 0.0) + seconds * 1000

    def _timed(self, phase: str, func: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                self._add(phase, time.perf_counter() - start)

        return timed

    def _timed_transaction(self, func: Callable[..., Any]) -> Callable[..., Any]:
        @contextmanager
        def timed(*args: Any) -> Iterator[None]:
            start = time.perf_counter()
            with func(*args):
                self._add("lock + commit", time.perf_counter() - start)
                yield
                start = time.perf_counter()
            self._add("lock + commit", time.perf_counter() - start)

        return timed

    def start(self) -> None:
        self.current = {}

    def stop(self, total_ms: float) -> None:
        self.current["other"] = total_ms - sum(self.current.values())
        self.runs.append(self.current)

    def summary(self) -> str:
        phases = [*PHASES, "lock + commit", "other"]
        medians = {p: statistics.median(r.get(p, 0.0) for r in self.runs) for p in phases}
        return ", ".join(f"{p} {medians[p]:.1f}" for p in phases)


def make_run(n: int, keys: list[str], rng: random.Random) -> Run:
    results = []
    for i, key in enumerate(keys):
        rate = 0.1 if i % 50 == 0 else 0.0
        failed = rng.random() < rate
        results.append(Result(key, "failed" if failed else "passed"))
        if failed:
            results.append(Result(key, "passed", 1))
    return Run(
        id=f"bench-{n}",
        sha=f"{n:040x}",
        branch="main",
        default_branch=True,
        at=T0 + timedelta(hours=n),
        results=results,
    )


def bench(url: str, args: argparse.Namespace) -> None:
    from flakeguard.usecases import analysis
    from tests.app.analysis_helpers import store_run

    database = init_db(url)
    apply_migrations(database)
    import tasks

    tasks.configure(Settings(queue_mode="immediate"))
    timer = PhaseTimer() if args.phases else None
    rng = random.Random(7)
    keys = [f"tests/test_mod{i // 20}.py::test_{i}" for i in range(args.tests)]
    repo = Repository.create(tenant=default_tenant(), full_name=f"bench/r{uuid.uuid4().hex[:6]}")
    now = T0 + timedelta(days=30)
    for n in range(args.history):
        row = store_run(repo, make_run(n, keys, rng))
        analysis.analyze_run(row.id, now=now)
    timings = []
    if timer is not None:
        timer.install()
    for n in range(args.history, args.history + args.runs):
        row = store_run(repo, make_run(n, keys, rng))
        if timer is not None:
            timer.start()
        start = time.perf_counter()
        analysis.analyze_run(row.id, now=now)
        timings.append((time.perf_counter() - start) * 1000)
        if timer is not None:
            timer.stop(timings[-1])
    # The floor: the engine alone on states already in memory.
    states = {
        fs.test_case.key: TestState.from_bytes(fs.engine_state)
        for fs in FlakeScore.select(FlakeScore, TestCase)
        .join(TestCase)
        .where(FlakeScore.repository == repo)
    }
    engine_ms = []
    for n in range(args.runs):
        run = make_run(10_000 + n, keys, rng)
        start = time.perf_counter()
        update(states, run, now=now)
        engine_ms.append((time.perf_counter() - start) * 1000)
    timings.sort()
    p50 = statistics.median(timings)
    p90 = timings[int(len(timings) * 0.9) - 1]
    floor = statistics.median(engine_ms)
    results = TestRun.select().where(TestRun.repository == repo).count()
    print(
        f"{url.split(':')[0]:>10}: analyze_run of a {args.tests}-test run "
        f"(history {results - args.runs} runs): p50 {p50:.1f} ms, p90 {p90:.1f} ms, "
        f"max {timings[-1]:.1f} ms; engine update() alone {floor:.1f} ms "
        f"(ratio {p50 / floor:.1f}x the engine floor)"
    )
    if timer is not None:
        print(f"{'':>10}  phases, median ms: {timer.summary()}")
    close_database(database)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=2000)
    parser.add_argument("--history", type=int, default=30)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--phases", action="store_true", help="also time each phase")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    args = parser.parse_args()
    name = f"flakeguard_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.pg, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        bench(args.pg.rsplit("/", 1)[0] + "/" + name, args)
    finally:
        with psycopg.connect(args.pg, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    if args.no_sqlite:
        return
    with tempfile.TemporaryDirectory() as tmp:
        bench(f"sqlite:///{tmp}/bench.db", args)


if __name__ == "__main__":
    main()
