"""Events API: App Home on app_home_opened, Slack's retries handled once."""

from __future__ import annotations

from models import SlackEventReceipt, default_tenant
from tests.bot import factories as f
from tests.bot.limits import all_text, problems
from tests.fakes.slack import USER_ID


def test_app_home_shows_assigned_flaky_and_recent(slack, fake_slack):
    """Opening App Home publishes the user's assigned tests, flaky tests and recent actions."""
    repo = f.repo("acme/widgets")
    f.subscription(repo)
    t = f.test_case(repo, "test_mine")
    f.score(t)
    f.propose(t.id)
    f.act(t.id, "assign", actor="U0BOB", source="slack", assignee_slack=USER_ID)
    fake_slack.reset()
    resp = slack.event({"type": "app_home_opened", "user": USER_ID, "tab": "home", "channel": "D1"})
    assert resp.status_code == 200
    [call] = fake_slack.called("views.publish")
    assert call.params["user_id"] == USER_ID
    view = call.params["view"]
    assert view["type"] == "home" and problems(view) == []
    text = all_text(view)
    assert "Assigned to you" in text and "test_mine" in text and "<@U0BOB> assign" in text
    assert "/flakeguard link" in text


def test_slack_retry_is_processed_once(slack, fake_slack):
    """A retried event (X-Slack-Retry-Num, same event_id) is acknowledged, not processed again."""
    event = {"type": "app_home_opened", "user": USER_ID, "tab": "home", "channel": "D1"}
    assert slack.event(event, event_id="Ev42").status_code == 200
    assert slack.event(event, event_id="Ev42", retry_num=1).status_code == 200
    assert slack.event(event, event_id="Ev42", retry_num=2).status_code == 200
    assert len(fake_slack.called("views.publish")) == 1
    assert SlackEventReceipt.select().count() == 1
    slack.event(event, event_id="Ev43")
    assert len(fake_slack.called("views.publish")) == 2


def test_event_with_bad_signature_is_not_recorded(slack, fake_slack):
    """A forged event gets 401 and leaves no receipt."""
    event = {"type": "app_home_opened", "user": USER_ID, "tab": "home"}
    assert slack.event(event, secret="forged").status_code == 401
    assert SlackEventReceipt.select().count() == 0 and fake_slack.called("views.publish") == []


def test_uninstall_is_recorded_and_shown_in_status(slack, fake_slack):
    """app_uninstalled marks the workspace's subscriptions; status reports it."""
    from flakeguard.usecases import status as status_uc

    f.subscription(f.repo("acme/widgets"))
    assert slack.event({"type": "app_uninstalled"}, event_id="Ev9").status_code == 200
    [st] = status_uc.status_for("acme/widgets", tenant_id=default_tenant().id)
    assert st.slack_errors == ["<#C0ALERTS>: app_uninstalled"]


def test_url_verification_is_answered(slack):
    """Slack's url_verification handshake gets its challenge back."""
    import json

    body = json.dumps({"type": "url_verification", "challenge": "c-123", "token": "legacy"})
    resp = slack.post(body, "application/json")
    assert resp.status_code == 200 and resp.get_json() == {"challenge": "c-123"}


def two_channels_with_a_flaky_test_each() -> None:
    """acme/widgets followed in C0MINE, acme/gadgets in C0OTHER; a flaky test in each."""
    mine, other = f.repo("acme/widgets"), f.repo("acme/gadgets")
    f.subscription(mine, channel="C0MINE")
    f.subscription(other, channel="C0OTHER")
    f.score(f.test_case(mine, "test_in_my_channel"))
    f.score(f.test_case(other, "test_elsewhere"))


def test_app_home_lists_flaky_tests_of_the_users_channels_only(slack, fake_slack):
    """App Home's flaky list covers repos subscribed in channels the user is in."""
    two_channels_with_a_flaky_test_each()
    fake_slack.reset()
    fake_slack.memberships[USER_ID] = ["C0MINE"]
    slack.event({"type": "app_home_opened", "user": USER_ID, "tab": "home", "channel": "D1"})
    text = all_text(fake_slack.called("views.publish")[-1].params["view"])
    assert "test_in_my_channel" in text and "test_elsewhere" not in text
    assert fake_slack.called("users.conversations")[0].params["user"] == USER_ID


def test_app_home_falls_back_to_the_workspace_when_slack_will_not_say(slack, fake_slack):
    """Without the channel scopes (missing_scope), App Home shows every subscribed repo."""
    two_channels_with_a_flaky_test_each()
    fake_slack.reset()
    fake_slack.fail("users.conversations", "missing_scope")
    slack.event({"type": "app_home_opened", "user": USER_ID, "tab": "home", "channel": "D1"})
    text = all_text(fake_slack.called("views.publish")[-1].params["view"])
    assert "test_in_my_channel" in text and "test_elsewhere" in text
