"""analyze_run: incremental scoring in the database agrees with the batch engine."""

from __future__ import annotations

import importlib
import itertools
import json
import random
from datetime import timedelta

import pytest

from engine.scoring import (
    STATE_VERSION,
    Result,
    Run,
    TestState,
    analyze,
    fold,
    verdict_from_state,
)
from flakeguard.usecases.analysis import analyze_run
from models import (
    DomainEvent,
    FlakeScore,
    InfraEvent,
    Quarantine,
    Repository,
    TestCase,
    TestRun,
    db,
)
from models.tenancy import default_tenant
from tests.app.analysis_helpers import T0, make_run, sha, store_run


@pytest.fixture
def repo(database) -> Repository:  # type: ignore[no-untyped-def]
    return Repository.create(
        tenant=default_tenant(), full_name="acme/widgets", default_branch="main"
    )


def test_same_commit_conflict_makes_a_flaky_proposal(repo) -> None:  # type: ignore[no-untyped-def]
    """A test that failed and then passed on retry in one run turns flaky and is proposed."""
    for n in range(10):
        store_run(repo, make_run(n, [Result("t::a", "passed"), Result("t::b", "passed")]))
    flaky_run = make_run(
        10, [Result("t::a", "failed"), Result("t::a", "passed", retry=1), Result("t::b", "passed")]
    )
    store_run(repo, flaky_run)
    for run in TestRun.select().order_by(TestRun.id):
        analyze_run(run.id, now=T0 + timedelta(hours=11))
    flaky = TestCase.get(TestCase.key == "t::a")
    score = FlakeScore.get(FlakeScore.test_case == flaky)
    assert score.state == "flaky" and score.quarantine_recommended
    assert score.evidence["same_commit_conflicts"] >= 1
    assert "same commit" in score.reason
    event = DomainEvent.get(DomainEvent.test_case == flaky)
    assert event.kind == "flaky"
    assert Quarantine.get(Quarantine.test_case == flaky).state == "proposed"
    other = FlakeScore.get(FlakeScore.test_case == TestCase.get(TestCase.key == "t::b"))
    assert other.state != "flaky"
    assert DomainEvent.select().count() == 1


def test_analysis_is_idempotent(repo) -> None:  # type: ignore[no-untyped-def]
    """Analyzing a run twice changes nothing the second time."""
    run = store_run(repo, make_run(0, [Result("t::a", "passed")]))
    first = analyze_run(run.id, now=T0)
    before = FlakeScore.get().engine_state
    second = analyze_run(run.id, now=T0)
    assert first.analyzed and not second.analyzed
    assert FlakeScore.get().engine_state == before
    assert TestRun.get_by_id(run.id).analyzed_at is not None


def test_infra_storm_is_one_event_not_evidence(repo) -> None:  # type: ignore[no-untyped-def]
    """A run where most tests fail is tainted: recorded once, no test turns flaky."""
    keys = [f"t::{i}" for i in range(40)]
    for n in range(10):
        store_run(repo, make_run(n, [Result(k, "passed") for k in keys]))
    store_run(repo, make_run(10, [Result(k, "failed") for k in keys]))
    for run in TestRun.select().order_by(TestRun.id):
        result = analyze_run(run.id, now=T0 + timedelta(hours=11))
    assert result.storm
    assert TestRun.select().where(TestRun.tainted).count() == 1
    assert InfraEvent.get().failed == 40
    assert FlakeScore.select().where(FlakeScore.state == "flaky").count() == 0


def test_broken_on_main_names_first_failing_commit(repo) -> None:  # type: ignore[no-untyped-def]
    """Failing on every commit since one change, retries included, is broken, never proposed."""
    for n in range(12):
        store_run(repo, make_run(n, [Result("t::a", "passed")]))
    for n in range(12, 18):
        store_run(repo, make_run(n, [Result("t::a", "failed"), Result("t::a", "failed", retry=1)]))
    for run in TestRun.select().order_by(TestRun.id):
        analyze_run(run.id, now=T0 + timedelta(hours=19))
    score = FlakeScore.get()
    assert score.state == "broken" and not score.quarantine_recommended
    event = DomainEvent.get()
    assert event.kind == "broken" and event.data["first_failing_sha"] == sha(12)
    assert Quarantine.select().count() == 0


def _history(seed: int) -> list[Run]:
    rng = random.Random(seed)
    rates = {f"t::{i}": (0.0 if i % 4 else rng.choice([0.05, 0.2, 0.4])) for i in range(30)}
    runs = []
    for n in range(60):
        results = []
        for key, rate in rates.items():
            if rng.random() < 0.05:
                continue  # not every test runs every time
            failed = rng.random() < rate
            results.append(Result(key, "failed" if failed else "passed"))
            if failed and rng.random() < 0.5:
                results.append(Result(key, "passed" if rng.random() < 0.8 else "failed", 1))
        commit = n if rng.random() < 0.7 else max(0, n - 1)
        branch = "main" if rng.random() < 0.7 else "feature"
        runs.append(make_run(n, results, commit=commit, branch=branch, hours=n * 5))
    return runs


@pytest.mark.parametrize("seed", [1, 2])
def test_incremental_equals_batch(repo, seed) -> None:  # type: ignore[no-untyped-def]
    """Analyzing run by run in the database gives the states and verdicts of analyze()."""
    runs = _history(seed)
    for run in runs:
        store_run(repo, run)
    now = T0 + timedelta(days=20)
    for row in TestRun.select().order_by(TestRun.id):
        analyze_run(row.id, now=now)
    batch_states = fold(runs)
    batch = analyze(runs, now=now)
    stored = {fs.test_case.key: fs for fs in FlakeScore.select(FlakeScore, TestCase).join(TestCase)}
    assert set(stored) == set(batch)
    for key, verdict in batch.items():
        state = TestState.from_bytes(stored[key].engine_state)
        assert state == batch_states[key], key
        again = verdict_from_state(state, now)
        assert (again.state, again.score) == (verdict.state, verdict.score), key
        row = stored[key]
        assert (row.state, row.reason, row.quarantine_recommended, row.runs_seen) == (
            verdict.state,
            verdict.reason,
            verdict.quarantine,
            verdict.evidence.runs_seen,
        ), key
        assert row.evidence == verdict.evidence.to_json(sparse=True), key


def test_new_parametrisations_start_from_their_family_in_the_database_as_in_batch(repo) -> None:  # type: ignore[no-untyped-def]
    """A new case of a scored family starts from the family's rate: run by run as in fold()."""
    rng = random.Random(5)
    runs = []
    for n in range(60):
        keys = ["t::pay[visa]", "t::pay[mc]", "t::ok"] + (["t::pay[amex]"] if n >= 40 else [])
        results = []
        for key in keys:
            failed = key.startswith("t::pay") and rng.random() < 0.25
            results.append(Result(key, "failed" if failed else "passed"))
            if failed and rng.random() < 0.5:
                results.append(Result(key, "passed", 1))
        runs.append(make_run(n, results, hours=n * 2))
    for run in runs:
        store_run(repo, run)
    now = T0 + timedelta(days=6)
    for row in TestRun.select().order_by(TestRun.id):
        analyze_run(row.id, now=now)
    batch = fold(runs, families=True)
    stored = {fs.test_case.key: fs for fs in FlakeScore.select(FlakeScore, TestCase).join(TestCase)}
    for key, state in batch.items():
        assert TestState.from_bytes(stored[key].engine_state) == state, key
    # The new case was born with pseudo-runs at its family's rate, unlike a plain new test.
    plain = fold(runs)["t::pay[amex]"]
    assert batch["t::pay[amex]"].failure_weight > plain.failure_weight
    assert batch["t::pay[amex]"].passes_counted == plain.passes_counted


def test_analyses_inside_one_transaction_write_their_own_rows(repo) -> None:  # type: ignore[no-untyped-def]
    """Runs analyzed one after another in an outer transaction score as if committed apart."""
    runs = _history(4)[:6]
    for run in runs:
        store_run(repo, run)
    now = T0 + timedelta(days=20)
    with db.atomic():
        for row in TestRun.select().order_by(TestRun.id):
            analyze_run(row.id, now=now)
    batch_states = fold(runs)
    for fs in FlakeScore.select(FlakeScore, TestCase).join(TestCase):
        assert TestState.from_bytes(fs.engine_state) == batch_states[fs.test_case.key]


def _stored_state(value: bytes | str) -> TestState:
    if isinstance(value, bytes) and not value.startswith(b"{"):
        return TestState.from_bytes(value)
    return TestState.from_json(json.loads(value))


def test_state_stored_as_json_is_read_and_rewritten_as_bytes(repo, db_url) -> None:  # type: ignore[no-untyped-def]
    """A state still in its JSON form (from before migration 0035) scores on like any other."""
    runs = _history(3)
    for run in runs:
        store_run(repo, run)
    rows = list(TestRun.select().order_by(TestRun.id))
    now = T0 + timedelta(days=20)
    for row in rows[:30]:
        analyze_run(row.id, now=now)
    # What migration 0035 leaves: the JSON text, as bytes on PostgreSQL and text on SQLite.
    mark = "?" if db_url.startswith("sqlite") else "%s"
    for fs in FlakeScore.select():
        text = json.dumps(TestState.from_bytes(fs.engine_state).to_json())
        value = text if db_url.startswith("sqlite") else text.encode()
        db.execute_sql(
            f"UPDATE flake_score SET engine_state = {mark} WHERE id = {mark}", (value, fs.id)
        )
    for row in rows[30:]:
        analyze_run(row.id, now=now)
    batch_states = fold(runs)
    stored = {fs.test_case.key: fs for fs in FlakeScore.select(FlakeScore, TestCase).join(TestCase)}
    for key, state in batch_states.items():
        assert _stored_state(stored[key].engine_state) == state, key
    cut = TestRun.get_by_id(rows[29].id).analyzed_at
    rewritten = [fs.engine_state for fs in stored.values() if fs.updated_at > cut]
    assert rewritten and all(v[:1] == bytes((STATE_VERSION,)) for v in rewritten)


def test_state_since_moves_only_when_the_state_changes(repo) -> None:  # type: ignore[no-untyped-def]
    """state_since stays while a test keeps its state; it is the analysis that changed it."""
    for n in range(12):
        store_run(repo, make_run(n, [Result("t::a", "passed")]))
    store_run(repo, make_run(12, [Result("t::a", "failed"), Result("t::a", "passed", retry=1)]))
    seen = []
    for run in TestRun.select().order_by(TestRun.id):
        analyze_run(run.id, now=T0 + timedelta(hours=13))
        score = FlakeScore.get()
        seen.append((score.state, score.state_since, score.updated_at))
    assert [s[0] for s in seen] == ["insufficient"] * 8 + ["healthy"] * 4 + ["flaky"]
    for (before, since_before, _), (state, since, updated) in itertools.pairwise(seen):
        assert since == (since_before if state == before else updated)
    assert seen[0][1] < seen[8][1] < seen[12][1]


def test_a_version_1_state_from_an_old_worker_is_analyzed_on(repo) -> None:  # type: ignore[no-untyped-def]
    """During a rolling deploy an old worker stores version 1; the next analysis reads it."""
    downgrade = importlib.import_module("models.migrations.0041_flake_score_state_v2")._downgrade
    for n in range(1, 9):
        status = "failed" if n == 4 else "passed"
        results = [Result("t_flaky", status), Result("t_flaky", "passed", retry=1)]
        analyze_run(store_run(repo, make_run(n, results[: 2 if n == 4 else 1], hours=n)).id)
    score = FlakeScore.get()
    v3 = bytes(score.engine_state)
    assert v3[:1] == b"\x03"  # a test without a family prior: version 2 but for its version
    v1 = downgrade(b"\x02" + v3[1:])
    assert v1[:1] == b"\x01"
    FlakeScore.update(engine_state=v1).where(FlakeScore.id == score.id).execute()
    outcome = analyze_run(store_run(repo, make_run(9, [Result("t_flaky", "passed")], hours=9)).id)
    assert outcome.tests == 1
    again = FlakeScore.get_by_id(score.id)
    assert bytes(again.engine_state)[:1] == bytes((STATE_VERSION,))
    assert again.runs_seen == score.runs_seen + 1
    assert TestRun.select().where(TestRun.analyzed_at.is_null()).count() == 0
