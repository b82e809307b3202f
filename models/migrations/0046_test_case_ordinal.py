"""``test_case`` gets ``ordinal``: a dense number per repository (0, 1, 2, ...).

The packed results (migration 0047) store a run's outcomes in blocks of 64
consecutive ordinals of one repository: dense numbers keep the blocks full
however the ids of several repositories' tests interleave. Existing tests are
numbered in the order they were created (by id); new ones are numbered as they
are inserted, under a per-repository lock (``models.test_cases``).
A unique index on ``(repository_id, ordinal)`` serves both the numbering (the
highest ordinal of a repository) and the reads (ordinals -> ids).

``down`` drops the index and the column.
"""

from peewee import PostgresqlDatabase

INDEX = "testcase_repository_id_ordinal"


def up(migrator, db):
    db.execute_sql("ALTER TABLE test_case ADD COLUMN ordinal INTEGER NOT NULL DEFAULT 0")
    db.execute_sql(
        "UPDATE test_case SET ordinal = numbered.ordinal FROM ("
        "SELECT id, row_number() OVER (PARTITION BY repository_id ORDER BY id) - 1 AS ordinal "
        "FROM test_case) AS numbered WHERE numbered.id = test_case.id"
    )
    if isinstance(getattr(db, "obj", db), PostgresqlDatabase):
        # no default: an insert that does not number its test fails instead of taking 0
        db.execute_sql("ALTER TABLE test_case ALTER COLUMN ordinal DROP DEFAULT")
    db.execute_sql(f"CREATE UNIQUE INDEX {INDEX} ON test_case (repository_id, ordinal)")


def down(migrator, db):
    db.execute_sql(f"DROP INDEX {INDEX}")
    migrator.migrate(migrator.drop_column("test_case", "ordinal"))
