"""Trigram indexes on test names and keys (PostgreSQL with pg_trgm), for "find a test".

`/flakeguard test <part of a name>` searches with LIKE/ILIKE '%...%', which scans
every test of a repository without them. pg_trgm ships with PostgreSQL's contrib
and is a trusted extension (the database owner may create it); where it is not
available the migration leaves the search as it was (slower, still correct).
SQLite has no such index; nothing changes there.
"""

from peewee import PostgresqlDatabase

atomic = False  # CREATE EXTENSION may fail on its own; it must not take the others down


def _postgres(db):
    target = getattr(db, "obj", db)
    return isinstance(target, PostgresqlDatabase)


def up(migrator, db):
    if not _postgres(db):
        return
    try:
        with db.atomic():
            db.execute_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except Exception:  # noqa: BLE001 - no pg_trgm here: keep the plain scan
        return
    with db.atomic():
        db.execute_sql(
            "CREATE INDEX IF NOT EXISTS test_case_name_trgm "
            "ON test_case USING gin (name gin_trgm_ops)"
        )
        db.execute_sql(
            "CREATE INDEX IF NOT EXISTS test_case_key_trgm "
            "ON test_case USING gin (key gin_trgm_ops)"
        )


def down(migrator, db):
    if _postgres(db):
        db.execute_sql("DROP INDEX IF EXISTS test_case_name_trgm")
        db.execute_sql("DROP INDEX IF EXISTS test_case_key_trgm")
