"""Schema by migrations: numbered scripts in models/migrations, applied in order, once."""

from __future__ import annotations

from pathlib import Path

from peewee import Database
from playhouse.migrations import Runner

from models.base import db

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
HISTORY_TABLE = "schema_migration"


def _runner(database: Database) -> Runner:
    return Runner(database, str(MIGRATIONS_DIR), table_name=HISTORY_TABLE)


def apply_migrations(database: Database | None = None) -> list[str]:
    """Apply every pending migration; return the names applied (empty when up to date)."""
    database = database or db.obj
    with database.connection_context():
        return _runner(database).up()


def pending_migrations(database: Database | None = None) -> list[str]:
    """Names of migrations not applied yet."""
    database = database or db.obj
    with database.connection_context():
        return [m.name for m in _runner(database).status() if m.path and not m.applied]
