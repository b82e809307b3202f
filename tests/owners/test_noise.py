"""Noise control: at most N alerts for one run, the rest in one summary message."""

from __future__ import annotations

from flakeguard import jobs
from flakeguard.jobs import Job
from flakeguard.usecases import repo_files
from models import DomainEvent, SlackMessage, TestRun
from tests.bot import factories as f
from tests.bot.limits import all_text, problems
from tests.fakes.slack import CHANNEL_ID
from tests.owners.conftest import World


def _storm_of_flakes(world: World, n: int) -> TestRun:
    """One run that turned ``n`` tests flaky, each with its proposal and its event."""
    f.subscription(world.repo)
    [run] = f.results(f.test_case(world.repo, "test_seed"), "+")
    for index in range(n):
        test = f.test_case(world.repo, f"test_flaky_{index}")
        f.score(test, value=0.2)
        f.propose(test.id)
        DomainEvent.create(
            repository=world.repo.id,
            test_case=test,
            kind="flaky",
            data={"run_id": run.id, "sha": run.sha, "reason": "same commit"},
        )
    world.fake_slack.reset()
    return run


def _notify_all() -> None:
    for event in DomainEvent.select().order_by(DomainEvent.id):
        jobs.enqueue(Job.NOTIFY_SLACK, event_id=event.id)


def test_alerts_over_the_cap_are_one_summary(world: World) -> None:
    """max_per_run 3 and 7 flaky tests in a run: 3 alerts and one summary naming the other 4."""
    repo_files.store_files(
        world.repo.id, {".flakeguard.yml": "alerts:\n  max_per_run: 3\n"}, source="github"
    )
    _storm_of_flakes(world, 7)
    _notify_all()
    posts = world.fake_slack.called("chat.postMessage")
    assert len(posts) == 4 and {p.params["channel"] for p in posts} == {CHANNEL_ID}
    summary = all_text(posts[-1].params)
    assert problems(posts[-1].params) == []
    assert "4 more changes" in summary and "cap of 3 alerts per run" in summary
    assert all(f"test_flaky_{i}" in summary for i in range(3, 7))
    assert not any(f"test_flaky_{i}`" in summary for i in range(3))
    assert SlackMessage.select().where(SlackMessage.kind == "summary").count() == 1
    assert DomainEvent.select().where(DomainEvent.slack_done_at.is_null()).count() == 0
    _notify_all()  # the reconcile job driving them again posts nothing new
    assert len(world.fake_slack.called("chat.postMessage")) == 4


def test_under_the_default_cap_every_alert_is_posted(world: World) -> None:
    _storm_of_flakes(world, 4)
    _notify_all()
    assert len(world.fake_slack.called("chat.postMessage")) == 4
    assert not SlackMessage.select().where(SlackMessage.kind == "summary").exists()


def test_a_later_change_goes_in_the_alerts_thread(world: World) -> None:
    """Flaky, then (quarantined) fixed: the fixed alert is posted in the flaky alert's thread,
    and the flaky alert itself is updated in place."""
    f.subscription(world.repo)
    test = f.test_case(world.repo, "test_payment_retry")
    f.score(test, value=0.2)
    f.propose(test.id)
    jobs.enqueue(Job.NOTIFY_SLACK, event_id=f.event(test, "flaky").id)
    [first] = world.fake_slack.called("chat.postMessage")
    assert "thread_ts" not in first.params
    parent = SlackMessage.get(SlackMessage.kind == "flaky")
    f.act(test.id, "approve", actor="U0ALICE", source="slack")
    assert any(u.params["ts"] == parent.ts for u in world.fake_slack.called("chat.update"))
    world.fake_slack.reset()
    jobs.enqueue(Job.NOTIFY_SLACK, event_id=f.event(test, "fixed").id)
    [reply] = world.fake_slack.called("chat.postMessage")
    assert reply.params["thread_ts"] == parent.ts
    assert "looks *fixed*" in all_text(reply.params)
