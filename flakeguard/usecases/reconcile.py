"""Find pending work in the database and enqueue it again (jobs are only hints)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from flakeguard import jobs
from models import TestRun, utcnow

# A run younger than this is probably still in its first job; leave it alone.
GRACE = timedelta(minutes=2)
BATCH = 500


@dataclass
class ReconcileReport:
    """What one reconcile pass found and re-enqueued."""

    runs_pending: int = 0
    enqueued: dict[str, int] = field(default_factory=dict)

    def count(self, job: str, accepted: bool) -> None:
        if accepted:
            self.enqueued[job] = self.enqueued.get(job, 0) + 1


def reconcile(*, grace: timedelta = GRACE) -> ReconcileReport:
    """Re-enqueue analysis of runs still not analyzed after ``grace``."""
    report = ReconcileReport()
    cutoff = utcnow() - grace
    pending = list(
        TestRun.select(TestRun.id)
        .where(TestRun.analyzed_at.is_null(), TestRun.received_at <= cutoff)
        .order_by(TestRun.id)
        .limit(BATCH)
        .tuples()
    )
    report.runs_pending = len(pending)
    for (run_id,) in pending:
        if "analyze_run" in jobs.registered():
            report.count("analyze_run", jobs.enqueue("analyze_run", run_id=run_id))
    return report
