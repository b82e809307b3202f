"""The engine's fast paths say exactly what its general paths say."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.scoring import Result, Run, TestState, fold, verdict_from_state

T0 = datetime(2026, 1, 1, tzinfo=UTC)

# Twenty tests in four families (a new member of a family with a scored sibling
# starts from the family's prior: a seeded state).
KEYS = [f"m::t{i % 4}[{i}]" for i in range(20)]

# One run: minutes since the previous run, whether it is an outage (every test
# fails: the run is a storm, which leaves a state quiet), whether it ran on a
# branch, and per test: passed, passed then retried (a retry after a pass is
# ignored), skipped or absent.
runs_strategy = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=3 * 24 * 60),
        st.booleans(),
        st.booleans(),
        st.lists(
            st.sampled_from(("passed", "passed", "retried", "skipped", "absent")),
            min_size=len(KEYS),
            max_size=len(KEYS),
        ),
    ),
    min_size=1,
    max_size=40,
)


def _results(outage: bool, statuses: list[str]) -> list[Result]:
    results = []
    for key, status in zip(KEYS, statuses, strict=True):
        if status == "absent" and not outage:
            continue
        if outage:
            # an outage fails every first attempt; some retries pass, some fail
            results.append(Result(key, "failed"))
            results.append(Result(key, "passed" if status == "retried" else "failed", 1))
        elif status == "retried":
            results += [Result(key, "passed"), Result(key, "failed", 1)]
        else:
            results.append(Result(key, status))
    return results


@settings(max_examples=60, deadline=None)
@given(
    runs=runs_strategy,
    later=st.integers(min_value=0, max_value=90 * 24 * 60),
    families=st.booleans(),
)
def test_a_quiet_state_gets_the_verdict_the_general_path_gives(
    runs: list[tuple[int, bool, bool, list[str]]], later: int, families: bool
) -> None:
    """Passes (on any branch, retried or not), outages, seeds, decoding: quiet == general."""
    history = []
    at = T0
    for n, (minutes, outage, on_branch, statuses) in enumerate(runs):
        at += timedelta(minutes=minutes)
        branch = "feature" if on_branch else "main"
        results = _results(outage, statuses)
        history.append(Run(f"r{n}", f"s{n % 3}", branch, not on_branch, at, results))
    now = at + timedelta(minutes=later)
    states = fold(history, families=families)
    for state in states.values():
        assert not state.eventful
        decoded = (
            state,
            TestState.from_bytes(state.to_bytes()),
            TestState.from_json(state.to_json()),
        )
        for quiet in decoded:
            general = quiet.copy()
            general.eventful = True  # the same fields, judged by the general path
            assert verdict_from_state(quiet, now) == verdict_from_state(general, now)
