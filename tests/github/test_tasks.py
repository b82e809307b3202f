"""The GitHub tasks: registered by name, Huey retries above the client, pending work re-driven."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flakeguard import jobs
from flakeguard.jobs import Job
from flakeguard.usecases import outbox
from flakeguard.usecases.reconcile import reconcile
from models import CheckRun, Effect, IngestedArtifact, Quarantine, QuarantineEvent, TestRun, utcnow
from tasks import github as github_tasks
from tasks.github import RETRY_DELAY
from tests.fakes.github import REPO, make_zip
from tests.github.helpers import SHA, add_result, installed_repo, junit


def approved(repo):  # type: ignore[no-untyped-def]
    case = add_result(repo, "test_fail_0", "failed")
    q = Quarantine.create(test_case=case, repository=repo, state="quarantined", version=1)
    QuarantineEvent.create(quarantine=q, action="approve", actor="U1", source="slack")
    outbox.record([outbox.want(Job.MIRROR_QUARANTINE, quarantine_id=q.id)])  # as perform does
    return q


GITHUB_JOBS = ("mirror_quarantine", "update_check_run", "ingest_workflow_run")


def test_the_three_jobs_are_registered():
    """mirror_quarantine, update_check_run and ingest_workflow_run are enqueueable by name."""
    assert {"mirror_quarantine", "update_check_run", "ingest_workflow_run"} <= jobs.registered()


def test_mirror_job_runs_through_the_queue(github_app, fake_github):
    """jobs.enqueue('mirror_quarantine') mirrors the quarantine with the app's client."""
    q = approved(installed_repo())
    assert jobs.enqueue(Job.MIRROR_QUARANTINE, quarantine_id=q.id)
    assert Quarantine.get_by_id(q.id).github_issue_number == 1
    assert len(fake_github.open_issues()) == 1


def test_tasks_skip_when_github_is_off(app):
    """Without a GitHub App configured the tasks do nothing and say why."""
    q = approved(installed_repo())
    result = github_tasks.mirror_quarantine.call_local(q.id)
    assert result == {"skipped": "GitHub is not configured"}
    assert Quarantine.get_by_id(q.id).github_synced_version == 0


def test_huey_retries_a_task_github_failed_and_the_retry_succeeds_once(
    database, redis_huey, fake_github, github_client, breaker_clock
):
    """A 500 storm fails the task; Huey schedules a retry; the retry makes exactly one issue."""
    github_tasks.use_client(github_client)
    try:
        q = approved(installed_repo())
        fake_github.storm = True
        assert jobs.enqueue(Job.MIRROR_QUARANTINE, quarantine_id=q.id)
        redis_huey.execute(redis_huey.dequeue())
        later = datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=RETRY_DELAY + 1)
        [retry] = redis_huey.read_schedule(later)  # what the consumer runs after the delay
        assert retry.retries == github_tasks.RETRIES - 1
        assert retry.retry_delay == 2 * RETRY_DELAY  # the next wait doubles
        assert Quarantine.get_by_id(q.id).github_synced_version == 0  # still pending
        fake_github.storm = False
        breaker_clock.advance(61)
        redis_huey.execute(retry, later)
        assert redis_huey.scheduled_count() == 0
        assert Quarantine.get_by_id(q.id).github_synced_version == 1
        assert len(fake_github.issues[REPO]) == 1
    finally:
        github_tasks.use_client(None)


def test_pending_github_work_is_found_and_redriven(github_app, fake_github):
    """The reconcile job finds a quarantine, a check run and a workflow run behind; all synced."""
    repo = installed_repo()
    q = approved(repo)
    TestRun.update(analyzed_at=utcnow()).execute()  # only GitHub work is behind
    Effect.update(done_at=utcnow()).where(Effect.kind == Job.ANALYZE_RUN).execute()
    CheckRun.create(repository=repo, head_sha=SHA, version=1)
    fake_github.add_workflow_run(77, head_sha=SHA)
    fake_github.add_artifact(77, "junit", make_zip({"r.xml": junit()}))
    IngestedArtifact.create(
        repository=repo, workflow_run_id=77, run_attempt=1, artifact_id=0, name="(workflow run)"
    )
    # the effects the analysis and the webhook wrote with those rows, their jobs lost
    outbox.record(
        [
            outbox.want(Job.UPDATE_CHECK_RUN, repository_id=repo.id, sha=SHA),
            outbox.want(
                Job.INGEST_WORKFLOW_RUN, repository_id=repo.id, workflow_run_id=77, run_attempt=1
            ),
        ]
    )
    report = reconcile(grace=timedelta(0))
    assert {k: report.pending[k] for k in GITHUB_JOBS} == dict.fromkeys(GITHUB_JOBS, 1)
    assert Quarantine.get_by_id(q.id).github_synced_version == 1
    row = CheckRun.get(CheckRun.head_sha == SHA)
    assert row.synced_version == row.version and row.github_id is not None
    assert TestRun.select().where(TestRun.ci_run_id == "77").count() == 1
    again = reconcile(grace=timedelta(0))
    assert [again.pending[k] for k in GITHUB_JOBS] == [0, 0, 0]  # nothing left behind


def test_a_storm_during_download_leaves_the_artifact_pending_then_ingests_once(
    github_app, fake_github, github_client, breaker_clock
):
    """GitHub failing mid-ingestion keeps the run pending; reconcile passes store it once."""
    repo = installed_repo()
    fake_github.add_workflow_run(78, head_sha=SHA)
    fake_github.add_artifact(78, "junit", make_zip({"r.xml": junit()}))
    fake_github.storm = True
    webhook = outbox.want(  # what the workflow_run webhook records and enqueues
        Job.INGEST_WORKFLOW_RUN, repository_id=repo.id, workflow_run_id=78, run_attempt=1
    )
    assert outbox.record_and_dispatch([webhook])
    assert {a.status for a in IngestedArtifact.select()} == {"pending"}
    fake_github.storm = False
    breaker_clock.advance(61)
    reconcile(grace=timedelta(0))
    reconcile(grace=timedelta(0))
    assert TestRun.select().where(TestRun.ci_run_id == "78").count() == 1
    assert {a.status for a in IngestedArtifact.select()} == {"done"}
