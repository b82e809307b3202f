"""Migration 0040: the api_token table and the read indexes, on a database with results in it."""

from __future__ import annotations

from peewee import Database

from tests.models.conftest import add_tenant, migrated_to, partition_aware

BEFORE = "0038_effect_outbox"
THIS = "0040_api_tokens"


def indexes(database: Database, table: str) -> set[str]:
    """The table's index names (test_result is partitioned on PostgreSQL since 0044)."""
    with partition_aware(database):
        return {index.name for index in database.get_indexes(table)}


def test_up_adds_tokens_and_indexes_and_down_removes_them(scratch: Database) -> None:
    """Results stored before 0040 stay; the failure index covers only failures; down undoes it."""
    with scratch.connection_context():
        runner = migrated_to(scratch, BEFORE)
        run = scratch.execute_sql
        add_tenant(scratch)
        run(
            "INSERT INTO repository (tenant_id, full_name, default_branch, settings, active, "
            "created_at) VALUES (1, 'acme/shop', 'main', '{}', true, CURRENT_TIMESTAMP)"
        )
        run(
            "INSERT INTO test_case (repository_id, key, suite, classname, name, first_seen, "
            "last_seen) VALUES (1, 'k', '', '', 'test_a', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
        )
        run(
            "INSERT INTO test_run (repository_id, sha, branch, ci_run_id, job, attempt, source, "
            "content_digest, tests, passed, failures, errors, skipped, duration, received_at, "
            "tainted) VALUES (1, 'abc', 'main', '1', 'j', 1, 'upload', 'd', 2, 1, 1, 0, 0, 1.0, "
            "CURRENT_TIMESTAMP, false)"
        )
        for status in ("passed", "failed", "error", "skipped"):
            run(
                "INSERT INTO test_result (run_id, test_case_id, status, duration, retry, "
                f"created_at) VALUES (1, 1, '{status}', 0.5, 0, CURRENT_TIMESTAMP)"
            )
        runner.up(THIS)
        assert "test_result_failure" in indexes(scratch, "test_result")
        assert "domain_event_repository_id_created_at" in indexes(scratch, "domain_event")
        run(
            "INSERT INTO api_token (tenant_id, name, token_hash, prefix, created_by, can_act, "
            "created_at) VALUES (1, 'ci', 'h', 'fga_abcdef', 'cli', false, CURRENT_TIMESTAMP)"
        )
        failures = run(
            "SELECT count(*) FROM test_result WHERE test_case_id = 1 "
            "AND status IN ('failed', 'error')"
        ).fetchone()[0]
        assert failures == 2
        assert run("SELECT count(*) FROM test_result").fetchone()[0] == 4
        runner.down(THIS)
        assert "api_token" not in scratch.get_tables()
        assert "test_result_failure" not in indexes(scratch, "test_result")
        assert "domain_event_repository_id_created_at" not in indexes(scratch, "domain_event")
        assert run("SELECT count(*) FROM test_result").fetchone()[0] == 4
