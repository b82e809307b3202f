"""Store engine-shaped runs straight into the database, for analysis tests and benches."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from engine.scoring import Result, Run, TestState, fold
from models import Repository, TestCase, TestRun
from models.bulk import Outcome, store_results

T0 = datetime(2026, 9, 1, tzinfo=UTC)


def sha(n: int) -> str:
    return f"{n:040x}"


def make_run(
    n: int,
    results: list[Result],
    *,
    commit: int | None = None,
    branch: str = "main",
    hours: float | None = None,
) -> Run:
    return Run(
        id=f"run-{n}",
        sha=sha(commit if commit is not None else n),
        branch=branch,
        default_branch=branch == "main",
        at=T0 + timedelta(hours=hours if hours is not None else n),
        results=results,
    )


def store_run(repo: Repository, run: Run, messages: dict[str, str] | None = None) -> TestRun:
    """Insert a TestRun with its TestCases and results from an engine Run; ``messages`` gives
    tests' failure messages (their failure type: the message up to its first colon)."""
    digest = hashlib.sha256(run.id.encode()).hexdigest()
    row = TestRun.create(
        repository=repo,
        sha=run.sha,
        branch=run.branch,
        ci_run_id=run.id,
        job="test",
        content_digest=digest,
        started_at=run.at.replace(tzinfo=None),
        tests=len({r.test for r in run.results}),
    )
    cases: dict[str, int] = {
        key: cid
        for key, cid in TestCase.select(TestCase.key, TestCase.id)
        .where(TestCase.repository == repo)
        .tuples()
    }
    for result in run.results:
        if result.test not in cases:
            cases[result.test] = TestCase.create(
                repository=repo, key=result.test, name=result.test
            ).id
    store_results(
        row.id,
        [
            Outcome(
                cases[r.test],
                r.status,
                retry=r.retry,
                message=message,
                failure_type=message.split(":", 1)[0] if message else None,
            )
            for r in run.results
            for message in [(messages or {}).get(r.test) if r.status == "failed" else None]
        ],
        dated=run.at.replace(tzinfo=None),
    )
    return row


def flaky_state(rate: float, start: datetime, runs: int = 100) -> TestState:
    """The state of a test run hourly on main from ``start`` that failed ``rate`` of its runs.

    Each failure passed on a retry (a same-commit conflict).
    """
    every = round(1 / rate)
    history = []
    for n in range(1, runs + 1):
        failed = n % every == 0
        results = [Result("t", "failed" if failed else "passed")]
        if failed:
            results.append(Result("t", "passed", 1))
        history.append(Run(f"r{n}", f"s{n}", "main", True, start + timedelta(hours=n), results))
    return fold(history)["t"]
