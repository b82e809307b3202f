"""The workspace policies hold people on the dashboard: approving, and minting acting tokens."""

from __future__ import annotations

from typing import Any

import pytest

from flakeguard.usecases.policy import set_policy
from models import ApiToken, Quarantine, TestCase, UserLink, WebUser
from tests.fakes.slack import TEAM_ID
from tests.web.conftest import csrf_of

FLAKY = "test_payment_webhook_timeout"
BOSS = "U0BOSS"


def signed_in_as(web_app: Any, demo: Any, provider: str, subject: str, name: str) -> Any:
    """A client whose session is this person's (the row a sign-in would have made)."""
    team = TEAM_ID if provider == "slack" else ""
    person = WebUser.create(
        tenant=demo.home, provider=provider, subject=subject, name=name, team_id=team
    )
    client = web_app.test_client()
    with client.session_transaction() as session:
        session["uid"], session["tid"] = person.id, demo.home.id
    return client


def approve(client: Any) -> Quarantine:
    tid = TestCase.get(TestCase.name == FLAKY).id
    page = client.get(f"/tests/{tid}").get_data(as_text=True)
    q = Quarantine.get(Quarantine.test_case == tid)
    answer = client.post(
        f"/tests/{tid}/actions",
        data={"action": "approve", "version": q.version, "csrf_token": csrf_of(page)},
    )
    assert answer.status_code == 303
    return Quarantine.get_by_id(q.id)


@pytest.mark.parametrize(
    ("provider", "subject", "name", "state"),
    [
        ("github", "41", "octo", "proposed"),  # linked to Alice, whom the policy refuses
        ("github", "42", "stranger", "proposed"),  # linked to nobody
        ("github", "43", "the-boss", "quarantined"),  # linked to U0BOSS
        ("slack", BOSS, "boss", "quarantined"),
        ("local", "admin", "administrator", "quarantined"),  # the operator
    ],
)
def test_approve_from_the_dashboard_follows_the_policy(
    web_app, demo, provider, subject, name, state
) -> None:  # type: ignore[no-untyped-def]
    set_policy(TEAM_ID, "users", users=[BOSS])
    UserLink.create(team_id=TEAM_ID, slack_user_id="U0ALICE", github_login="octo")
    UserLink.create(team_id=TEAM_ID, slack_user_id=BOSS, github_login="The-Boss")
    client = signed_in_as(web_app, demo, provider, subject, name)
    assert approve(client).state == state
    if state == "proposed":
        tid = TestCase.get(TestCase.name == FLAKY).id
        assert "Nothing changed" in client.get(f"/tests/{tid}").get_data(as_text=True)


def test_only_a_person_the_policy_allows_mints_an_acting_token(web_app, demo) -> None:  # type: ignore[no-untyped-def]
    """Alice (refused by the policy) gets a 403 and no token; a read token she may make."""
    set_policy(TEAM_ID, "users", users=[BOSS])
    alice = signed_in_as(web_app, demo, "slack", "U0ALICE", "alice")
    page = alice.get("/tokens").get_data(as_text=True)
    acting = {"name": "x", "can_act": "yes", "csrf_token": csrf_of(page)}
    refused = alice.post("/tokens", data=acting)
    assert refused.status_code == 403 and "not allowed" in refused.get_data(as_text=True)
    assert not ApiToken.select().exists()
    read = alice.post("/tokens", data={"name": "r", "csrf_token": csrf_of(page)})
    assert read.status_code == 200 and ApiToken.get().can_act is False
    boss = signed_in_as(web_app, demo, "slack", BOSS, "boss")
    page = boss.get("/tokens").get_data(as_text=True)
    made = boss.post("/tokens", data={"name": "b", "can_act": "yes", "csrf_token": csrf_of(page)})
    assert made.status_code == 200 and ApiToken.get(ApiToken.name == "b").can_act is True
