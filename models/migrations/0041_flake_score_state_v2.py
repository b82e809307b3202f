"""Engine states become version 2: version 1 plus the recovery fields (at their defaults).

The engine writes only its current state version; it also reads version 1,
upgrading it by this migration's rule (its own copy of that rule, since the
engine imports no migration), because during a rolling deploy a worker not yet
upgraded still writes version 1. Stopping the workers, migrating, then starting
the new ones is still the recommended order. Version 2 keeps
version 1's layout and adds, at the end of the full binary form, the recovery
fields (clean runs since the last counted failure, the recovery SPRT's rate
and statistic, when the test recovered and from which rate). A version-1 state
becomes a version-2 one by its version byte and that tail at its defaults; a
test that has only passed (the short form) changes only its version byte.
States still stored as JSON text (from before 0035) get the new keys.

``down`` strips the tail and the keys again: what a recovery recorded is lost,
the rest of each state is kept exactly.
"""

import json
import math
import struct

from peewee import PostgresqlDatabase

# A frozen copy of what this migration needs of the engine's state codecs
# (versions 1 and 2), so that replaying it never depends on the engine.
_COLD_KIND, _FULL_KIND = 1, 2
_V2_TAIL = struct.Struct("<i4d")  # clean_n, r_rate, r_llr, r_at (NaN: None), r_from
_V2_TAIL_DEFAULTS = _V2_TAIL.pack(0, 0.0, 0.0, math.nan, 0.0)
_V2_JSON_DEFAULTS = {"clean_n": 0, "r_rate": 0.0, "r_llr": 0.0, "r_at": None, "r_from": 0.0}


def _postgres(db):
    target = getattr(db, "obj", db)
    return isinstance(target, PostgresqlDatabase)


def _upgrade(raw):
    """A version-1 state (binary or JSON text) as version 2; other values as they are."""
    if raw[:1] == b"{":
        data = json.loads(raw)
        if data.get("v") != 1:
            return raw
        data.update(_V2_JSON_DEFAULTS)
        data["v"] = 2
        return json.dumps(data).encode()
    if raw[:1] != b"\x01" or raw[1] not in (_COLD_KIND, _FULL_KIND):
        return raw
    tail = _V2_TAIL_DEFAULTS if raw[1] == _FULL_KIND else b""
    return b"\x02" + raw[1:] + tail


def _downgrade(raw):
    """A version-2 state as version 1 (its recovery fields dropped); other values as they are."""
    if raw[:1] == b"{":
        data = json.loads(raw)
        if data.get("v") != 2:
            return raw
        for key in _V2_JSON_DEFAULTS:
            data.pop(key, None)
        data["v"] = 1
        return json.dumps(data).encode()
    if raw[:1] != b"\x02" or raw[1] not in (_COLD_KIND, _FULL_KIND):
        return raw
    body = raw[1 : -_V2_TAIL.size] if raw[1] == _FULL_KIND else raw[1:]
    return b"\x01" + body


def _rewrite(db, convert):
    param = "%s" if _postgres(db) else "?"
    rows = db.execute_sql(
        "SELECT id, engine_state FROM flake_score WHERE engine_state IS NOT NULL"
    ).fetchall()
    for row_id, value in rows:
        raw = bytes(value) if not isinstance(value, str) else value.encode()
        new = convert(raw)
        if new != raw:
            db.execute_sql(
                f"UPDATE flake_score SET engine_state = {param} WHERE id = {param}", (new, row_id)
            )


def up(migrator, db):
    _rewrite(db, _upgrade)


def down(migrator, db):
    _rewrite(db, _downgrade)
