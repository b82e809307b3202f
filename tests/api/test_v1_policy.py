"""An acting API token acts for its creator: the tenant's workspace policies hold them."""

from __future__ import annotations

import pytest

from flakeguard.usecases import api_tokens
from flakeguard.usecases.policy import set_policy
from flakeguard.usecases.tenant_links import link_workspace
from models import Quarantine, TestCase, UserLink, WebUser, default_tenant
from tests.api.conftest import snapshot
from tests.bot import factories as f

TEAM = "T0POLICY"
BOSS = "U0BOSS"


@pytest.fixture
def guarded(database):  # type: ignore[no-untyped-def]
    """acme/shop with a proposed flaky test; only U0BOSS may approve in the tenant's workspace."""
    repo = f.repo("acme/shop")
    flaky = f.test_case(repo, "test_cart")
    f.score(flaky, value=0.2)
    f.propose(flaky.id)
    link_workspace(TEAM, default_tenant().slug)
    set_policy(TEAM, "users", users=[BOSS])
    return Quarantine.get(Quarantine.test_case == TestCase.get(TestCase.name == "test_cart").id)


def web_token(provider: str, subject: str, *, name: str = "", team_id: str = "") -> str:
    person = WebUser.create(
        tenant=default_tenant(), provider=provider, subject=subject, name=name, team_id=team_id
    )
    _info, secret = api_tokens.create_token(
        "bot", tenant_id=default_tenant().id, created_by=f"web:{person.id}", can_act=True
    )
    return secret


def approve(client, q: Quarantine, secret: str):  # type: ignore[no-untyped-def]
    return client.post(
        f"/api/v1/quarantines/{q.id}/approve", headers={"Authorization": f"Bearer {secret}"}
    )


@pytest.mark.parametrize(
    ("provider", "subject", "name"),
    [("slack", "U0ALICE", "alice"), ("github", "41", "octo-unlinked"), ("github", "42", "octo")],
)
def test_token_of_a_person_the_policy_refuses_cannot_approve(
    client, guarded, provider, subject, name
) -> None:  # type: ignore[no-untyped-def]
    """Slack Alice, an unlinked GitHub login, a login linked to Alice: 403, nothing changes."""
    UserLink.create(team_id=TEAM, slack_user_id="U0ALICE", github_login="octo")
    secret = web_token(provider, subject, name=name, team_id=TEAM if provider == "slack" else "")
    before = snapshot()
    response = approve(client, guarded, secret)
    assert response.status_code == 403, response.get_json()
    assert response.get_json()["error"]["code"] == "forbidden"
    assert snapshot() == before
    assert Quarantine.get_by_id(guarded.id).state == "proposed"


@pytest.mark.parametrize(
    ("provider", "subject", "name"),
    [("slack", BOSS, "boss"), ("github", "43", "The-Boss"), ("local", "admin", "administrator")],
)
def test_token_of_a_person_the_policy_allows_approves(
    client, guarded, provider, subject, name
) -> None:  # type: ignore[no-untyped-def]
    """The listed Slack user, a GitHub login linked to them, the local administrator: 200."""
    UserLink.create(team_id=TEAM, slack_user_id=BOSS, github_login="the-boss")
    secret = web_token(provider, subject, name=name, team_id=TEAM if provider == "slack" else "")
    response = approve(client, guarded, secret)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["changed"] is True
    assert Quarantine.get_by_id(guarded.id).state == "quarantined"


def test_policy_is_checked_at_use_and_assign_stays_open(client, guarded) -> None:  # type: ignore[no-untyped-def]
    """A token made while everyone could act is refused once the policy narrows; assign is open."""
    set_policy(TEAM, "everyone")
    secret = web_token("slack", "U0ALICE", team_id=TEAM)
    set_policy(TEAM, "users", users=[BOSS])
    assert approve(client, guarded, secret).status_code == 403
    assign = client.post(
        f"/api/v1/quarantines/{guarded.id}/assign",
        json={"assignee_slack": "U0ALICE"},
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert assign.status_code == 200, assign.get_json()


def test_token_whose_creator_is_gone_cannot_approve(client, guarded) -> None:  # type: ignore[no-untyped-def]
    secret = web_token("slack", BOSS, team_id=TEAM)
    WebUser.delete().execute()
    assert approve(client, guarded, secret).status_code == 403
