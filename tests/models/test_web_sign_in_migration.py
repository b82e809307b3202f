"""Migration 0039: the dashboard's people and one-time sign-in links, on a database with a
tenant in it; a person belongs to one tenant, and goes with it."""

from __future__ import annotations

import pytest
from peewee import Database, IntegrityError

from tests.models.conftest import add_tenant, add_web_user, migrated_to

BEFORE = "0038_effect_outbox"
THIS = "0039_web_sign_in"


def test_up_adds_people_and_links_and_down_removes_them(scratch: Database) -> None:
    """The tenant stays; one person per (tenant, provider, subject); a link names its person."""
    with scratch.connection_context():
        runner = migrated_to(scratch, BEFORE)
        run = scratch.execute_sql
        tenant = add_tenant(scratch)
        tenants = run("SELECT count(*) FROM tenant").fetchone()[0]
        runner.up(THIS)
        add_web_user(scratch, tenant)
        user = run("SELECT id FROM web_user").fetchone()[0]
        run(
            "INSERT INTO web_login_token (token_hash, user_id, expires_at, created_at) "
            f"VALUES ('h', {user}, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
        )
        with pytest.raises(IntegrityError), scratch.atomic():
            add_web_user(scratch, tenant)  # the same person again
        assert run("SELECT count(*) FROM tenant").fetchone()[0] == tenants
        runner.down(THIS)
        assert not {"web_user", "web_login_token"} & set(scratch.get_tables())
        assert run("SELECT count(*) FROM tenant WHERE slug = 't'").fetchone()[0] == 1
