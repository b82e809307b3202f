"""The outbox: a job lost between the commit and the enqueue is re-driven, and done once.

Each test makes the enqueue fail after the commit (the queue's own redis-server,
stopped: a real connection refused) at one of the places that cause side
effects, restarts it empty (the jobs are gone), runs the reconcile job and the
queue, and counts what the fake Slack and the fake GitHub received: exactly one
alert, one message update, one check run, one issue, one digest, one App Home.
A second reconcile pass finds nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from slack_sdk import WebClient

from engine.scoring import Result
from flakeguard import jobs
from flakeguard.app import create_app
from flakeguard.jobs import Job
from flakeguard.settings import Settings
from flakeguard.usecases import digest, outbox, repo_files
from flakeguard.usecases import reconcile as reconcile_uc
from flakeguard.usecases.analysis import analyze_run
from models import (
    Effect,
    OwnerRoute,
    Quarantine,
    Repository,
    SlackMessage,
    TestRun,
    default_tenant,
)
from tests.app.analysis_helpers import T0, make_run, store_run
from tests.bot import factories as f
from tests.fakes.github import REPO
from tests.fakes.slack import BOT_TOKEN, SIGNING_SECRET, SlackRequests
from tests.github.helpers import installed_repo
from tests.ops.conftest import RedisServer, drain, upload

NOW = timedelta(0)


@pytest.fixture
def world(
    github_settings: Settings,
    github_client: Any,
    fake_slack: Any,
    fake_github: Any,
    database: object,
    redis_server: RedisServer,
) -> Iterator[dict[str, Any]]:
    """The app with Slack and GitHub on (the fakes) and its queue on a Redis of its own."""
    import tasks
    from tasks import github as github_tasks

    settings = replace(
        github_settings,
        slack_signing_secret=SIGNING_SECRET,
        slack_bot_token=BOT_TOKEN,
        slack_api_url=fake_slack.api_url,
        redis_url=redis_server.url,
        queue_mode="auto",
    )
    app = create_app(
        settings,
        slack=WebClient(token=BOT_TOKEN, base_url=fake_slack.api_url),
        github=github_client,
    )
    app.testing = True
    yield {"app": app, "slack": SlackRequests(app.test_client(), fake_slack), "queue": tasks.huey}
    github_tasks.use_client(None)
    tasks.configure(Settings(queue_mode="immediate"))


def _flaky_run(repo: Repository) -> TestRun:
    """Ten green runs analyzed, then a run where t::a fails and passes on retry (not analyzed)."""
    for n in range(10):
        analyze_run(store_run(repo, make_run(n, [Result("t::a", "passed")])).id, now=T0)
    results = [Result("t::a", "failed"), Result("t::a", "passed", retry=1)]
    return store_run(repo, make_run(10, results))


def _recover(world: dict[str, Any], redis_server: RedisServer) -> None:
    """Redis is back, empty: the reconcile job re-enqueues the effects, the queue runs them."""
    redis_server.start()
    assert world["queue"].pending_count() == 0  # every job enqueued before is gone
    reconcile_uc.reconcile(grace=NOW)
    drain(world["queue"])


def _nothing_left(world: dict[str, Any]) -> None:
    report = reconcile_uc.reconcile(grace=NOW)
    assert sum(report.pending.values()) == 0, report.pending
    assert drain(world["queue"]) == 0


def _check_runs(fake_github: Any, sha: str) -> list[dict[str, Any]]:
    return [run for run in fake_github.check_runs.values() if run["head_sha"] == sha]


def test_analysis_lost_after_commit_still_alerts_and_checks_once(
    world, redis_server, fake_slack, fake_github
) -> None:  # type: ignore[no-untyped-def]
    """The analysis commits its proposal, alert and check-run effects together: with every
    enqueue failing after the commit, reconcile later posts the alert once and creates the
    commit's check run once (the lost alert of issue 16)."""
    repo = installed_repo()
    f.subscription(repo)
    run = _flaky_run(repo)
    drain(world["queue"])
    fake_slack.reset()
    redis_server.stop()

    result = analyze_run(run.id, now=T0 + timedelta(hours=11))  # the enqueues fail: logged
    assert [event["kind"] for event in result.events] == ["flaky"]
    assert Quarantine.get().state == "proposed"  # in the analysis transaction
    assert fake_slack.called("chat.postMessage") == []

    _recover(world, redis_server)
    [post] = fake_slack.called("chat.postMessage")
    assert "t::a" in str(post.params)
    assert len(_check_runs(fake_github, run.sha)) == 1
    _nothing_left(world)
    assert len(fake_slack.called("chat.postMessage")) == 1
    assert len(_check_runs(fake_github, run.sha)) == 1


def test_quarantine_click_lost_after_commit_updates_and_mirrors_once(
    world, redis_server, fake_slack, fake_github
) -> None:  # type: ignore[no-untyped-def]
    """An Approve click commits the quarantine with its Slack and GitHub effects; with the
    enqueue failing, reconcile later updates the alert in place once and opens one issue."""
    repo = installed_repo()
    f.subscription(repo)
    analyze_run(_flaky_run(repo).id, now=T0 + timedelta(hours=11))
    drain(world["queue"])
    assert len(fake_slack.called("chat.postMessage")) == 1
    q = Quarantine.get()
    fake_slack.reset()
    issues_before = len(fake_github.issues.get(REPO, {}))
    redis_server.stop()

    [alert] = SlackMessage.select().where(SlackMessage.quarantine == q.id)
    click = world["slack"].click("fg_approve", f"{q.id}:{q.version}", message_ts=alert.ts)
    assert click.status_code == 200
    assert Quarantine.get_by_id(q.id).state == "quarantined"
    assert fake_slack.called("chat.update") == []

    _recover(world, redis_server)
    assert len(fake_slack.called("chat.update")) == 1
    assert fake_slack.called("chat.postMessage") == []  # updated in place
    assert len(fake_github.issues.get(REPO, {})) == issues_before + 1
    _nothing_left(world)
    assert len(fake_slack.called("chat.update")) == 1
    assert len(fake_github.issues.get(REPO, {})) == issues_before + 1


def test_webhook_lost_after_commit_creates_the_check_run_once(
    world, redis_server, fake_github
) -> None:  # type: ignore[no-untyped-def]
    """A check_suite rerequested delivery is recorded with its effect; with the enqueue
    failing, GitHub still gets its 200 and reconcile later creates one check run."""
    from tests.fakes.github import INSTALLATION_ID, WebhookSender

    sha = "d" * 40
    repo = installed_repo()
    redis_server.stop()
    payload = {
        "action": "rerequested",
        "check_suite": {"head_sha": sha},
        "installation": {"id": INSTALLATION_ID, "account": {"login": "acme"}},
        "repository": {"id": 55, "full_name": repo.full_name, "default_branch": "main"},
    }
    response = WebhookSender(world["app"].test_client()).send("check_suite", payload)
    assert response.status_code == 200
    assert _check_runs(fake_github, sha) == []

    _recover(world, redis_server)
    assert len(_check_runs(fake_github, sha)) == 1
    _nothing_left(world)
    assert len(_check_runs(fake_github, sha)) == 1


def test_upload_lost_after_commit_is_analyzed_once(world, redis_server) -> None:  # type: ignore[no-untyped-def]
    """An upload answers 201 though its analysis cannot be enqueued; reconcile analyzes it."""
    from tests.conftest import RepoToken

    repo, token = _repo_with_token()
    redis_server.stop()
    response = upload(world["app"].test_client(), RepoToken(repo, token))
    assert response.status_code == 201
    run_id = response.get_json()["run_id"]
    assert TestRun.get_by_id(run_id).analyzed_at is None

    _recover(world, redis_server)
    assert TestRun.get_by_id(run_id).analyzed_at is not None
    _nothing_left(world)


def _repo_with_token() -> tuple[Repository, str]:
    from flakeguard.usecases.repos import add_repository

    return add_repository("acme/shop")


def _digest_lost_then_reconciled(world: dict[str, Any], fake_slack: Any) -> Any:
    """Plan the week's one digest, the worker dying before it sends it; reconcile: the post."""
    drain(world["queue"])
    fake_slack.reset()
    assert len(digest.plan_digests(default_tenant().id)) == 1  # committed; the worker dies here
    reconcile_uc.reconcile(grace=NOW)
    drain(world["queue"])
    [post] = fake_slack.called("chat.postMessage")
    _nothing_left(world)
    assert len(fake_slack.called("chat.postMessage")) == 1
    return post


def test_digest_planned_then_worker_died_is_posted_once(world, fake_slack) -> None:  # type: ignore[no-untyped-def]
    """The weekly digest plans its messages with their effects; a worker that dies before
    sending them leaves them pending, and reconcile posts each digest once."""
    repo = f.repo("acme/widgets")
    f.subscription(repo)
    f.proposal(repo)
    post = _digest_lost_then_reconciled(world, fake_slack)
    assert "test" in str(post.params)
    assert Effect.get(Effect.kind == Job.REFRESH_SLACK_MESSAGE).done_at is not None


def test_team_digest_planned_then_worker_died_is_posted_once(world, fake_slack) -> None:  # type: ignore[no-untyped-def]
    """A routed team's digest is planned with its effect; a worker that dies before sending
    it leaves it pending, reconcile posts it once in the team's channel, and planning the
    same week again adds nothing."""
    repo = f.repo("acme/widgets")
    repo_files.store_files(repo.id, {"CODEOWNERS": "* @acme/payments\n"}, source="github")
    f.workspace()
    OwnerRoute.create(
        tenant=repo.tenant_id, owner="@acme/payments", team_id="T0TEST", channel_id="C0PAY"
    )
    f.proposal(repo)
    post = _digest_lost_then_reconciled(world, fake_slack)
    assert post.params["channel"] == "C0PAY" and "test_upload_retries" in str(post.params)
    assert digest.plan_digests(repo.tenant_id) == []
    assert drain(world["queue"]) == 0


def test_app_home_lost_after_commit_is_published_once(world, redis_server, fake_slack) -> None:  # type: ignore[no-untyped-def]
    """app_home_opened records its App Home effect; with the enqueue failing Slack still gets
    its 200, and reconcile publishes the Home once."""
    redis_server.stop()
    event = {"type": "app_home_opened", "user": "U0ALICE", "tab": "home", "channel": "D1"}
    assert world["slack"].event(event).status_code == 200
    assert fake_slack.called("views.publish") == []

    _recover(world, redis_server)
    assert len(fake_slack.called("views.publish")) == 1
    _nothing_left(world)
    assert len(fake_slack.called("views.publish")) == 1


def test_an_enqueue_that_raises_never_fails_the_request(client, acme) -> None:  # type: ignore[no-untyped-def]
    """A queue seam raising anything after the commit is logged; the upload answers 201 and
    its analysis stays pending in the outbox."""

    def broken(**kwargs: Any) -> None:
        raise RuntimeError("the queue exploded")

    with jobs.replaced({Job.ANALYZE_RUN: broken}):
        response = upload(client, acme)
    assert response.status_code == 201
    effect = Effect.get(Effect.kind == Job.ANALYZE_RUN)
    assert effect.done_at is None
    assert effect.payload == {"run_id": response.get_json()["run_id"]}


def test_a_task_whose_effect_is_done_does_nothing(database) -> None:  # type: ignore[no-untyped-def]
    """A stray second job for a done effect returns without doing the work again."""
    from tasks.analysis import analyze_run as analyze_task

    repo = Repository.create(tenant=default_tenant(), full_name="acme/widgets")
    run = store_run(repo, make_run(1, [Result("t::a", "passed")]))
    outbox.record([outbox.want(Job.ANALYZE_RUN, run_id=run.id)])
    outbox.mark_done(Job.ANALYZE_RUN, run_id=run.id)
    assert analyze_task.call_local(run.id)["analyzed"] is False
    assert TestRun.get_by_id(run.id).analyzed_at is None  # the done effect said so


def test_poison_runs_are_set_aside_and_never_block_a_lost_run(app, client) -> None:  # type: ignore[no-untyped-def]
    """Runs whose analysis fails every time fill a whole reconcile batch; a later lost run is
    still re-driven on the next pass, and after MAX_ANALYSIS_FAILURES failures the poison runs
    are set aside (no longer re-driven) and counted in status and /health/deep."""
    from flakeguard.usecases.status import status_for
    from models import FlakeScore, TestCase, utcnow

    repo = Repository.create(tenant=default_tenant(), full_name="acme/widgets")
    poison = TestCase.create(repository=repo, key="t::poison", name="t::poison")
    # a stored state no codec reads: every analysis of a run with this test fails
    FlakeScore.create(test_case=poison, repository=repo, engine_state=b"\xffgarbage")
    batch = 8
    old = utcnow() - timedelta(hours=1)
    poison_runs = [
        store_run(repo, make_run(n, [Result("t::poison", "failed")])) for n in range(batch)
    ]
    good = store_run(repo, make_run(batch, [Result("t::good", "passed")]))
    for run in [*poison_runs, good]:
        outbox.record([outbox.want(Job.ANALYZE_RUN, run_id=run.id)])
        Effect.update(armed_at=old + timedelta(seconds=run.id)).where(
            Effect.key == outbox.effect_key(Job.ANALYZE_RUN, {"run_id": run.id})
        ).execute()  # their jobs were lost; the poison runs are the older ones

    first = reconcile_uc.reconcile(grace=NOW, limit=batch)
    assert first.enqueued == {Job.ANALYZE_RUN: batch}  # the whole batch is poison
    assert TestRun.get_by_id(good.id).analyzed_at is None
    reconcile_uc.reconcile(grace=NOW, limit=batch)
    assert TestRun.get_by_id(good.id).analyzed_at is not None  # not starved

    for _ in range(outbox.MAX_ANALYSIS_FAILURES):
        reconcile_uc.reconcile(grace=NOW, limit=batch)
    assert outbox.set_aside_count() == batch
    assert reconcile_uc.reconcile(grace=NOW, limit=batch).pending[Job.ANALYZE_RUN] == 0
    assert all(TestRun.get_by_id(run.id).analyzed_at is None for run in poison_runs)
    [status] = status_for("acme/widgets", tenant_id=default_tenant().id)
    assert status.runs_set_aside == batch
    deep = client.get("/health/deep").get_json()
    assert deep["analysis"]["runs_set_aside"] == batch
    assert f"{batch} runs set aside" in deep["analysis"]["note"]


def test_migration_0038_writes_an_effect_for_work_pending_before_it(
    database, recorded_jobs
) -> None:  # type: ignore[no-untyped-def]
    """Work pending as row state before the outbox (a run not analyzed, an event not sent, a
    quarantine or check run behind, a workflow run not ingested) becomes one effect each, so
    the reconcile job still re-drives it; finished work gets none. ``down`` drops the table."""
    import importlib.util

    from models import CheckRun, DomainEvent, IngestedArtifact, TestCase, utcnow
    from models.migrate import MIGRATIONS_DIR

    spec = importlib.util.spec_from_file_location(
        "migration_0038", MIGRATIONS_DIR / "0038_effect_outbox.py"
    )
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)

    old = utcnow() - timedelta(hours=1)
    repo = Repository.create(tenant=default_tenant(), full_name="acme/widgets")
    case = TestCase.create(repository=repo, key="t::a", name="t::a")
    run = TestRun.create(repository=repo, sha="a" * 40, content_digest="p" * 64, received_at=old)
    TestRun.create(
        repository=repo, sha="a" * 40, content_digest="x" * 64, received_at=old, analyzed_at=old
    )
    event = DomainEvent.create(repository=repo, test_case=case, kind="flaky", created_at=old)
    q = Quarantine.create(
        test_case=case, repository=repo, version=2, slack_synced_version=1,
        github_synced_version=1, updated_at=old,
    )  # fmt: skip
    CheckRun.create(repository=repo, head_sha="c" * 40, version=1, updated_at=old)
    IngestedArtifact.create(
        repository=repo, workflow_run_id=77, run_attempt=2, artifact_id=0, name="(workflow run)",
        created_at=old,
    )  # fmt: skip
    Effect.delete().execute()  # rows as they were before the outbox existed
    migration.down(None, database)
    migration.up(None, database)

    assert reconcile_uc.reconcile(grace=timedelta(minutes=2)).runs_pending == 1
    assert recorded_jobs == {
        "analyze_run": [{"run_id": run.id}],
        "notify_slack": [{"event_id": event.id}],
        "refresh_slack_quarantine": [{"quarantine_id": q.id}],
        "mirror_quarantine": [{"quarantine_id": q.id}],
        "update_check_run": [{"repository_id": repo.id, "sha": "c" * 40}],
        "ingest_workflow_run": [
            {"repository_id": repo.id, "workflow_run_id": 77, "run_attempt": 2}
        ],
    }
