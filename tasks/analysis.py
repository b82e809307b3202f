"""Analysis tasks: score the tests of an ingested run."""

from __future__ import annotations

from typing import Any

from flakeguard import jobs
from flakeguard.usecases.analysis import analyze_run as analyze_run_uc
from tasks.queue import huey, with_db


@huey.task(retries=3, retry_delay=10, name="analyze_run")
@with_db
def analyze_run(run_id: int) -> dict[str, Any]:
    """Analyze one run (idempotent: an analyzed run is left alone)."""
    result = analyze_run_uc(run_id)
    return {"run_id": run_id, "analyzed": result.analyzed, "events": result.events}


jobs.register("analyze_run", analyze_run)
