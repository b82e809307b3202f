"""FlakeScore.engine_state becomes bytes (TestState.to_bytes), and flake_score leaves room for HOT updates.

Every analysis rewrites the score row of each test in the run. The engine's
state as jsonb was ~1.3 KB a row; its binary form is ~250 bytes. Existing rows
keep their JSON text, now as bytes: the analysis still reads that form and
writes the binary one the next time the test runs.

On PostgreSQL the table is rewritten with fillfactor 50, so the new version of
a row fits on its page: no indexed column changes on a plain rescore, so the
update is HOT (no index entries, a fraction of the WAL). SQLite keeps the text
values as they are in the BLOB column.

Deploying: on PostgreSQL the type change rewrites flake_score and its indexes
under an exclusive lock (seconds for ~100k scores), and workers of the previous
release cannot write the new column: stop them, migrate, then start the new
release. ``down`` turns binary states back into their JSON (nothing is lost).
"""

import json

from peewee import BlobField, PostgresqlDatabase

from engine.scoring import TestState

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


def _json_text(value):
    """A stored state (bytes, or JSON text kept from before this migration) as JSON text."""
    raw = bytes(value)
    if raw[:1] == b"{":
        return raw.decode()
    return json.dumps(TestState.from_bytes(raw).to_json())


def down(migrator, db):
    # Binary states go back to the JSON the engine reads and writes without this migration.
    rows = db.execute_sql(
        "SELECT id, engine_state FROM flake_score WHERE engine_state IS NOT NULL"
    ).fetchall()
    param = "%s" if _postgres(db) else "?"
    for row_id, value in rows:
        db.execute_sql(
            f"UPDATE flake_score SET engine_state = {param} WHERE id = {param}",
            (_json_text(value).encode() if _postgres(db) else _json_text(value), row_id),
        )
    if _postgres(db):
        db.execute_sql(
            "ALTER TABLE flake_score ALTER COLUMN engine_state TYPE jsonb USING "
            "coalesce(convert_from(engine_state, 'UTF8')::jsonb, '{}'::jsonb), "
            "ALTER COLUMN engine_state SET DEFAULT '{}'::jsonb, "
            "ALTER COLUMN engine_state SET NOT NULL"
        )
        db.execute_sql("ALTER TABLE flake_score RESET (fillfactor)")
        return
    db.execute_sql("UPDATE flake_score SET engine_state = '{}' WHERE engine_state IS NULL")
