"""Analyze a run: fold it into each test's bounded state, store verdicts, raise events.

The cost grows with the run, not with the history: only the tests in the run
are read and written, each through its bounded engine state kept in
``FlakeScore.engine_state``. Runs of one repository are analyzed one at a
time (a per-repository lock) in the order they are analyzed, which is the
order ``engine.scoring.analyze`` folds them in when given the same history.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from engine.scoring import (
    DEFAULT_CONFIG,
    Result,
    Run,
    ScoringConfig,
    TestState,
    Verdict,
    mark_quarantined,
    mark_unquarantined,
    update,
)
from flakeguard import jobs
from flakeguard.errors import NotFoundError
from models import (
    DomainEvent,
    FlakeScore,
    InfraEvent,
    Quarantine,
    Repository,
    TestCase,
    TestResult,
    TestRun,
    db,
    utcnow,
)
from models.base import as_aware, locked_transaction

log = logging.getLogger(__name__)

ANALYSIS_LOCK = 0x4647_0000_0000  # + repository id: one analysis per repository at a time
CHUNK = 900  # ids per IN (...) list, well under SQLite's variable limit
FLAKY, BROKEN, FIXED = "flaky", "broken", "fixed"


@dataclass
class AnalysisResult:
    """What analyzing one run did."""

    run_id: int
    analyzed: bool = True
    tests: int = 0
    storm: bool = False
    events: list[dict[str, Any]] = field(default_factory=list)
    states: dict[str, int] = field(default_factory=dict)


def _chunks(ids: list[int]) -> list[list[int]]:
    return [ids[i : i + CHUNK] for i in range(0, len(ids), CHUNK)]


def _load_results(run_id: int) -> tuple[list[Result], dict[str, int]]:
    query = (
        TestResult.select(TestResult.test_case, TestCase.key, TestResult.status, TestResult.retry)
        .join(TestCase, on=(TestResult.test_case == TestCase.id))
        .where(TestResult.run == run_id)
        .tuples()
    )
    results: list[Result] = []
    ids: dict[str, int] = {}
    for test_case_id, key, status, retry in query:
        results.append(Result(test=key, status=status, retry=retry))
        ids[key] = test_case_id
    return results, ids


def _load_scores(ids: list[int]) -> dict[int, FlakeScore]:
    scores: dict[int, FlakeScore] = {}
    for chunk in _chunks(ids):
        for row in FlakeScore.select().where(FlakeScore.test_case.in_(chunk)):
            scores[row.test_case_id] = row
    return scores


def _load_quarantines(ids: list[int]) -> dict[int, Quarantine]:
    found: dict[int, Quarantine] = {}
    for chunk in _chunks(ids):
        for row in Quarantine.select().where(Quarantine.test_case.in_(chunk)):
            found[row.test_case_id] = row
    return found


def _engine_state(
    score: FlakeScore | None, quarantine: Quarantine | None, config: ScoringConfig
) -> TestState | None:
    """The stored engine state, told whether the test is quarantined now."""
    if score is None or not score.engine_state:
        return None
    state = TestState.from_json(score.engine_state)
    quarantined = quarantine is not None and quarantine.state == "quarantined"
    if quarantined and state.q_at is None:
        at = as_aware(quarantine.quarantined_at or quarantine.updated_at)
        rate = quarantine.rate_at_quarantine or score.score
        state = mark_quarantined(state, at, rate, config)
    elif not quarantined and state.q_at is not None:
        state = mark_unquarantined(state)
    return state


def _transition(
    old: str | None, verdict: Verdict, quarantine: Quarantine | None, score: FlakeScore | None
) -> str | None:
    """The domain event a verdict change raises, if any."""
    new = verdict.state
    if new == FLAKY and verdict.quarantine and old != FLAKY:
        if quarantine is None or quarantine.state == "lifted":
            return FLAKY
        if quarantine.state == "dismissed":
            # "Not flaky" holds until new same-commit evidence appears.
            conflicts = verdict.evidence.same_commit_conflicts
            return FLAKY if conflicts > quarantine.dismissed_conflicts else None
        return None
    if new == BROKEN and old != BROKEN:
        return BROKEN
    if (
        new == FIXED
        and old != FIXED
        and quarantine is not None
        and (quarantine.state == "quarantined")
    ):
        return FIXED
    return None


def analyze_run(
    run_id: int, *, now: datetime | None = None, config: ScoringConfig = DEFAULT_CONFIG
) -> AnalysisResult:
    """Rescore the tests of one run, store verdicts and events, then enqueue notifications."""
    now = now or datetime.now(UTC)
    run = TestRun.get_or_none(TestRun.id == run_id)
    if run is None:
        raise NotFoundError(f"unknown run {run_id}")
    outcome = AnalysisResult(run_id=run_id)
    with locked_transaction(ANALYSIS_LOCK + run.repository_id):
        run = TestRun.get_by_id(run_id)  # re-read under the lock
        if run.analyzed_at is not None:
            outcome.analyzed = False
            return outcome
        repo = Repository.get_by_id(run.repository_id)
        results, ids = _load_results(run_id)
        id_list = list(ids.values())
        scores = _load_scores(id_list)
        quarantines = _load_quarantines(id_list)
        states: dict[str, TestState] = {}
        for key, test_case_id in ids.items():
            state = _engine_state(scores.get(test_case_id), quarantines.get(test_case_id), config)
            if state is not None:
                states[key] = state
        engine_run = Run(
            id=str(run.id),
            sha=run.sha,
            branch=run.branch,
            default_branch=run.branch == repo.default_branch,
            at=as_aware(run.started_at or run.received_at),
            results=results,
        )
        new_states, verdicts, summary = update(states, engine_run, now=now, config=config)
        stamp = utcnow()
        rows = []
        pending_events = []
        for key, verdict in verdicts.items():
            test_case_id = ids[key]
            old = scores.get(test_case_id)
            old_state = old.state if old is not None else None
            kind = _transition(old_state, verdict, quarantines.get(test_case_id), old)
            if kind is not None:
                pending_events.append((kind, test_case_id, verdict))
            evidence = verdict.evidence.to_json()
            rows.append(
                {
                    "test_case": test_case_id,
                    "repository": repo.id,
                    "state": verdict.state,
                    "score": verdict.score,
                    "low": verdict.interval[0],
                    "high": verdict.interval[1],
                    "quarantine_recommended": verdict.quarantine,
                    "reason": verdict.reason,
                    "evidence": evidence,
                    "engine_state": new_states[key].to_json(),
                    "runs_seen": evidence.get("runs_seen", 0),
                    "state_since": old.state_since
                    if old is not None and old_state == verdict.state
                    else stamp,
                    "updated_at": stamp,
                }
            )
            outcome.states[verdict.state] = outcome.states.get(verdict.state, 0) + 1
        _upsert_scores(rows)
        for kind, test_case_id, verdict in pending_events:
            data = {
                "reason": verdict.reason,
                "score": verdict.score,
                "interval": list(verdict.interval),
                "run_id": run.id,
                "sha": run.sha,
            }
            if kind == BROKEN:
                data["first_failing_sha"] = verdict.evidence.first_failing_sha
            event = DomainEvent.create(
                repository=repo.id, test_case=test_case_id, kind=kind, data=data
            )
            outcome.events.append({"id": event.id, "kind": kind, "test_case_id": test_case_id})
        if summary.storm:
            InfraEvent.insert(
                run=run.id, failed=summary.failed, total=summary.tests
            ).on_conflict_ignore().execute()
        TestRun.update(analyzed_at=stamp, tainted=summary.storm).where(
            TestRun.id == run.id
        ).execute()
        outcome.tests = len(verdicts)
        outcome.storm = summary.storm
    _after_commit(run, outcome)
    return outcome


def _upsert_scores(rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    updated = [
        FlakeScore.state,
        FlakeScore.score,
        FlakeScore.low,
        FlakeScore.high,
        FlakeScore.quarantine_recommended,
        FlakeScore.reason,
        FlakeScore.evidence,
        FlakeScore.engine_state,
        FlakeScore.runs_seen,
        FlakeScore.state_since,
        FlakeScore.updated_at,
    ]
    for start in range(0, len(rows), 500):
        (
            FlakeScore.insert_many(rows[start : start + 500])
            .on_conflict(conflict_target=[FlakeScore.test_case], preserve=updated)
            .execute()
        )


def _after_commit(run: TestRun, outcome: AnalysisResult) -> None:
    """Propose quarantines for new flakes, then enqueue Slack alerts and the check run."""
    from flakeguard.usecases import quarantine

    for event in outcome.events:
        if event["kind"] == FLAKY:
            quarantine.apply_action(
                event["test_case_id"],
                "propose",
                actor="flakeguard",
                source="system",
                reason="flaky",
            )
    for event in outcome.events:
        jobs.enqueue("notify_slack", event_id=event["id"])
    jobs.enqueue("update_check_run", repository_id=run.repository_id, sha=run.sha)


def analyze_pending(limit: int = 100) -> list[AnalysisResult]:
    """Analyze runs still waiting, oldest first (the CLI and the demo use this)."""
    pending = [
        row.id
        for row in TestRun.select(TestRun.id)
        .where(TestRun.analyzed_at.is_null())
        .order_by(TestRun.id)
        .limit(limit)
    ]
    return [analyze_run(run_id) for run_id in pending]


__all__ = ["AnalysisResult", "analyze_pending", "analyze_run", "db"]
