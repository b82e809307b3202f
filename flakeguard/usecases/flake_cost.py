"""What each flaky test of a repository cost lately (``engine.cost``), from the database.

Tests that are or were flaky (verdict flaky, recovered or fixed, or a
quarantine) over the last ``days``: their failing attempts with their runs,
when each was first flagged (its first "flaky" event) and fixed (its first
"recovered" or "fixed" event after that). Bounded reads (``ROWS_READ``
failing attempts), scoped to the tenant in SQL; ``flakeguard status`` prints
it, and the dashboard can.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from engine.cost import FailedRun, FlakeCost, costs
from flakeguard.errors import NotFoundError
from flakeguard.usecases.status import display_name
from models import DomainEvent, FlakeScore, Repository, TestCase, failure_reads, utcnow
from models.base import as_aware

FAILED = ("failed", "error")
FLAKY_STATES = ("flaky", "recovered", "fixed")
ROWS_READ = 20_000
COST_DAYS = 30


@dataclass(frozen=True)
class TestCost:
    """One test's cost, with its name for people."""

    __test__ = False

    test_case_id: int
    name: str
    cost: FlakeCost


def repository_costs(
    full_name: str,
    *,
    tenant_id: int,
    days: int = COST_DAYS,
    limit: int = 10,
    now: datetime | None = None,
) -> tuple[list[TestCost], FlakeCost | None]:
    """The costliest flaky tests of one of the tenant's repositories, and the repository's total."""
    repo = Repository.get_or_none(Repository.full_name == full_name, Repository.tenant == tenant_id)
    if repo is None:
        raise NotFoundError(f"unknown repository {full_name}")
    now = now or utcnow()
    since = now - timedelta(days=days)
    flaky_ids = [
        test_id
        for (test_id,) in FlakeScore.select(FlakeScore.test_case)
        .where(FlakeScore.repository == repo.id, FlakeScore.state.in_(FLAKY_STATES))
        .tuples()
    ]
    if not flaky_ids:
        return [], None
    # Every attempt of a flaky test in a run where it failed is a stored attempt (a passing
    # run's outcome is only in its packed block, and is not needed here).
    attempts = failure_reads.attempts_since(repo.id, flaky_ids, since, limit=ROWS_READ)
    by_run: dict[tuple[int, int], list[tuple[str, float, float, int | None, str]]] = defaultdict(
        list
    )
    for a in attempts:
        by_run[(a.test_case_id, a.run_id)].append(
            (a.status, a.duration, a.run_duration, a.pr, a.branch)
        )
    rows = []
    for (test_id, run_id), seen in by_run.items():
        failed = [d for status, d, *_ in seen if status in FAILED]
        if not failed:
            continue
        _status, _d, run_seconds, pr, branch = seen[0]
        blocked = (
            f"PR #{pr}"
            if pr
            else (f"branch {branch}" if branch and branch != repo.default_branch else None)
        )
        rows.append(
            FailedRun(
                test=str(test_id),
                run=str(run_id),
                red=not any(status == "passed" for status, *_ in seen),
                failed_seconds=sum(failed),
                run_seconds=run_seconds,
                blocked=blocked,
            )
        )
    flagged, fixed = _flag_times(repo.id, flaky_ids)
    per_test = costs(rows, flagged_at=flagged, fixed_at=fixed)
    names = {t.id: display_name(t) for t in TestCase.select().where(TestCase.id.in_(flaky_ids))}
    total = FlakeCost(
        test=repo.full_name,
        red_runs=sum(c.red_runs for c in per_test),
        failed_runs=sum(c.failed_runs for c in per_test),
        seconds_lost=sum(c.seconds_lost for c in per_test),
        blocked=tuple(sorted({b for c in per_test for b in c.blocked})),
    )
    return [
        TestCost(int(c.test), names.get(int(c.test), c.test), c) for c in per_test[:limit]
    ], total


def _flag_times(
    repository_id: int, test_ids: list[int]
) -> tuple[dict[str, datetime], dict[str, datetime]]:
    """When each test was first flagged, and first fixed or recovered after that."""
    flagged: dict[str, datetime] = {}
    fixed: dict[str, datetime] = {}
    events = (
        DomainEvent.select(DomainEvent.test_case, DomainEvent.kind, DomainEvent.created_at)
        .where(
            DomainEvent.repository == repository_id,
            DomainEvent.test_case.in_(test_ids),
            DomainEvent.kind.in_(("flaky", "recovered", "fixed")),
        )
        .order_by(DomainEvent.created_at, DomainEvent.id)
        .tuples()
    )
    for test_id, kind, at in events:
        key = str(test_id)
        at = as_aware(at)
        if kind == "flaky":
            flagged.setdefault(key, at)
        elif key in flagged:
            fixed.setdefault(key, at)
    return flagged, fixed
