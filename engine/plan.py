"""Rank flaky tests for the weekly quarantine digest by the harm they do.

Impact is measured in CI minutes: the machine time a test's failures wasted
plus ``RED_RUN_MINUTES`` for every run it turned red (someone reads the
failure, re-runs, waits), scaled by recency: ``2 ** (-days since its last
failure / HALF_LIFE_DAYS)``, the same 14-day half-life as the score.  A test
that turned 10 runs red yesterday outranks one that turned 30 red two months
ago.  Broken tests are not in the plan (they need a fix, never a quarantine);
tests already quarantined are listed only when asked, as "keep".
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

RED_RUN_MINUTES = 10.0  # a red run costs about ten minutes of someone's attention
HALF_LIFE_DAYS = 14.0  # same recency as engine.scoring's score
_DAY = 86400.0


@dataclass(frozen=True)
class PlanInput:
    """What the plan needs to know about one test."""

    test: str  # identity key
    name: str  # display name
    score: float  # estimated P(fail on good code)
    red_runs: int  # CI runs it turned red in the period
    seconds_lost: float  # CI time its failures wasted in the period
    last_failure_at: datetime | None
    quarantined: bool = False
    state: str = "flaky"  # verdict state; only 'flaky' tests enter the plan


@dataclass(frozen=True)
class PlanItem:
    """One ranked line of the quarantine plan."""

    rank: int
    test: str
    name: str
    action: str  # 'quarantine' | 'keep'
    impact: float  # recency-weighted CI minutes lost
    score: float
    red_runs: int
    seconds_lost: float
    last_failure_at: datetime | None
    why: str


def impact(item: PlanInput, now: datetime) -> float:
    """Return the recency-weighted CI minutes a test costs."""
    minutes = item.seconds_lost / 60.0 + RED_RUN_MINUTES * item.red_runs
    if item.last_failure_at is None:
        return 0.0
    age_days = max(0.0, (now - item.last_failure_at).total_seconds() / _DAY)
    return minutes * math.pow(2.0, -age_days / HALF_LIFE_DAYS)


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60.0)
    if minutes < 1:
        return f"{seconds:.0f}s"
    if minutes < 60:
        return f"{minutes}m"
    return f"{minutes // 60}h {minutes % 60:02d}m"


def _ago(now: datetime, at: datetime | None) -> str:
    if at is None:
        return "never failed"
    days = int((now - at).total_seconds() // _DAY)
    if days <= 0:
        return "last failed today"
    return "last failed yesterday" if days == 1 else f"last failed {days} days ago"


def _why(item: PlanInput, now: datetime) -> str:
    runs = "1 run" if item.red_runs == 1 else f"{item.red_runs} runs"
    return (
        f"turned {runs} red, cost {_duration(item.seconds_lost)} of CI, "
        f"fails {item.score:.1%} of runs; {_ago(now, item.last_failure_at)}"
    )


def rank_key(impact_minutes: float, score: float, test: str) -> tuple[float, float, str]:
    """Return the plan's sort key: most impact first, then the higher score, then the key."""
    return (-impact_minutes, -score, test)


def build_plan(
    items: Iterable[PlanInput],
    *,
    now: datetime,
    limit: int | None = None,
    include_quarantined: bool = False,
) -> list[PlanItem]:
    """Return flaky tests ranked by impact (highest first), at most ``limit`` of them."""
    candidates = [
        i for i in items if i.state == "flaky" and (include_quarantined or not i.quarantined)
    ]
    scored = sorted(
        ((impact(i, now), i) for i in candidates),
        key=lambda pair: rank_key(pair[0], pair[1].score, pair[1].test),
    )
    if limit is not None:
        scored = scored[:limit]
    return [
        PlanItem(
            rank=n,
            test=i.test,
            name=i.name,
            action="keep" if i.quarantined else "quarantine",
            impact=round(value, 3),
            score=i.score,
            red_runs=i.red_runs,
            seconds_lost=i.seconds_lost,
            last_failure_at=i.last_failure_at,
            why=_why(i, now),
        )
        for n, (value, i) in enumerate(scored, start=1)
    ]
