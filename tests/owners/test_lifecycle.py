"""A quarantine's lifecycle: expiry from .flakeguard.yml, a reminder, then lifted or escalated."""

from __future__ import annotations

from datetime import timedelta

from flakeguard import jobs
from flakeguard.jobs import Job
from flakeguard.usecases import lifecycle, repo_files
from models import Quarantine, QuarantineEvent, Repository, SlackMessage, Tenant, utcnow
from tests.bot import factories as f
from tests.bot.limits import action_ids, all_text, problems
from tests.fakes.slack import CHANNEL_ID
from tests.owners.conftest import World

OWNER = "U0BOB"


def _quarantined(world: World, config: str = "quarantine:\n  expiry_days: 10\n") -> Quarantine:
    """An alerted test, approved and assigned; the repository's file says how long it lasts."""
    repo_files.store_files(world.repo.id, {".flakeguard.yml": config}, source="github")
    f.subscription(world.repo)
    test = f.test_case(world.repo, "test_flaky_login")
    f.score(test, value=0.2)
    f.act(test.id, "propose", actor="flakeguard", source="system")
    jobs.enqueue(Job.NOTIFY_SLACK, event_id=f.event(test, "flaky").id)
    f.act(test.id, "approve", actor="U0ALICE", source="slack")
    q = f.act(test.id, "assign", actor="U0ALICE", source="slack", assignee_slack=OWNER)
    world.fake_slack.reset()
    return Quarantine.get_by_id(q.id)


def _trail(q: Quarantine) -> list[tuple[str, str, str]]:
    return [
        (e.action, e.actor, e.source)
        for e in QuarantineEvent.select()
        .where(QuarantineEvent.quarantine == q.id)
        .order_by(QuarantineEvent.id)
    ]


def test_expiry_comes_from_the_repository_file(world: World) -> None:
    before = utcnow()
    q = _quarantined(world)
    assert before + timedelta(days=10) <= q.expires_at <= utcnow() + timedelta(days=10)
    approve = QuarantineEvent.get(QuarantineEvent.action == "approve")
    assert approve.data["expires_at"] == q.expires_at.isoformat()


def test_reminder_then_lifted_at_expiry_with_the_audit_trail(world: World) -> None:
    """3 days before: the owner is reminded in the alert's thread (Extend / Lift); at the
    expiry the quarantine is lifted; every step is in the audit trail."""
    q = _quarantined(world)
    alert = SlackMessage.get(SlackMessage.kind == "flaky")
    expires = q.expires_at

    assert lifecycle.run(now=expires - timedelta(days=4)).reminded == []
    assert world.fake_slack.called("chat.postMessage") == []

    report = lifecycle.run(now=expires - timedelta(days=2))
    assert report.reminded == [q.id] and report.lifted == []
    [post] = world.fake_slack.called("chat.postMessage")
    assert (post.params["channel"], post.params["thread_ts"]) == (CHANNEL_ID, alert.ts)
    assert problems(post.params) == []
    assert f"<@{OWNER}>" in all_text(post.params) and "expires" in all_text(post.params)
    assert action_ids(post.params) == ["fg_extend", "fg_lift"]
    assert lifecycle.run(now=expires - timedelta(days=1)).reminded == []  # once per cycle
    assert len(world.fake_slack.called("chat.postMessage")) == 1

    world.fake_slack.reset()
    report = lifecycle.run(now=expires + timedelta(minutes=1))
    assert report.lifted == [q.id]
    assert Quarantine.get_by_id(q.id).state == "lifted"
    updated = {u.params["ts"]: all_text(u.params) for u in world.fake_slack.called("chat.update")}
    reminder = SlackMessage.get(SlackMessage.kind == "reminder")
    assert "was *lifted* by FlakeGuard" in updated[reminder.ts]
    assert "Quarantine lifted" in updated[alert.ts]
    assert _trail(q) == [
        ("propose", "flakeguard", "system"),
        ("approve", "U0ALICE", "slack"),
        ("assign", "U0ALICE", "slack"),
        ("remind", "flakeguard", "system"),
        ("lift", "flakeguard", "system"),
    ]
    assert QuarantineEvent.get(QuarantineEvent.action == "lift").data["reason"] == "expired"
    assert lifecycle.run(now=expires + timedelta(days=1)).lifted == []


def test_extend_button_on_the_reminder(world: World) -> None:
    """Extend adds expiry_days from the expiry, and a new cycle starts (reminded again later)."""
    q = _quarantined(world)
    expires = q.expires_at
    lifecycle.run(now=expires - timedelta(days=2))
    reminder = SlackMessage.get(SlackMessage.kind == "reminder")
    response = world.slack.click(
        "fg_extend",
        f"{q.id}:{Quarantine.get_by_id(q.id).version}",
        block_id=f"fg_q_{q.id}",
        channel=reminder.channel,
        message_ts=reminder.ts,
    )
    assert response.status_code == 200
    q = Quarantine.get_by_id(q.id)
    assert q.expires_at == expires + timedelta(days=10) and q.reminded_at is None
    assert _trail(q)[-1] == ("extend", "U0ALICE", "slack")
    assert lifecycle.run(now=expires + timedelta(minutes=1)).lifted == []
    assert lifecycle.run(now=q.expires_at - timedelta(days=2)).reminded == [q.id]
    assert SlackMessage.select().where(SlackMessage.kind == "reminder").count() == 2


def test_escalated_at_expiry_when_the_file_says_so(world: World) -> None:
    """at_expiry: escalate keeps the quarantine and the reminder says it is overdue."""
    q = _quarantined(world, "quarantine:\n  expiry_days: 10\n  at_expiry: escalate\n")
    report = lifecycle.run(now=q.expires_at + timedelta(hours=1))
    assert report.escalated == [q.id] and report.lifted == []
    q = Quarantine.get_by_id(q.id)
    assert q.state == "quarantined" and q.escalated_at is not None
    [post] = world.fake_slack.called("chat.postMessage")
    assert "*expired*" in all_text(post.params) and "overdue" in all_text(post.params)
    assert [a for a, _, _ in _trail(q)][-2:] == ["escalate", "remind"]
    assert lifecycle.run(now=q.expires_at + timedelta(hours=2)).escalated == []


def test_a_quarantine_without_expiry_gets_one(world: World) -> None:
    """Approved before expiries existed: dated from now, then reminded as usual."""
    q = _quarantined(world)
    Quarantine.update(expires_at=None).where(Quarantine.id == q.id).execute()
    now = utcnow()
    assert lifecycle.run(now=now).dated == 1
    assert Quarantine.get_by_id(q.id).expires_at == now + timedelta(days=10)


def _other_tenants_quarantine() -> Quarantine:
    """A quarantine of another tenant's repository, approved with the default expiry."""
    tenant = Tenant.create(slug="other", name="Other")
    repo = Repository.create(tenant=tenant, full_name="other/app")
    test = f.test_case(repo, "test_other")
    f.act(test.id, "propose", actor="flakeguard", source="system")
    return f.act(test.id, "approve", actor="U0CAROL", source="slack")


def test_a_too_deeply_nested_file_uses_the_defaults(world: World) -> None:
    """A hostile file (5 KB of "[") is one problem, defaults apply; the lifecycle goes on."""
    q = _quarantined(world, "[" * 5000)
    other = _other_tenants_quarantine()
    assert "nested too deeply" in " ".join(repo_files.problems(world.repo.id))
    later = max(q.expires_at, other.expires_at) + timedelta(hours=1)
    report = lifecycle.run(now=later)
    assert sorted(report.lifted) == sorted([q.id, other.id])


def test_one_quarantine_failing_does_not_stop_another_tenants(world, monkeypatch, caplog):
    """The job reads every tenant's quarantines: a failure on one is logged, the rest go on."""
    q = _quarantined(world)
    other = _other_tenants_quarantine()
    real = lifecycle.config_of

    def failing_for_one_repository(repository_id: int):
        if repository_id == world.repo.id:
            raise RecursionError("maximum recursion depth exceeded")
        return real(repository_id)

    monkeypatch.setattr(lifecycle, "config_of", failing_for_one_repository)
    report = lifecycle.run(now=max(q.expires_at, other.expires_at) + timedelta(hours=1))
    assert report.lifted == [other.id]
    assert Quarantine.get_by_id(other.id).state != "quarantined"
    assert Quarantine.get_by_id(q.id).state == "quarantined"
    assert f"lifecycle of quarantine {q.id} failed" in caplog.text
