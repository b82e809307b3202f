"""Fixtures for the model and migration tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest
from peewee import Database, IndexMetadata
from playhouse.migrations import Runner

from models.base import make_database
from models.migrate import HISTORY_TABLE, MIGRATIONS_DIR
from tests.conftest import PG_ADMIN_URL, scratch_pg_database


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


@contextmanager
def upload_in_flight(
    database: Database,
    statement: str,
    params: Sequence[object] = (),
    *,
    then: tuple[str, Sequence[object]] | None = None,
) -> Iterator[None]:
    """An upload on PostgreSQL in a thread and connection of its own: ``statement`` run in
    its transaction, which commits once something in the block waits for it (a migration),
    after running ``then`` (statement, parameters) when given.
    Raises, after the block, what the upload raised (one that is never waited for too)."""
    import psycopg

    url = f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{database.database}"
    started = threading.Event()
    failures: list[BaseException] = []

    def upload() -> None:
        try:
            with psycopg.connect(url) as writer, psycopg.connect(url, autocommit=True) as watch:
                writer.execute(statement, params)
                started.set()
                pid = writer.info.backend_pid
                deadline = time.monotonic() + 60
                blocked = "SELECT 1 FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))"
                while watch.execute(blocked, (pid,)).fetchone() is None:
                    if time.monotonic() > deadline:
                        raise AssertionError("nothing waited for the upload")
                    time.sleep(0.01)  # polling for the other session's state, not timing
                if then is not None:
                    writer.execute(*then)
                writer.commit()
        except BaseException as exc:  # noqa: BLE001 - the test thread raises it
            failures.append(exc)
        finally:
            started.set()

    thread = threading.Thread(target=upload)
    thread.start()
    try:
        assert started.wait(60)
        yield
    finally:
        thread.join(60)
    assert not failures, failures


def seed_repositories(database: Database, *full_names: str) -> None:
    """Tenant 1 and a repository per name (ids 1, 2, ...), in SQL a migration test can run
    at any schema version since 0001."""
    run = database.execute_sql
    true = "true" if "Postgres" in type(database).__name__ else "1"
    run("INSERT INTO tenant (slug, name, created_at) VALUES ('t', 'T', CURRENT_TIMESTAMP)")
    for name in full_names:
        run(
            "INSERT INTO repository (tenant_id, full_name, default_branch, settings, active, "
            f"created_at) VALUES (1, '{name}', 'main', '{{}}', {true}, CURRENT_TIMESTAMP)"
        )


def add_tenant(database: Database, slug: str = "t") -> int:
    """Insert a tenant row with plain SQL (the schema of any migration since 0036); its id."""
    database.execute_sql(
        f"INSERT INTO tenant (slug, name, created_at) VALUES ('{slug}', 'T', CURRENT_TIMESTAMP)"
    )
    return int(database.execute_sql(f"SELECT id FROM tenant WHERE slug = '{slug}'").fetchone()[0])


def add_web_user(database: Database, tenant_id: int) -> None:
    """Insert the person Alice (Slack U1 of team T1) of a tenant with plain SQL (the schema of
    any migration since 0039)."""
    database.execute_sql(
        "INSERT INTO web_user (tenant_id, provider, subject, name, team_id, created_at) "
        f"VALUES ({tenant_id}, 'slack', 'U1', 'Alice', 'T1', CURRENT_TIMESTAMP)"
    )
