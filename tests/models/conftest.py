"""Fixtures for the model and migration tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from peewee import Database, IndexMetadata
from playhouse.migrations import Runner

from models.base import make_database
from models.migrate import HISTORY_TABLE, MIGRATIONS_DIR
from tests.conftest import scratch_pg_database


@pytest.fixture(params=["sqlite", "postgresql"])
def scratch(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """An empty, unmigrated database of the test's own (on each backend), for migration tests."""
    if request.param == "sqlite":
        database = make_database(f"sqlite:///{tmp_path / 'scratch.db'}", pooled=False)
        yield database
        database.close()
        return
    with scratch_pg_database("flakeguard_scratch") as url:
        database = make_database(url, pooled=False)
        try:
            yield database
        finally:
            database.close()


_PG_INDEXES = """
    SELECT i.relname, pg_get_indexdef(idx.indexrelid), idx.indisunique,
        ARRAY(SELECT pg_get_indexdef(idx.indexrelid, k + 1, TRUE)
              FROM generate_subscripts(idx.indkey, 1) AS k ORDER BY k)
    FROM pg_class t JOIN pg_index idx ON idx.indrelid = t.oid
    JOIN pg_class i ON i.oid = idx.indexrelid
    WHERE t.oid = to_regclass(%s) ORDER BY idx.indisunique DESC, i.relname
"""


@contextmanager
def partition_aware(database: Database) -> Iterator[Database]:
    """``database`` whose ``get_indexes`` also reads a partitioned table's indexes.

    peewee's PostgreSQL introspection lists the indexes of plain tables only
    (``relkind = 'r'``); ``test_result`` is partitioned there since migration 0044.
    """
    if "Postgres" not in type(database).__name__:
        yield database
        return
    plain = database.get_indexes

    def get_indexes(table: str, schema: str | None = None) -> list[IndexMetadata]:
        kind = database.execute_sql(
            "SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", (table,)
        ).fetchone()
        if kind is None or kind[0] != "p":
            return plain(table, schema)
        rows = database.execute_sql(_PG_INDEXES, (table,)).fetchall()
        return [
            IndexMetadata(name, sql, [c.strip('"') for c in cols], unique, table)
            for name, sql, unique, cols in rows
        ]

    database.get_indexes = get_indexes  # type: ignore[method-assign]
    try:
        yield database
    finally:
        del database.get_indexes


def migrated_to(database: Database, migration: str) -> Runner:
    """A migration runner on ``database``, which it migrates up to ``migration`` (included)."""
    runner = Runner(database, str(MIGRATIONS_DIR), table_name=HISTORY_TABLE)
    runner.up(migration)
    return runner


def add_tenant(database: Database, slug: str = "t") -> int:
    """Insert a tenant row with plain SQL (the schema of any migration since 0036); its id."""
    database.execute_sql(
        f"INSERT INTO tenant (slug, name, created_at) VALUES ('{slug}', 'T', CURRENT_TIMESTAMP)"
    )
    return int(database.execute_sql(f"SELECT id FROM tenant WHERE slug = '{slug}'").fetchone()[0])
