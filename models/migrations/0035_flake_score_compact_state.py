"""FlakeScore.engine_state becomes bytes (TestState.to_bytes), and flake_score leaves room for HOT updates.

Every analysis rewrites the score row of each test in the run. The engine's
state as jsonb was ~1.3 KB a row; its binary form is ~250 bytes. Existing rows
keep their JSON text, now as bytes: the analysis still reads that form and
writes the binary one the next time the test runs.

On PostgreSQL the table is rewritten with fillfactor 50, so the new version of
a row fits on its page: no indexed column changes on a plain rescore, so the
update is HOT (no index entries, a fraction of the WAL). SQLite keeps the text
values as they are in the BLOB column.
"""

from peewee import BlobField, PostgresqlDatabase

FILLFACTOR = 50


def _postgres(db):
    target = getattr(db, "obj", db)
    return isinstance(target, PostgresqlDatabase)


def up(migrator, db):
    if _postgres(db):
        db.execute_sql(f"ALTER TABLE flake_score SET (fillfactor = {FILLFACTOR})")
        db.execute_sql(
            "ALTER TABLE flake_score ALTER COLUMN engine_state DROP DEFAULT, "
            "ALTER COLUMN engine_state DROP NOT NULL, "
            "ALTER COLUMN engine_state TYPE bytea USING convert_to(engine_state::text, 'UTF8')"
        )
        return
    migrator.migrate(
        migrator.alter_column_type("flake_score", "engine_state", BlobField(null=True))
    )


def down(migrator, db):
    # A state written in the binary form is dropped (the test starts over); JSON ones stay.
    if _postgres(db):
        db.execute_sql(
            "ALTER TABLE flake_score ALTER COLUMN engine_state TYPE jsonb USING "
            "CASE WHEN get_byte(engine_state, 0) = 123 "
            "THEN convert_from(engine_state, 'UTF8')::jsonb END"
        )
        db.execute_sql("ALTER TABLE flake_score RESET (fillfactor)")
        return
    db.execute_sql("UPDATE flake_score SET engine_state = NULL WHERE typeof(engine_state) = 'blob'")
