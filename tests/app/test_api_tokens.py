"""API tokens: stored hashed, scoped to a tenant, revocable, read-only unless created to act."""

from __future__ import annotations

import pytest

from flakeguard.errors import AuthError, BadRequestError, NotFoundError
from flakeguard.usecases import api_tokens
from flakeguard.usecases.tokens import hash_token
from models import ApiToken, Tenant, default_tenant


@pytest.fixture
def tenants(database):  # type: ignore[no-untyped-def]
    return default_tenant(), Tenant.create(slug="globex", name="Globex")


def test_created_token_is_stored_hashed_and_authenticates(tenants) -> None:  # type: ignore[no-untyped-def]
    """Only the hash and the prefix are stored; the token names its tenant and rights."""
    acme, _ = tenants
    info, token = api_tokens.create_token("ci", tenant_id=acme.id, created_by="web:alice")
    row = ApiToken.get_by_id(info.id)
    assert row.token_hash == hash_token(token) and token not in (row.prefix, row.name)
    assert token.startswith("fga_") and info.prefix == token[:10]
    who = api_tokens.authenticate(token)
    assert (who.tenant_id, who.can_act, who.name) == (acme.id, False, "ci")
    assert info.created_by == "web:alice"


def test_list_and_revoke_are_scoped_to_the_tenant(tenants) -> None:  # type: ignore[no-untyped-def]
    """A tenant lists and revokes only its own tokens; another's prefix is unknown to it."""
    acme, globex = tenants
    mine, token = api_tokens.create_token("ci", tenant_id=acme.id, created_by="cli")
    theirs, _ = api_tokens.create_token("ci", tenant_id=globex.id, created_by="cli", can_act=True)
    assert [t.prefix for t in api_tokens.list_tokens(tenant_id=acme.id)] == [mine.prefix]
    assert len(api_tokens.list_tokens(tenant_id=None)) == 2
    with pytest.raises(NotFoundError):
        api_tokens.revoke_token(theirs.prefix, tenant_id=acme.id)
    info, revoked = api_tokens.revoke_token(token, tenant_id=acme.id)
    assert revoked and info.revoked_at is not None
    with pytest.raises(AuthError):
        api_tokens.authenticate(token)
    assert api_tokens.revoke_token(mine.prefix, tenant_id=acme.id)[1] is False


@pytest.mark.parametrize("name", ["", "   ", "x" * 101, "bad\nname"])
def test_bad_names_are_refused(tenants, name) -> None:  # type: ignore[no-untyped-def]
    """An empty, overlong or multi-line name is refused, nothing stored."""
    with pytest.raises(BadRequestError):
        api_tokens.create_token(name, tenant_id=tenants[0].id, created_by="cli")
    assert ApiToken.select().count() == 0


@pytest.mark.parametrize("token", [None, "", "fgi_ingest", "fga_unknown"])
def test_unknown_tokens_are_refused(tenants, token) -> None:  # type: ignore[no-untyped-def]
    """Missing, foreign-kind and unknown tokens are AuthError (401)."""
    with pytest.raises(AuthError):
        api_tokens.authenticate(token)
