"""Migrations create the whole schema once, identically on SQLite and PostgreSQL."""

from __future__ import annotations

from playhouse.schema_diff import diff_models

from models import ALL_MODELS
from models.migrate import apply_migrations, pending_migrations
from tests.models.conftest import partition_aware


def test_migrate_is_idempotent(database) -> None:  # type: ignore[no-untyped-def]
    """A second migrate applies nothing and nothing is pending."""
    assert apply_migrations(database) == []
    assert pending_migrations(database) == []


# Indexes only a migration can express (PostgreSQL trigram indexes for name search, the
# key index in byte order for a family's members).
TRIGRAM_INDEXES = {"test_case_name_trgm", "test_case_key_trgm"}
MIGRATION_ONLY_INDEXES = TRIGRAM_INDEXES | {"testcase_repository_id_key_c"}


def test_schema_matches_models(database) -> None:  # type: ignore[no-untyped-def]
    """The migrated schema has every table, column and index the models declare."""
    with partition_aware(database):
        diff = diff_models(database, ALL_MODELS)
    diff = diff._replace(
        drop_indexes=[i for i in diff.drop_indexes if i.name not in MIGRATION_ONLY_INDEXES]
    )
    assert not diff, str(diff)


def test_trigram_indexes_on_postgresql(database, db_url) -> None:  # type: ignore[no-untyped-def]
    """On PostgreSQL, test names and keys get trigram indexes for "find a test"."""
    names = {i.name for i in database.get_indexes("test_case")}
    expected = TRIGRAM_INDEXES if db_url.startswith("postgresql") else set()
    assert names & TRIGRAM_INDEXES == expected


def test_hot_query_indexes_exist(database) -> None:  # type: ignore[no-untyped-def]
    """History of one test by time (its block's rows, its failures), a run's results and a
    repository's runs by time are indexed, each led by the repository where it can be."""
    with partition_aware(database):
        blocks = {tuple(i.columns) for i in database.get_indexes("result_block")}
        attempts = {tuple(i.columns) for i in database.get_indexes("result_attempt")}
    run_indexes = {tuple(i.columns) for i in database.get_indexes("test_run")}
    assert ("repository_id", "block", "created_at", "run_id") in blocks
    run = ("run_id", "repository_id", "created_at")
    assert run in blocks and run in attempts
    assert ("repository_id", "test_case_id", "created_at") in attempts
    assert ("repository_id", "received_at") in run_indexes
