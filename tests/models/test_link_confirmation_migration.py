"""Migration 0036e: link states in flight keep working, ``down`` removes the confirmation."""

from __future__ import annotations

from peewee import Database

from models.migrate import apply_migrations
from tests.models.conftest import migrated_to

BEFORE = "0036d_encrypt_slack_tokens"
THIS = "0036e_link_confirmation"


def columns(database: Database) -> set[str]:
    return {column.name for column in database.get_columns("workspace_link_state")}


def test_a_pending_state_survives_up_and_down(scratch: Database) -> None:
    """A state issued before 0036e gets no pending confirmation; down keeps the row."""
    with scratch.connection_context():
        runner = migrated_to(scratch, BEFORE)
        scratch.execute_sql(
            "INSERT INTO workspace_link_state (state_hash, team_id, enterprise_id, user_id, "
            "account, expires_at, created_at) VALUES ('h1', 'T0OLD', '', 'U1', '', "
            "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
        )
        apply_migrations(scratch)
        assert {"confirm_hash", "confirm_tenant_id", "confirmed_at"} <= columns(scratch)
        row = scratch.execute_sql(
            "SELECT team_id, confirm_hash, confirm_account, confirmed_at FROM workspace_link_state"
        ).fetchone()
        assert tuple(row) == ("T0OLD", None, "", None)
        runner.down(THIS)
        assert not {c for c in columns(scratch) if c.startswith("confirm")}
        rows = scratch.execute_sql("SELECT team_id FROM workspace_link_state").fetchall()
        assert [tuple(r) for r in rows] == [("T0OLD",)]
