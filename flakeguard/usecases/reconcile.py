"""Re-enqueue the outbox's undone effects (jobs are only hints), and the fixed sweep.

Every side effect is an ``Effect`` row written with the change that causes it
(``flakeguard.usecases.outbox``), so a lost job (Redis down, a worker killed
between the commit and the enqueue or mid-task) only delays the work: one query
finds the effects still undone that were armed before the cutoff, and each
one's job is enqueued again. Tasks are idempotent (each checks its effect, and
the per-row version counters such as ``CheckRun.synced_version`` or
``SlackMessage.rendered_version``), so enqueuing one that is also still in the
queue is harmless. Work younger than ``grace`` is left alone (its first job is
probably still on its way); a pass re-enqueues at most ``limit`` effects, those
that failed least first, and an analysis that failed too often is set aside.

``sweep_fixed`` raises the "fixed" event of quarantined tests whose verdict is
already fixed but that never had one (the verdict turned fixed while the
quarantine was only proposed, so no later run changes the verdict again).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from flakeguard import jobs, logs
from flakeguard.jobs import GITHUB_JOBS, SLACK_JOBS, Job
from flakeguard.usecases import outbox
from models import DomainEvent, FlakeScore, Quarantine, db, utcnow

# Work younger than this is probably still in its first job; leave it alone.
GRACE = timedelta(minutes=2)
BATCH = 500
FIXED = "fixed"
# The jobs that carry out effects (the periodic jobs have none).
EFFECT_JOBS = frozenset(Job) - {Job.RECONCILE, Job.RETENTION, Job.WEEKLY_DIGEST}


@dataclass
class ReconcileReport:
    """What one reconcile pass found pending and re-enqueued, by job name."""

    pending: dict[str, int] = field(default_factory=dict)
    enqueued: dict[str, int] = field(default_factory=dict)
    fixed_events: int = 0
    set_aside: int = 0

    @property
    def runs_pending(self) -> int:
        return self.pending.get(Job.ANALYZE_RUN, 0)

    def count(self, job: Job, accepted: bool) -> None:
        if accepted:
            self.enqueued[job] = self.enqueued.get(job, 0) + 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "pending": self.pending,
            "enqueued": self.enqueued,
            "fixed_events": self.fixed_events,
            "set_aside": self.set_aside,
        }


def reconcile(
    *,
    grace: timedelta = GRACE,
    limit: int = BATCH,
    slack: bool = True,
    github: bool = True,
) -> ReconcileReport:
    """Re-enqueue the undone effects armed more than ``grace`` ago.

    ``slack`` / ``github`` False skips that side's effects (the integration is not
    configured: its jobs would only skip, and the work stays visible as pending).
    """
    kinds = [
        job
        for job in sorted(EFFECT_JOBS)
        if (slack or job not in SLACK_JOBS) and (github or job not in GITHUB_JOBS)
    ]
    report = ReconcileReport(pending={str(job): 0 for job in kinds})
    report.set_aside = outbox.set_aside_count(Job.ANALYZE_RUN)
    registered = jobs.registered()
    for found in outbox.pending(utcnow() - grace, kinds=kinds, limit=limit):
        job = found.wanted.job
        report.pending[job] += 1
        if job not in registered:
            continue
        # The correlation id of the change that wanted the effect follows it, however late.
        token = logs.set_correlation_id(found.correlation_id or logs.get_correlation_id())
        try:
            report.count(job, jobs.enqueue(job, **found.wanted.arguments))
        finally:
            logs.reset_correlation_id(token)
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
    effects: list[outbox.Wanted] = []
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
            effects += outbox.record([outbox.want(Job.NOTIFY_SLACK, event_id=event.id)])
        created.append(event.id)
    if notify:
        outbox.dispatch(effects)
    return created
