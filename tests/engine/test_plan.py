"""Behaviour of engine.plan: the weekly quarantine plan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from engine.plan import RED_RUN_MINUTES, PlanInput, build_plan, impact

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def item(test: str, **kw: object) -> PlanInput:
    base: dict[str, object] = {
        "test": test,
        "name": f"tests/test_x.py::{test}",
        "score": 0.05,
        "red_runs": 5,
        "seconds_lost": 600.0,
        "last_failure_at": NOW - timedelta(days=1),
    }
    base.update(kw)
    return PlanInput(**base)  # type: ignore[arg-type]


def test_more_red_runs_rank_higher() -> None:
    """A test that turned more runs red ranks above one that turned fewer."""
    plan = build_plan([item("a", red_runs=2), item("b", red_runs=9)], now=NOW)
    assert [p.test for p in plan] == ["b", "a"]
    assert [p.rank for p in plan] == [1, 2]


def test_ci_time_lost_counts() -> None:
    """With equal red runs, the test that wasted more CI time ranks higher."""
    plan = build_plan([item("a", seconds_lost=60), item("b", seconds_lost=3600)], now=NOW)
    assert plan[0].test == "b"


def test_recent_failures_outrank_old_ones() -> None:
    """Impact halves every 14 days since the last failure."""
    old = item("old", red_runs=30, seconds_lost=0, last_failure_at=NOW - timedelta(days=60))
    new = item("new", red_runs=10, seconds_lost=0, last_failure_at=NOW)
    assert impact(new, NOW) == 10 * RED_RUN_MINUTES
    assert abs(impact(old, NOW) - 300 * 2 ** (-60 / 14)) < 1e-9
    assert [p.test for p in build_plan([old, new], now=NOW)] == ["new", "old"]


def test_only_unquarantined_flaky_tests_are_proposed() -> None:
    """Broken, healthy and already quarantined tests are left out unless asked for."""
    items = [
        item("flaky"),
        item("broken", state="broken", red_runs=50),
        item("healthy", state="healthy"),
        item("held", quarantined=True, red_runs=40),
    ]
    assert [p.test for p in build_plan(items, now=NOW)] == ["flaky"]
    full = build_plan(items, now=NOW, include_quarantined=True)
    assert [(p.test, p.action) for p in full] == [("held", "keep"), ("flaky", "quarantine")]


def test_ties_are_broken_by_score_then_key_and_limit_applies() -> None:
    """Equal impact ranks by score, then by key; limit keeps the top N."""
    items = [item("b"), item("a"), item("c", score=0.3)]
    assert [p.test for p in build_plan(items, now=NOW)] == ["c", "a", "b"]
    assert [p.test for p in build_plan(items, now=NOW, limit=2)] == ["c", "a"]


def test_why_names_red_runs_time_and_recency() -> None:
    """The why line says how many runs it turned red, the CI time and when it last failed."""
    (p,) = build_plan([item("a", red_runs=7, seconds_lost=4800)], now=NOW)
    assert (
        p.why == "turned 7 runs red, cost 1h 20m of CI, fails 5.0% of runs; last failed yesterday"
    )


def test_never_failed_has_no_impact() -> None:
    """A test without a recorded failure has zero impact."""
    assert impact(item("a", last_failure_at=None), NOW) == 0.0
