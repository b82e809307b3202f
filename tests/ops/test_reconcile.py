"""Reconcile re-drives every kind of pending effect; it runs under a lock; the fixed sweep."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from huey.exceptions import TaskLockedException

from flakeguard.jobs import Job
from flakeguard.usecases import outbox
from flakeguard.usecases import reconcile as reconcile_uc
from models import (
    CheckRun,
    DomainEvent,
    Effect,
    FlakeScore,
    IngestedArtifact,
    Quarantine,
    Repository,
    TestCase,
    TestRun,
    utcnow,
)
from models.tenancy import default_tenant

OLD = timedelta(hours=1)


def _effect(job: Job, armed, *, done=None, **arguments) -> None:  # type: ignore[no-untyped-def]
    """The outbox row the use case writes with the change (armed at ``armed``)."""
    [wanted] = outbox.record([outbox.want(job, **arguments)])
    Effect.update(armed_at=armed, done_at=done).where(Effect.key == wanted.key).execute()


def _world() -> dict[str, int]:
    """One pending effect of every kind (old), plus fresh and finished ones that must be left."""
    old = utcnow() - OLD
    repo = Repository.create(tenant=default_tenant(), full_name="acme/shop")
    cases = [TestCase.create(repository=repo, key=f"k{i}", name=f"t{i}") for i in range(4)]
    ids: dict[str, int] = {}

    def run(received, analyzed=None, digest="d"):  # type: ignore[no-untyped-def]
        return TestRun.create(
            repository=repo,
            sha="a" * 40,
            ci_run_id=digest,
            content_digest=digest * 64,
            received_at=received,
            analyzed_at=analyzed,
            correlation_id="upload-123" if digest == "p" else None,
        )

    ids["run"] = run(old, digest="p").id
    from flakeguard import logs

    token = logs.set_correlation_id("upload-123")  # the upload's request
    _effect(Job.ANALYZE_RUN, old, run_id=ids["run"])
    logs.reset_correlation_id(token)
    fresh = run(utcnow(), digest="f").id  # fresh: its first job is still on its way
    _effect(Job.ANALYZE_RUN, utcnow(), run_id=fresh)
    done = run(old, analyzed=old, digest="x").id  # done
    _effect(Job.ANALYZE_RUN, old, done=old, run_id=done)
    ids["event"] = DomainEvent.create(
        repository=repo, test_case=cases[0], kind="flaky", created_at=old
    ).id
    _effect(Job.NOTIFY_SLACK, old, event_id=ids["event"])
    handled = DomainEvent.create(
        repository=repo, test_case=cases[1], kind="flaky", slack_done_at=old
    ).id
    _effect(Job.NOTIFY_SLACK, old, done=old, event_id=handled)
    # (name, test, version, Slack synced, GitHub synced, error): one side behind each
    behind = (
        ("slack_behind", cases[0], 3, 2, 3, None),
        ("github_behind", cases[1], 2, 2, 1, "GitHub answered 502"),
    )
    for name, case, version, slack_synced, github_synced, error in behind:
        ids[name] = Quarantine.create(
            test_case=case, repository=repo, version=version, updated_at=old,
            slack_synced_version=slack_synced, github_synced_version=github_synced,
            github_error=error,
        ).id  # fmt: skip
        slack_done = old if slack_synced == version else None
        github_done = old if github_synced == version else None
        _effect(Job.REFRESH_SLACK_QUARANTINE, old, done=slack_done, quarantine_id=ids[name])
        _effect(Job.MIRROR_QUARANTINE, old, done=github_done, quarantine_id=ids[name])
    Quarantine.create(  # in sync
        test_case=cases[2], repository=repo, version=4, slack_synced_version=4,
        github_synced_version=4, updated_at=old,
    )  # fmt: skip
    CheckRun.create(repository=repo, head_sha="c" * 40, version=2, synced_version=1, updated_at=old)
    _effect(Job.UPDATE_CHECK_RUN, old, repository_id=repo.id, sha="c" * 40)
    CheckRun.create(repository=repo, head_sha="e" * 40, version=2, synced_version=2, updated_at=old)
    _effect(Job.UPDATE_CHECK_RUN, old, done=old, repository_id=repo.id, sha="e" * 40)
    for run_id, attempt, status in ((77, 2, "pending"), (78, 1, "done")):
        IngestedArtifact.create(
            repository=repo, workflow_run_id=run_id, run_attempt=attempt, artifact_id=run_id,
            name="junit", status=status, created_at=old,
        )  # fmt: skip
        _effect(
            Job.INGEST_WORKFLOW_RUN, old, done=old if status == "done" else None,
            repository_id=repo.id, workflow_run_id=run_id, run_attempt=attempt,
        )  # fmt: skip
    ids["repo"] = repo.id
    return ids


def test_reconcile_re_drives_each_kind_of_pending_work(database, recorded_jobs) -> None:  # type: ignore[no-untyped-def]
    """Each pending row gets exactly its job once; fresh and finished rows get none."""
    ids = _world()
    report = reconcile_uc.reconcile()
    assert recorded_jobs == {
        "analyze_run": [{"run_id": ids["run"]}],
        "notify_slack": [{"event_id": ids["event"]}],
        "refresh_slack_quarantine": [{"quarantine_id": ids["slack_behind"]}],
        "mirror_quarantine": [{"quarantine_id": ids["github_behind"]}],
        "update_check_run": [{"repository_id": ids["repo"], "sha": "c" * 40}],
        "ingest_workflow_run": [
            {"repository_id": ids["repo"], "workflow_run_id": 77, "run_attempt": 2}
        ],
    }
    assert report.runs_pending == 1
    assert all(n == 1 for n in report.enqueued.values())


def test_reconcile_skips_the_side_that_is_not_configured(database, recorded_jobs) -> None:  # type: ignore[no-untyped-def]
    """Without Slack or GitHub their pending work stays pending, unenqueued."""
    _world()
    reconcile_uc.reconcile(slack=False, github=False)
    assert set(recorded_jobs) == {"analyze_run"}


def test_reconcile_carries_the_upload_correlation_id(database, redis_huey) -> None:  # type: ignore[no-untyped-def]
    """A re-driven analysis runs under the correlation id its upload had."""
    from flakeguard import logs

    _world()
    reconcile_uc.reconcile(slack=False, github=False)
    task = redis_huey.dequeue()
    assert task.name == "analyze_run"
    assert logs.correlation_from_task_id(task.id) == "upload-123"


def test_reconcile_job_runs_under_a_lock(database, redis_huey) -> None:  # type: ignore[no-untyped-def]
    """While one reconcile holds the lock a second one is refused; a stale lock is taken over."""
    from tasks import maintenance

    key = f"{redis_huey.name}.lock.flakeguard-reconcile"
    redis_huey.put(key, time.time())
    with pytest.raises(TaskLockedException):
        maintenance.reconcile.call_local()
    redis_huey.put(key, time.time() - maintenance.LOCK_TTL - 1)  # its holder was killed
    result = maintenance.reconcile.call_local()
    assert result["pending"]["analyze_run"] == 0
    assert redis_huey.get(key, peek=True) is None  # released


def _quarantined_fixed_test() -> tuple[Repository, TestCase, Quarantine]:
    repo = Repository.create(tenant=default_tenant(), full_name="acme/shop")
    case = TestCase.create(repository=repo, key="k", name="test_x")
    FlakeScore.create(test_case=case, repository=repo, state="fixed", reason="20 clean runs")
    quarantine = Quarantine.create(
        test_case=case, repository=repo, state="quarantined", quarantined_at=utcnow() - OLD
    )
    return repo, case, quarantine


def test_sweep_raises_a_missing_fixed_event_once(database, recorded_jobs) -> None:  # type: ignore[no-untyped-def]
    """A quarantined test whose verdict is fixed gets one 'fixed' event and one alert."""
    _, case, _ = _quarantined_fixed_test()
    created = reconcile_uc.sweep_fixed()
    assert len(created) == 1
    event = DomainEvent.get_by_id(created[0])
    assert (event.kind, event.test_case_id) == ("fixed", case.id)
    assert recorded_jobs["notify_slack"] == [{"event_id": created[0]}]
    assert reconcile_uc.sweep_fixed() == []  # once


def test_sweep_leaves_tests_with_their_fixed_event(database, recorded_jobs) -> None:  # type: ignore[no-untyped-def]
    """A fixed event raised by the analysis since the quarantine means nothing to do."""
    repo, case, _ = _quarantined_fixed_test()
    DomainEvent.create(repository=repo, test_case=case, kind="fixed")
    assert reconcile_uc.sweep_fixed() == []
    FlakeScore.update(state="flaky").execute()
    DomainEvent.delete().execute()
    assert reconcile_uc.sweep_fixed() == []  # not fixed: nothing either
