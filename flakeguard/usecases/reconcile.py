"""Find pending work in the database and enqueue it again (jobs are only hints).

Everything pending is visible as database state, so a lost job (Redis down, a
worker killed mid-task) only delays the work:

======================================  ===========================================
pending state                           job re-enqueued
======================================  ===========================================
``TestRun.analyzed_at IS NULL``         ``analyze_run(run_id)``
``DomainEvent.slack_done_at IS NULL``   ``notify_slack(event_id)``
``Quarantine.slack_synced_version <     ``refresh_slack_quarantine(quarantine_id)``
version``
``Quarantine.github_synced_version <    ``mirror_quarantine(quarantine_id)``
version``
``CheckRun.synced_version < version``   ``update_check_run(repository_id, sha)``
``IngestedArtifact.status='pending'``   ``ingest_workflow_run(repository_id, ...)``
======================================  ===========================================

Each job is idempotent, so enqueuing one that is also still in the queue is
harmless. Work younger than ``grace`` is left alone (its first job is probably
still on its way), and each kind is bounded to ``limit`` rows per pass.

``sweep_fixed`` raises the "fixed" event of quarantined tests whose verdict is
already fixed but that never had one (the verdict turned fixed while the
quarantine was only proposed, so no later run changes the verdict again).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from flakeguard import jobs, logs
from models import (
    CheckRun,
    DomainEvent,
    FlakeScore,
    IngestedArtifact,
    Quarantine,
    TestRun,
    db,
    utcnow,
)

# Work younger than this is probably still in its first job; leave it alone.
GRACE = timedelta(minutes=2)
BATCH = 500
FIXED = "fixed"


@dataclass
class ReconcileReport:
    """What one reconcile pass found pending and re-enqueued, by job name."""

    pending: dict[str, int] = field(default_factory=dict)
    enqueued: dict[str, int] = field(default_factory=dict)
    fixed_events: int = 0

    @property
    def runs_pending(self) -> int:
        return self.pending.get("analyze_run", 0)

    def count(self, job: str, accepted: bool) -> None:
        if accepted:
            self.enqueued[job] = self.enqueued.get(job, 0) + 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "pending": self.pending,
            "enqueued": self.enqueued,
            "fixed_events": self.fixed_events,
        }


def reconcile(
    *,
    grace: timedelta = GRACE,
    limit: int = BATCH,
    slack: bool = True,
    github: bool = True,
) -> ReconcileReport:
    """Re-enqueue every kind of pending work older than ``grace``.

    ``slack`` / ``github`` False skips that side's work (the integration is not
    configured: its jobs would only skip, and the work stays visible as pending).
    """
    report = ReconcileReport()
    cutoff = utcnow() - grace

    runs = list(
        TestRun.select(TestRun.id, TestRun.correlation_id)
        .where(TestRun.analyzed_at.is_null(), TestRun.received_at <= cutoff)
        .order_by(TestRun.id)
        .limit(limit)
        .tuples()
    )
    report.pending["analyze_run"] = len(runs)
    for run_id, correlation in runs:
        # The upload's correlation id follows its analysis, however late.
        token = logs.set_correlation_id(correlation or logs.get_correlation_id())
        try:
            _enqueue(report, "analyze_run", run_id=run_id)
        finally:
            logs.reset_correlation_id(token)

    if slack:
        _redrive(
            report,
            "notify_slack",
            "event_id",
            DomainEvent.select(DomainEvent.id)
            .where(DomainEvent.slack_done_at.is_null(), DomainEvent.created_at <= cutoff)
            .order_by(DomainEvent.id)
            .limit(limit),
        )
        _redrive(
            report,
            "refresh_slack_quarantine",
            "quarantine_id",
            Quarantine.select(Quarantine.id)
            .where(
                Quarantine.slack_synced_version < Quarantine.version,
                Quarantine.updated_at <= cutoff,
            )
            .order_by(Quarantine.id)
            .limit(limit),
        )

    if github:
        _redrive(
            report,
            "mirror_quarantine",
            "quarantine_id",
            Quarantine.select(Quarantine.id)
            .where(
                Quarantine.github_synced_version < Quarantine.version,
                Quarantine.updated_at <= cutoff,
            )
            .order_by(Quarantine.id)
            .limit(limit),
        )

        checks = list(
            CheckRun.select(CheckRun.repository, CheckRun.head_sha)
            .where(CheckRun.synced_version < CheckRun.version, CheckRun.updated_at <= cutoff)
            .order_by(CheckRun.id)
            .limit(limit)
            .tuples()
        )
        report.pending["update_check_run"] = len(checks)
        for repository_id, sha in checks:
            _enqueue(report, "update_check_run", repository_id=repository_id, sha=sha)

        artifacts = list(
            IngestedArtifact.select(
                IngestedArtifact.repository,
                IngestedArtifact.workflow_run_id,
                IngestedArtifact.run_attempt,
            )
            .where(IngestedArtifact.status == "pending", IngestedArtifact.created_at <= cutoff)
            .distinct()
            .limit(limit)
            .tuples()
        )
        report.pending["ingest_workflow_run"] = len(artifacts)
        for repository_id, workflow_run_id, attempt in artifacts:
            _enqueue(
                report,
                "ingest_workflow_run",
                repository_id=repository_id,
                workflow_run_id=workflow_run_id,
                run_attempt=attempt,
            )
    return report


def sweep_fixed(*, limit: int = BATCH, notify: bool = True) -> list[int]:
    """Raise the missing "fixed" event of quarantined tests whose verdict is fixed.

    Returns the ids of the events created; each is sent to Slack (``notify_slack``).
    """
    candidates = list(
        Quarantine.select(Quarantine.test_case, Quarantine.repository, Quarantine.quarantined_at)
        .join(FlakeScore, on=(FlakeScore.test_case == Quarantine.test_case))
        .where(Quarantine.state == "quarantined", FlakeScore.state == FIXED)
        .order_by(Quarantine.id)
        .limit(limit)
        .tuples()
    )
    created: list[int] = []
    for test_case_id, repository_id, quarantined_at in candidates:
        with db.atomic():
            since = quarantined_at or utcnow()
            already = (
                DomainEvent.select()
                .where(
                    DomainEvent.test_case == test_case_id,
                    DomainEvent.kind == FIXED,
                    DomainEvent.created_at >= since,
                )
                .exists()
            )
            if already:
                continue
            score = FlakeScore.get(FlakeScore.test_case == test_case_id)
            event = DomainEvent.create(
                repository=repository_id,
                test_case=test_case_id,
                kind=FIXED,
                data={
                    "reason": score.reason,
                    "score": score.score,
                    "interval": [score.low, score.high],
                    "sweep": True,
                },
            )
        created.append(event.id)
    if notify:
        for event_id in created:
            jobs.enqueue("notify_slack", event_id=event_id)
    return created


def _redrive(report: ReconcileReport, job: str, arg: str, query: Any) -> None:
    """Enqueue ``job`` once per id the query finds, as keyword ``arg``; count them."""
    ids = _ids(query)
    report.pending[job] = len(ids)
    for value in ids:
        _enqueue(report, job, **{arg: value})


def _ids(query: Any) -> list[int]:
    return [row[0] for row in query.tuples()]


def _enqueue(report: ReconcileReport, job: str, **kwargs: Any) -> None:
    if job in jobs.registered():
        report.count(job, jobs.enqueue(job, **kwargs))


def pending_total(report: ReconcileReport, kinds: Iterable[str] | None = None) -> int:
    """How many pending items of these kinds (all by default) the pass found."""
    return sum(n for k, n in report.pending.items() if kinds is None or k in kinds)
