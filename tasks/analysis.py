"""Analysis tasks: score the tests of an ingested run."""

from __future__ import annotations

from typing import Any

from flakeguard import jobs
from flakeguard.jobs import Job
from flakeguard.usecases.analysis import analyze_run as analyze_run_uc
from tasks.outbox import for_effect
from tasks.queue import huey, with_db


def _already_analyzed(run_id: int) -> dict[str, Any]:
    return {"run_id": run_id, "analyzed": False, "events": []}


@huey.task(retries=3, retry_delay=10, name=Job.ANALYZE_RUN.value)
@with_db
@for_effect(Job.ANALYZE_RUN, when_done=_already_analyzed)
def analyze_run(run_id: int) -> dict[str, Any]:
    """Analyze one run (idempotent: an analyzed run is left alone)."""
    result = analyze_run_uc(run_id)
    return {"run_id": run_id, "analyzed": result.analyzed, "events": result.events}


jobs.register(Job.ANALYZE_RUN, analyze_run)
