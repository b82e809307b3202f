"""Analyze a run: fold it into each test's bounded state, store verdicts, raise events.

The cost grows with the run, not with the history: only the tests in the run
are read and written, each through its bounded engine state kept in
``FlakeScore.engine_state`` (``TestState.to_bytes``, a few hundred bytes).
Runs of one repository are analyzed one at a time (a per-repository lock) in
the order they are analyzed, which is the order ``engine.scoring.analyze``
folds them in when given the same history.

Everything the analysis causes is written in its one transaction: the verdicts,
the domain events, the quarantine proposed for each test that turned flaky, and
the outbox effects (each event's Slack alert, the commit's check run). The jobs
are enqueued after the commit; a job lost then is re-driven from its effect.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from engine.scoring import (
    DEFAULT_CONFIG,
    SKIPPED,
    Result,
    Run,
    ScoringConfig,
    TestState,
    Verdict,
    mark_quarantined,
    mark_unquarantined,
    update,
)
from engine.signatures import Signature, cluster, signature
from flakeguard.errors import NotFoundError
from flakeguard.jobs import Job
from flakeguard.usecases import new_tests, outbox, quarantine, repo_files
from models import (
    DomainEvent,
    InfraEvent,
    Quarantine,
    Repository,
    TestRun,
    failure_reads,
    queries,
    result_reads,
    utcnow,
)
from models.base import as_aware, locked_transaction
from models.queries import QuarantineRow

log = logging.getLogger(__name__)

ANALYSIS_LOCK = 0x4647_0000_0000  # + repository id: one analysis per repository at a time
FLAKY, BROKEN, FIXED, RECOVERED = "flaky", "broken", "fixed", "recovered"
CLUSTER = "cluster"  # tests that turned flaky in one run with one failure signature
MIN_CLUSTER = 2


@dataclass
class AnalysisResult:
    """What analyzing one run did."""

    run_id: int
    analyzed: bool = True
    tests: int = 0
    storm: bool = False
    events: list[dict[str, Any]] = field(default_factory=list)
    states: dict[str, int] = field(default_factory=dict)


def _with_quarantine(
    state: TestState, low: float, quarantine: QuarantineRow | None, config: ScoringConfig
) -> TestState:
    """The engine state, told whether the test is quarantined now."""
    quarantined = quarantine is not None and quarantine.state == "quarantined"
    if quarantined and state.quarantined_at is None:
        at = as_aware(quarantine.quarantined_at or quarantine.updated_at)
        rate = quarantine.rate_at_quarantine or low
        state = mark_quarantined(state, at, rate, config)
    elif not quarantined and state.quarantined_at is not None:
        state = mark_unquarantined(state)
    return state


def _run_results(
    repository_id: int, run_id: int, window: tuple[datetime, datetime]
) -> tuple[dict[str, int], list[Result]]:
    """The run's results for the engine, and its tests' ids by engine key.

    The engine keys a test by its TestCase id as text: unique, and no join to
    fetch the test's name.
    """
    results: list[Result] = []
    ids: dict[str, int] = {}
    for test_case_id, status, retry in result_reads.run_results(repository_id, run_id, window):
        key = str(test_case_id)
        results.append(Result(key, status, retry))
        ids[key] = test_case_id
    return ids, results


def _load_states(
    ids: dict[str, int],
    stored: dict[int, tuple[str, bytes | str | None, float]],
    quarantines: dict[int, QuarantineRow],
    config: ScoringConfig,
) -> dict[str, TestState]:
    """The stored engine states of the run's tests, by key."""
    states: dict[str, TestState] = {}
    from_bytes = TestState.from_bytes
    for key, test_case_id in ids.items():
        row = stored.get(test_case_id)
        if row is None:
            continue
        blob = row[1]
        if type(blob) is bytes and blob[:1] != b"{":
            state = from_bytes(blob)
        elif blob:
            state = TestState.from_stored(blob)  # JSON, stored before migration 0035
        else:
            continue
        quarantine = quarantines.get(test_case_id)
        if quarantine is not None or state.quarantined_at is not None:
            state = _with_quarantine(state, row[2], quarantine, config)
        states[key] = state
    return states


def _score_rows(
    ids: dict[str, int],
    stored: dict[int, tuple[str, bytes | str | None, float]],
    quarantines: dict[int, QuarantineRow],
    states: dict[str, TestState],
    verdicts: dict[str, Verdict],
) -> tuple[list[tuple[Any, ...]], list[tuple[str, int, Verdict]], dict[str, int]]:
    """FlakeScore rows for the verdicts (queries.SCORE_COLUMNS), the events they raise, counts."""
    rows = []
    events = []
    counts: dict[str, int] = {}
    dumps = orjson.dumps
    for key, verdict in verdicts.items():
        test_case_id = ids[key]
        old = stored.get(test_case_id)
        state = verdict.state
        old_state = old[0] if old is not None else None
        if state != old_state:  # no event without a change of state
            kind = _transition(old_state, verdict, quarantines.get(test_case_id))
            if kind is not None:
                events.append((kind, test_case_id, verdict))
        evidence = verdict.evidence
        low, high = verdict.interval
        rows.append(
            (
                test_case_id,
                state,
                verdict.score,
                low,
                high,
                verdict.quarantine,
                verdict.reason,
                dumps(evidence.to_json(sparse=True)).decode(),
                states[key].to_bytes(),
                evidence.runs_seen,
            )
        )
        counts[state] = counts.get(state, 0) + 1
    return rows, events, counts


def _transition(old: str | None, verdict: Verdict, quarantine: QuarantineRow | None) -> str | None:
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
    if new == RECOVERED and old == FLAKY:
        return RECOVERED
    if (
        new == FIXED
        and old != FIXED
        and quarantine is not None
        and (quarantine.state == "quarantined")
    ):
        return FIXED
    return None


def _alerts_to_rerender(
    ids: dict[str, int],
    stored: dict[int, tuple[str, bytes | str | None, float]],
    quarantines: dict[int, QuarantineRow],
    verdicts: dict[str, Verdict],
) -> list[outbox.Wanted]:
    """Re-render in place the alerts of tests that recovered, or turned flaky again after it.

    A flaky alert belongs to the test's quarantine (its proposal): re-rendering
    the quarantine's messages shows the verdict as it is now, and with them the
    cluster alerts that list the test (``refresh_slack_quarantine``).
    """
    changed = [
        test_case_id
        for key, verdict in verdicts.items()
        if (test_case_id := ids[key]) in quarantines
        and (old := stored.get(test_case_id)) is not None
        and RECOVERED in (old[0], verdict.state)
        and old[0] != verdict.state
    ]
    if not changed:
        return []
    return [
        outbox.want(Job.REFRESH_SLACK_QUARANTINE, quarantine_id=quarantine_id)
        for (quarantine_id,) in Quarantine.select(Quarantine.id)
        .where(Quarantine.test_case.in_(changed))
        .tuples()
    ]


def _run_signatures(
    repository_id: int, run_id: int, window: tuple[datetime, datetime], test_case_ids: list[int]
) -> dict[int, Signature]:
    """The signature of each given test's first failing attempt in the run."""
    found: dict[int, Signature] = {}
    for failure in reversed(
        failure_reads.run_failures(repository_id, run_id, window, test_case_ids)
    ):
        found[failure.test_case_id] = signature(failure.message, failure.failure_type)
    return found  # the lowest retry last


def _clusters(
    repository_id: int, run_id: int, window: tuple[datetime, datetime], flaky_ids: list[int]
) -> list[tuple[Signature, list[int]]]:
    """Tests that turned flaky in this run together, with one signature that can be shared."""
    if len(flaky_ids) < MIN_CLUSTER:
        return []
    signatures = _run_signatures(repository_id, run_id, window, flaky_ids)
    groups = cluster((str(test_id), sig) for test_id, sig in signatures.items())
    return [
        (group.signature, [int(test) for test in group.tests])
        for group in groups
        if group.size >= MIN_CLUSTER and group.signature.shared
    ]


def analyze_run(
    run_id: int, *, now: datetime | None = None, config: ScoringConfig = DEFAULT_CONFIG
) -> AnalysisResult:
    """Rescore the tests of one run; store verdicts, events, proposals and effects; enqueue."""
    now = now or datetime.now(UTC)
    repository_id = TestRun.select(TestRun.repository).where(TestRun.id == run_id).scalar()
    if repository_id is None:
        raise NotFoundError(f"unknown run {run_id}")
    if config is DEFAULT_CONFIG:  # the repository's thresholds (.flakeguard.yml), if any
        config = repo_files.scoring_config(repository_id, config)
    outcome = AnalysisResult(run_id=run_id)
    effects: list[outbox.Wanted] = []
    with locked_transaction(ANALYSIS_LOCK + repository_id):
        run = TestRun.get_by_id(run_id)  # read under the lock
        if run.analyzed_at is not None:
            outcome.analyzed = False
            outbox.mark_done(Job.ANALYZE_RUN, run_id=run_id)
            return outcome
        default_branch = (
            Repository.select(Repository.default_branch)
            .where(Repository.id == repository_id)
            .scalar()
        )
        window = result_reads.results_window(run.started_at, run.received_at)
        ids, results = _run_results(repository_id, run_id, window)
        id_list = list(ids.values())
        stored = queries.score_rows(id_list)
        quarantines = queries.quarantine_rows(id_list)
        states = _load_states(ids, stored, quarantines, config)
        engine_run = Run(
            id=str(run.id),
            sha=run.sha,
            branch=run.branch,
            default_branch=run.branch == default_branch,
            at=as_aware(run.started_at or run.received_at),
            results=results,
        )
        # A test run for the first time starts from its family's rate, if it has one (one
        # only skipped so far is not new yet: the engine gives it no state).
        ran = {result.test for result in results if result.status != SKIPPED}
        new = {key: test_id for key, test_id in ids.items() if key in ran and key not in states}
        priors = new_tests.family_priors(repository_id, new, engine_run.at.timestamp(), config)
        # The decoded states are ours: fold the run into them in place.
        states, verdicts, summary = update(
            states, engine_run, now=now, config=config, copy=False, priors=priors
        )
        stamp = utcnow()
        rows, pending_events, counts = _score_rows(ids, stored, quarantines, states, verdicts)
        outcome.states = counts
        queries.upsert_scores(repository_id, rows, existing=stored, stamp=stamp)
        flaky_ids = [test_id for kind, test_id, _verdict in pending_events if kind == FLAKY]
        clustered = {
            test_id: (sig, members)
            for sig, members in _clusters(repository_id, run.id, window, flaky_ids)
            for test_id in members
        }
        cluster_members: dict[str, list[int]] = {}  # signature key -> member event ids
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
            in_cluster = clustered.get(test_case_id) if kind == FLAKY else None
            if in_cluster is not None:
                data["signature"] = in_cluster[0].key
            event = DomainEvent.create(
                repository=repository_id,
                test_case=test_case_id,
                kind=kind,
                data=data,
                # A clustered test's alert is the cluster's one message.
                slack_done_at=stamp if in_cluster is not None else None,
            )
            outcome.events.append({"id": event.id, "kind": kind, "test_case_id": test_case_id})
            if kind == FLAKY:
                effects += quarantine.propose_flaky(test_case_id)
            elif kind == RECOVERED:
                effects += quarantine.withdraw_recovered(test_case_id)
            if in_cluster is not None:
                cluster_members.setdefault(in_cluster[0].key, []).append(event.id)
                continue
            effects.append(outbox.want(Job.NOTIFY_SLACK, event_id=event.id))
        effects += _alerts_to_rerender(ids, stored, quarantines, verdicts)
        for sig, members in {key: value for key, value in clustered.values()}.items():
            event = DomainEvent.create(
                repository=repository_id,
                kind=CLUSTER,
                data={
                    "signature": sig.key,
                    "label": sig.label,
                    "exception": sig.exception,
                    "text": sig.text,
                    "tests": sorted(members),
                    "events": cluster_members.get(sig.key, []),
                    "run_id": run.id,
                    "sha": run.sha,
                },
            )
            outcome.events.append({"id": event.id, "kind": CLUSTER, "test_case_id": None})
            effects.append(outbox.want(Job.NOTIFY_SLACK, event_id=event.id))
        if summary.storm:
            InfraEvent.insert(
                run=run.id, failed=summary.failed, total=summary.tests
            ).on_conflict_ignore().execute()
        TestRun.update(analyzed_at=stamp, tainted=summary.storm).where(
            TestRun.id == run.id
        ).execute()
        outcome.tests = len(verdicts)
        outcome.storm = summary.storm
        effects.append(outbox.want(Job.UPDATE_CHECK_RUN, repository_id=repository_id, sha=run.sha))
        outbox.record(effects)
        outbox.mark_done(Job.ANALYZE_RUN, run_id=run_id)
    outbox.dispatch(effects)
    return outcome


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
