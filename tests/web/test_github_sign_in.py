"""Sign in with GitHub: the App's user-to-server OAuth on the fake GitHub; the installations
the user reaches name the tenant(s) they may sign in to."""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from models import Installation, Tenant, WebUser
from tests.fakes.github import OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET
from tests.web.conftest import csrf_of


@pytest.fixture
def gh_client(github_settings, github_client, database) -> Any:  # type: ignore[no-untyped-def]
    """A test client of the app with the GitHub App and its OAuth client on the fake."""
    import tasks
    from flakeguard.app import create_app
    from flakeguard.settings import Settings
    from tasks import github as github_tasks

    settings = dataclasses.replace(
        github_settings, github_client_id=OAUTH_CLIENT_ID, github_client_secret=OAUTH_CLIENT_SECRET
    )
    app = create_app(settings, github=github_client)
    app.testing = True
    yield app.test_client()
    github_tasks.use_client(None)
    tasks.configure(Settings(queue_mode="immediate"))


def tenant_with_installation(slug: str, installation_id: int, account_id: int) -> Tenant:
    tenant = Tenant.create(slug=slug, name=slug.capitalize())
    Installation.create(
        tenant=tenant,
        installation_id=installation_id,
        account_login=slug,
        account_id=account_id,
    )
    return tenant


def round_trip(client: Any, code: str) -> Any:
    start = client.get("/sign-in/github")
    assert start.status_code == 302
    location = urlparse(start.headers["Location"])
    query = parse_qs(location.query)
    assert location.path == "/login/oauth/authorize" and query["client_id"] == [OAUTH_CLIENT_ID]
    assert query["redirect_uri"] == ["http://flakeguard.test/sign-in/github/callback"]
    return client.get(f"/sign-in/github/callback?code={code}&state={query['state'][0]}")


def test_github_user_signs_in_to_the_tenant_of_their_installation(gh_client, fake_github) -> None:  # type: ignore[no-untyped-def]
    """One installation reached: signed in to its tenant as the GitHub user."""
    assert "Sign in with GitHub" in gh_client.get("/").get_data(as_text=True)
    acme = tenant_with_installation("acme", 801, 9001)
    code = fake_github.add_user(
        "carol",
        77,
        installations=[fake_github.installation_json(801, "acme", 9001)],
        memberships={"acme": ("member", "active")},
    )
    assert round_trip(gh_client, code).status_code == 302
    person = WebUser.get()
    assert (person.provider, person.subject, person.name) == ("github", "77", "carol")
    assert person.tenant_id == acme.id
    assert "Acme: overview" in gh_client.get("/").get_data(as_text=True)


def test_github_user_with_two_tenants_chooses_one(gh_client, fake_github) -> None:  # type: ignore[no-untyped-def]
    """Two tenants reached: a choice page; a tenant not offered cannot be chosen."""
    tenant_with_installation("acme", 801, 9001)
    beta = tenant_with_installation("beta", 802, 9002)
    other = Tenant.create(slug="other", name="Other")
    listing = [
        fake_github.installation_json(801, "acme", 9001),
        fake_github.installation_json(802, "beta", 9002),
    ]
    member = {"acme": ("member", "active"), "beta": ("admin", "active")}
    code = fake_github.add_user("dave", 78, installations=listing, memberships=member)
    page = round_trip(gh_client, code)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Choose an organisation" in html
    forged = gh_client.post(
        "/sign-in/github/choose", data={"tenant": other.id, "csrf_token": csrf_of(html)}
    )
    assert forged.status_code == 400 and not WebUser.select().exists()
    again = fake_github.add_user("dave", 78, installations=listing, memberships=member)
    page = round_trip(gh_client, again)
    chosen = gh_client.post(
        "/sign-in/github/choose",
        data={"tenant": beta.id, "csrf_token": csrf_of(page.get_data(as_text=True))},
    )
    assert chosen.status_code == 302 and WebUser.get().tenant_id == beta.id


def test_github_user_without_installation_is_refused(gh_client, fake_github) -> None:  # type: ignore[no-untyped-def]
    """No installation of this App reached: 403, nobody signed in."""
    tenant_with_installation("acme", 801, 9001)
    code = fake_github.add_user("eve", 79, installations=[])
    answer = round_trip(gh_client, code)
    assert answer.status_code == 403 and "cannot reach an installation" in answer.get_data(
        as_text=True
    )
    assert not WebUser.select().exists()


def test_outside_collaborator_is_not_a_person_of_the_tenant(gh_client, fake_github) -> None:  # type: ignore[no-untyped-def]
    """Reaching an org's installation only as a collaborator (or a pending member): refused."""
    tenant_with_installation("acme", 801, 9001)
    listing = [fake_github.installation_json(801, "acme", 9001)]
    for login, uid, memberships in (
        ("mallory", 80, {}),
        ("pat", 81, {"acme": ("member", "pending")}),
    ):
        code = fake_github.add_user(login, uid, installations=listing, memberships=memberships)
        answer = round_trip(gh_client, code)
        assert answer.status_code == 403, login
        assert "cannot reach an installation" in answer.get_data(as_text=True)
    assert not WebUser.select().exists()
    assert "Sign in" in gh_client.get("/").get_data(as_text=True)


def test_github_user_signs_in_to_their_own_account_installation(gh_client, fake_github) -> None:  # type: ignore[no-untyped-def]
    """An installation on the user's own account needs no org membership."""
    solo = tenant_with_installation("zoe", 803, 82)
    listing = [fake_github.installation_json(803, "zoe", 82, account_type="User")]
    code = fake_github.add_user("zoe", 82, installations=listing)
    assert round_trip(gh_client, code).status_code == 302
    assert WebUser.get().tenant_id == solo.id
