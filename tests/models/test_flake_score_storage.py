"""FlakeScore storage after migration 0035: the engine state as bytes, room for HOT updates."""

from __future__ import annotations

import importlib
import json

from peewee import Database

from engine.scoring import TestState
from models.migrate import apply_migrations
from tests.models.conftest import migrated_to

# At 0035 states are version 1: 0041's frozen codec gives the bytes 0035 stored.
V2 = importlib.import_module("models.migrations.0041_flake_score_state_v2")

BEFORE = "0033_quarantine_issue_url"  # the last migration before 0035 that this test knows


def test_migration_keeps_json_states_readable(scratch: Database) -> None:
    """A state stored as JSON before 0035 comes out as the same JSON (bytes or text)."""
    postgres = "Postgres" in type(scratch).__name__
    mark = "%s" if postgres else "?"
    state = TestState(1.8e9, 1472).to_json()
    with scratch.connection_context():
        migrated_to(scratch, BEFORE)
        now = "2026-09-01 00:00:00"
        scratch.execute_sql(
            "INSERT INTO repository (id, full_name, default_branch, settings, active, created_at) "
            f"VALUES (1, 'acme/widgets', 'main', '{{}}', {'true' if postgres else 1}, '{now}')"
        )
        scratch.execute_sql(
            "INSERT INTO test_case (id, repository_id, key, suite, classname, name, "
            f"first_seen, last_seen) VALUES (1, 1, 't', '', '', 't', '{now}', '{now}')"
        )
        scratch.execute_sql(
            "INSERT INTO flake_score (test_case_id, repository_id, state, score, low, high, "
            "quarantine_recommended, reason, evidence, engine_state, runs_seen, state_since, "
            f"updated_at) VALUES (1, 1, 'healthy', 0, 0, 1, {'false' if postgres else 0}, '', "
            f"'{{}}', {mark}, 0, '{now}', '{now}')",
            (json.dumps(state),),
        )
        apply_migrations(scratch)
        (stored,) = scratch.execute_sql("SELECT engine_state FROM flake_score").fetchone()
    assert isinstance(stored, bytes if postgres else str)
    assert TestState.from_json(json.loads(stored)) == TestState.from_json(state)


def test_state_is_binary_and_pages_leave_room_for_hot_updates(database, db_url) -> None:  # type: ignore[no-untyped-def]
    """engine_state is a BLOB / bytea; on PostgreSQL flake_score pages keep half their room free."""
    if db_url.startswith("sqlite"):
        (ddl,) = database.execute_sql(
            "SELECT sql FROM sqlite_master WHERE name = 'flake_score'"
        ).fetchone()
        assert '"engine_state" BLOB' in ddl
        return
    (column_type,) = database.execute_sql(
        "SELECT data_type FROM information_schema.columns "
        "WHERE table_name = 'flake_score' AND column_name = 'engine_state'"
    ).fetchone()
    (options,) = database.execute_sql(
        "SELECT reloptions FROM pg_class WHERE relname = 'flake_score'"
    ).fetchone()
    assert column_type == "bytea"
    assert "fillfactor=50" in options


def test_down_turns_binary_states_back_into_json(scratch: Database) -> None:
    """Reverting 0035 keeps every state: binary ones become their JSON, NULL becomes {}."""
    postgres = "Postgres" in type(scratch).__name__
    mark = "%s" if postgres else "?"
    state = TestState(1.8e9, 1472)
    with scratch.connection_context():
        runner = migrated_to(scratch, "0035_flake_score_compact_state")
        now = "2026-09-01 00:00:00"
        scratch.execute_sql(
            "INSERT INTO repository (id, full_name, default_branch, settings, active, created_at) "
            f"VALUES (1, 'acme/widgets', 'main', '{{}}', {'true' if postgres else 1}, '{now}')"
        )
        v2 = b"\x02" + state.to_bytes()[1:]  # a state that only passed: v3 differs by its version
        for case_id, stored in ((1, V2._downgrade(v2)), (2, None)):
            scratch.execute_sql(
                "INSERT INTO test_case (id, repository_id, key, suite, classname, name, "
                f"first_seen, last_seen) VALUES ({case_id}, 1, 't{case_id}', '', '', 't', "
                f"'{now}', '{now}')"
            )
            scratch.execute_sql(
                "INSERT INTO flake_score (test_case_id, repository_id, state, score, low, high, "
                "quarantine_recommended, reason, evidence, engine_state, runs_seen, state_since, "
                f"updated_at) VALUES ({case_id}, 1, 'healthy', 0, 0, 1, "
                f"{'false' if postgres else 0}, '', '{{}}', {mark}, 0, '{now}', '{now}')",
                (stored,),
            )
        runner.down("0035_flake_score_compact_state")
        rows = scratch.execute_sql(
            "SELECT test_case_id, engine_state FROM flake_score ORDER BY test_case_id"
        ).fetchall()
    values = {
        case_id: value if isinstance(value, dict) else json.loads(value) for case_id, value in rows
    }
    v1_json = state.to_json()
    for key in ("clean_n", "r_rate", "r_llr", "r_at", "r_from"):  # added by 0041
        del v1_json[key]
    del v1_json["seed_fw"], v1_json["seed_pw"]  # added by version 3
    assert values[1] == {**json.loads(json.dumps(v1_json)), "v": 1}
    assert values[2] == {}
