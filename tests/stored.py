"""Results as stored, read back through ``models.result_reads`` (for assertions in tests)."""

from __future__ import annotations

from datetime import datetime

from models import TestCase, TestRun, result_reads
from models.bulk import Outcome, store_results
from models.failure_reads import Attempt

EVER = (datetime(1, 1, 2), datetime(9999, 12, 30))  # a window that holds any date


def stored_results(run_id: int | None = None) -> list[Attempt]:
    """Every stored attempt (of one run, or of every run), by run, test and retry."""
    runs = TestRun.select(TestRun.id, TestRun.repository).order_by(TestRun.id)
    if run_id is not None:
        runs = runs.where(TestRun.id == run_id)
    out: list[Attempt] = []
    for run in runs:
        out += result_reads.run_attempts(run.repository_id, {run.id: EVER}, messages=True)
    return out


def stored_keys(run_id: int | None = None) -> list[tuple[str, str, int]]:
    """(test key, status, retry) of every stored attempt (of one run, or of every run)."""
    attempts = stored_results(run_id)
    keys = dict(
        TestCase.select(TestCase.id, TestCase.key)
        .where(TestCase.id.in_({a.test_case_id for a in attempts}))
        .tuples()
    )
    return [(keys[a.test_case_id], a.status, a.retry) for a in attempts]


def add_result(
    run: TestRun,
    test: TestCase,
    status: str,
    *,
    retry: int = 0,
    duration: float = 0.0,
    message: str | None = None,
    failure_type: str | None = None,
    created_at: datetime | None = None,
) -> None:
    """Store one attempt of ``test`` in ``run`` (dated ``created_at``, else the run's date)."""
    outcome = Outcome(test.id, status, duration, retry, message, failure_type)
    store_results(run.id, [outcome], dated=created_at)
