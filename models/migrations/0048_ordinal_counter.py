"""PostgreSQL: ``ordinal_counter``, the next free test ordinal of each repository.

An upload that adds tests reserves their ordinals from it in a short
transaction of its own (``models.results.reserve_ordinals``) instead of holding
a per-repository lock until it commits, so uploads adding tests to one
repository no longer wait for each other's whole store. A reservation is never
given back: an upload that rolls back leaves a gap in the numbering.

Each row starts at its repository's highest ordinal + 1, and a reservation never
returns less than that (a test inserted with an ordinal of its own is passed). The trigger of
migration 0046 (tests inserted without an ordinal, by code older than 0046)
now numbers from the counter too. SQLite has one writer at a time and numbers
from the highest ordinal inside the writing transaction: no table there.

``down`` drops the table and puts 0046's trigger function back.
"""

import importlib.util
from pathlib import Path

from peewee import PostgresqlDatabase

TABLE = "ordinal_counter"
FUNCTION = "test_case_ordinal"  # migration 0046's trigger function
PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.ordinal IS NULL THEN
        INSERT INTO {TABLE} AS c (repository_id, next_ordinal)
            SELECT NEW.repository_id, coalesce(max(ordinal) + 1, 0) + 1
            FROM test_case WHERE repository_id = NEW.repository_id
        ON CONFLICT (repository_id) DO UPDATE
            SET next_ordinal = greatest(c.next_ordinal, excluded.next_ordinal - 1) + 1
        RETURNING next_ordinal - 1 INTO NEW.ordinal;
    END IF;
    RETURN NEW;
END
$$
"""


def _postgres(db):
    return isinstance(getattr(db, "obj", db), PostgresqlDatabase)


def up(migrator, db):
    if not _postgres(db):
        return
    db.execute_sql(
        f"CREATE TABLE {TABLE} (repository_id INTEGER NOT NULL PRIMARY KEY "
        "REFERENCES repository (id) ON DELETE CASCADE, next_ordinal INTEGER NOT NULL)"
    )
    db.execute_sql(
        f"INSERT INTO {TABLE} (repository_id, next_ordinal) "
        "SELECT repository_id, max(ordinal) + 1 FROM test_case GROUP BY repository_id"
    )
    db.execute_sql(PG_FUNCTION)


def down(migrator, db):
    if not _postgres(db):
        return
    path = Path(__file__).with_name("0046_test_case_ordinal.py")
    spec = importlib.util.spec_from_file_location("flakeguard_migration_0046", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    db.execute_sql(module.PG_FUNCTION.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
    db.execute_sql(f"DROP TABLE {TABLE}")
