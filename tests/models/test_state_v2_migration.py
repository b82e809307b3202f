"""Migration 0041: stored engine states become version 2 and the engine reads them."""

from __future__ import annotations

import importlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from peewee import Database

from engine.scoring import Result, Run, TestState, fold
from engine.scoring.upgrades import upgrade_v1_bytes, upgrade_v1_json
from tests.models.conftest import migrated_to

MIGRATION = "0041_flake_score_state_v2"
NOW = "2026-09-01 00:00:00"
V1 = importlib.import_module("models.migrations.0035_flake_score_compact_state")
V2 = importlib.import_module(f"models.migrations.{MIGRATION}")


def _postgres(database: Database) -> bool:
    return "Postgres" in type(database).__name__


def _states() -> dict[str, TestState]:
    """A test that only passed (the short form) and one that conflicted (the full form)."""
    at = datetime(2026, 8, 1, tzinfo=UTC)
    runs = []
    for i in range(30):
        at += timedelta(hours=5)
        b = (
            [Result("b", "failed"), Result("b", "passed", 1)]
            if i % 7 == 3
            else [Result("b", "passed")]
        )
        runs.append(Run(f"r{i}", f"s{i}", "main", True, at, [Result("a", "passed"), *b]))
    states = fold(runs)
    assert states["b"].failures_counted and not states["a"].eventful
    for state in states.values():  # as in every version-1 state
        state.clean_runs = 0
        state.recovery_rate = state.recovery_llr = state.recovered_from = 0.0
        state.recovered_at = None
    return states


def _v2_of(state: TestState) -> bytes:
    """The version-2 bytes of a state without seed weights (version 3 differs by its version)."""
    return b"\x02" + state.to_bytes()[1:]


def _v1_of(state: TestState) -> bytes:
    """The version-1 bytes of a state whose recovery fields are at their defaults."""
    return V2._downgrade(_v2_of(state))


def _v1_json(state: TestState) -> dict[str, object]:
    data = state.to_json()
    for key in ("clean_n", "r_rate", "r_llr", "r_at", "r_from", "seed_fw", "seed_pw"):
        del data[key]
    data["v"] = 1
    return data


def test_the_version_1_form_is_what_migration_0035_decodes() -> None:
    """0041's version 1 is the layout 0035's frozen decoder reads, field for field."""
    for state in _states().values():
        assert V1._v1_state_json(_v1_of(state)) == json.loads(json.dumps(_v1_json(state)))


def test_up_upgrades_stored_states_and_down_restores_them(scratch: Database) -> None:
    """Binary and JSON-text version-1 states become version 2; down gives the same bytes back."""
    states = _states()
    blobs = {
        1: _v1_of(states["a"]),
        2: _v1_of(states["b"]),
        3: json.dumps(_v1_json(states["b"])).encode(),  # stored as JSON text before 0035
    }
    with scratch.connection_context():
        runner = migrated_to(scratch, "0038_effect_outbox")
        true = "true" if _postgres(scratch) else 1
        false = "false" if _postgres(scratch) else 0
        scratch.execute_sql(
            "INSERT INTO repository (id, tenant_id, full_name, default_branch, settings, active, "
            f"created_at) VALUES (1, (SELECT min(id) FROM tenant), 'acme/widgets', 'main', '{{}}', "
            f"{true}, '{NOW}')"
        )
        param = "%s" if _postgres(scratch) else "?"
        for test_id, blob in blobs.items():
            scratch.execute_sql(
                "INSERT INTO test_case (id, repository_id, key, suite, classname, name, "
                f"first_seen, last_seen) VALUES ({test_id}, 1, 'k{test_id}', '', '', "
                f"'t{test_id}', '{NOW}', '{NOW}')"
            )
            scratch.execute_sql(
                "INSERT INTO flake_score (test_case_id, repository_id, state, score, low, high, "
                "quarantine_recommended, reason, evidence, engine_state, runs_seen, state_since, "
                f"updated_at) VALUES ({test_id}, 1, 'healthy', 0, 0, 1, {false}, '', '{{}}', "
                f"{param}, 1, '{NOW}', '{NOW}')",
                (blob,),
            )

        def stored() -> dict[int, bytes]:
            rows = scratch.execute_sql("SELECT test_case_id, engine_state FROM flake_score")
            return {row[0]: bytes(row[1]) for row in rows.fetchall()}

        runner.up(MIGRATION)
        after = stored()
        assert TestState.from_bytes(after[1]) == states["a"]
        assert TestState.from_bytes(after[2]) == states["b"]
        assert after[2] == _v2_of(states["b"])
        assert TestState.from_json(json.loads(after[3])) == states["b"]

        runner.down(MIGRATION)
        back = stored()
        assert back[1] == blobs[1] and back[2] == blobs[2]
        assert json.loads(back[3]) == json.loads(blobs[3])
        runner.up(MIGRATION)
        assert stored() == after


def test_the_engine_reads_a_version_1_state_as_0041_upgrades_it() -> None:
    """A worker not yet upgraded writes version 1: the engine reads it, by 0041's rule."""
    for state in _states().values():
        v1 = _v1_of(state)
        assert v1[:1] == b"\x01"
        assert upgrade_v1_bytes(v1) == V2._upgrade(v1) == _v2_of(state)
        assert TestState.from_bytes(v1) == state
        text = json.dumps(_v1_json(state)).encode()
        upgraded = json.loads(V2._upgrade(text))
        assert json.loads(json.dumps(upgrade_v1_json(json.loads(text)))) == upgraded
        assert TestState.from_json(json.loads(text)) == state


def test_the_engine_still_refuses_an_unknown_version() -> None:
    """Only versions 1 to 3 are read; anything else is an error, not a guess."""
    state = _states()["b"]
    with pytest.raises(ValueError, match="unsupported TestState version"):
        TestState.from_bytes(b"\x04" + state.to_bytes()[1:])
    with pytest.raises(ValueError, match="unsupported TestState version"):
        TestState.from_json({**state.to_json(), "v": 4})
