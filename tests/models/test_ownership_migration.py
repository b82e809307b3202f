"""Migration 0042: ownership tables, and quarantines in place get an expiry after the upgrade."""

from __future__ import annotations

from datetime import datetime, timedelta

from peewee import Database

from models.base import utcnow
from models.migrate import apply_migrations
from tests.models.conftest import migrated_to

BEFORE = "0038_effect_outbox"
THIS = "0042_ownership"


def columns(database: Database, table: str) -> set[str]:
    return {column.name for column in database.get_columns(table)}


def test_quarantines_in_place_expire_after_the_upgrade_and_down_removes_it(
    scratch: Database,
) -> None:
    """A quarantined test gets 30 days from the upgrade; a proposed one no expiry; down drops."""
    with scratch.connection_context():
        runner = migrated_to(scratch, BEFORE)
        scratch.execute_sql(
            "INSERT INTO tenant (slug, name, created_at) VALUES ('t', '', '2026-01-01')"
        )
        scratch.execute_sql(
            "INSERT INTO repository (tenant_id, full_name, default_branch, settings, active,"
            " created_at) VALUES (1, 'acme/shop', 'main', '{}', true, '2026-01-01')"
        )
        for key in ("a", "b"):
            scratch.execute_sql(
                "INSERT INTO test_case (repository_id, key, suite, classname, name, first_seen,"
                f" last_seen) VALUES (1, '{key}', '', '', '{key}', '2026-01-01', '2026-01-01')"
            )
        for case, state in ((1, "quarantined"), (2, "proposed")):
            scratch.execute_sql(
                "INSERT INTO quarantine (test_case_id, repository_id, state, reason, proposed_at,"
                " dismissed_conflicts, version, github_synced_version, slack_synced_version,"
                f" updated_at) VALUES ({case}, 1, '{state}', '', '2025-01-01', 0, 1, 1, 1,"
                " '2025-01-01')"
            )
        before = utcnow()
        apply_migrations(scratch)
        added = {"expires_at", "reminded_at", "escalated_at", "issue_requested_at"}
        assert added <= columns(scratch, "quarantine")
        assert {"repo_file", "owner_route", "team_member"} <= set(scratch.get_tables())
        rows = scratch.execute_sql(
            "SELECT state, expires_at, reminded_at FROM quarantine ORDER BY id"
        ).fetchall()
        (state_a, expires_a, reminded_a), (state_b, expires_b, _) = rows
        if isinstance(expires_a, str):  # SQLite returns the text it stored
            expires_a = datetime.fromisoformat(expires_a)
        assert state_a == "quarantined" and reminded_a is None
        assert before + timedelta(days=29) < expires_a < before + timedelta(days=31)
        assert state_b == "proposed" and expires_b is None
        runner.down(THIS)
        assert not added & columns(scratch, "quarantine")
        assert not {"repo_file", "owner_route", "team_member"} & set(scratch.get_tables())
        assert scratch.execute_sql("SELECT count(*) FROM quarantine").fetchone()[0] == 2
