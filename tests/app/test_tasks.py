"""The queue: Huey on Redis runs a real task through enqueue, dequeue and execute."""

from __future__ import annotations

from datetime import timedelta

from flakeguard import jobs
from flakeguard.jobs import Job
from flakeguard.usecases import outbox
from models import Effect, Repository, TestRun, default_tenant, utcnow


def _pending_run() -> TestRun:
    """A run stored an hour ago whose analysis job was lost (its effect is still undone)."""
    repo = Repository.create(tenant=default_tenant(), full_name="acme/widgets")
    an_hour_ago = utcnow() - timedelta(hours=1)
    run = TestRun.create(
        repository=repo, sha="a" * 40, content_digest="d" * 64, received_at=an_hour_ago
    )
    outbox.record([outbox.want(Job.ANALYZE_RUN, run_id=run.id)])
    Effect.update(armed_at=an_hour_ago).execute()
    return run


def test_every_job_is_registered_once_tasks_is_imported() -> None:
    """Importing tasks registers a Huey task for every Job, under the job's own name."""
    import tasks  # noqa: F401

    assert jobs.registered() == frozenset(Job)
    from tasks import analysis, github, maintenance, owners, slack

    names = {
        task.name
        for module in (analysis, github, maintenance, owners, slack)
        for task in vars(module).values()
        if hasattr(task, "task_class")
    }
    assert names == {str(job) for job in Job}


def test_reconcile_through_redis(database, redis_huey) -> None:  # type: ignore[no-untyped-def]
    """reconcile goes through Redis, finds the pending run and enqueues its analysis there."""
    run = _pending_run()
    assert jobs.enqueue(Job.RECONCILE) is True
    assert redis_huey.pending_count() == 1
    task = redis_huey.dequeue()
    assert task.name.endswith("reconcile")
    result = redis_huey.execute(task)
    assert result["runs_pending"] == 1
    follow_up = redis_huey.dequeue()
    assert follow_up.name.endswith("analyze_run") and follow_up.kwargs == {"run_id": run.id}
    assert redis_huey.pending_count() == 0


def test_enqueue_survives_a_dead_queue(database, db_url) -> None:  # type: ignore[no-untyped-def]
    """With Redis unreachable, enqueue says False instead of failing the caller."""
    import tasks
    from flakeguard.settings import Settings

    tasks.configure(Settings(database_url=db_url, redis_url="redis://127.0.0.1:1/0"))
    try:
        assert jobs.enqueue(Job.RECONCILE) is False
    finally:
        tasks.configure(Settings(queue_mode="immediate"))


def test_unknown_job_is_left_for_reconcile(database) -> None:  # type: ignore[no-untyped-def]
    """Enqueueing a job nobody registered returns False (the work stays pending in the DB)."""
    assert jobs.enqueue("no_such_job", x=1) is False
