"""The engine's fast paths say exactly what its general paths say."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.scoring import Result, Run, TestState, apply_run, verdict_from_state

T0 = datetime(2026, 1, 1, tzinfo=UTC)

# One run: minutes since the previous run, whether it is an outage (every test
# fails: the run is a storm, which leaves a state quiet), and per test: passed,
# skipped or absent.
runs_strategy = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=3 * 24 * 60),
        st.booleans(),
        st.lists(
            st.sampled_from(("passed", "passed", "skipped", "absent")), min_size=20, max_size=20
        ),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(runs=runs_strategy, later=st.integers(min_value=0, max_value=90 * 24 * 60))
def test_a_quiet_state_gets_the_verdict_the_general_path_gives(
    runs: list[tuple[int, bool, list[str]]], later: int
) -> None:
    """A state with only passes and outages: the quiet verdict equals the general one."""
    states: dict[str, TestState] = {}
    at = T0
    for n, (minutes, outage, statuses) in enumerate(runs):
        at += timedelta(minutes=minutes)
        results = [
            Result(f"t{i}", "failed" if outage else status)
            for i, status in enumerate(statuses)
            if outage or status != "absent"
        ]
        apply_run(states, Run(f"r{n}", f"s{n}", "main", True, at, results))
    now = at + timedelta(minutes=later)
    for state in states.values():
        assert not state.eventful
        general = state.copy()
        general.eventful = True  # the same fields, judged by the general path
        assert verdict_from_state(state, now) == verdict_from_state(general, now)
