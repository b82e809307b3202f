"""Cross-tenant attacks on the Slack side, each sent as a correctly signed Slack request.

Setup: one bot token (team T0TEST, the default tenant) owns acme/widgets with a proposed
quarantine alerted in C0ALERTS; another tenant owns rival/secret. Every refused case
checks that nothing changed and that the answer equals the one for something that does
not exist.
"""

from __future__ import annotations

import json

import pytest

from flakeguard import jobs
from flakeguard.usecases import testcases
from flakeguard.usecases.policy import set_policy
from models import (
    ChannelSubscription,
    Quarantine,
    QuarantineEvent,
    Repository,
    SlackMessage,
    SlackWorkspace,
    Tenant,
    TestCase,
    UserLink,
)
from tests.bot import factories as f
from tests.bot.limits import all_text
from tests.fakes.slack import CHANNEL_ID, TEAM_ID, SlackRequests, nobody_view_submission

FOREIGN_TEAM = "T0EVIL"
COMMANDS = [
    "status",
    "status acme/widgets",
    "top",
    "test upload",
    "quarantine upload_retries",
    "unquarantine upload_retries",
    "subscribe acme/widgets",
    "unsubscribe acme/widgets",
    "link octocat",
]


def snapshot() -> tuple[int, ...]:
    """Row counts and states that a refused request must leave alone."""
    return (
        QuarantineEvent.select().count(),
        ChannelSubscription.select().count(),
        UserLink.select().count(),
        SlackWorkspace.select().where(SlackWorkspace.tenant.is_null(False)).count(),
        *[q.version for q in Quarantine.select().order_by(Quarantine.id)],
    )


@pytest.fixture
def world(slack_app, fake_slack):  # type: ignore[no-untyped-def]
    """Our repository with an alerted proposal; a rival tenant's repository with one too."""
    repo = f.repo("acme/widgets")
    f.subscription(repo)
    test, q = f.proposal(repo, value=0.2)
    jobs.enqueue("notify_slack", event_id=f.event(test, "flaky").id)
    rival = Tenant.create(slug="rival", name="Rival")
    secret = Repository.create(tenant=rival, full_name="rival/secret")
    _, secret_q = f.proposal(secret, "test_secret_sauce", value=0.4)
    fake_slack.reset()
    return q, secret, secret_q


def posted_ts(q: Quarantine) -> str:
    return SlackMessage.get(SlackMessage.quarantine == q.id).ts


@pytest.mark.parametrize("text", COMMANDS)
def test_foreign_team_command_is_refused_with_the_same_words(world, slack, text):
    """Attack: a signed /flakeguard from another team than the bot token's; refused, unchanged."""
    before = snapshot()
    reply = slack.command(text, team=FOREIGN_TEAM).get_json()
    assert reply["response_type"] == "ephemeral"
    assert reply["text"] == ":no_entry: FlakeGuard does not serve this request here."
    assert "acme" not in json.dumps(reply) and snapshot() == before


def test_foreign_enterprise_command_is_refused(world, slack):
    """Attack: the token's own team id with an enterprise the token is not part of."""
    before = snapshot()
    body = slack.command("status", enterprise_id="E0OTHER")
    assert "does not serve" in body.get_json()["text"] and snapshot() == before


@pytest.mark.parametrize(
    "text", ["status rival/secret", "top rival/secret", "subscribe rival/secret"]
)
def test_other_tenants_repository_is_as_unknown_as_a_missing_one(world, slack, text):
    """Attack: our own workspace names another tenant's repository: the answer reveals nothing."""
    before = snapshot()
    foreign = all_text(slack.command(text).get_json())
    missing = all_text(slack.command(text.replace("rival/secret", "rival/nothing")).get_json())
    assert foreign.replace("secret", "X") == missing.replace("nothing", "X")
    assert "unknown repository" in foreign and snapshot() == before


@pytest.mark.parametrize("text", ["test secret_sauce", "quarantine secret_sauce"])
def test_other_tenants_test_cannot_be_read_or_quarantined(world, slack, text):
    """Attack: /flakeguard test|quarantine with the name of another tenant's test."""
    before = snapshot()
    foreign = all_text(slack.command(text).get_json())
    missing = all_text(slack.command(text.replace("secret_sauce", "nothing_here")).get_json())
    assert foreign.replace("secret_sauce", "X") == missing.replace("nothing_here", "X")
    assert "rival" not in foreign and snapshot() == before


@pytest.mark.parametrize("action", ["fg_approve", "fg_undo", "fg_dismiss", "fg_lift"])
def test_foreign_team_click_is_refused(world, slack, fake_slack, action):
    """Attack: a signed click from another team on our alert's exact message and value."""
    q, _, _ = world
    before = snapshot()
    resp = slack.click(action, f"{q.id}:{q.version}", team=FOREIGN_TEAM, message_ts=posted_ts(q))
    assert resp.status_code == 200 and snapshot() == before
    [reply] = fake_slack.responses
    assert "does not serve" in reply.params["text"]


def test_button_naming_another_tenants_quarantine_is_refused(world, slack, fake_slack):
    """Attack: our alert's button, its value forged to another repository's quarantine id."""
    q, _, secret_q = world
    before = snapshot()
    slack.click("fg_approve", f"{secret_q.id}:{secret_q.version}", message_ts=posted_ts(q))
    slack.click("fg_approve", f"{10**6}:0", message_ts=posted_ts(q))
    assert snapshot() == before
    foreign, missing = (r.params["text"] for r in fake_slack.responses)
    assert foreign == missing and "not one FlakeGuard can act on" in foreign


@pytest.mark.parametrize("forged", ["abc", "1", "-1:0", "1:-1", "id:-1", "99999999999:0", "1:1\n"])
def test_malformed_button_value_is_refused_not_500(world, slack, fake_slack, forged):
    """Attack: forged button values (not id:version, negative, out of range); 200, no change."""
    q, _, _ = world
    before = snapshot()
    resp = slack.click("fg_approve", forged, message_ts=posted_ts(q))
    assert resp.status_code == 200 and snapshot() == before
    assert "not one FlakeGuard can act on" in fake_slack.responses[0].params["text"]


def test_button_on_a_message_flakeguard_did_not_post_there_is_refused(world, slack, fake_slack):
    """Attack: the right value clicked on another message (another ts, another channel)."""
    q, _, _ = world
    before = snapshot()
    slack.click("fg_approve", f"{q.id}:{q.version}", message_ts="1700000000.999999")
    slack.click("fg_approve", f"{q.id}:{q.version}", channel="C0ELSE", message_ts=posted_ts(q))
    assert snapshot() == before and len(fake_slack.responses) == 2


def test_button_in_our_workspace_on_our_message_still_works(world, slack):
    """The home workspace of a one-token setup acts exactly as before."""
    q, _, _ = world
    slack.click("fg_approve", f"{q.id}:{q.version}", message_ts=posted_ts(q))
    assert Quarantine.get_by_id(q.id).state == "quarantined"


def test_owning_workspace_policy_applies_to_its_message(world, slack, fake_slack):
    """The policy applied to a click is the one of the workspace the message was posted in."""
    q, _, _ = world
    set_policy(TEAM_ID, "users", users=["U0BOSS"])
    before = snapshot()
    slack.click("fg_approve", f"{q.id}:{q.version}", message_ts=posted_ts(q))
    assert snapshot() == before and "Not allowed" in fake_slack.responses[0].params["text"]
    slack.click("fg_approve", f"{q.id}:{q.version}", message_ts=posted_ts(q), user="U0BOSS")
    assert Quarantine.get_by_id(q.id).state == "quarantined"


def test_slack_connect_guest_in_a_home_channel_is_refused(world, slack, fake_slack):
    """Attack: a user of another organisation (user.team_id differs) clicks in our channel."""
    q, _, _ = world
    before = snapshot()
    payload = {
        "type": "block_actions",
        "team": {"id": TEAM_ID},
        "user": {"id": "U0GUEST", "team_id": "T0GUESTORG"},
        "container": {"type": "message", "message_ts": posted_ts(q), "channel_id": CHANNEL_ID},
        "channel": {"id": CHANNEL_ID},
        "message": {"ts": posted_ts(q)},
        "response_url": fake_slack.response_url("guest"),
        "actions": [{"type": "button", "action_id": "fg_approve", "value": f"{q.id}:{q.version}"}],
    }
    assert slack.interactive(payload).status_code == 200 and snapshot() == before
    assert "does not serve" in fake_slack.responses[0].params["text"]


def test_approve_all_and_its_view_refuse_another_teams_digest(world, slack, fake_slack):
    """Attack: Approve all with a forged message id, and a view submission naming another team."""
    q, _, secret_q = world
    jobs.enqueue("weekly_digest")
    digest = SlackMessage.get(SlackMessage.kind == "digest")
    fake_slack.reset()
    before = snapshot()
    slack.click("fg_approve_all", str(digest.id), team=FOREIGN_TEAM, message_ts=digest.ts)
    slack.click("fg_approve_all", str(digest.id + 1000), message_ts=digest.ts)
    slack.click("fg_approve_all", "abc", message_ts=digest.ts)
    assert fake_slack.called("views.open") == [] and len(fake_slack.responses) == 3
    metadata = json.dumps({"m": digest.id, "c": CHANNEL_ID, "q": [[q.id, q.version]]})
    refused = slack.submit_view("fg_approve_all_view", metadata, team=FOREIGN_TEAM).get_json()
    assert refused["response_action"] == "update"
    smuggled = json.dumps({"m": digest.id, "c": CHANNEL_ID, "q": [[secret_q.id, 1]]})
    assert slack.submit_view("fg_approve_all_view", smuggled).status_code == 200
    for bad in ("{", '{"m": -1}', '{"m": "x"}', '{"q": [[1]]}'):
        assert slack.submit_view("fg_approve_all_view", bad).status_code == 200
    assert snapshot() == before


def test_view_submission_naming_no_team_or_user_gets_200(world, slack):
    """Attack: a view submission with no team and no user: a refusal modal, never a 500."""
    resp = slack.interactive(nobody_view_submission())
    assert resp.status_code == 200 and resp.get_json()["response_action"] == "update"


def test_alerts_skip_a_foreign_teams_subscription(world, fake_slack):
    """Attack: a subscription row of a team of another tenant never receives our alerts."""
    _, secret, _ = world
    repo = Repository.get(Repository.full_name == "acme/widgets")
    f.workspace("T0RIVAL", tenant_id=secret.tenant_id)
    ChannelSubscription.create(team_id="T0RIVAL", channel_id="C0SPY", repository=repo)
    test = TestCase.get(TestCase.name == "test_upload_retries")
    jobs.enqueue("notify_slack", event_id=f.event(test, "flaky").id)
    jobs.enqueue("weekly_digest")
    channels = {c.params["channel"] for c in fake_slack.called("chat.postMessage")}
    assert "C0SPY" not in channels and CHANNEL_ID in channels


def test_like_wildcards_match_literally(world, slack):
    """Attack: `quarantine t_st` (`_` a LIKE wildcard, like `%`) must not match `test_...`."""
    before = snapshot()
    for query in ("t_st_upload", "up%retries", "%", "\\"):
        text = all_text(slack.command(f"quarantine {query}").get_json())
        assert "no test matches" in text
    assert snapshot() == before


def test_ambiguous_quarantine_lists_candidates_within_the_tenant(world, slack):
    """`quarantine` refuses a name matching several tests and lists only the tenant's."""
    repo = Repository.get(Repository.full_name == "acme/widgets")
    f.test_case(repo, "test_upload_big")
    before = snapshot()
    text = all_text(slack.command("quarantine test_upload").get_json())
    assert "matches several tests" in text and "test_upload_big" in text
    assert "secret" not in text and snapshot() == before
    with pytest.raises(testcases.AmbiguousTestError):
        testcases.find_test("test_upload", tenant_id=repo.tenant_id)


@pytest.fixture
def oauth(settings, fake_slack, database):  # type: ignore[no-untyped-def]
    """An OAuth app where a stranger installs FlakeGuard into T0STRANGER."""

    import tasks
    from flakeguard.app import create_app
    from flakeguard.settings import Settings
    from tests.bot.test_oauth import install
    from tests.fakes.slack import with_slack_oauth

    app = create_app(with_slack_oauth(settings, fake_slack.api_url))
    app.testing = True
    client = app.test_client()
    fake_slack.install_team = "T0STRANGER"
    install(client)
    yield SlackRequests(client, fake_slack)
    tasks.configure(Settings(queue_mode="immediate"))


def test_strangers_oauth_install_sees_nothing_until_linked(oauth, fake_slack):
    """Attack: anyone installs through /slack/install; every command says "not linked"."""
    repo = f.repo("acme/widgets")
    test = f.test_case(repo, "test_upload_retries")
    before = snapshot()
    for text in COMMANDS:
        reply = oauth.command(text, team="T0STRANGER").get_json()
        assert "not linked" in reply["text"] and "/flakeguard connect" in reply["text"]
        assert "acme" not in json.dumps(reply)
    assert snapshot() == before
    # Linked (by whatever proof): it sees its tenant's repositories, and only those.
    own = Tenant.create(slug="stranger")
    Repository.create(tenant=own, full_name="stranger/app")
    f.workspace("T0STRANGER", tenant_id=own.id)
    text = all_text(oauth.command("status", team="T0STRANGER").get_json())
    assert "stranger/app" in text and "acme" not in text
    answer = oauth.command("test upload_retries", team="T0STRANGER").get_json()
    assert "no test matches" in all_text(answer)
    assert Quarantine.select().where(Quarantine.test_case == test.id).count() == 0


def test_grid_user_team_is_the_org_and_a_guest_org_is_refused(database):
    """Enterprise Grid reports user.team_id as the org (E...): accepted; another org's: refused."""
    from flakeguard.usecases.tenancy import RefusedError, resolve_slack

    common = {
        "installed_team_id": "T0GRID",
        "installed_enterprise_id": "E0ORG",
        "team_id": "T0GRID",
        "enterprise_id": "E0ORG",
        "user_id": "U1",
        "single_token": True,
    }
    principal = resolve_slack(**common, user_team_id="E0ORG")
    assert principal.linked and principal.team_id == "T0GRID"
    for guest in ("E0OTHERORG", "T0OTHER"):
        with pytest.raises(RefusedError):
            resolve_slack(**common, user_team_id=guest)
    with pytest.raises(RefusedError):  # a sibling workspace's request on this token
        resolve_slack(**{**common, "team_id": "T0SIBLING"}, user_team_id="E0ORG")
