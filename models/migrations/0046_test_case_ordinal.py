"""``test_case`` gets ``ordinal``: a dense number per repository (0, 1, 2, ...).

The packed results (migration 0047) store a run's outcomes in blocks of 64
consecutive ordinals of one repository: dense numbers keep the blocks full
however the ids of several repositories' tests interleave. Existing tests are
numbered in the order they were created (by id); new ones are numbered as they
are inserted, under a per-repository lock (``models.test_cases``).
A unique index on ``(repository_id, ordinal)`` serves both the numbering (the
highest ordinal of a repository) and the reads (ordinals -> ids).

The column is nullable and a trigger numbers a row inserted without one: the
code from before this migration (still running during a rolling upgrade)
inserts tests without an ordinal, and must neither fail nor take ordinal 0. On
PostgreSQL a BEFORE trigger takes the same per-repository advisory lock as the
code (``models.results.CASE_ORDINAL_LOCK``), so the row never holds a NULL; on
SQLite (one writer at a time) an AFTER trigger sets it. The new code numbers its
tests itself: the trigger only checks for NULL.

Numbering uses a window function (SQLite >= 3.25) and, on SQLite, a temporary
table rather than ``UPDATE ... FROM`` (which needs SQLite >= 3.33).

``down`` drops the triggers, the index and the column.
"""

from peewee import PostgresqlDatabase

from models.results import CASE_ORDINAL_LOCK

INDEX = "testcase_repository_id_ordinal"
TRIGGER = "test_case_ordinal"
NUMBERED = (
    "SELECT id, row_number() OVER (PARTITION BY repository_id ORDER BY id) - 1 AS ordinal "
    "FROM test_case"
)
PG_FUNCTION = f"""
CREATE FUNCTION {TRIGGER}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.ordinal IS NULL THEN
        PERFORM pg_advisory_xact_lock({CASE_ORDINAL_LOCK} + NEW.repository_id);
        SELECT coalesce(max(ordinal) + 1, 0) INTO NEW.ordinal
            FROM test_case WHERE repository_id = NEW.repository_id;
    END IF;
    RETURN NEW;
END
$$
"""
SQLITE_TRIGGER = f"""
CREATE TRIGGER {TRIGGER} AFTER INSERT ON test_case FOR EACH ROW WHEN NEW.ordinal IS NULL
BEGIN
    UPDATE test_case SET ordinal = (
        SELECT coalesce(max(ordinal) + 1, 0) FROM test_case
        WHERE repository_id = NEW.repository_id
    ) WHERE id = NEW.id;
END
"""


def _postgres(db):
    return isinstance(getattr(db, "obj", db), PostgresqlDatabase)


def up(migrator, db):
    db.execute_sql("ALTER TABLE test_case ADD COLUMN ordinal INTEGER")
    if _postgres(db):
        db.execute_sql(
            f"UPDATE test_case SET ordinal = numbered.ordinal FROM ({NUMBERED}) AS numbered "
            "WHERE numbered.id = test_case.id"
        )
        db.execute_sql(PG_FUNCTION)
        db.execute_sql(
            f"CREATE TRIGGER {TRIGGER} BEFORE INSERT ON test_case "
            f"FOR EACH ROW EXECUTE FUNCTION {TRIGGER}()"
        )
    else:
        db.execute_sql(f"CREATE TEMPORARY TABLE numbered AS {NUMBERED}")
        db.execute_sql("CREATE UNIQUE INDEX temp.numbered_id ON numbered (id)")
        db.execute_sql(
            "UPDATE test_case SET ordinal = (SELECT ordinal FROM numbered "
            "WHERE numbered.id = test_case.id)"
        )
        db.execute_sql("DROP TABLE temp.numbered")
        db.execute_sql(SQLITE_TRIGGER)
    db.execute_sql(f"CREATE UNIQUE INDEX {INDEX} ON test_case (repository_id, ordinal)")


def down(migrator, db):
    db.execute_sql(f"DROP TRIGGER {TRIGGER}" + (" ON test_case" if _postgres(db) else ""))
    if _postgres(db):
        db.execute_sql(f"DROP FUNCTION {TRIGGER}()")
    db.execute_sql(f"DROP INDEX {INDEX}")
    migrator.migrate(migrator.drop_column("test_case", "ordinal"))
