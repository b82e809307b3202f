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
import struct
from array import array

from peewee import BlobField, PostgresqlDatabase

FILLFACTOR = 50

# A frozen copy of the engine's version-1 state codec (bytes -> JSON), so that
# replaying this migration never depends on the engine's current state format.
_V1_FIELDS = (  # the JSON form's keys, in the engine's order, with a new state's values
    ("n", 0),
    ("first_at", 0.0),
    ("last_at", 0.0),
    ("epoch", 0),
    ("pw", 0.0),
    ("fw", 0.0),
    ("flips", 0.0),
    ("n_pass", 0),
    ("n_fail", 0),
    ("last_fail", False),
    ("last_failure_at", None),
    ("last_counted_at", None),
    ("infra", 0),
    ("branch_fails", 0),
    ("pass_shas", []),
    ("fail_shas", []),
    ("conflicts", 0),
    ("conflict_shas", []),
    ("conflict_at", []),
    ("pend_n", 0),
    ("pend_fails", 0),
    ("pend_shas", 0),
    ("pend_w", 0.0),
    ("pend_last_sha", None),
    ("pend_start_sha", None),
    ("pend_start_at", None),
    ("broken_episodes", 0),
    ("last_broken_sha", None),
    ("flagged", False),
    ("hot", False),
    ("q_at", None),
    ("q_rate", 0.0),
    ("q_llr", 0.0),
    ("q_n", 0),
    ("q_fixed_at", None),
)
_V1_KEY_BYTES = 6
_V1_COLD = struct.Struct("<2xiiiddd")  # n, n_pass, epoch, first_at, last_at, pw
_V1_INTS = (
    "n",
    "n_pass",
    "n_fail",
    "infra",
    "branch_fails",
    "conflicts",
    "pend_n",
    "pend_fails",
    "pend_shas",
    "broken_episodes",
    "q_n",
    "epoch",
)
_V1_FLOATS = ("first_at", "last_at", "pw", "fw", "flips", "pend_w", "q_rate", "q_llr")
_V1_OPTIONAL = ("last_failure_at", "last_counted_at", "pend_start_at", "q_at", "q_fixed_at")
_V1_FULL = struct.Struct("<2x12i13dB6H")


def _v1_keys(ring):
    return [ring[at : at + _V1_KEY_BYTES].hex() for at in range(0, len(ring), _V1_KEY_BYTES)]


def _v1_state_json(data):
    """Decode a version-1 binary engine state into its version-1 JSON dict."""
    if data[:1] != b"\x01" or data[1] not in (1, 2):
        raise ValueError(f"not a version-1 engine state: {data[:2]!r}")
    state = {key: list(value) if isinstance(value, list) else value for key, value in _V1_FIELDS}
    state["v"] = 1
    if data[1] == 1:  # a test that has only passed: a few numbers and its pass ring
        names = ("n", "n_pass", "epoch", "first_at", "last_at", "pw")
        state.update(zip(names, _V1_COLD.unpack_from(data), strict=True))
        state["pass_shas"] = _v1_keys(data[_V1_COLD.size :])
        return state
    values = _V1_FULL.unpack_from(data)
    names = _V1_INTS + _V1_FLOATS + _V1_OPTIONAL
    state.update(zip(names, values, strict=False))
    for name in _V1_OPTIONAL:
        if state[name] != state[name]:  # NaN stands for None
            state[name] = None
    flags, n_pass, n_fail, n_conflict, n_at, n_start, n_broken = values[len(names) :]
    state["last_fail"], state["flagged"], state["hot"] = (
        bool(flags & 1),
        bool(flags & 2),
        bool(flags & 4),
    )
    at = _V1_FULL.size
    if flags & 8:
        state["pend_last_sha"] = data[at : at + _V1_KEY_BYTES].hex()
        at += _V1_KEY_BYTES
    for name, size in (("pass_shas", n_pass), ("fail_shas", n_fail), ("conflict_shas", n_conflict)):
        state[name] = _v1_keys(data[at : at + size])
        at += size
    state["conflict_at"] = array("d", data[at : at + 8 * n_at]).tolist()
    at += 8 * n_at
    state["pend_start_sha"] = data[at : at + n_start].decode() if flags & 16 else None
    at += n_start
    state["last_broken_sha"] = data[at : at + n_broken].decode() if flags & 32 else None
    return state


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
    return json.dumps(_v1_state_json(raw))


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
