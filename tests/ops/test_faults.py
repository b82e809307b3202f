"""Nothing lost under faults, against real services: Redis stopped, a worker killed with
SIGKILL in the middle of a task, PostgreSQL connections terminated, GitHub answering 500.

Each Redis test starts its own ``redis-server`` on a free port (no persistence),
so stopping it touches nothing else. Waits poll a condition with a generous
deadline; nothing is timed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from flakeguard.app import create_app
from flakeguard.settings import Settings
from flakeguard.usecases import reconcile as reconcile_uc
from flakeguard.usecases.analysis import ANALYSIS_LOCK
from models import FlakeScore, Quarantine, TestCase, TestRun
from tests.bot import factories as f
from tests.ops.conftest import DEADLINE, drain, upload, wait_for
from tests.ops.live import RedisServer

POSTGRES_ONLY = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
NOW = timedelta(0)


@pytest.fixture
def queue_app(settings: Settings, database: object, redis_server: RedisServer) -> Iterator[Any]:
    """The app with its queue (and rate limits) on the dedicated Redis."""
    import tasks

    app = create_app(replace(settings, redis_url=redis_server.url, queue_mode="auto"))
    app.testing = True
    yield app
    tasks.configure(Settings(queue_mode="immediate"))


def nothing_pending() -> dict[str, int]:
    """Pending work of every kind the test deployment handles (GitHub is off)."""
    report = reconcile_uc.reconcile(grace=NOW, github=False, limit=10_000)
    return {kind: n for kind, n in report.pending.items() if n}


@POSTGRES_ONLY
def test_uploads_and_actions_survive_redis_down_then_everything_is_processed(  # type: ignore[no-untyped-def]
    queue_app, acme, redis_server
) -> None:
    """With Redis stopped uploads still answer 201 and a quarantine approval works (the
    database comes first); once Redis is back, reconcile and a worker process it all, once."""
    import tasks

    client = queue_app.test_client()
    case = TestCase.create(repository=acme.repo, key="t.mod::test_q", name="test_q")
    f.propose(case.id)
    redis_server.stop()

    statuses = [upload(client, acme, run_id=str(i)).status_code for i in range(4)]
    assert statuses == [201] * 4
    q = f.act(case.id, "approve", actor="U0ALICE", source="slack")
    assert q.state == "quarantined"
    assert TestRun.select().where(TestRun.analyzed_at.is_null()).count() == 4

    redis_server.start()  # empty: every job enqueued before the outage is gone too
    queue = tasks.huey
    assert queue.pending_count() == 0
    report = reconcile_uc.reconcile(grace=NOW, github=False)
    assert report.enqueued["analyze_run"] == 4
    assert report.enqueued["refresh_slack_quarantine"] == 1
    drain(queue)

    assert TestRun.select().where(TestRun.analyzed_at.is_null()).count() == 0
    runs_seen = sorted(r.runs_seen for r in FlakeScore.select())
    assert runs_seen == [4, 4]  # each run folded in exactly once
    q = Quarantine.get_by_id(q.id)
    assert q.slack_synced_version == q.version
    assert nothing_pending() == {}


@POSTGRES_ONLY
def test_worker_killed_mid_task_then_work_is_done_exactly_once(  # type: ignore[no-untyped-def]
    queue_app, acme, redis_server, db_url, tmp_path
) -> None:
    """A real worker killed with SIGKILL inside analyze_run loses the job; after a restart
    and reconcile (plus a duplicate job) the run is analyzed exactly once."""
    import tasks
    from tasks.analysis import analyze_run

    client = queue_app.test_client()
    response = upload(client, acme, run_id="42", **{"X-Request-Id": "kill-test"})
    assert response.status_code == 201
    run_id = response.get_json()["run_id"]
    queue = tasks.huey
    assert queue.pending_count() == 1

    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_server.url,
        "FLAKEGUARD_LOG_FORMAT": "json",
    }
    consumer = [str(Path(sys.executable).with_name("huey_consumer")), "tasks.worker.huey"]
    command = [*consumer, "-w", "1", "-n"]
    log_path = tmp_path / "worker.log"

    def start_worker() -> subprocess.Popen[bytes]:
        with log_path.open("ab") as out:
            return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)

    lock_key = ANALYSIS_LOCK + acme.repo.id
    with psycopg.connect(db_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (lock_key,))
        worker = start_worker()
        try:
            wait_for(
                lambda: _advisory_locks(holder, lock_key, granted=False),
                "the worker to block inside analyze_run",
            )
            os.kill(worker.pid, signal.SIGKILL)  # mid-task: the job is out of Redis, not done
            worker.wait(timeout=DEADLINE)
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        holder.execute("SELECT pg_advisory_unlock(%s)", (lock_key,))

    with psycopg.connect(db_url, autocommit=True) as conn:
        wait_for(lambda: _advisory_locks(conn, lock_key) == 0, "the killed worker's session to end")
    assert TestRun.get_by_id(run_id).analyzed_at is None
    assert queue.pending_count() == 0  # the job died with the worker

    worker = start_worker()
    try:
        report = reconcile_uc.reconcile(grace=NOW, slack=False, github=False)
        assert report.enqueued == {"analyze_run": 1}
        duplicate = analyze_run(run_id)  # a stray second job for the same run
        first = wait_for(lambda: TestRun.get_by_id(run_id).analyzed_at, "the analysis")
        outcome = duplicate.get(blocking=True, timeout=DEADLINE)
    finally:
        worker.terminate()
        worker.wait(timeout=DEADLINE)
    assert first is not None
    assert outcome["analyzed"] is False  # already done by the re-driven job: a no-op
    assert sorted(r.runs_seen for r in FlakeScore.select()) == [1, 1]
    log = log_path.read_text()
    assert "kill-test" in log  # the re-driven analysis ran under the upload's correlation id


def _advisory_locks(conn: psycopg.Connection, key: int, *, granted: bool | None = None) -> int:
    """Advisory locks on ``key`` in this database (held or, granted=False, waited for)."""
    row = conn.execute(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        " AND classid::bigint = %s AND objid::bigint = %s AND pid <> pg_backend_pid()"
        " AND (%s::boolean IS NULL OR granted = %s::boolean)",
        (key >> 32, key & 0xFFFFFFFF, granted, granted),
    ).fetchone()
    return int(row[0]) if row else 0


@POSTGRES_ONLY
def test_terminated_postgres_connections_do_not_fail_the_next_request(  # type: ignore[no-untyped-def]
    client, acme, db_url
) -> None:
    """After pg_terminate_backend kills every pooled connection, the next requests succeed."""
    quarantine_url = "/api/v1/repos/acme/shop/quarantine"
    for _ in range(3):
        assert client.get(quarantine_url, headers=acme.headers).status_code == 200
    with psycopg.connect(db_url, autocommit=True) as admin:
        killed = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()[0]
    assert killed >= 1
    assert client.get(quarantine_url, headers=acme.headers).status_code == 200
    assert upload(client, acme, run_id="after-kill").status_code == 201
    assert client.get("/health/ready").status_code == 200


def test_github_answering_500_for_a_while_then_mirrored_once(  # type: ignore[no-untyped-def]
    github_app, fake_github, breaker_clock
) -> None:
    """Quarantine actions during a GitHub 500 storm stay pending; after it, reconcile mirrors
    each quarantine exactly once (one issue), and a further pass does nothing."""
    from tests.fakes.github import REPO
    from tests.github.helpers import installed_repo

    repo = installed_repo()
    case = TestCase.create(repository=repo, key="t.mod::test_storm", name="test_storm")
    fake_github.storm = True
    f.propose(case.id)
    q = f.act(case.id, "approve", actor="U0ALICE", source="slack")
    q = Quarantine.get_by_id(q.id)
    assert q.github_synced_version < q.version  # the storm left the mirror behind
    assert fake_github.issues.get(REPO, {}) == {}

    fake_github.storm = False
    breaker_clock.advance(120)  # the circuit breaker's cooldown is over
    report = reconcile_uc.reconcile(grace=NOW, slack=False)
    assert report.enqueued.get("mirror_quarantine") == 1
    q = Quarantine.get_by_id(q.id)
    assert q.github_synced_version == q.version and q.github_error is None
    assert len(fake_github.issues[REPO]) == 1

    calls = len(fake_github.calls)
    again = reconcile_uc.reconcile(grace=NOW, slack=False)
    assert again.pending.get("mirror_quarantine") == 0
    assert len(fake_github.issues[REPO]) == 1  # no duplicate issue
    assert len(fake_github.calls) == calls


def test_slack_answering_500_for_a_while_then_message_updated_once(  # type: ignore[no-untyped-def]
    slack_app, slack, fake_slack
) -> None:
    """An Approve click during a Slack 500 storm is recorded; the alert update stays pending
    and, once Slack recovers, reconcile updates the same message in place (no second post)."""
    from flakeguard import jobs
    from flakeguard.jobs import Job
    from models import SlackMessage
    from tests.bot import factories as f
    from tests.fakes.slack import _Planned

    repo = f.repo("acme/widgets")
    f.subscription(repo)
    test = f.test_case(repo, "test_upload_retries")
    f.score(test, value=0.2)
    q = f.propose(test.id)
    jobs.enqueue(Job.NOTIFY_SLACK, event_id=f.event(test, "flaky").id)
    assert len(fake_slack.called("chat.postMessage")) == 1

    storm = _Planned(500, {"ok": False, "error": "internal_error"})
    fake_slack._plan("chat.update", storm, 50)
    version = Quarantine.get_by_id(q.id).version
    alert = SlackMessage.get(SlackMessage.quarantine == q.id)
    click = slack.click("fg_approve", f"{q.id}:{version}", message_ts=alert.ts)
    assert click.status_code == 200
    q = Quarantine.get_by_id(q.id)
    assert q.state == "quarantined"
    assert q.slack_synced_version < q.version  # the storm left the message behind

    fake_slack.reset()  # Slack is back
    report = reconcile_uc.reconcile(grace=NOW, github=False)
    assert report.enqueued.get("refresh_slack_quarantine") == 1
    q = Quarantine.get_by_id(q.id)
    assert q.slack_synced_version == q.version
    message = SlackMessage.get()
    [update] = fake_slack.called("chat.update")
    assert (update.params["channel"], update.params["ts"]) == (message.channel, message.ts)
    assert message.rendered_version == q.version
    assert fake_slack.called("chat.postMessage") == []  # updated in place, never re-posted
    assert (
        reconcile_uc.reconcile(grace=NOW, github=False).pending.get("refresh_slack_quarantine") == 0
    )
