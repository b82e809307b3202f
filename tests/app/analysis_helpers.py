"""Store engine-shaped runs straight into the database, for analysis tests and benches."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from engine.scoring import Result, Run
from models import Repository, TestCase, TestResult, TestRun

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


def store_run(repo: Repository, run: Run) -> TestRun:
    """Insert a TestRun with its TestCases and TestResults from an engine Run."""
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
    TestResult.insert_many(
        [
            {
                "run": row.id,
                "test_case": cases[r.test],
                "status": r.status,
                "retry": r.retry,
                "created_at": run.at.replace(tzinfo=None),
            }
            for r in run.results
        ]
    ).execute()
    return row
