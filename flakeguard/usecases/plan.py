"""The quarantine plan of a repository: its proposed quarantines ranked by impact.

Loads each proposal's score and last week's failing runs, and lets the pure
ranking (``engine/plan.py``) order them. The weekly digest, the App Home
preview and the CLI show the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from peewee import JOIN

from engine.plan import PlanInput, build_plan
from flakeguard.usecases.status import display_name
from models import FlakeScore, Quarantine, TestCase, failure_reads, utcnow
from models.base import as_aware

PLAN_MAX = 10


@dataclass(frozen=True)
class PlanItem:
    """One candidate of a quarantine plan."""

    quarantine_id: int
    version: int
    test_case_id: int
    test_name: str
    score: float
    reason: str
    failures_week: int
    why: str = ""  # the plan's impact line, when ranked by engine.plan
    impact: float = 0.0  # engine.plan's recency-weighted CI minutes: plans merge by it


def quarantine_plan(
    repo_id: int, *, limit: int | None = PLAN_MAX, now: datetime | None = None
) -> tuple[list[PlanItem], int]:
    """Proposed quarantines ranked by impact (engine.plan), and how many in all.

    ``limit`` None lists them all.
    """
    now = now or utcnow()
    week = now - timedelta(days=7)
    rows = list(
        Quarantine.select(Quarantine, TestCase, FlakeScore)
        .join(TestCase)
        .switch(Quarantine)
        .join(
            FlakeScore,
            JOIN.LEFT_OUTER,
            on=(FlakeScore.test_case == Quarantine.test_case),
            attr="fs",
        )
        .where(Quarantine.repository == repo_id, Quarantine.state == "proposed")
    )
    red_runs: dict[int, dict[int, float]] = {}  # test case -> {run id: run duration}
    last_failure: dict[int, datetime] = {}
    if rows:
        stored = failure_reads.attempts_since(repo_id, [r.test_case_id for r in rows], week)
        for a in stored:
            if a.status not in ("failed", "error"):
                continue
            red_runs.setdefault(a.test_case_id, {})[a.run_id] = a.run_duration
            if a.test_case_id not in last_failure or a.at > last_failure[a.test_case_id]:
                last_failure[a.test_case_id] = a.at
    by_key = {str(r.test_case_id): r for r in rows}
    inputs = []
    for r in rows:
        fs = r.fs if getattr(r, "fs", None) is not None and r.fs.id else None
        runs = red_runs.get(r.test_case_id, {})
        last = last_failure.get(r.test_case_id)
        inputs.append(
            PlanInput(
                test=str(r.test_case_id),
                name=display_name(r.test_case),
                score=fs.score if fs else 0.0,
                red_runs=len(runs),
                seconds_lost=sum(runs.values()),
                last_failure_at=as_aware(last) if last else None,
                state=fs.state if fs else "flaky",
            )
        )
    plan = build_plan(inputs, now=as_aware(now))
    items = []
    for entry in plan:
        r = by_key[entry.test]
        fs = r.fs if getattr(r, "fs", None) is not None and r.fs.id else None
        items.append(
            PlanItem(
                quarantine_id=r.id,
                version=r.version,
                test_case_id=r.test_case_id,
                test_name=entry.name,
                score=entry.score,
                reason=(fs.reason if fs else "") or r.reason,
                failures_week=entry.red_runs,
                why=entry.why,
                impact=entry.impact,
            )
        )
    return items[:limit], len(items)
