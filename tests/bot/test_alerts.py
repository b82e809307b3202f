"""Alerts and their buttons: posted from the database, updated in place with chat.update."""

from __future__ import annotations

import json

import pytest

from flakeguard import jobs
from flakeguard.jobs import Job
from flakeguard.usecases import outbox
from flakeguard.usecases.policy import set_policy
from models import DomainEvent, Quarantine, QuarantineEvent, SlackMessage
from tests.bot import factories as f
from tests.bot.limits import action_ids, all_text, problems
from tests.fakes.slack import CHANNEL_ID, TEAM_ID, USER_ID


@pytest.fixture
def alert(slack_app, fake_slack):  # type: ignore[no-untyped-def]
    """A flaky test with a proposed quarantine, alerted in a subscribed channel."""
    repo = f.repo("acme/widgets")
    f.subscription(repo)
    test, q = f.proposal(repo, value=0.2)
    f.results(test, "+x+x")
    event = f.event(test, "flaky")
    fake_slack.reset()
    jobs.enqueue(Job.NOTIFY_SLACK, event_id=event.id)
    [post] = fake_slack.called("chat.postMessage")
    fake_slack.reset()
    return q, post


def last_update(fake_slack) -> dict:  # type: ignore[no-untyped-def]
    updates = fake_slack.called("chat.update")
    assert updates, "no chat.update"
    payload = updates[-1].params
    assert problems(payload) == []
    return payload


def alert_ts() -> str:
    """The ts Slack gave the latest alert: buttons act only on a message FlakeGuard posted."""
    msg = (
        SlackMessage.select()
        .where(SlackMessage.kind != "digest", SlackMessage.ts.is_null(False))
        .order_by(SlackMessage.id.desc())
        .get()
    )
    return msg.ts


def value(q: Quarantine) -> str:
    return f"{q.id}:{Quarantine.get_by_id(q.id).version}"


def test_alert_has_facts_and_buttons(alert):
    """The alert names test, repo, score, interval, reason, runs, and offers three actions."""
    q, post = alert
    payload = post.params
    assert payload["channel"] == CHANNEL_ID and problems(payload) == []
    text = all_text(payload)
    assert "test_upload_retries" in text and "acme/widgets" in text
    assert "20.0%" in text and "90% interval" in text and "same commit" in text
    assert "actions/runs/" in text and "*Since*" in text
    assert action_ids(payload) == ["fg_approve", "fg_assign", "fg_dismiss"]
    msg = SlackMessage.get()
    assert msg.ts.startswith("1700000000.") and (msg.quarantine_id, msg.rendered_version) == (
        q.id,
        1,
    )


def test_notify_sets_done_and_is_idempotent(alert, fake_slack):
    """notify_slack marks the event done; running it again posts nothing new."""
    event = DomainEvent.get()
    assert event.slack_done_at is not None
    jobs.enqueue(Job.NOTIFY_SLACK, event_id=event.id)
    assert fake_slack.called("chat.postMessage") == []
    assert SlackMessage.select().count() == 1


def test_approve_updates_message_in_place(alert, slack, fake_slack):
    """Approve quarantines, and the same message (channel, ts) shows who and offers Undo."""
    q, _ = alert
    msg = SlackMessage.get()
    resp = slack.click("fg_approve", value(q), message_ts=alert_ts())
    assert resp.status_code == 200
    assert Quarantine.get_by_id(q.id).state == "quarantined"
    payload = last_update(fake_slack)
    assert (payload["channel"], payload["ts"]) == (msg.channel, msg.ts)
    assert f"Quarantined* by <@{USER_ID}>" in all_text(payload)
    assert action_ids(payload) == ["fg_undo", "fg_assign"]
    assert Quarantine.get_by_id(q.id).slack_synced_version == 2
    assert SlackMessage.get().rendered_version == 2


def test_double_click_is_one_event(alert, slack):
    """Two clicks on the same rendering make one audit event and no error."""
    q, _ = alert
    shown = value(q)
    slack.click("fg_approve", shown, message_ts=alert_ts())
    slack.click("fg_approve", shown, message_ts=alert_ts())
    actions = [e.action for e in QuarantineEvent.select().order_by(QuarantineEvent.id)]
    assert actions == ["propose", "approve"]
    assert slack.fake.responses == []  # no error shown to the user


def test_undo_goes_back_to_proposed(alert, slack, fake_slack):
    """Undo returns to proposed; the message says who undid it and offers Approve again."""
    q, _ = alert
    slack.click("fg_approve", value(q), message_ts=alert_ts())
    slack.click("fg_undo", value(q), user="U0BOB", message_ts=alert_ts())
    assert Quarantine.get_by_id(q.id).state == "proposed"
    payload = last_update(fake_slack)
    assert "undone by <@U0BOB>" in all_text(payload)
    assert action_ids(payload) == ["fg_approve", "fg_assign", "fg_dismiss"]


def test_assign_shows_assignee(alert, slack, fake_slack):
    """Choosing a user in Assign records and shows the assignee."""
    q, _ = alert
    slack.click(
        "fg_assign", None, block_id=f"fg_q_{q.id}", selected_user="U0BOB", message_ts=alert_ts()
    )
    assert Quarantine.get_by_id(q.id).assignee_slack == "U0BOB"
    payload = last_update(fake_slack)
    assert "Assigned to <@U0BOB>" in all_text(payload)
    assert fake_slack.called("views.publish")  # the assignee's App Home is refreshed


def test_assigning_an_unknown_user_is_refused(alert, slack, fake_slack):
    """Assigning a user Slack does not know answers 'not a user' and changes nothing."""
    q, _ = alert
    fake_slack.unknown_users.add("U0GHOST")
    slack.click(
        "fg_assign", None, block_id=f"fg_q_{q.id}", selected_user="U0GHOST", message_ts=alert_ts()
    )
    assert Quarantine.get_by_id(q.id).assignee_slack is None
    assert "is not a user of this workspace" in fake_slack.responses[0].params["text"]
    assert fake_slack.called("users.info")[0].params["user"] == "U0GHOST"
    assert fake_slack.called("chat.update") == []


def test_not_flaky_dismisses(alert, slack, fake_slack):
    """Not flaky dismisses the quarantine; the message keeps no buttons."""
    q, _ = alert
    slack.click("fg_dismiss", value(q), message_ts=alert_ts())
    assert Quarantine.get_by_id(q.id).state == "dismissed"
    payload = last_update(fake_slack)
    assert "Not flaky*, says <@U0ALICE>" in all_text(payload) and action_ids(payload) == []


def test_user_who_may_not_act_gets_ephemeral_refusal(alert, slack, fake_slack):
    """A user outside the policy gets an ephemeral 'not allowed'; nothing changes."""
    q, _ = alert
    set_policy(TEAM_ID, "users", users=["U0BOSS"])
    slack.click("fg_approve", value(q), message_ts=alert_ts())
    assert Quarantine.get_by_id(q.id).state == "proposed"
    assert QuarantineEvent.select().count() == 1
    [reply] = fake_slack.responses
    assert (
        reply.params["response_type"] == "ephemeral" and reply.params["replace_original"] is False
    )
    assert "Not allowed" in reply.params["text"]
    assert fake_slack.called("chat.update") == []


def test_stale_button_refreshes_the_message(alert, slack, fake_slack):
    """A click on an out-of-date message changes nothing, says so, and re-renders it."""
    q, _ = alert
    stale = value(q)
    f.act(q.test_case_id, "approve", actor="U0BOB", source="slack")
    fake_slack.reset()
    slack.click("fg_dismiss", stale, message_ts=alert_ts())
    assert Quarantine.get_by_id(q.id).state == "quarantined"
    assert "out of date" in fake_slack.responses[0].params["text"]
    assert "Quarantined* by <@U0BOB>" in all_text(last_update(fake_slack))


def test_fixed_alert_offers_lift(slack_app, slack, fake_slack):
    """A fixed quarantined test gets an alert with Lift quarantine, which lifts it."""
    repo = f.repo("acme/widgets")
    f.subscription(repo)
    test = f.test_case(repo)
    f.score(test, state="fixed", reason="no longer fails at its quarantine rate")
    q = f.act(test.id, "approve", actor="U0BOB", source="slack")
    fake_slack.reset()
    jobs.enqueue(Job.NOTIFY_SLACK, event_id=f.event(test, "fixed").id)
    [post] = fake_slack.called("chat.postMessage")
    assert action_ids(post.params) == ["fg_lift"] and "looks *fixed*" in all_text(post.params)
    slack.click("fg_lift", value(q), message_ts=alert_ts())
    assert Quarantine.get_by_id(q.id).state == "lifted"
    payload = last_update(fake_slack)
    assert "Quarantine lifted* by <@U0ALICE>" in all_text(payload) and action_ids(payload) == []


def test_broken_alert_names_first_failing_commit_without_buttons(slack_app, fake_slack):
    """A broken test's alert names the first failing commit and has no quarantine button."""
    repo = f.repo("acme/widgets")
    f.subscription(repo)
    test = f.test_case(repo)
    f.score(test, state="broken", reason="fails on every run since commit deadbeef")
    jobs.enqueue(Job.NOTIFY_SLACK, event_id=f.event(test, "broken").id)
    [post] = fake_slack.called("chat.postMessage")
    text = all_text(post.params)
    assert "*broken*" in text and "deadbeefde" in text and "commit/deadbeef" in text
    assert action_ids(post.params) == [] and problems(post.params) == []


def test_dismissed_test_is_not_alerted(slack_app, fake_slack):
    """A flaky event for a dismissed quarantine posts nothing."""
    repo = f.repo("acme/widgets")
    f.subscription(repo)
    test = f.test_case(repo)
    f.score(test)
    f.act(test.id, "dismiss", actor="U1", source="slack")
    fake_slack.reset()
    jobs.enqueue(Job.NOTIFY_SLACK, event_id=f.event(test, "flaky").id)
    assert fake_slack.called("chat.postMessage") == []
    assert DomainEvent.get().slack_done_at is not None


def test_approve_all_with_modal(slack_app, slack, fake_slack):
    """The digest's Approve all opens a confirming modal; submitting it approves every candidate."""
    repo = f.repo("acme/widgets")
    f.subscription(repo)
    for i in range(3):
        f.proposal(repo, f"test_{i}")
    fake_slack.reset()
    jobs.enqueue(Job.WEEKLY_DIGEST)
    [post] = fake_slack.called("chat.postMessage")
    assert "Approve all 3" in all_text(post.params) and problems(post.params) == []
    message_id = SlackMessage.get(SlackMessage.kind == "digest").id
    slack.click("fg_approve_all", str(message_id), message_ts=SlackMessage.get_by_id(message_id).ts)
    [opened] = fake_slack.called("views.open")
    view = opened.params["view"]
    assert view["callback_id"] == "fg_approve_all_view" and "Approve 3" in view["submit"]["text"]
    resp = slack.submit_view("fg_approve_all_view", view["private_metadata"])
    assert resp.status_code == 200
    assert [q.state for q in Quarantine.select()] == ["quarantined"] * 3
    assert "Nothing waiting" in all_text(last_update(fake_slack))
    # Submitting the same modal again (a double submit) changes nothing.
    slack.submit_view("fg_approve_all_view", view["private_metadata"])
    assert QuarantineEvent.select().where(QuarantineEvent.action == "approve").count() == 3


def test_approve_all_refused_for_user_who_may_not_act(slack_app, slack, fake_slack):
    """Approve all is refused up front for a user outside the policy; no modal opens."""
    repo = f.repo("acme/widgets")
    f.subscription(repo)
    t = f.test_case(repo)
    f.propose(t.id)
    jobs.enqueue(Job.WEEKLY_DIGEST)
    set_policy(TEAM_ID, "users", users=["U0BOSS"])
    message_id = SlackMessage.get(SlackMessage.kind == "digest").id
    slack.click("fg_approve_all", str(message_id), message_ts=SlackMessage.get_by_id(message_id).ts)
    assert fake_slack.called("views.open") == []
    assert "Not allowed" in fake_slack.responses[0].params["text"]
    metadata = json.dumps({"m": message_id, "c": "C", "q": [[Quarantine.get().id, 1]]})
    body = slack.submit_view("fg_approve_all_view", metadata).get_json()
    assert body["response_action"] == "update" and Quarantine.get().state == "proposed"


def test_messages_are_rerendered_from_the_database(alert, fake_slack):
    """A refresh shows what the database says now, whatever changed it."""
    q, _ = alert
    from models import FlakeScore

    FlakeScore.update(reason="failed on retry in 3 of the last 10 runs", score=0.31).execute()
    # A refresh is wanted as an effect: the proposal's own refresh is already done.
    outbox.record_and_dispatch([outbox.want(Job.REFRESH_SLACK_QUARANTINE, quarantine_id=q.id)])
    text = all_text(last_update(fake_slack))
    assert "failed on retry in 3 of the last 10 runs" in text and "31.0%" in text


def test_digest_ranks_candidates_by_impact(slack_app, fake_slack):
    """The digest lists the test failing most this week first."""
    repo = f.repo("acme/widgets")
    f.subscription(repo)
    calm = f.test_case(repo, "test_calm")
    noisy = f.test_case(repo, "test_noisy")
    f.results(calm, "+x+")
    f.results(noisy, "xxx+")
    for t in (calm, noisy):
        f.score(t)
        f.propose(t.id)
    fake_slack.reset()
    jobs.enqueue(Job.WEEKLY_DIGEST)
    text = all_text(fake_slack.called("chat.postMessage")[0].params)
    assert text.index("test_noisy") < text.index("test_calm")
    assert "turned 3 runs red" in text  # the impact line of engine.plan
