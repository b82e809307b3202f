"""engine.cost: CI time lost, red runs, people blocked, time since flagged and to fix."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from engine.cost import FailedRun, costs

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def test_costs_count_red_runs_time_and_distinct_blockers() -> None:
    """Red runs cost the run; a retry that passed costs its attempt; blockers are distinct."""
    rows = [
        FailedRun("a", "r1", red=True, failed_seconds=10, run_seconds=600, blocked="PR #1"),
        FailedRun("a", "r2", red=True, failed_seconds=10, run_seconds=300, blocked="PR #1"),
        FailedRun("a", "r3", red=False, failed_seconds=20, run_seconds=900, blocked="PR #2"),
        FailedRun("a", "r3", red=False, failed_seconds=20, run_seconds=900, blocked="PR #2"),
        FailedRun("b", "r1", red=True, failed_seconds=5, run_seconds=600, blocked=None),
    ]
    a, b = costs(rows, flagged_at={"a": T0}, fixed_at={"a": T0 + timedelta(days=3)})
    assert (a.test, a.red_runs, a.failed_runs) == ("a", 2, 3)  # r3 once, not twice
    assert a.seconds_lost == 10 + 600 + 10 + 300 + 20
    assert a.blocked == ("PR #1",)  # a retry that passed blocked nobody
    assert a.minutes == a.seconds_lost / 60 + 10 * 2
    assert a.time_to_fix() == 3 * 86400
    assert a.since_flagged(T0 + timedelta(days=5)) == 5 * 86400
    assert (b.red_runs, b.blocked, b.time_to_fix(), b.since_flagged(T0)) == (1, (), None, None)
    assert a.minutes > b.minutes  # ranked by cost


def test_no_rows_no_costs() -> None:
    assert costs([]) == []
