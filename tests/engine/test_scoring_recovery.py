"""Recovery without quarantine, the version-2 state codec, and reasons that are true."""

from __future__ import annotations

import math
import random
import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.scoring import (
    DEFAULT_CONFIG,
    STATE_VERSION,
    Result,
    Run,
    TestState,
    apply_run,
    fold,
    mark_quarantined,
    verdict_from_state,
)
from engine.scoring.family import family_prior
from engine.scoring.reason import ago, percent, span
from engine.scoring.state import ring_has, sha_key

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DAY = 86400.0


def _run(n: int, at: datetime, status: str, *, retry_passes: bool = True) -> Run:
    results = [Result("t", status)]
    if status == "failed" and retry_passes:
        results.append(Result("t", "passed", 1))
    return Run(f"r{n}", f"s{n}", "main", True, at, results)


def _flaky_then_fixed(
    rate: float, per_day: int, flaky_days: float, seed: int = 7
) -> tuple[dict[str, TestState], datetime, int]:
    """A flake at ``rate`` for ``flaky_days``; return the states, the time and the run count."""
    rng = random.Random(seed)
    states: dict[str, TestState] = {}
    at = T0
    step = timedelta(days=1) / per_day
    n = 0
    for n in range(int(flaky_days * per_day)):
        at += step
        apply_run(states, _run(n, at, "failed" if rng.random() < rate else "passed"))
    return states, at, n


def _passes(states: dict[str, TestState], at: datetime, n: int, count: int) -> datetime:
    """``count`` passing runs after run ``n``, one every 36 minutes; return the last one's time."""
    for k in range(1, count + 1):
        at += timedelta(minutes=36)
        apply_run(states, _run(n + k, at, "passed"))
    return at


def test_a_fixed_10pct_flake_recovers_and_says_so() -> None:
    """A 10% flake that stops failing is 'recovered' with a reason naming the clean stretch."""
    states, at, n = _flaky_then_fixed(0.10, 40, 6)
    assert verdict_from_state(states["t"], at).state == "flaky"
    last_failure = states["t"].last_counted_failure_at
    assert last_failure is not None
    clean = 0
    while verdict_from_state(states["t"], at).state == "flaky":
        at += timedelta(minutes=36)
        clean += 1
        apply_run(states, _run(n + clean, at, "passed"))
        assert clean < 200, "a fixed 10% flake must recover"
    v = verdict_from_state(states["t"], at)
    assert v.state == "recovered"
    assert not v.quarantine
    assert v.evidence.clean_runs >= clean  # the clean runs before the fix count too
    assert v.evidence.recovered_at == at
    assert 0.04 < v.evidence.recovered_from < 0.2
    was = f"{v.evidence.recovered_from * 100:.1f}%"
    since = datetime.fromtimestamp(last_failure, tz=UTC).strftime("%Y-%m-%d")
    assert v.reason == (
        f"no failure in {v.evidence.clean_runs} runs over "
        f"{span(at.timestamp() - last_failure)} since {since}; was {was}"
    )
    # ... and reads 'healthy' once recovered_days have passed.
    later = at + timedelta(days=DEFAULT_CONFIG.recovered_days + 1)
    apply_run(states, _run(10_000, later, "passed"))
    assert verdict_from_state(states["t"], later).state == "healthy"


def test_a_recovery_needs_the_evidence_bound_over_the_rate_it_showed() -> None:
    """The clean stretch is (bound + look penalty) / -ln(1 - rate): a 10% flake ~70 runs."""
    config = DEFAULT_CONFIG
    states, at, n = _flaky_then_fixed(0.10, 40, 6)
    state = states["t"]
    failures_at_last = state.failure_weight * 2 ** (
        state.epoch - state.last_counted_failure_at / (DAY * config.half_life_days)
    )
    rate = state.recovery_rate
    assert 0.07 < rate < 0.13  # the median of its posterior at its last failure
    clean = state.clean_runs
    while states["t"].recovered_at is None:
        at += timedelta(minutes=36)
        clean += 1
        apply_run(states, _run(n + clean, at, "passed"))
        assert clean < 300
    state = states["t"]
    decayed = failures_at_last * 2 ** (
        -(at.timestamp() - state.last_counted_failure_at) / (DAY * config.half_life_days)
    )
    bound = config.recovery_log_bayes_factor + config.recovery_look_penalty * math.log1p(decayed)
    assert clean == math.ceil(bound / -math.log1p(-rate))
    assert 60 <= clean <= 120


def test_a_recovery_keeps_the_commits_it_failed_on() -> None:
    """After recovery, a passing re-run of a commit that failed before is a conflict: flaky again.

    A recovery is a judgement from the runs, not knowledge of the fix: that
    commit's code passed and failed, which proves it flaky.
    """
    rng = random.Random(3)
    states: dict[str, TestState] = {}
    at = T0
    n = 0
    for n in range(240):  # a 10% flake never retried: its failures are no conflicts
        at += timedelta(minutes=36)
        status = "failed" if rng.random() < 0.1 else "passed"
        apply_run(states, _run(n, at, status, retry_passes=False))
    assert states["t"].flagged and states["t"].same_commit_conflicts == 0
    failed = [i for i in range(n + 1) if ring_has(states["t"].failed_shas, sha_key(f"s{i}"))]
    assert failed
    at = _passes(states, at, n, 399)
    assert verdict_from_state(states["t"], at).state == "recovered"
    assert ring_has(states["t"].failed_shas, sha_key(f"s{failed[-1]}"))
    at += timedelta(hours=1)
    rerun = Run("rerun", f"s{failed[-1]}", "main", True, at, [Result("t", "passed")])
    apply_run(states, rerun)
    v = verdict_from_state(states["t"], at)
    assert v.state == "flaky"
    assert v.evidence.same_commit_conflicts == 1
    assert v.evidence.recovered_at is None
    assert v.reason.startswith("passed and failed on the same commit once, last just now")
    # ... judged against at least the rate it recovered from, not the few runs since
    # (which would hold it flagged for thousands): a fixed test recovers again.
    was = states["t"].recovered_from
    for k in range(1, 200):
        at += timedelta(minutes=36)
        apply_run(states, _run(n + 400 + k, at, "passed"))
        if states["t"].recovered_at is not None:
            break
    assert states["t"].recovered_at is not None
    assert verdict_from_state(states["t"], at).state == "recovered"
    assert was > 0.05


def _flagged_then_clean(runs: int, minutes: float) -> tuple[dict[str, TestState], datetime, int]:
    """A 10% flake for 6 days, then ``runs`` clean runs ``minutes`` apart."""
    states, at, n = _flaky_then_fixed(0.10, 40, 6)
    assert states["t"].flagged
    for k in range(1, runs + 1):
        at += timedelta(minutes=minutes)
        apply_run(states, _run(n + k, at, "passed"))
    return states, at, n + runs


def test_a_branch_failure_starts_the_clean_stretch_over() -> None:
    """A failure on another branch (not counted as a flake) restarts the stretch and quiet day."""
    states, at, n = _flagged_then_clean(60, 36)
    before = states["t"].recovery_llr
    assert before > 0 and states["t"].recovered_at is None
    at += timedelta(minutes=36)
    branch = Run("rb", "feature-sha", "feature", False, at, [Result("t", "failed")])
    apply_run(states, branch)
    state = states["t"]
    assert state.branch_failures == 1 and state.last_counted_failure_at != at.timestamp()
    assert (state.clean_runs, state.recovery_llr) == (0, 0.0)
    assert state.last_failure_at == at.timestamp()
    branch_failure = at.timestamp()
    clean = 0
    while state.recovered_at is None:
        at += timedelta(minutes=36)
        clean += 1
        apply_run(states, _run(n + 1 + clean, at, "passed"))
        assert clean < 300
    # ... a whole stretch after the branch failure, and a quiet day after it.
    assert clean >= 60
    assert at.timestamp() - branch_failure >= DAY
    assert verdict_from_state(state, at).reason.startswith(
        f"no failure in {clean} runs over {span(at.timestamp() - branch_failure)} since "
    )


def test_the_quiet_day_counts_from_a_failure_anywhere() -> None:
    """Clean runs enough for the bound, but a branch failure within the day holds the recovery."""
    states, at, n = _flagged_then_clean(200, 3)  # 200 clean runs in 10 hours
    state = states["t"]
    assert state.recovered_at is None  # the last counted failure is less than a day old
    at += timedelta(minutes=3)
    apply_run(states, Run("rb", "feature-sha", "feature", False, at, [Result("t", "failed")]))
    branch_failure = at.timestamp()
    for k in range(1, 2000):
        at += timedelta(minutes=3)
        apply_run(states, _run(n + k, at, "passed"))
        if state.recovered_at is not None:
            break
    assert state.recovered_at is not None
    assert state.recovered_at - branch_failure >= DAY


def test_a_broken_then_fixed_flaky_test_is_not_recovered_by_its_first_pass() -> None:
    """A stretch judged broken restarts the clean stretch: the fix's first pass is no recovery."""
    states, at, n = _flagged_then_clean(120, 6)  # at the bound, waiting out the quiet day
    state = states["t"]
    assert state.recovered_at is None and state.clean_runs >= 120
    for k in range(1, 21):  # broken on main for 20 hours over 4 commits
        at += timedelta(hours=1)
        apply_run(
            states, Run(f"b{k}", f"broken{k // 5}", "main", True, at, [Result("t", "failed")])
        )
    at += timedelta(hours=1)
    apply_run(states, _run(n + 1, at, "passed"))
    assert state.broken_episodes == 1 and state.failures_counted < 40
    assert state.recovered_at is None
    assert state.clean_runs == 1
    assert verdict_from_state(state, at).state == "flaky"


def test_a_still_flaky_test_does_not_recover() -> None:
    """A 10% flake that keeps failing (every 10th run) stays flaky for a month of runs."""
    states: dict[str, TestState] = {}
    at = T0
    for n in range(1200):
        at += timedelta(minutes=36)
        apply_run(states, _run(n, at, "failed" if n % 10 == 9 else "passed"))
        assert states["t"].recovered_at is None
    assert verdict_from_state(states["t"], at).state == "flaky"


def test_recovery_waits_for_a_quiet_day() -> None:
    """However many clean runs, a test that failed within a day has not recovered."""
    states, at, n = _flaky_then_fixed(0.30, 400, 2)
    last_failure = states["t"].last_counted_failure_at
    assert last_failure is not None
    for k in range(1, 700):
        at += timedelta(minutes=3)
        apply_run(states, _run(n + k, at, "passed"))
        if at.timestamp() - last_failure < DAY:
            assert states["t"].recovered_at is None
    assert verdict_from_state(states["t"], at).state == "recovered"


def test_a_recovered_test_that_conflicts_again_is_flaky_again() -> None:
    """Hysteresis the other way: new same-commit evidence flags it again, not 'recovered'."""
    states, at, n = _flaky_then_fixed(0.10, 40, 6)
    at = _passes(states, at, n, 399)
    assert verdict_from_state(states["t"], at).state == "recovered"
    at += timedelta(hours=1)
    apply_run(states, _run(99_999, at, "failed"))
    v = verdict_from_state(states["t"], at)
    assert v.state == "flaky"
    assert v.evidence.recovered_at is None


def test_a_quarantined_test_is_released_by_the_quarantine_sprt_not_by_recovery() -> None:
    """While quarantined, only the quarantine's SPRT runs: the test becomes 'fixed'."""
    states, at, n = _flaky_then_fixed(0.10, 40, 6)
    states["t"] = mark_quarantined(states["t"], at, 0.08)
    for k in range(1, 400):
        at += timedelta(minutes=36)
        apply_run(states, _run(n + k, at, "passed"))
        assert states["t"].recovery_rate == 0.0
    assert verdict_from_state(states["t"], at).state == "fixed"


def test_version_3_states_round_trip_with_their_recovery_and_seed_fields() -> None:
    """Bytes and JSON keep the recovery fields and the seed weights; version 4 is refused."""
    states, at, n = _flaky_then_fixed(0.10, 40, 6)
    at = _passes(states, at, n, 399)
    state = states["t"]
    state.seed_failure_weight, state.seed_pass_weight = 0.25, 7.5
    assert state.recovered_at is not None and state.clean_runs > 0
    blob = state.to_bytes()
    assert blob[0] == STATE_VERSION == 3
    again = TestState.from_bytes(blob)
    assert again == state
    assert (again.recovered_at, again.recovered_from, again.clean_runs) == (
        state.recovered_at,
        state.recovered_from,
        state.clean_runs,
    )
    assert (again.seed_failure_weight, again.seed_pass_weight) == (0.25, 7.5)
    assert TestState.from_json(state.to_json()) == state
    with pytest.raises(ValueError, match="unsupported TestState version"):
        TestState.from_bytes(b"\x04" + blob[1:])
    with pytest.raises(ValueError, match="unsupported TestState version"):
        TestState.from_json({**state.to_json(), "v": 4})


def _as_version_2(state: TestState) -> tuple[bytes, dict[str, object]]:
    """The version-2 forms of a state without seed weights (what the engine before wrote)."""
    blob = state.to_bytes()
    assert not (state.seed_failure_weight or state.seed_pass_weight)  # nothing follows its tail
    data = state.to_json()
    del data["seed_fw"], data["seed_pw"]
    data["v"] = 2
    return b"\x02" + blob[1:], data


def test_an_old_state_mid_stretch_starts_its_recovery_statistic_over() -> None:
    """A version-2 state (another statistic) is read with its recovery test restarted.

    Version 2 restarted the statistic only at counted failures, against other
    bounds: read as version 3, a test close to that bound could recover early.
    """
    states, at, n = _flagged_then_clean(60, 36)
    state = states["t"]
    state.recovery_llr = 6.9  # an older engine's statistic, near this one's bound
    blob, data = _as_version_2(state)
    for old in (TestState.from_bytes(blob), TestState.from_json(data)):
        assert (old.recovery_llr, old.recovery_rate) == (0.0, 0.0)
        assert old.clean_runs == state.clean_runs >= 60  # no uncounted failure since
        assert (old.seed_failure_weight, old.seed_pass_weight) == (0.0, 0.0)
        old.recovery_llr, old.recovery_rate = state.recovery_llr, state.recovery_rate
        assert old == state  # nothing else changed
    old_states = {"t": TestState.from_bytes(blob)}
    for k in range(1, 30):
        at += timedelta(minutes=36)
        apply_run(old_states, _run(n + k, at, "passed"))
        assert old_states["t"].recovered_at is None  # a whole stretch from the upgrade
    assert old_states["t"].recovery_llr > 0


def test_an_old_state_forgets_its_clean_runs_after_an_uncounted_failure() -> None:
    """Version 2 counted clean runs from counted failures: after a branch failure, from 0."""
    states, at, _n = _flagged_then_clean(30, 36)
    at += timedelta(minutes=36)
    apply_run(states, Run("rb", "feature-sha", "feature", False, at, [Result("t", "failed")]))
    state = states["t"]
    state.clean_runs = 31  # what version 2 counted: the branch failure did not restart it
    blob, data = _as_version_2(state)
    assert TestState.from_bytes(blob).clean_runs == TestState.from_json(data).clean_runs == 0
    quiet = fold([_run(0, T0, "passed")])["t"]  # the short form: only the version changes
    assert TestState.from_bytes(b"\x02" + quiet.to_bytes()[1:]) == quiet


# ------------------------------------------------------------------ reasons


@st.composite
def histories(draw: st.DrawFn) -> list[Run]:
    """One test's runs on a few commits, some retried, over up to 40 days."""
    n = draw(st.integers(1, 40))
    shas = [f"c{i}" for i in range(draw(st.integers(1, 8)))]
    at = T0
    runs = []
    for i in range(n):
        at += timedelta(minutes=draw(st.integers(1, 2 * 24 * 60)))
        sha = draw(st.sampled_from(shas))
        attempts = draw(st.lists(st.sampled_from(("passed", "failed")), min_size=1, max_size=3))
        if attempts[0] == "passed":
            attempts = attempts[:1]  # a test that passed is not retried
        branch = draw(st.sampled_from(("main", "feature")))
        results = [Result("t", status, retry) for retry, status in enumerate(attempts)]
        runs.append(Run(f"r{i}", sha, branch, branch == "main", at, results))
    return runs


def _expected_conflicts(runs: list[Run], since: float) -> list[float]:
    """When each commit first had both a failed first attempt and a pass (from the history)."""
    failed: set[str] = set()
    passed: set[str] = set()
    times: list[float] = []
    for run in runs:
        statuses = {result.retry: result.status for result in run.results}
        had = run.sha in failed and run.sha in passed
        if statuses[0] == "failed":
            failed.add(run.sha)
        if "passed" in statuses.values():
            passed.add(run.sha)
        if not had and run.sha in failed and run.sha in passed:
            times.append(run.at.timestamp())
    return [at for at in times if at >= since]


@settings(max_examples=300, deadline=None)
@given(histories(), st.integers(0, 30 * 24 * 60))
def test_the_numbers_in_a_reason_are_derivable_from_the_history(
    runs: list[Run], minutes_later: int
) -> None:
    """Counts, windows and ages in a reason are what the history it was given says."""
    now = runs[-1].at + timedelta(minutes=minutes_later)
    state = fold(runs)["t"]
    v = verdict_from_state(state, now)
    t_now = now.timestamp()
    first = runs[0].at.timestamp()
    history = f"in the {span(t_now - first)} of history"
    window_days = DEFAULT_CONFIG.conflict_window_days
    window = history if t_now - first < window_days * DAY else f"in the last {window_days:g} days"
    conflicts = _expected_conflicts(runs, t_now - window_days * DAY)
    if v.state == "flaky" and conflicts:
        count = "once" if len(conflicts) == 1 else f"{len(conflicts)} times"
        assert v.reason == (
            f"passed and failed on the same commit {count}, "
            f"last {ago(t_now - max(conflicts))}, {window}"
        )
    elif v.state == "insufficient":
        assert v.reason == f"only {len(runs)} runs {history}; not enough to judge"
    elif v.state == "flaky":
        assert not conflicts
        assert f"({state.failures_counted} failures counted {history}" in v.reason
        last = state.last_counted_failure_at
        assert last is not None and f", last {ago(t_now - last)})" in v.reason
    if v.state == "healthy" and "same-commit" in v.reason:
        assert not conflicts
        assert window in v.reason


@st.composite
def family_histories(draw: st.DrawFn) -> list[Run]:
    """A flaky test ``m::t[a]`` and, from a later run on, its new sibling ``m::t[b]``."""
    n = draw(st.integers(2, 40))
    joins = draw(st.integers(1, n - 1))
    at = T0
    runs = []
    for i in range(n):
        at += timedelta(minutes=draw(st.integers(1, 24 * 60)))
        branch = draw(st.sampled_from(("main", "main", "feature")))
        sha = f"c{draw(st.integers(0, 5))}"
        results = []
        for key in ("m::t[a]", "m::t[b]") if i >= joins else ("m::t[a]",):
            attempts = draw(st.lists(st.sampled_from(("passed", "failed")), min_size=1, max_size=2))
            if attempts[0] == "passed":
                attempts = attempts[:1]
            results += [Result(key, status, retry) for retry, status in enumerate(attempts)]
        runs.append(Run(f"r{i}", sha, branch, branch == "main", at, results))
    return runs


@settings(max_examples=200, deadline=None)
@given(family_histories(), st.integers(0, 10 * 24 * 60))
def test_a_seeded_test_s_reason_claims_only_its_own_runs(
    runs: list[Run], minutes_later: int
) -> None:
    """A new member's reason counts its own failures and passes, and names the family's rate."""
    now = runs[-1].at + timedelta(minutes=minutes_later)
    state = fold(runs, families=True)["m::t[b]"]
    v = verdict_from_state(state, now)
    own = [r for run in runs for r in run.results if r.test == "m::t[b]" and r.retry == 0]
    own_failures = sum(1 for r in own if r.status == "failed")
    own_passes = len(own) - own_failures
    joined = next(run for run in runs if any(r.test == "m::t[b]" for r in run.results))
    before = fold([run for run in runs if run.at < joined.at])["m::t[a]"]
    family = family_prior([before], joined.at.timestamp(), DEFAULT_CONFIG)
    text, _, prior = v.reason.partition("; its family's rate, ")
    if prior:
        assert family is not None and family.rate > 0
        assert prior == f"{percent(family.rate)}, is its prior"
    if not own_failures:
        assert "fail" not in text.replace("no failure on good code", "")
    for count in re.findall(r"(\d+) failures counted", text):
        assert int(count) <= own_failures
    for count in re.findall(r"no failure on good code in (\d+) runs?", text):
        assert int(count) <= own_passes


def test_only_a_seeded_state_stores_its_seed_weights() -> None:
    """A test without a family prior takes no more bytes than in version 2; a seeded one 16 more."""
    states, _at, _n = _flaky_then_fixed(0.10, 40, 2)
    state = states["t"]
    plain = state.to_bytes()
    state.seed_failure_weight, state.seed_pass_weight = 0.5, 7.5
    seeded = state.to_bytes()
    assert len(seeded) == len(plain) + 16
    assert TestState.from_bytes(seeded) == state
    state.seed_failure_weight = state.seed_pass_weight = 0.0
    assert TestState.from_bytes(plain) == state
