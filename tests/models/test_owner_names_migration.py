"""Migration 0053: owner names of 141 characters, a route's last error, spent OIDC tokens."""

from __future__ import annotations

import pytest
from peewee import Database, IntegrityError

from engine.codeowners import MAX_OWNER_CHARS, OWNER_PATTERN
from tests.models.conftest import add_tenant, migrated_to

BEFORE = "0052_weekly_digest"
THIS = "0053_owner_names_and_spent_tokens"
LONGEST = "@" + "o" * 39 + "/" + "t" * 100


def test_the_longest_github_team_is_one_owner_of_the_constants_length() -> None:
    assert len(LONGEST) == MAX_OWNER_CHARS == 141
    assert OWNER_PATTERN.fullmatch(LONGEST)
    assert not OWNER_PATTERN.fullmatch(LONGEST + "t")


def test_up_takes_the_longest_team_and_spent_tokens_and_down_undoes_it(scratch: Database) -> None:
    with scratch.connection_context():
        runner = migrated_to(scratch, BEFORE)
        run = scratch.execute_sql
        tenant = add_tenant(scratch, "w")
        runner.up(THIS)
        run(
            "INSERT INTO owner_route (tenant_id, owner, team_id, channel_id, created_by,"
            f" created_at, last_error) VALUES ({tenant}, '{LONGEST}', 'T1', 'C1', '',"
            " CURRENT_TIMESTAMP, 'channel_not_found')"
        )
        run(
            "INSERT INTO team_member (tenant_id, team, login, updated_at)"
            f" VALUES ({tenant}, '{LONGEST}', 'ann', CURRENT_TIMESTAMP)"
        )
        assert run("SELECT owner, last_error FROM owner_route").fetchone() == (
            LONGEST,
            "channel_not_found",
        )
        repo = run(
            "INSERT INTO repository (tenant_id, full_name, default_branch, settings, active,"
            f" created_at) VALUES ({tenant}, 'acme/shop', 'main', '{{}}', TRUE,"
            " CURRENT_TIMESTAMP) RETURNING id"
        ).fetchone()[0]
        spend = (
            "INSERT INTO actions_token_use (jti, repository_id, expires_at, used_at)"
            f" VALUES ('j-1', {repo}, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
        )
        run(spend)
        with pytest.raises(IntegrityError), scratch.atomic():
            run(spend)
        runner.down(THIS)
        assert "actions_token_use" not in scratch.get_tables()
        assert "last_error" not in {c.name for c in scratch.get_columns("owner_route")}
        assert run("SELECT count(*) FROM owner_route").fetchone()[0] == 1
