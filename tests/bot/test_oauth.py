"""Several workspaces: the OAuth flow, our installation and state stores, per-team tokens."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from bot.installation_store import PeeweeInstallationStore, PeeweeOAuthStateStore
from flakeguard import jobs
from flakeguard.jobs import Job
from models import SlackInstallation, SlackOAuthState
from tests.bot import factories as f
from tests.fakes.slack import SlackRequests, with_slack_oauth


@pytest.fixture
def oauth_client(settings, fake_slack, database):  # type: ignore[no-untyped-def]
    import tasks
    from flakeguard.app import create_app
    from flakeguard.settings import Settings

    oauth_settings = with_slack_oauth(settings, fake_slack.api_url)
    app = create_app(oauth_settings)
    app.testing = True
    yield app.test_client()
    tasks.configure(Settings(queue_mode="immediate"))


def install(client) -> None:  # type: ignore[no-untyped-def]
    resp = client.get("/slack/install")
    assert resp.status_code == 302
    location = urlparse(resp.headers["Location"])
    query = parse_qs(location.query)
    assert location.netloc == "slack.com" and query["client_id"] == ["111.222"]
    assert "chat:write" in query["scope"][0] and "commands" in query["scope"][0]
    state = query["state"][0]
    assert "slack-app-oauth-state=" + state in resp.headers["Set-Cookie"]
    done = client.get(f"/slack/oauth_redirect?code=good-code&state={state}")
    assert done.status_code == 200, done.get_data(as_text=True)


def test_oauth_flow_stores_installation(oauth_client, fake_slack):
    """Install, redirect with a code: oauth.v2.access is called and the bot token is stored."""
    install(oauth_client)
    [access] = fake_slack.called("oauth.v2.access")
    assert access.params["code"] == "good-code"
    bot = PeeweeInstallationStore().find_bot(enterprise_id=None, team_id="T0OTHER")
    assert bot is not None and bot.bot_token == "xoxb-installed-token"
    assert SlackOAuthState.select().count() == 0  # the state was consumed


def test_oauth_rejects_unknown_state_and_bad_code(oauth_client, fake_slack):
    """A forged state and a bad code are refused; nothing is stored."""
    oauth_client.set_cookie("slack-app-oauth-state", "forged")
    assert oauth_client.get("/slack/oauth_redirect?code=good-code&state=forged").status_code == 401
    resp = oauth_client.get("/slack/install")
    state = parse_qs(urlparse(resp.headers["Location"]).query)["state"][0]
    assert oauth_client.get(f"/slack/oauth_redirect?code=bad&state={state}").status_code == 401
    assert SlackInstallation.select().count() == 0


def test_installed_workspace_commands_and_tasks_use_its_token(oauth_client, fake_slack):
    """A command from the installed team is authorized from the store; tasks post with its token."""
    install(oauth_client)
    repo = f.repo("acme/widgets")
    f.subscription(repo, team="T0OTHER", channel="C0THEIRS")
    resp = SlackRequests(oauth_client, fake_slack).command("status acme/widgets", team="T0OTHER")
    assert resp.status_code == 200 and "acme/widgets" in resp.get_json()["text"]
    test = f.test_case(repo)
    f.score(test)
    f.propose(test.id)
    fake_slack.reset()
    jobs.enqueue(Job.NOTIFY_SLACK, event_id=f.event(test).id)
    [post] = fake_slack.called("chat.postMessage")
    assert post.token == "xoxb-installed-token" and post.params["channel"] == "C0THEIRS"


def test_unknown_workspace_is_not_served(oauth_client, fake_slack):
    """A command from a workspace that never installed the app is told how to install it."""
    resp = SlackRequests(oauth_client, fake_slack).command("status", team="T0NOBODY")
    assert resp.status_code == 200
    [reply] = fake_slack.responses
    assert "not installed" in reply.params["text"]
    assert "http://flakeguard.test/slack/install" in reply.params["text"]


def test_state_store_consumes_once(database):
    """An OAuth state is valid exactly once."""
    store = PeeweeOAuthStateStore()
    state = store.issue()
    assert store.consume(state) is True
    assert store.consume(state) is False
    assert store.consume("") is False


def test_expired_state_is_refused(database):
    """A state past its lifetime is refused."""
    store = PeeweeOAuthStateStore(expiration_seconds=-1)
    assert store.consume(store.issue()) is False


def test_installation_store_round_trip_and_delete(database):
    """Installations round-trip; delete_bot forgets the token (tokens_revoked)."""
    from slack_sdk.oauth.installation_store import Installation

    store = PeeweeInstallationStore()
    store.save(
        Installation(
            team_id="T1",
            user_id="U1",
            bot_token="xoxb-1",
            bot_id="B1",
            bot_user_id="UB",
            bot_scopes="chat:write",
        )
    )
    found = store.find_installation(enterprise_id=None, team_id="T1", user_id="U1")
    assert found is not None and found.bot_token == "xoxb-1" and found.bot_scopes == ["chat:write"]
    store.save(
        Installation(team_id="T1", user_id="U2", bot_token="xoxb-2", bot_id="B1", bot_user_id="UB")
    )
    assert store.find_bot(enterprise_id=None, team_id="T1").bot_token == "xoxb-2"
    store.delete_bot(enterprise_id=None, team_id="T1")
    assert store.find_bot(enterprise_id=None, team_id="T1") is None
    store.delete_installation(enterprise_id=None, team_id="T1")
    assert SlackInstallation.select().count() == 0


def test_revoked_bot_token_is_forgotten(oauth_client, fake_slack):
    """tokens_revoked deletes the team's bot token; later alerts are recorded, not sent."""
    install(oauth_client)
    repo = f.repo("acme/widgets")
    f.subscription(repo, team="T0OTHER", channel="C0THEIRS")
    event = {"type": "tokens_revoked", "tokens": {"bot": ["UBOT"]}}
    resp = SlackRequests(oauth_client, fake_slack).event(event, team="T0OTHER", event_id="Ev7")
    assert resp.status_code == 200
    assert PeeweeInstallationStore().find_bot(enterprise_id=None, team_id="T0OTHER") is None
    test = f.test_case(repo)
    f.propose(test.id)
    fake_slack.reset()
    jobs.enqueue(Job.NOTIFY_SLACK, event_id=f.event(test).id)
    assert fake_slack.called("chat.postMessage") == []
    from models import ChannelSubscription

    assert ChannelSubscription.get().last_error in ("token_revoked", "no_installation")
