"""Migration 0037: the duplicate key of a run includes its commit; existing runs keep working."""

from __future__ import annotations

import pytest
from peewee import Database, IntegrityError

from tests.models.conftest import migrated_to

MIGRATION = "0037_run_dedupe_by_commit"
OLD_INDEX = "testrun_repository_id_ci_run_id_job_attempt_content_digest"
NEW_INDEX = "test_run_repository_id_sha_ci_run_id_job_attempt_content_digest"
NOW = "2026-09-01 00:00:00"


def _insert_run(database: Database, run_id: int, sha: str) -> None:
    database.execute_sql(
        "INSERT INTO test_run (id, repository_id, sha, branch, ci_run_id, job, attempt, source, "
        "content_digest, tests, passed, failures, errors, skipped, duration, received_at, "
        f"tainted) VALUES ({run_id}, 1, '{sha}', 'main', '', '', 1, 'cli', '{'d' * 64}', "
        f"1, 1, 0, 0, 0, 0.5, '{NOW}', {'false' if _postgres(database) else 0})"
    )


def _postgres(database: Database) -> bool:
    return "Postgres" in type(database).__name__


def _indexes(database: Database) -> set[str]:
    return {index.name for index in database.get_indexes("test_run")}


def test_up_keeps_runs_and_lets_another_commit_store_the_same_bytes(scratch: Database) -> None:
    """Runs stored before 0037 stay; after it the same digest for another commit is a new run."""
    with scratch.connection_context():
        runner = migrated_to(scratch, "0036_tenancy")
        scratch.execute_sql(
            "INSERT INTO repository (id, tenant_id, full_name, default_branch, settings, active, "
            f"created_at) VALUES (1, (SELECT min(id) FROM tenant), 'acme/widgets', 'main', '{{}}', "
            f"{'true' if _postgres(scratch) else 1}, '{NOW}')"
        )
        _insert_run(scratch, 1, "a" * 40)
        with pytest.raises(IntegrityError), scratch.atomic():
            _insert_run(scratch, 2, "b" * 40)  # the old key: another commit is a duplicate
        runner.up(MIGRATION)
        assert NEW_INDEX in _indexes(scratch) and OLD_INDEX not in _indexes(scratch)
        _insert_run(scratch, 2, "b" * 40)
        with pytest.raises(IntegrityError), scratch.atomic():
            _insert_run(scratch, 3, "b" * 40)  # same commit, same bytes: still one run

        runner.down(MIGRATION)
        assert OLD_INDEX in _indexes(scratch) and NEW_INDEX not in _indexes(scratch)
        rows = scratch.execute_sql(
            "SELECT id, sha, content_digest FROM test_run ORDER BY id"
        ).fetchall()
        assert [(run_id, sha) for run_id, sha, _ in rows] == [(1, "a" * 40), (2, "b" * 40)]
        assert rows[0][2] == "d" * 64 and rows[1][2] != "d" * 64  # the later one re-keyed
        runner.up(MIGRATION)
        assert NEW_INDEX in _indexes(scratch)
