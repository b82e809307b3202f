"""Schema by migrations: numbered scripts in models/migrations, applied in order, once."""

from __future__ import annotations

import contextlib
import fcntl
import time
from collections.abc import Iterator
from pathlib import Path

from peewee import Database, PostgresqlDatabase
from playhouse.migrations import Runner

from models.base import db

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
HISTORY_TABLE = "schema_migration"
MIGRATION_LOCK = 0x4647_4D49_4752  # "FGMIGR": one migrating process per PostgreSQL database
LOCK_POLL_SECONDS = 0.2  # how often a waiting process asks for the migration lock again


def _runner(database: Database) -> Runner:
    return Runner(database, str(MIGRATIONS_DIR), table_name=HISTORY_TABLE)


def apply_migrations(database: Database | None = None) -> list[str]:
    """Apply every pending migration; return the names applied (empty when up to date)."""
    database = database or db.obj
    with database.connection_context(), _migration_lock(database):
        return _runner(database).up()


@contextlib.contextmanager
def _migration_lock(database: Database) -> Iterator[None]:
    """Hold the one migration lock of this database: a second process waits, then finds
    nothing pending (several release processes or SQLite web workers start at once).

    PostgreSQL: a session advisory lock (migrations run in their own transactions). A
    waiter polls with ``pg_try_advisory_lock`` rather than blocking in ``pg_advisory_lock``:
    a statement blocked there holds a snapshot, which a ``CREATE INDEX CONCURRENTLY`` of
    the lock holder would wait for, a deadlock.
    SQLite: an exclusive ``flock`` on ``<database file>.migrate-lock`` beside it.
    """
    if isinstance(database, PostgresqlDatabase):
        while not database.execute_sql(
            "SELECT pg_try_advisory_lock(%s)", (MIGRATION_LOCK,)
        ).fetchone()[0]:
            time.sleep(LOCK_POLL_SECONDS)
        try:
            yield
        finally:
            database.execute_sql("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
        return
    path = str(database.database)
    if not path or path == ":memory:" or path.startswith("file:"):
        yield  # a private in-memory database: nobody to race with
        return
    with open(path + ".migrate-lock", "a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)  # released when the file is closed
        yield


def pending_migrations(database: Database | None = None) -> list[str]:
    """Names of migrations not applied yet."""
    database = database or db.obj
    with database.connection_context():
        return [m.name for m in _runner(database).status() if m.path and not m.applied]
