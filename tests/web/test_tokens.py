"""The "API tokens" page: a person creates, sees and revokes their own tokens for /api/v1."""

from __future__ import annotations

import re

from flakeguard.usecases import api_tokens
from flakeguard.usecases.demo import DEMO_REPO
from models import ApiToken
from tests.web.conftest import csrf_of


def test_create_use_and_revoke_a_token(admin, demo) -> None:  # type: ignore[no-untyped-def]
    """Shown once, stored hashed, reads the tenant's API; revoked, it is refused (401)."""
    page = admin.get("/tokens").get_data(as_text=True)
    assert "<title>API tokens · FlakeGuard</title>" in page and "no API token yet" in page
    made = admin.post(
        "/tokens", data={"name": "release board", "csrf_token": csrf_of(page)}
    ).get_data(as_text=True)
    secret = re.search(r'id="new-token">([^<]+)<', made).group(1)
    assert secret.startswith("fga_") and "shown only this once" in made
    row = ApiToken.get()
    assert row.token_hash != secret and not row.can_act and row.tenant_id == demo.home.id
    answer = admin.get("/api/v1/repos", headers={"Authorization": f"Bearer {secret}"})
    assert answer.status_code == 200 and DEMO_REPO in answer.get_data(as_text=True)
    listed = admin.get("/tokens").get_data(as_text=True)
    assert "release board" in listed and secret not in listed
    revoked = admin.post(f"/tokens/{row.prefix}/revoke", data={"csrf_token": csrf_of(listed)})
    assert revoked.status_code == 303
    assert "revoked" in admin.get("/tokens").get_data(as_text=True)
    again = admin.get("/api/v1/repos", headers={"Authorization": f"Bearer {secret}"})
    assert again.status_code == 401


def test_someone_elses_token_is_neither_shown_nor_revoked(admin, demo) -> None:  # type: ignore[no-untyped-def]
    """An operator's token of the same tenant is not this person's: not listed, 404 to revoke."""
    info, _ = api_tokens.create_token("ops", tenant_id=demo.home.id, created_by="operator")
    page = admin.get("/tokens").get_data(as_text=True)
    assert "ops" not in page.split("Your tokens")[1]
    answer = admin.post(f"/tokens/{info.prefix}/revoke", data={"csrf_token": csrf_of(page)})
    assert answer.status_code == 404
    assert ApiToken.get_by_id(info.id).revoked_at is None


def test_a_token_needs_a_name(admin) -> None:  # type: ignore[no-untyped-def]
    """No name: 400 with the reason, nothing stored."""
    page = admin.get("/tokens").get_data(as_text=True)
    answer = admin.post("/tokens", data={"name": " ", "csrf_token": csrf_of(page)})
    assert answer.status_code == 400 and "needs a name" in answer.get_data(as_text=True)
    assert ApiToken.select().count() == 0
