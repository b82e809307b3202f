"""The dashboard's fixtures: the app with Slack sign-in on the fake Slack, signed-in clients,
and the demo data beside a rival tenant."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from flakeguard.usecases import subscriptions, web_auth
from flakeguard.usecases.demo import DEMO_REPO, create_demo
from flakeguard.usecases.repos import add_repository
from flakeguard.usecases.tenant_links import create_tenant, link_workspace
from models import Tenant, default_tenant
from tests.fakes.slack import (
    CHANNEL_ID,
    CLIENT_ID,
    CLIENT_SECRET,
    TEAM_ID,
    FakeSlack,
    app_with_slack,
)

OTHER_TEAM = "T0RIVAL"
OTHER_REPO = "rival/secret-sauce"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = CSRF.search(html)
    assert found, "no form with a CSRF token"
    return found.group(1)


@pytest.fixture
def web_settings(slack_settings: Any, fake_slack: FakeSlack) -> Any:
    """Settings with Slack (bot token and the app's OAuth client for sign-in) on the fake."""
    return dataclasses.replace(
        slack_settings,
        slack_client_id=CLIENT_ID,
        slack_client_secret=CLIENT_SECRET,
        slack_web_url=fake_slack.url.rstrip("/"),
        session_secret="test-session-secret-0123456789abcdef",
    )


@pytest.fixture
def web_app(web_settings: Any, database: object) -> Iterator[Any]:
    """The app with the dashboard, Slack on the fake."""
    yield from app_with_slack(web_settings)


@dataclass(frozen=True)
class Tenants:
    """The demo in the default tenant (its workspace linked), and a rival tenant's repo."""

    home: Tenant
    rival: Tenant
    rival_test_id: int


@pytest.fixture
def demo(web_app: Any, fake_slack: FakeSlack) -> Tenants:
    """The demo history with its alerts posted in a subscribed channel, and a rival tenant."""
    home = default_tenant()
    link_workspace(TEAM_ID, home.slug)
    add_repository(DEMO_REPO, tenant=home)
    subscriptions.subscribe(TEAM_ID, CHANNEL_ID, DEMO_REPO, tenant_id=home.id)
    create_demo(max_bytes=50 * 2**20)
    rival = create_tenant("rival", name="Rival Inc")
    link_workspace(OTHER_TEAM, rival.slug)
    repo, _ = add_repository(OTHER_REPO, tenant=rival)
    from models import TestCase

    secret = TestCase.create(
        repository=repo, key="tests/test_x.py::test_secret", name="test_secret", file="tests/x.py"
    )
    fake_slack.reset()
    return Tenants(home=home, rival=rival, rival_test_id=secret.id)


def sign_in_link(client: Any, tenant: Tenant) -> Any:
    """Sign ``client`` in through a one-time link of ``tenant``; the response after redirects."""
    secret = web_auth.issue_login_link(tenant)
    page = client.get(f"/sign-in/link?token={secret}")
    token = csrf_of(page.get_data(as_text=True))
    return client.post("/sign-in/link", data={"secret": secret, "csrf_token": token})


@pytest.fixture
def admin(web_app: Any, demo: Tenants) -> Any:
    """A test client signed in as the default tenant's local administrator."""
    client = web_app.test_client()
    assert sign_in_link(client, demo.home).status_code == 302
    return client
