"""An index for reading a family's members: ``test_case (repository_id, key COLLATE "C")``.

A new test's family is read as the keys that start with ``<family>[``
(``models.queries.family_states``): a range of keys in byte order. Under a
database collation other than C (``en_US.UTF-8``, even ``C.UTF-8``) the
unique ``(repository_id, key)`` index is in the collation's order, so
PostgreSQL can take neither a LIKE prefix nor a byte-order range from it and
reads every test of the repository per family. This index is in byte order:
the range is an index range, read in order and stopped at the bound. Built
CONCURRENTLY, so uploads go on while it builds.

SQLite needs nothing: its unique ``(repository_id, key)`` index is in binary
order already. ``down`` drops the index.
"""

from peewee import PostgresqlDatabase

atomic = False  # CREATE INDEX CONCURRENTLY runs outside a transaction

INDEX = "testcase_repository_id_key_c"


def _postgres(db):
    return isinstance(getattr(db, "obj", db), PostgresqlDatabase)


def up(migrator, db):
    if _postgres(db):
        db.execute_sql(
            f'CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX} ON test_case (repository_id, key COLLATE "C")'
        )


def down(migrator, db):
    if _postgres(db):
        db.execute_sql(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")
