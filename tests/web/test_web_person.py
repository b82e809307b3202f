"""The person row of a sign-in: found again by the identity as stored, one row per identity."""

from __future__ import annotations

from flakeguard.usecases import web_auth
from flakeguard.usecases.tenant_links import GitHubUser
from models import WebUser, default_tenant


def test_an_identity_longer_than_the_column_signs_in_again(database) -> None:  # type: ignore[no-untyped-def]
    """A subject past 100 characters is stored cut; the next sign-in finds that row."""
    tenant = default_tenant()
    huge = GitHubUser(login="octo", id=10**120)
    first = web_auth.sign_in_github(huge, tenant.id)
    again = web_auth.sign_in_github(huge, tenant.id)
    assert first.user_id == again.user_id
    assert WebUser.select().count() == 1 and len(WebUser.get().subject) == 100
