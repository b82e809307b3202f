"""Schema by migrations: numbered scripts in models/migrations, applied in order, once."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from peewee import Database
from playhouse.migrations import Runner, template
from playhouse.schema_diff import diff_models

from models.base import db, make_database

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


def write_migration(name: str) -> Path | None:
    """Diff the models against a scratch database at head and write the next migration file."""
    from models import ALL_MODELS

    with tempfile.TemporaryDirectory() as tmp:
        scratch = make_database(f"sqlite:///{tmp}/scratch.db", pooled=False)
        apply_migrations(scratch)
        with scratch.bind_ctx(ALL_MODELS), scratch.connection_context():
            diff = diff_models(scratch, ALL_MODELS)
        if not diff:
            return None
        # Python-side callable defaults (utcnow) are not part of the schema.
        body = re.sub(r"^# TODO: \w+: default <function utcnow.*\n", "", template(diff), flags=re.M)
        return Path(_runner(scratch).create(name, body=body))
