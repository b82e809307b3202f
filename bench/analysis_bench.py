"""Incremental analysis cost: analyze_run for one 2,000-test run on PostgreSQL (and SQLite).

Builds a repository with N tests and H runs of history (every run analyzed),
then times analyze_run on further runs and prints p50/p90/max in ms, the
median of each phase of analyze_run (the functions it calls, timed from
outside; "lock + commit" is the transaction's advisory lock and its commit,
"other" the rest: ORM lookups, domain events), and the floor measured over
the same data: the engine's update() alone on already-decoded states.
Target (issue 5): under 50 ms per 2,000-test run on PostgreSQL.

    .venv/bin/python bench/analysis_bench.py [--tests 2000] [--history 30] [--runs 20]

With ``--baseline DIR`` (another checkout, e.g. ``git worktree add /tmp/fg-main
main``) the same bench runs in two worker processes, one per checkout, each on
its own database, and their runs alternate one by one (so that a loaded machine
slows both alike); it prints both and the ratio of their medians:

    .venv/bin/python bench/analysis_bench.py --baseline /tmp/fg-main --no-sqlite --runs 40

With ``--families`` the repository also holds one family of ``--family-size``
(10,000) scored parametrisations, seen in the first runs of the history, and
every timed run adds new tests: a new parametrisation of that family and
``NEW_SMALL`` new parametrisations of ordinary tests (each family one scored
test). The cost of their family lookup shows in the phase "families".
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
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

T0 = datetime(2026, 9, 1, tzinfo=UTC)
HERE = Path(__file__).resolve().parents[1]
# phase -> (module name, function name) of what analyze_run calls for it; a
# function a checkout does not have is skipped (the baseline may predate it).
PHASES = {
    "config": (("flakeguard.usecases.repo_files", "scoring_config"),),
    "load": (
        ("models.result_reads", "run_results"),
        ("models.queries", "score_rows"),
        ("models.queries", "quarantine_rows"),
    ),
    "families": (("flakeguard.usecases.new_tests", "family_priors"),),
    "decode": (("flakeguard.usecases.analysis", "_load_states"),),
    "engine": (("flakeguard.usecases.analysis", "update"),),
    "encode": (("flakeguard.usecases.analysis", "_score_rows"),),
    "upsert": (("models.queries", "upsert_scores"),),
    "events": (
        ("flakeguard.usecases.analysis", "_clusters"),
        ("flakeguard.usecases.analysis", "_alerts_to_rerender"),
        ("flakeguard.usecases.analysis", "_events"),
    ),
    "outbox": (
        ("flakeguard.usecases.outbox", "record"),
        ("flakeguard.usecases.outbox", "mark_done"),
    ),
    "dispatch": (("flakeguard.usecases.outbox", "dispatch"),),
}
ORDER = [*PHASES, "lock + commit", "other"]
NEW_SMALL = 20  # new parametrisations of ordinary tests per timed run (--families)
FAMILY_RUNS = 3  # history runs that hold the big family (--families)


class PhaseTimer:
    """Time the functions analyze_run calls for each phase, and its transaction's lock + commit."""

    def __init__(self) -> None:
        self.current: dict[str, float] = {}

    def install(self) -> None:
        for phase, targets in PHASES.items():
            for module_name, name in targets:
                module = sys.modules[module_name]
                if hasattr(module, name):
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


def make_run(n: int, keys: list[str], rng: random.Random) -> Any:
    """Run ``n``: every test once, 2% of them 10% flakes whose failure passes on retry."""
    from engine.scoring import Result, Run

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


class Bench:
    """One checkout's analysis on one database: history built, then one timed run at a time."""

    def __init__(self, url: str, args: argparse.Namespace) -> None:
        from flakeguard.settings import Settings
        from models import Repository, default_tenant, init_db
        from models.migrate import apply_migrations

        self.database = init_db(url)
        apply_migrations(self.database)
        import tasks
        from flakeguard.usecases import analysis
        from tests.app.analysis_helpers import store_run

        tasks.configure(Settings(queue_mode="immediate"))
        self.analysis, self.store_run = analysis, store_run
        self.rng = random.Random(7)
        self.keys = [f"tests/test_mod{i // 20}.py::test_{i}" for i in range(args.tests)]
        self.repo = Repository.create(
            tenant=default_tenant(), full_name=f"bench/r{uuid.uuid4().hex[:6]}"
        )
        self.now = T0 + timedelta(days=30)
        self.n = 0
        self.families, self.history = args.families, args.history
        self.big_family = [f"tests/test_big.py::test_big[{i}]" for i in range(args.family_size)]
        for _ in range(args.history):
            self._analyze()
        self.timer = PhaseTimer()
        self.timer.install()
        self.blobs: dict[str, bytes] | None = None

    def _analyze(self) -> float:
        keys = self.keys
        if self.families and self.n < FAMILY_RUNS:
            keys = keys + self.big_family
        elif self.families and self.n >= self.history:  # a timed run: it adds new tests
            keys = [*keys, f"tests/test_big.py::test_big[new{self.n}]"]
            keys += [f"{key}[new{self.n}]" for key in self.keys[: NEW_SMALL * 50 : 50]]
        row = self.store_run(self.repo, make_run(self.n, keys, self.rng))
        self.n += 1
        start = time.perf_counter()
        self.analysis.analyze_run(row.id, now=self.now)
        return (time.perf_counter() - start) * 1000

    def analyze_once(self) -> dict[str, Any]:
        """Store one run and time its analysis; return the total and the phases in ms."""
        self.timer.current = {}
        total = self._analyze()
        phases = dict(self.timer.current)
        phases["other"] = total - sum(phases.values())
        return {"ms": total, "phases": phases}

    def engine_once(self) -> float:
        """Time the engine's update() alone on freshly decoded states of the tests (ms).

        As analyze_run does: the states are the caller's, folded in place (decoding
        them is not timed).
        """
        from engine.scoring import TestState, update
        from models import FlakeScore, TestCase

        if self.blobs is None:
            self.blobs = {
                key: bytes(blob)
                for key, blob in FlakeScore.select(TestCase.key, FlakeScore.engine_state)
                .join(TestCase)
                .where(FlakeScore.repository == self.repo)
                .tuples()
            }
        states = {key: TestState.from_bytes(blob) for key, blob in self.blobs.items()}
        run = make_run(10_000 + self.n, self.keys, self.rng)
        self.n += 1
        start = time.perf_counter()
        update(states, run, now=self.now, copy=False)
        return (time.perf_counter() - start) * 1000

    def close(self) -> None:
        from models.base import close_database

        close_database(self.database)


def summarize(name: str, totals: list[float], phases: list[dict[str, float]], floor: float) -> str:
    totals = sorted(totals)
    p50 = statistics.median(totals)
    p90 = totals[max(0, int(len(totals) * 0.9) - 1)]
    medians = {p: statistics.median(r.get(p, 0.0) for r in phases) for p in ORDER}
    shown = ", ".join(f"{p} {medians[p]:.1f}" for p in ORDER if medians[p] >= 0.05)
    return (
        f"{name:>10}: p50 {p50:.1f} ms, p90 {p90:.1f} ms, max {totals[-1]:.1f} ms; "
        f"engine update() alone {floor:.1f} ms\n{'':>10}  phases, median ms: {shown}"
    )


@contextmanager
def scratch_database(kind: str, pg: str) -> Iterator[str]:
    """A new, empty database URL of ``kind`` (dropped afterwards)."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{tmp}/bench.db"
        return
    name = f"flakeguard_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield pg.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(pg, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def bench_here(url: str, args: argparse.Namespace) -> None:
    """This checkout alone, in this process."""
    sys.path.insert(0, str(HERE))
    bench = Bench(url, args)
    samples = [bench.analyze_once() for _ in range(args.runs)]
    floor = statistics.median(bench.engine_once() for _ in range(args.runs))
    bench.close()
    name = url.split(":")[0]
    print(f"analyze_run of a {args.tests}-test run (history {args.history} runs){_with(args)}:")
    print(summarize(name, [s["ms"] for s in samples], [s["phases"] for s in samples], floor))


def _with(args: argparse.Namespace) -> str:
    if not args.families:
        return ""
    return (
        f", each adding {NEW_SMALL + 1} new parametrisations, one of a family of "
        f"{args.family_size:,}"
    )


class Worker:
    """This file serving one checkout's Bench in a child process (``--serve``), line by line."""

    def __init__(self, root: Path, url: str, args: argparse.Namespace) -> None:
        command = [sys.executable, str(Path(__file__).resolve()), "--serve", url]
        command += ["--root", str(root), "--tests", str(args.tests), "--history", str(args.history)]
        command += ["--family-size", str(args.family_size)] + ["--families"] * args.families
        self.process = subprocess.Popen(
            command, cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.ask("ready")

    def ask(self, command: str) -> Any:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"bench worker died on {command!r}")
        return json.loads(line)

    def close(self) -> None:
        self.ask("quit")
        self.process.wait()


def serve(url: str, root: Path, args: argparse.Namespace) -> None:
    """Answer the parent's commands: ready, run, engine, quit (one JSON line each)."""
    sys.path.insert(0, str(root))
    bench: Bench | None = None
    for line in sys.stdin:
        command = line.strip()
        if command == "ready":
            bench = Bench(url, args)
            answer: Any = True
        elif command == "run" and bench is not None:
            answer = bench.analyze_once()
        elif command == "engine" and bench is not None:
            answer = bench.engine_once()
        else:
            if bench is not None:
                bench.close()
            print(json.dumps(True), flush=True)
            return
        print(json.dumps(answer), flush=True)


def bench_side_by_side(kind: str, args: argparse.Namespace) -> None:
    """This checkout and the baseline, their runs alternating."""
    roots = {"this": HERE, "baseline": Path(args.baseline).resolve()}
    with scratch_database(kind, args.pg) as url_a, scratch_database(kind, args.pg) as url_b:
        workers = {
            "this": Worker(roots["this"], url_a, args),
            "baseline": Worker(roots["baseline"], url_b, args),
        }
        samples: dict[str, list[dict[str, Any]]] = {name: [] for name in workers}
        floors: dict[str, list[float]] = {name: [] for name in workers}
        order = list(workers)
        for i in range(args.runs):
            for name in order if i % 2 == 0 else order[::-1]:
                samples[name].append(workers[name].ask("run"))
        for i in range(args.runs):
            for name in order if i % 2 == 0 else order[::-1]:
                floors[name].append(workers[name].ask("engine"))
        for worker in workers.values():
            worker.close()
    print(
        f"{kind}: analyze_run of a {args.tests}-test run (history {args.history} runs)"
        f"{_with(args)}, "
        f"{args.runs} runs each, alternating (baseline {roots['baseline']}):"
    )
    p50 = {}
    for name in order:
        totals = [s["ms"] for s in samples[name]]
        p50[name] = statistics.median(totals)
        floor = statistics.median(floors[name])
        print(summarize(name, totals, [s["phases"] for s in samples[name]], floor))
    print(
        f"{'':>10}  ratio this/baseline: p50 {p50['this'] / p50['baseline']:.2f}, "
        f"engine {statistics.median(floors['this']) / statistics.median(floors['baseline']):.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=2000)
    parser.add_argument("--history", type=int, default=30)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument("--baseline", help="another checkout to run alternately with this one")
    parser.add_argument("--families", action="store_true", help="runs that add new tests")
    parser.add_argument("--family-size", type=int, default=10_000)
    parser.add_argument("--phases", action="store_true", help=argparse.SUPPRESS)  # always shown
    parser.add_argument("--serve", help=argparse.SUPPRESS)  # a worker of --baseline
    parser.add_argument("--root", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, Path(args.root), args)
        return
    for kind in ("postgresql", "sqlite"):
        if kind == "sqlite" and args.no_sqlite:
            break
        if args.baseline:
            bench_side_by_side(kind, args)
            continue
        with scratch_database(kind, args.pg) as url:
            bench_here(url, args)


if __name__ == "__main__":
    main()
