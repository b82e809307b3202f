"""Migration 0052: ``weekly_digest``, one row per weekly digest, unique per channel and subject."""

from __future__ import annotations

import pytest
from peewee import Database, IntegrityError

from tests.models.conftest import add_tenant, migrated_to

BEFORE = "0045_web_session_generation"
THIS = "0052_weekly_digest"
INSERT = (
    "INSERT INTO weekly_digest (tenant_id, week, team_id, channel, subject, repository_id,"
    " owner, message_id, created_at) VALUES ({tenant}, '2026-03-02', 'T1', 'C1', '{subject}',"
    " NULL, '@org/payments', {message}, CURRENT_TIMESTAMP)"
)


def test_up_creates_the_table_unique_per_week_and_down_drops_it(scratch: Database) -> None:
    with scratch.connection_context():
        runner = migrated_to(scratch, BEFORE)
        run = scratch.execute_sql
        tenant = add_tenant(scratch, "w")
        for _ in range(2):
            run(
                "INSERT INTO slack_message (team_id, channel, kind, rendered_version,"
                " created_at, updated_at) VALUES ('T1', 'C1', 'digest', -1,"
                " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        first, second = (row[0] for row in run("SELECT id FROM slack_message ORDER BY id"))
        runner.up(THIS)
        run(INSERT.format(tenant=tenant, subject="owner:@org/payments", message=first))
        with pytest.raises(IntegrityError), scratch.atomic():
            run(INSERT.format(tenant=tenant, subject="owner:@org/payments", message=second))
        run(INSERT.format(tenant=tenant, subject="owner:@org/core", message=second))
        assert run("SELECT count(*) FROM weekly_digest").fetchone()[0] == 2
        runner.down(THIS)
        assert "weekly_digest" not in scratch.get_tables()
        assert run("SELECT count(*) FROM slack_message").fetchone()[0] == 2
