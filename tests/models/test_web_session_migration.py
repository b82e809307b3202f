"""Migration 0045: ``web_user.session_generation``, 0 for the people already there."""

from __future__ import annotations

from peewee import Database

from tests.models.conftest import add_tenant, add_web_user, migrated_to

BEFORE = "0044_partition_test_results"
THIS = "0045_web_session_generation"


def test_up_adds_the_generation_and_down_removes_it(scratch: Database) -> None:
    with scratch.connection_context():
        runner = migrated_to(scratch, BEFORE)
        run = scratch.execute_sql
        tenant = add_tenant(scratch)
        add_web_user(scratch, tenant)
        runner.up(THIS)
        assert run("SELECT subject, session_generation FROM web_user").fetchall() == [("U1", 0)]
        runner.down(THIS)
        columns = {c.name for c in scratch.get_columns("web_user")}
        assert "session_generation" not in columns and "subject" in columns
        assert run("SELECT count(*) FROM web_user").fetchone()[0] == 1
