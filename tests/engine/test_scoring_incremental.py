"""Incremental scoring (update over stored JSON states) agrees with batch analyze()."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.scoring import Result, Run, TestState, analyze, update, verdict_from_state

T0 = datetime(2026, 1, 1, tzinfo=UTC)
STATUSES = ("passed", "passed", "passed", "failed", "error", "skipped")


def _incremental(runs: list[Run], now: datetime) -> dict[str, object]:
    """Fold runs with update(), storing every state as JSON text in between, like the app."""
    stored: dict[str, str] = {}
    for run in runs:
        keys = {r.test for r in run.results}
        loaded = {k: TestState.from_json(json.loads(stored[k])) for k in keys if k in stored}
        new, _verdicts, _summary = update(loaded, run, now=run.at)
        assert set(new) <= keys
        for key, state in new.items():
            stored[key] = json.dumps(state.to_json())
    return {
        k: verdict_from_state(TestState.from_json(json.loads(v)), now) for k, v in stored.items()
    }


def _random_history(rng: random.Random, n_tests: int, n_runs: int) -> list[Run]:
    rates = {f"t{i}": rng.choice((0.0, 0.0, 0.02, 0.1, 0.4)) for i in range(n_tests)}
    broken = set(rng.sample(sorted(rates), k=max(1, n_tests // 10)))
    runs, at, head = [], T0, 0
    for n in range(n_runs):
        at += timedelta(minutes=rng.randint(0, 600))
        main = rng.random() < 0.5
        if rng.random() < 0.6:
            head += 1
        sha = f"m{head}" if main else f"b{rng.randrange(4)}-{rng.randrange(head + 1)}"
        outage = rng.random() < 0.05
        retries = rng.random() < 0.6
        results: list[Result] = []
        for key, rate in rates.items():
            if rng.random() < 0.1:
                continue  # not in this run
            if rng.random() < 0.03:
                results.append(Result(key, "skipped"))
                continue
            always = key in broken and main and head % 20 < 5
            fail = always or outage or rng.random() < rate
            results.append(Result(key, rng.choice(("failed", "error")) if fail else "passed"))
            for retry in (1, 2) if fail and retries else ():
                again = always or rng.random() < rate
                results.append(Result(key, "failed" if again else "passed", retry))
                if not again:
                    break
        rng.shuffle(results)
        runs.append(Run(f"r{n}", sha, "main" if main else "feat", main, at, results))
    return runs


def test_incremental_equals_batch_on_seeded_histories() -> None:
    """update() over JSON-stored states gives exactly analyze()'s verdicts (seeded generator)."""
    for seed in range(3):
        rng = random.Random(seed)
        runs = _random_history(rng, n_tests=40, n_runs=200)
        now = runs[-1].at + timedelta(days=2)
        batch = analyze(runs, now=now)
        assert batch and any(v.state == "flaky" for v in batch.values())
        assert _incremental(runs, now) == batch


run_strategy = st.lists(
    st.tuples(
        st.sampled_from(("s1", "s2", "s3", "s4")),
        st.booleans(),
        st.integers(min_value=0, max_value=72),
        st.lists(
            st.tuples(
                st.sampled_from(("a", "b", "c")),
                st.sampled_from(STATUSES),
                st.integers(min_value=0, max_value=2),
            ),
            max_size=8,
        ),
        st.integers(min_value=0, max_value=25),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(run_strategy)
def test_incremental_equals_batch_property(spec: list) -> None:  # type: ignore[type-arg]
    """Any sequence of runs gives the same verdicts folded one by one as in one batch."""
    runs: list[Run] = []
    at = T0
    for n, (sha, main, hours, attempts, failing_filler) in enumerate(spec):
        at += timedelta(hours=hours)
        results = [Result(t, s, r) for t, s, r in attempts]
        results += [
            Result(f"f{i}", "failed" if i < failing_filler else "passed") for i in range(25)
        ]
        runs.append(Run(f"r{n}", sha, "main" if main else "feat", main, at, results))
    now = at + timedelta(days=1)
    assert _incremental(runs, now) == analyze(runs, now=now)
