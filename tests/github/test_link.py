"""Linking a Slack workspace to a tenant through GitHub sign-in (``/flakeguard connect``).

GitHub is the fake (user-to-server OAuth, /user, /user/installations,
/user/memberships/orgs/{org}); Slack requests are signed as Slack signs them.
Each refusal is checked to leave the workspace unlinked.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from flakeguard.usecases import tenant_links
from models import Installation, SlackWorkspace, Tenant, WorkspaceLinkState, utcnow
from tests.fakes.github import OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET
from tests.fakes.slack import SlackRequests, with_slack_oauth

TEAM = "T0OTHER"  # the team the fake Slack's OAuth install answers with
ORG_INSTALLATION, ORG_ID = 777, 9001
USER_INSTALLATION, ALICE_ID = 778, 501


@pytest.fixture
def link_app(github_settings, github_client, fake_slack, database) -> Any:  # type: ignore[no-untyped-def]
    """The app with Slack OAuth, the GitHub App and its OAuth client, all on the fakes."""
    import tasks
    from flakeguard.app import create_app
    from flakeguard.settings import Settings
    from tasks import github as github_tasks

    settings = with_slack_oauth(
        github_settings,
        fake_slack.api_url,
        github_client_id=OAUTH_CLIENT_ID,
        github_client_secret=OAUTH_CLIENT_SECRET,
    )
    app = create_app(settings, github=github_client)
    app.testing = True
    yield app.test_client()
    github_tasks.use_client(None)
    tasks.configure(Settings(queue_mode="immediate"))


@pytest.fixture
def tenants(database) -> dict[str, Tenant]:  # type: ignore[no-untyped-def]
    """Two tenants, each with an installation: org "acme" and the user account "alice"."""
    acme = Tenant.create(slug="acme", name="Acme <Corp>")
    alice = Tenant.create(slug="alice", name="Alice")
    Installation.create(
        tenant=acme, installation_id=ORG_INSTALLATION, account_login="acme", account_id=ORG_ID
    )
    Installation.create(
        tenant=alice,
        installation_id=USER_INSTALLATION,
        account_login="alice",
        account_id=ALICE_ID,
        account_type="User",
    )
    return {"acme": acme, "alice": alice}


def org_listing(fake_github: Any, **kwargs: Any) -> list[dict[str, Any]]:
    return [fake_github.installation_json(ORG_INSTALLATION, "acme", ORG_ID, **kwargs)]


def linked_tenant(team: str = TEAM) -> str | None:
    row = SlackWorkspace.get_or_none(SlackWorkspace.team_id == team)
    return row.tenant.slug if row is not None and row.tenant_id else None


def follow(client: Any, state: str, code: str) -> Any:
    """/github/link/start (must redirect to GitHub's authorize page), then the callback."""
    start = client.get(f"/github/link/start?state={state}")
    assert start.status_code == 302, start.get_data(as_text=True)
    location = urlparse(start.headers["Location"])
    query = parse_qs(location.query)
    assert location.path == "/login/oauth/authorize"
    assert query["client_id"] == [OAUTH_CLIENT_ID] and query["state"] == [state]
    assert query["redirect_uri"] == ["http://flakeguard.test/github/link/callback"]
    return client.get(f"/github/link/callback?code={code}&state={state}")


def confirmation(page: Any) -> dict[str, str]:
    """The hidden fields of the confirmation page's POST form (state and confirm token)."""
    html = page.get_data(as_text=True)
    assert page.status_code == 200, html
    assert '<form method="post" action="/github/link/confirm">' in html
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', html))


def follow_and_confirm(client: Any, state: str, code: str) -> Any:
    """The whole flow: start, callback (links nothing), then the Confirm POST."""
    fields = confirmation(follow(client, state, code))
    return client.post("/github/link/confirm", data=fields)


def admin_code(fake_github: Any, login: str = "carol") -> str:
    """A sign-in code for an active admin of the org "acme"."""
    return fake_github.add_user(
        login,
        77,
        installations=org_listing(fake_github),
        memberships={"acme": ("admin", "active")},
    )


def test_org_admin_links_the_workspace_from_slack(link_app, fake_slack, fake_github, tenants):
    """Happy path: install in Slack (unlinked), /flakeguard connect, an org admin signs in."""
    from tests.bot.test_oauth import install

    install(link_app)
    assert SlackWorkspace.get(SlackWorkspace.team_id == TEAM).tenant_id is None
    answer = SlackRequests(link_app, fake_slack).command("connect", team=TEAM)
    assert answer.status_code == 200
    text = answer.get_json()["text"]
    url = re.search(r"<(http://flakeguard\.test/github/link/start\?state=[^|>]+)\|", text)
    assert url is not None, text
    state = parse_qs(urlparse(url.group(1)).query)["state"][0]
    code = admin_code(fake_github)
    asked = follow(link_app, state, code)
    question = asked.get_data(as_text=True)
    assert (
        "Link Slack workspace Other (T0OTHER) to the FlakeGuard organisation of GitHub "
        "account acme?" in question
    ), question
    assert "Only continue if you started this from your own Slack workspace." in question
    assert asked.headers["Referrer-Policy"] == "no-referrer"
    assert asked.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in asked.headers["Content-Security-Policy"]
    assert linked_tenant() is None  # the callback alone links nothing
    done = link_app.post("/github/link/confirm", data=confirmation(asked))
    page = done.get_data(as_text=True)
    assert done.status_code == 200, page
    assert "Acme &lt;Corp&gt;" in page and "<Corp>" not in page  # escaped
    row = SlackWorkspace.get(SlackWorkspace.team_id == TEAM)
    assert (row.tenant.slug, row.linked_by) == ("acme", "github:carol")
    assert fake_github.calls_to("GET", r"^/user/memberships/orgs/acme$")
    assert not WorkspaceLinkState.select().where(WorkspaceLinkState.used_at.is_null()).exists()


def test_user_account_owner_links_the_workspace(link_app, fake_github, tenants):
    """Happy path: the installation is on alice's user account and alice signs in."""
    state = tenant_links.issue_link_state(TEAM, "U1")
    listing = [
        fake_github.installation_json(USER_INSTALLATION, "alice", ALICE_ID, account_type="User")
    ]
    code = fake_github.add_user("alice", ALICE_ID, installations=listing)
    assert follow_and_confirm(link_app, state, code).status_code == 200
    assert linked_tenant() == "alice"


def test_a_member_who_is_not_admin_is_refused(link_app, fake_github, tenants):
    """Attack: a plain org member (or a pending admin invitation) tries to link: 403, unlinked."""
    for role, status in (("member", "active"), ("admin", "pending")):
        state = tenant_links.issue_link_state(TEAM, "U1")
        code = fake_github.add_user(
            f"mallory-{role}-{status}",
            66,
            installations=org_listing(fake_github),
            memberships={"acme": (role, status)},
        )
        refused = follow(link_app, state, code)
        assert refused.status_code == 403
        assert "does not administer" in refused.get_data(as_text=True)
    assert linked_tenant() is None


def test_an_expired_state_is_refused(link_app, fake_github, tenants):
    """Attack: a link older than its lifetime: start and callback answer 400, unlinked."""
    old = utcnow() - tenant_links.STATE_TTL - timedelta(minutes=1)
    state = tenant_links.issue_link_state(TEAM, "U1", now=old)
    code = admin_code(fake_github)
    assert link_app.get(f"/github/link/start?state={state}").status_code == 400
    assert link_app.get(f"/github/link/callback?code={code}&state={state}").status_code == 400
    assert linked_tenant() is None
    assert fake_github.oauth_codes  # the code was never exchanged


def test_a_reused_or_forged_state_is_refused(link_app, fake_github, tenants):
    """Attack: the same link twice, or a made-up state: 400 and nothing changes."""
    state = tenant_links.issue_link_state(TEAM, "U1")
    memberships = {"acme": ("admin", "active")}
    code = fake_github.add_user(
        "carol", 77, installations=org_listing(fake_github), memberships=memberships
    )
    assert follow_and_confirm(link_app, state, code).status_code == 200
    tenant_links.unlink_workspace(TEAM)
    again = fake_github.add_user(
        "carol", 77, installations=org_listing(fake_github), memberships=memberships
    )
    assert link_app.get(f"/github/link/start?state={state}").status_code == 400
    assert link_app.get(f"/github/link/callback?code={again}&state={state}").status_code == 400
    assert link_app.get(f"/github/link/callback?code={again}&state=forged").status_code == 400
    assert link_app.get("/github/link/callback").status_code == 400
    assert linked_tenant() is None


def test_the_state_links_only_its_own_team(link_app, fake_github, tenants):
    """Attack: a link issued to another team is used by an admin: only that team is linked."""
    SlackWorkspace.create(team_id="T0ATTACKER")
    state = tenant_links.issue_link_state("T0VICTIM", "U9")
    code = admin_code(fake_github)
    assert follow_and_confirm(link_app, state, code).status_code == 200
    assert linked_tenant("T0VICTIM") == "acme"
    assert linked_tenant("T0ATTACKER") is None


def test_an_installation_of_another_account_or_app_is_refused(link_app, fake_github, tenants):
    """Attack: the user lists a user-account installation that is not theirs, an org they are
    not in, and an installation of another GitHub App: 403, unlinked."""
    listing = [
        fake_github.installation_json(USER_INSTALLATION, "alice", ALICE_ID, account_type="User"),
        fake_github.installation_json(ORG_INSTALLATION, "acme", ORG_ID),
    ]
    state = tenant_links.issue_link_state(TEAM, "U1")
    code = fake_github.add_user("mallory", 66, installations=listing)
    assert follow(link_app, state, code).status_code == 403
    asked = len(fake_github.calls_to("GET", r"^/user/memberships/orgs/acme$"))
    state = tenant_links.issue_link_state(TEAM, "U1")
    other_app = org_listing(fake_github, app_id=1)
    code = fake_github.add_user(
        "carol", 77, installations=other_app, memberships={"acme": ("admin", "active")}
    )
    assert follow(link_app, state, code).status_code == 403
    # another App's installation is not even considered
    assert len(fake_github.calls_to("GET", r"^/user/memberships/orgs/acme$")) == asked
    assert linked_tenant() is None


def test_a_workspace_linked_elsewhere_is_not_moved(link_app, fake_github, tenants):
    """Attack: an admin of tenant acme tries to take over a workspace linked to alice: 409."""
    tenant_links.link_workspace(TEAM, "alice")
    state = tenant_links.issue_link_state(TEAM, "U1")
    code = admin_code(fake_github)
    assert follow(link_app, state, code).status_code == 409
    assert linked_tenant() == "alice"


def test_a_bad_code_is_refused(link_app, fake_github, tenants):
    """A code GitHub does not accept: 400, unlinked, no user call made."""
    state = tenant_links.issue_link_state(TEAM, "U1")
    assert follow(link_app, state, "not-a-code").status_code == 400
    assert not fake_github.calls_to("GET", r"^/user")
    assert linked_tenant() is None


def test_web_host_of_the_api_url() -> None:
    """github.com's API -> github.com; a GHES /api/v3 -> its host; anything else -> itself."""
    from flakeguard.usecases.github import html_url

    assert html_url("https://api.github.com") == "https://github.com"
    assert html_url("https://ghe.example.com/api/v3") == "https://ghe.example.com"
    assert html_url("http://127.0.0.1:5000") == "http://127.0.0.1:5000"


def test_without_the_oauth_client_the_routes_answer_503(github_http, database):
    """No GITHUB_CLIENT_ID/SECRET: the link pages say so (503) and nothing is read."""
    assert github_http.get("/github/link/start?state=x").status_code == 503
    assert github_http.get("/github/link/callback?state=x&code=y").status_code == 503


def test_connect_in_a_linked_workspace_issues_no_link(link_app, fake_slack, tenants):
    """/flakeguard connect where the workspace is already linked: says so, no state issued."""
    from tests.bot.test_oauth import install

    install(link_app)
    tenant_links.link_workspace(TEAM, "acme")
    answer = SlackRequests(link_app, fake_slack).command("connect", team=TEAM)
    text = answer.get_json()["text"]
    assert "already linked" in text and "Acme &lt;Corp&gt;" in text
    assert WorkspaceLinkState.select().count() == 0


def unconfirmed(link_app: Any, fake_github: Any, team: str = TEAM) -> dict[str, str]:
    """A link verified by an admin of acme, waiting for its confirmation (nothing linked)."""
    state = tenant_links.issue_link_state(team, "U1")
    return confirmation(follow(link_app, state, admin_code(fake_github)))


def test_the_callback_alone_links_nothing(link_app, fake_github, tenants):
    """Attack: an attacker's /flakeguard connect link opened by a victim admin who signs in
    but does not confirm: the workspace stays unlinked, the confirmation waits unspent."""
    fields = unconfirmed(link_app, fake_github)
    assert linked_tenant() is None
    row = WorkspaceLinkState.get()
    assert row.used_at is not None and row.confirmed_at is None
    assert row.confirm_hash and fields["confirm"] not in row.confirm_hash  # only its hash
    assert link_app.get("/github/link/confirm").status_code == 405  # a GET never links
    assert linked_tenant() is None


def test_a_forged_expired_or_reused_confirmation_is_refused(link_app, fake_github, tenants):
    """Attack: a made-up token, an expired one, a second POST of a used one: 400, and the
    workspace link stays as it was."""
    fields = unconfirmed(link_app, fake_github)
    for forged in ({**fields, "confirm": "forged"}, {"state": fields["state"]}, {}):
        refused = link_app.post("/github/link/confirm", data=forged)
        assert refused.status_code == 400
        assert "Nothing was linked" in refused.get_data(as_text=True)
    assert linked_tenant() is None
    WorkspaceLinkState.update(confirm_expires_at=utcnow() - timedelta(seconds=1)).execute()
    assert link_app.post("/github/link/confirm", data=fields).status_code == 400
    assert linked_tenant() is None

    fields = unconfirmed(link_app, fake_github)
    assert link_app.post("/github/link/confirm", data=fields).status_code == 200
    assert linked_tenant() == "acme"
    tenant_links.unlink_workspace(TEAM)
    assert link_app.post("/github/link/confirm", data=fields).status_code == 400
    assert linked_tenant() is None


def test_a_confirmation_of_another_state_is_refused(link_app, fake_github, tenants):
    """Attack: the confirm token of one link posted with another link's state: 400, neither
    workspace is linked."""
    mine = unconfirmed(link_app, fake_github, team="T0MINE")
    theirs = unconfirmed(link_app, fake_github, team="T0THEIRS")
    mixed = {"state": mine["state"], "confirm": theirs["confirm"]}
    assert link_app.post("/github/link/confirm", data=mixed).status_code == 400
    assert linked_tenant("T0MINE") is None and linked_tenant("T0THEIRS") is None


def test_cancel_drops_the_confirmation(link_app, fake_github, tenants):
    """Cancel: the pending confirmation is dropped, a later Confirm POST is refused."""
    fields = unconfirmed(link_app, fake_github)
    assert link_app.get(f"/github/link/cancel?state={fields['state']}").status_code == 200
    assert link_app.post("/github/link/confirm", data=fields).status_code == 400
    assert linked_tenant() is None


def test_the_confirmation_page_escapes_a_hostile_workspace_name(link_app, fake_github, tenants):
    """Attack: a workspace named with HTML (its admin chooses the name): shown as text."""
    hostile = '<script>alert(1)</script>"><img src=x>'
    SlackWorkspace.create(team_id=TEAM, name=hostile)
    state = tenant_links.issue_link_state(TEAM, "U1")
    html = follow(link_app, state, admin_code(fake_github)).get_data(as_text=True)
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&#34;&gt;&lt;img src=x&gt;" in html, html
    assert linked_tenant() is None
