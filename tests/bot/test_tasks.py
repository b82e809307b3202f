"""Slack tasks against the fake: rate limits, permanent errors recorded, never retried forever."""

from __future__ import annotations

import pytest

from flakeguard import jobs
from flakeguard.jobs import Job
from flakeguard.usecases import status as status_uc
from models import ChannelSubscription, DomainEvent, SlackMessage, default_tenant
from tests.bot import factories as f


@pytest.fixture
def flaky(slack_app):  # type: ignore[no-untyped-def]
    repo = f.repo("acme/widgets")
    f.subscription(repo)
    test, _ = f.proposal(repo)
    return test


def test_rate_limited_post_is_retried_after_retry_after(flaky, fake_slack):
    """A 429 with Retry-After is retried by slack_sdk's handler and the alert is posted."""
    fake_slack.reset()
    fake_slack.rate_limit("chat.postMessage", retry_after=0)
    jobs.enqueue(Job.NOTIFY_SLACK, event_id=f.event(flaky).id)
    assert len(fake_slack.called("chat.postMessage")) == 2
    assert SlackMessage.get().ts is not None
    assert DomainEvent.get().slack_done_at is not None


@pytest.mark.parametrize("error", ["channel_not_found", "not_in_channel"])
def test_channel_errors_are_recorded_not_retried(flaky, fake_slack, error):
    """A missing channel is recorded on message and subscription, shown in status, not retried."""
    fake_slack.reset()
    fake_slack.fail("chat.postMessage", error)
    event = f.event(flaky)
    jobs.enqueue(Job.NOTIFY_SLACK, event_id=event.id)
    assert len(fake_slack.called("chat.postMessage")) == 1
    assert SlackMessage.get().last_error == error
    assert ChannelSubscription.get().last_error == error
    assert DomainEvent.get().slack_done_at is not None
    jobs.enqueue(Job.NOTIFY_SLACK, event_id=event.id)
    assert len(fake_slack.called("chat.postMessage")) == 1
    [st] = status_uc.status_for("acme/widgets", tenant_id=default_tenant().id)
    assert f"<#C0ALERTS>: {error}" in st.slack_errors


def test_revoked_token_marks_every_subscription_of_the_team(flaky, fake_slack):
    """token_revoked is recorded on all of the workspace's subscriptions."""
    f.subscription(f.repo("acme/other"), channel="C0OTHER")
    fake_slack.reset()
    fake_slack.fail("chat.postMessage", "token_revoked")
    jobs.enqueue(Job.NOTIFY_SLACK, event_id=f.event(flaky).id)
    assert [s.last_error for s in ChannelSubscription.select()] == ["token_revoked"] * 2


def test_update_error_is_recorded_and_others_still_update(flaky, fake_slack, slack):
    """A message deleted in Slack is recorded and skipped on later refreshes."""
    f.subscription(flaky.repository, channel="C0SECOND")
    jobs.enqueue(Job.NOTIFY_SLACK, event_id=f.event(flaky).id)
    fake_slack.reset()
    fake_slack.fail("chat.update", "message_not_found")
    q = f.act(flaky.id, "approve", actor="U1", source="slack")
    assert len(fake_slack.called("chat.update")) == 2
    errors = sorted(m.last_error or "" for m in SlackMessage.select())
    assert errors == ["", "message_not_found"]
    assert q.state == "quarantined"
    f.act(flaky.id, "undo", actor="U1", source="slack")
    assert len(fake_slack.called("chat.update")) == 3


def test_server_error_raises_for_huey_to_retry(flaky, fake_slack):
    """An unexpected Slack error is not swallowed: the task fails and the event stays pending."""
    fake_slack.reset()
    fake_slack.fail("chat.postMessage", "internal_error")
    event = f.event(flaky)
    from slack_sdk.errors import SlackApiError

    import tasks.slack

    with pytest.raises(SlackApiError):
        tasks.slack.notify_slack.call_local(event_id=event.id)
    assert DomainEvent.get().slack_done_at is None
    assert SlackMessage.get().ts is None and SlackMessage.get().last_error is None
    tasks.slack.notify_slack.call_local(event_id=event.id)  # the retry posts it
    assert SlackMessage.get().ts is not None


def test_digest_skips_channels_without_candidates(slack_app, fake_slack):
    """The weekly digest posts only where something waits for a decision."""
    f.subscription(f.repo("acme/quiet"))
    jobs.enqueue(Job.WEEKLY_DIGEST)
    assert fake_slack.called("chat.postMessage") == []


def test_slack_api_errors_are_counted_for_metrics(flaky, fake_slack, slack_client):
    """A failed Slack call shows up in /metrics as slack_api_errors by method and error."""
    from tests.ops.test_metrics import scrape, value

    name = "flakeguard_slack_api_errors_total"
    labels = {"method": "chat.postMessage", "error": "channel_not_found"}
    before = value(scrape(slack_client), name, **labels)
    fake_slack.reset()
    fake_slack.fail("chat.postMessage", "channel_not_found")
    jobs.enqueue(Job.NOTIFY_SLACK, event_id=f.event(flaky).id)
    assert value(scrape(slack_client), name, **labels) == before + 1
