"""/flakeguard sub-commands through /slack/events, signed as Slack signs them."""

from __future__ import annotations

import time

import pytest

from models import ChannelSubscription, Quarantine, QuarantineEvent, UserLink
from tests.bot import factories as f
from tests.bot.limits import all_text, problems
from tests.fakes.slack import CHANNEL_ID, TEAM_ID, USER_ID


@pytest.fixture
def data(slack_app):  # type: ignore[no-untyped-def]
    repo = f.repo("acme/widgets")
    test = f.test_case(repo, "test_upload_retries")
    f.score(test, value=0.2)
    f.results(test, "+x+x+")
    return repo, test


def answer(resp) -> dict:  # type: ignore[no-untyped-def]
    assert resp.status_code == 200, resp.get_data(as_text=True)
    payload = resp.get_json()
    assert payload["response_type"] == "ephemeral"
    assert problems(payload) == []
    return payload


def test_status_lists_counts_and_top(slack, data):
    """`status owner/repo` answers with counts and the top flaky tests."""
    text = all_text(answer(slack.command("status acme/widgets")))
    assert "1 flaky" in text and "test_upload_retries" in text and "20.0%" in text


def test_status_without_repo_uses_subscriptions(slack, data):
    """`status` alone covers the repositories this channel is subscribed to."""
    f.subscription(f.repo("acme/gadgets"))
    text = all_text(answer(slack.command("status")))
    assert "acme/gadgets" in text and "acme/widgets" not in text


def test_top_with_repo_and_n(slack, data):
    """`top owner/repo N` ranks the N flakiest tests."""
    repo, _ = data
    for i in range(4):
        f.score(f.test_case(repo, f"test_more_{i}"), value=0.5 + i / 100)
    text = all_text(answer(slack.command("top acme/widgets 3")))
    assert (
        "Top 3 flaky tests" in text and "test_more_3" in text and "test_upload_retries" not in text
    )


def test_top_rejects_bad_n_with_usage(slack, data):
    """A bad argument gets the usage and the help."""
    text = all_text(answer(slack.command("top acme/widgets 999")))
    assert "N must be between 1 and 50" in text and "/flakeguard top [owner/repo] [N]" in text


def test_test_shows_verdict_history_and_quarantine(slack, data):
    """`test <part>` shows the verdict, interval, history strip and quarantine."""
    text = all_text(answer(slack.command("test upload")))
    assert "*Verdict* flaky" in text and "90% interval" in text
    assert "🟩🟥🟩🟥🟩" in text and "*Quarantine* none" in text


def test_unknown_test_lists_near_matches(slack, data):
    """An unknown test says so and offers near names."""
    text = all_text(answer(slack.command("test test_uplod_retries")))
    assert "no test matches" in text and "Did you mean" in text and "test_upload_retries" in text


def test_unknown_repo_lists_near_matches(slack, data):
    """An unknown repository says so and offers near names."""
    text = all_text(answer(slack.command("status acme/widgetz")))
    assert "unknown repository acme/widgetz" in text and "acme/widgets" in text


def test_quarantine_command_quarantines_with_reason(slack, data):
    """`quarantine <test> reason` quarantines the test through the use case."""
    text = all_text(answer(slack.command("quarantine upload_retries blocks the release")))
    assert "Quarantined" in text
    q = Quarantine.get()
    assert (q.state, q.quarantined_by, q.reason) == ("quarantined", USER_ID, "blocks the release")
    event = QuarantineEvent.get()
    assert (event.action, event.source, event.data["team_id"]) == ("approve", "slack", TEAM_ID)
    again = all_text(answer(slack.command("quarantine upload_retries")))
    assert "already quarantined" in again and QuarantineEvent.select().count() == 1


def test_unquarantine_lifts(slack, data):
    """`unquarantine <test>` lifts the quarantine."""
    slack.command("quarantine upload_retries")
    text = all_text(answer(slack.command("unquarantine upload_retries")))
    assert "Lifted" in text and Quarantine.get().state == "lifted"
    assert "not quarantined" in all_text(answer(slack.command("unquarantine upload_retries")))


def test_user_who_may_not_act_is_refused(slack, data):
    """Under a users policy, another user's quarantine is refused and nothing changes."""
    from flakeguard.usecases.policy import set_policy

    set_policy(TEAM_ID, "users", users=["U0BOSS"])
    text = all_text(answer(slack.command("quarantine upload_retries")))
    assert "Not allowed" in text and Quarantine.select().count() == 0


def test_usergroup_membership_is_asked_from_slack(slack, data, fake_slack):
    """Under a usergroup policy, membership comes from usergroups.users.list."""
    from flakeguard.usecases.policy import set_policy

    set_policy(TEAM_ID, "usergroup", usergroup_id="S0QA")
    fake_slack.usergroups["S0QA"] = [USER_ID]
    assert "Quarantined" in all_text(answer(slack.command("quarantine upload_retries")))
    assert fake_slack.called("usergroups.users.list")[0].params["usergroup"] == "S0QA"


def test_subscribe_and_unsubscribe(slack, data):
    """`subscribe` adds this channel once; `unsubscribe` removes it."""
    assert "now gets alerts" in all_text(answer(slack.command("subscribe acme/widgets")))
    assert "already subscribed" in all_text(answer(slack.command("subscribe acme/widgets")))
    sub = ChannelSubscription.get()
    assert (sub.team_id, sub.channel_id, sub.created_by) == (TEAM_ID, CHANNEL_ID, USER_ID)
    assert "no longer gets alerts" in all_text(answer(slack.command("unsubscribe acme/widgets")))
    assert "not subscribed" in all_text(answer(slack.command("unsubscribe acme/widgets")))
    assert ChannelSubscription.select().count() == 0


def test_subscribe_unknown_repo(slack, data):
    """Subscribing to an unknown repository stores nothing and suggests near names."""
    text = all_text(answer(slack.command("subscribe acme/widgts")))
    assert "acme/widgets" in text and ChannelSubscription.select().count() == 0


def test_link_github_login(slack, data):
    """`link <login>` links the Slack user; a bad login is refused."""
    assert "GitHub `octocat`" in all_text(answer(slack.command("link @octocat")))
    assert UserLink.get().github_login == "octocat"
    assert "not a GitHub login" in all_text(answer(slack.command("link bad_login!")))


def test_help_and_unknown_subcommand(slack, data):
    """`help` lists every sub-command; an unknown one gets a did-you-mean."""
    text = all_text(answer(slack.command("help")))
    for name in (
        "status",
        "top",
        "test",
        "quarantine",
        "unquarantine",
        "subscribe",
        "unsubscribe",
        "link",
    ):
        assert f"/flakeguard {name}" in text
    assert "Did you mean `status`?" in all_text(answer(slack.command("stauts")))
    assert "/flakeguard status" in all_text(answer(slack.command("")))


def test_missing_argument_gets_usage(slack, data):
    """A sub-command without its argument answers with its usage."""
    assert "Usage: `/flakeguard subscribe <owner/repo>`" in all_text(
        answer(slack.command("subscribe"))
    )


def test_bad_signature_is_refused(slack, data):
    """A request signed with another secret gets 401 and changes nothing."""
    resp = slack.command("subscribe acme/widgets", secret="wrong-secret")
    assert resp.status_code == 401
    assert ChannelSubscription.select().count() == 0


def test_stale_timestamp_is_refused(slack, data):
    """A correctly signed request older than five minutes gets 401."""
    resp = slack.command("subscribe acme/widgets", timestamp=int(time.time()) - 6 * 60)
    assert resp.status_code == 401
    assert ChannelSubscription.select().count() == 0


def test_slack_off_answers_503(client):
    """Without Slack settings, /slack/events says how to turn it on."""
    resp = client.post("/slack/events", data="x")
    assert resp.status_code == 503 and "SLACK_SIGNING_SECRET" in resp.get_json()["error"]["message"]
