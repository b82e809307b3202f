"""Behaviour of engine.scoring: evidence, states, SPRT and the incremental fold."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta

import pytest

from engine.scoring import (
    DEFAULT_CONFIG,
    SHA_KEY_BYTES,
    Evidence,
    Result,
    Run,
    TestState,
    Verdict,
    analyze,
    apply_run,
    beta_ppf,
    beta_ppf_exact,
    fold,
    is_storm,
    mark_quarantined,
    sprt_fixed,
    update,
    verdict_from_state,
)
from engine.scoring.state import JSON_KEYS, ring_has

T0 = datetime(2026, 1, 1, tzinfo=UTC)
FILLER = [f"f{i}" for i in range(30)]  # stable neighbours, so runs have a realistic size


class History:
    """Build runs one by one; every run also runs the stable FILLER tests."""

    def __init__(self) -> None:
        self.runs: list[Run] = []
        self.at = T0

    def run(
        self,
        sha: str,
        outcomes: dict[str, list[str]],
        *,
        branch: str = "main",
        hours: float = 3.0,
        filler: str = "passed",
    ) -> Run:
        self.at += timedelta(hours=hours)
        results = [Result(k, filler) for k in FILLER]
        for test, attempts in outcomes.items():
            results += [Result(test, s, retry=i) for i, s in enumerate(attempts)]
        run = Run(
            id=f"r{len(self.runs)}",
            sha=sha,
            branch=branch,
            default_branch=branch == "main",
            at=self.at,
            results=results,
        )
        self.runs.append(run)
        return run

    def passes(self, test: str, n: int, *, prefix: str = "c", branch: str = "main") -> None:
        for i in range(n):
            self.run(f"{prefix}{len(self.runs)}-{i}", {test: ["passed"]}, branch=branch)


def verdict(h: History, test: str):  # type: ignore[no-untyped-def]
    return analyze(h.runs, now=h.at)[test]


def test_pass_and_fail_on_same_commit_via_retry_is_flaky() -> None:
    """A failure that passes on retry in the same run proves flakiness."""
    h = History()
    h.passes("t", 40)
    h.run("c-x", {"t": ["failed", "passed"]})
    h.passes("t", 5)
    v = verdict(h, "t")
    assert v.state == "flaky"
    assert v.quarantine
    assert v.evidence.same_commit_conflicts == 1
    assert v.reason == (
        "passed and failed on the same commit once, last 15 hours ago, in the 5 days of history"
    )


def test_pass_and_fail_on_same_commit_across_runs_is_flaky() -> None:
    """A commit that failed in one run and passed in a re-run is a conflict."""
    h = History()
    h.passes("t", 40)
    h.run("c-x", {"t": ["failed"]})
    h.run("c-x", {"t": ["passed"]})
    v = verdict(h, "t")
    assert v.state == "flaky"
    assert v.evidence.same_commit_conflicts == 1


def test_branch_failure_that_later_passes_on_the_same_commit_counts() -> None:
    """A feature-branch failure becomes evidence when its commit passes in a re-run."""
    h = History()
    h.passes("t", 40)
    h.run("b-1", {"t": ["failed"]}, branch="feature")
    assert verdict(h, "t").state == "healthy"
    h.run("b-1", {"t": ["passed"]}, branch="feature")
    v = verdict(h, "t")
    assert v.state == "flaky"
    assert v.evidence.branch_failures_excluded == 0
    assert v.evidence.failures_counted == 1


def test_stable_test_is_healthy_and_new_test_insufficient() -> None:
    """Many clean runs make a test healthy; a handful leave it insufficient."""
    h = History()
    h.passes("t", 40)
    h.passes("new", 3)
    verdicts = analyze(h.runs, now=h.at)
    assert verdicts["t"].state == "healthy"
    assert not verdicts["t"].quarantine
    assert verdicts["new"].state == "insufficient"


def test_infra_storm_is_not_evidence_about_single_tests() -> None:
    """Failures in a run where most tests fail are counted as infra, not flakiness."""
    h = History()
    h.passes("t", 40)
    storm = h.run("c-storm", {"t": ["failed", "passed"]}, filler="failed")
    h.run("c-storm", {"t": ["passed"]})
    h.passes("t", 5)
    states: dict[str, TestState] = {}
    summaries = [apply_run(states, run) for run in h.runs]
    storm_summary = summaries[h.runs.index(storm)]
    assert storm_summary.storm
    assert storm_summary.infra_failures_excluded == 31
    v = verdict_from_state(states["t"], h.at)
    assert v.state == "healthy"
    assert v.evidence.infra_failures_excluded == 1
    assert v.evidence.same_commit_conflicts == 0
    assert verdict_from_state(states["f0"], h.at).state == "healthy"


def test_storm_threshold_needs_share_count_and_size() -> None:
    """A storm needs 10% of a run failing, at least 10 failures and 20 tests."""
    assert is_storm(100, 10)
    assert not is_storm(100, 9)
    assert not is_storm(200, 19)
    assert not is_storm(15, 15)


def _break_main(h: History, test: str, commits: int, attempts: int = 3) -> None:
    for i in range(commits):
        h.run(f"bad{i}", {test: ["failed"] * attempts})


def _broken_then_fixed(commits: int, passes_after: int) -> Verdict:
    """The verdict on a stable test after ``commits`` main commits failing every retry, then
    ``passes_after`` passing runs."""
    h = History()
    h.passes("t", 40)
    _break_main(h, "t", commits)
    h.passes("t", passes_after)
    return verdict(h, "t")


def _quarantined_after_one_flake(passes: int, rate: float) -> tuple[History, dict[str, TestState]]:
    """``passes`` passing runs and one pass-on-retry, folded, then quarantined at ``rate``."""
    h = History()
    h.passes("t", passes)
    h.run("x", {"t": ["failed", "passed"]})
    states = fold(h.runs)
    states["t"] = mark_quarantined(states["t"], h.at, rate)
    return h, states


def test_broken_on_main_reports_first_failing_commit_and_never_quarantines() -> None:
    """A stretch failing on every retry over several main commits is broken, not flaky."""
    h = History()
    h.passes("t", 40)
    _break_main(h, "t", 3)
    v = verdict(h, "t")
    assert v.state == "broken"
    assert not v.quarantine
    assert v.evidence.first_failing_sha == "bad0"
    assert v.evidence.broken_commits == 3
    assert "bad0" in v.reason


def test_broken_then_fixed_on_main_leaves_no_flaky_evidence() -> None:
    """Once main passes again the broken stretch is dropped, not scored as flakes."""
    v = _broken_then_fixed(4, 10)
    assert v.state == "healthy"
    assert v.evidence.failures_counted == 0
    assert v.evidence.broken_episodes == 1
    assert v.evidence.first_failing_sha == "bad0"


def test_single_failed_main_commit_then_pass_counts_as_flake() -> None:
    """One failing main commit is too short to be a breakage: it is scored."""
    h = History()
    h.passes("t", 40)
    h.run("bad", {"t": ["failed"]})
    h.passes("t", 3)
    v = verdict(h, "t")
    assert v.evidence.failures_counted == 1
    assert v.evidence.broken_episodes == 0
    assert v.state == "flaky"


def test_flaky_test_that_breaks_is_broken_and_not_quarantined() -> None:
    """Broken outranks flaky: a known flake that starts failing always is not quarantined."""
    h = History()
    for i in range(6):
        h.passes("t", 8)
        h.run(f"x{i}", {"t": ["failed", "passed"]})
    assert verdict(h, "t").state == "flaky"
    _break_main(h, "t", 5)
    v = verdict(h, "t")
    assert v.state == "broken"
    assert not v.quarantine


def test_open_failing_stretch_withholds_quarantine() -> None:
    """A flaky test whose latest main commit failed hard is not recommended for quarantine yet."""
    h = History()
    h.passes("t", 40)
    h.run("x", {"t": ["failed", "passed"]})
    h.passes("t", 5)
    assert verdict(h, "t").quarantine
    h.run("bad0", {"t": ["failed", "failed", "failed"]})
    v = verdict(h, "t")
    assert v.state == "flaky"
    assert not v.quarantine


def test_branch_only_breakage_is_not_flaky() -> None:
    """Commits failing on a feature branch while main passes are not flakiness."""
    h = History()
    for i in range(30):
        h.run(f"m{i}", {"t": ["passed"]})
        if 10 <= i < 16:
            h.run(f"b{i}", {"t": ["failed", "failed"]}, branch="feature")
        else:
            h.run(f"b{i}", {"t": ["passed"]}, branch="feature")
    v = verdict(h, "t")
    assert v.state == "healthy"
    assert not v.quarantine
    assert v.evidence.branch_failures_excluded == 6
    assert v.evidence.failures_counted == 0


def test_hysteresis_flags_at_a_higher_bar_than_it_clears() -> None:
    """Between the clear and flag bars a flaky test stays flaky and a healthy one healthy."""
    h = History()
    h.passes("t", 60)
    h.run("bad", {"t": ["failed"]})
    for _ in range(14 * 8):  # two weeks at 8 runs a day: the failure weighs 1/2
        h.run(f"c{len(h.runs)}", {"t": ["passed"]})
    states = fold(h.runs)
    st = states["t"]
    v = verdict_from_state(st, h.at)
    c = DEFAULT_CONFIG
    fails = v.score * (c.prior_fail + c.prior_pass + v.evidence.effective_runs) - c.prior_fail
    assert c.clear_failures <= fails < c.flag_failures  # between the bars
    assert c.clear_score <= v.score
    flagged, unflagged = st.copy(), st.copy()
    flagged.flagged, unflagged.flagged = True, False
    assert verdict_from_state(flagged, h.at).state == "flaky"
    assert verdict_from_state(unflagged, h.at).state == "healthy"


def test_flaky_clears_after_quiet_period() -> None:
    """A flagged test clears after 30 days without a failure on good code."""
    h = History()
    h.passes("t", 40)
    h.run("bad", {"t": ["failed"]})
    h.passes("t", 5)
    assert verdict(h, "t").state == "flaky"
    for _ in range(31 * 2):
        h.run(f"c{len(h.runs)}", {"t": ["passed"]}, hours=12)
    assert verdict(h, "t").state == "healthy"


@pytest.mark.parametrize(("rate", "needed"), [(0.05, 63), (0.30, 9)])
def test_sprt_fixed_needs_about_60_clean_runs_at_5pct_and_9_at_30pct(
    rate: float, needed: int
) -> None:
    """Wald's SPRT calls a 5% flake fixed after 63 clean runs and a 30% flake after 9."""
    assert sprt_fixed(rate, 0, 0).clean_runs_needed == needed
    assert sprt_fixed(rate, needed - 1, 0).decision == "continue"
    assert sprt_fixed(rate, needed, 0).decision == "fixed"
    assert sprt_fixed(rate, needed, 1).decision != "fixed"
    assert sprt_fixed(rate, 0, 2).decision == "still_flaky"


def test_quarantined_test_becomes_fixed_after_clean_runs() -> None:
    """A quarantined 30% flake turns 'fixed' after 9 clean runs, not after 8."""
    h = History()
    for i in range(10):
        h.passes("t", 2)
        h.run(f"x{i}", {"t": ["failed", "passed"]})
    states = fold(h.runs)
    states["t"] = mark_quarantined(states["t"], h.at, 0.30)
    for n in range(9):
        h.at += timedelta(days=8)  # beyond the conflict window and quiet period
        apply_run(states, Run(f"q{n}", f"q{n}", "main", True, h.at, [Result("t", "passed")]))
        state = verdict_from_state(states["t"], h.at).state
        assert (state == "fixed") == (n == 8)
    v = verdict_from_state(states["t"], h.at)
    assert not v.quarantine
    assert v.evidence.runs_since_quarantine == 9


def test_quarantined_test_that_keeps_failing_is_not_fixed() -> None:
    """Failures after quarantine hold the SPRT at its lower bound."""
    h, states = _quarantined_after_one_flake(20, 0.30)
    for n in range(40):
        h.at += timedelta(hours=6)
        status = "failed" if n % 4 == 0 else "passed"
        attempts = [Result("t", status)] + ([Result("t", "passed", 1)] if n % 4 == 0 else [])
        apply_run(states, Run(f"q{n}", f"q{n}", "main", True, h.at, attempts))
    v = verdict_from_state(states["t"], h.at)
    assert v.state == "flaky"
    assert v.evidence.sprt_llr is not None and v.evidence.sprt_llr < 0


def test_sprt_raises_a_too_low_quarantine_rate_when_the_test_keeps_failing() -> None:
    """Each time the SPRT says 'still flaky', p0 rises to the posterior's lower bound."""
    h, states = _quarantined_after_one_flake(20, 0.001)
    for n in range(60):
        h.at += timedelta(hours=6)
        status = "failed" if n % 5 == 0 else "passed"
        apply_run(states, Run(f"q{n}", f"q{n}", "main", True, h.at, [Result("t", status)]))
    assert states["t"].quarantine_rate > 0.05
    assert verdict_from_state(states["t"], h.at).state == "flaky"


def test_update_touches_only_the_tests_in_the_run_and_leaves_input_alone() -> None:
    """update() returns states and verdicts only for the run's tests and copies its input."""
    h = History()
    h.passes("t", 5)
    states = fold(h.runs)
    states["other"] = TestState()
    before = {k: v.to_json() for k, v in states.items()}
    run = Run("n", "c-new", "main", True, h.at + timedelta(hours=1), [Result("t", "failed")])
    new, verdicts, summary = update(states, run, now=run.at)
    assert set(new) == set(verdicts) == {"t"}
    assert {k: v.to_json() for k, v in states.items()} == before
    assert new["t"].runs_seen == states["t"].runs_seen + 1
    assert summary.tests == 1 and summary.failed == 1 and not summary.storm


def test_state_and_verdict_round_trip_through_json() -> None:
    """TestState.to_json/from_json is exact, and verdicts serialise to JSON."""
    h = History()
    h.passes("t", 30)
    h.run("x", {"t": ["failed", "passed"]})
    _break_main(h, "t", 1)
    states = fold(h.runs)
    for key, st in states.items():
        back = TestState.from_json(json.loads(json.dumps(st.to_json())))
        assert back == st
        assert verdict_from_state(back, h.at) == verdict_from_state(st, h.at)
        json.dumps(verdict_from_state(back, h.at).to_json())
        assert key


def test_from_json_rejects_other_versions() -> None:
    """A state written by another engine version is refused, not misread."""
    data = TestState().to_json()
    data["v"] = 99
    with pytest.raises(ValueError, match="version"):
        TestState.from_json(data)


def _varied_states() -> dict[str, TestState]:
    """States of every shape: passes only, conflicts, a broken stretch, quarantine, storms."""
    h = History()
    h.passes("flaky", 30)
    h.run("x", {"flaky": ["failed", "passed"]})
    h.passes("broken", 30)
    _break_main(h, "broken", 2)  # still open: pend_* and the first failing SHA
    h.run("b1", {"branchy": ["failed"]}, branch="feature")
    h.run("storm", {}, filler="failed")
    states = fold(h.runs)
    states["quarantined"] = mark_quarantined(states["flaky"], h.at, 0.05)
    states["new"] = TestState()
    return states


def test_state_round_trips_through_bytes() -> None:
    """TestState.to_bytes/from_bytes is exact for every shape, and small for passing tests."""
    states = _varied_states()
    for key, st in states.items():
        data = st.to_bytes()
        back = TestState.from_bytes(data)
        assert back == st, key
        assert back.to_bytes() == data, key
        assert back.stretch_first_sha == st.stretch_first_sha, key  # whole SHAs, not keys
    h = History()
    h.passes("t", 100)
    passing = fold(h.runs)["t"]
    assert len(passing.to_bytes()) <= 38 + SHA_KEY_BYTES * DEFAULT_CONFIG.sha_ring
    assert len(states["broken"].to_bytes()) < len(json.dumps(states["broken"].to_json())) / 3


def test_from_bytes_rejects_other_versions() -> None:
    """Bytes written by another engine version are refused, not misread."""
    data = bytearray(TestState().to_bytes())
    data[0] = 99
    with pytest.raises(ValueError, match="version"):
        TestState.from_bytes(bytes(data))


def test_sha_rings_match_whole_keys_only() -> None:
    """A key found across the boundary of two keys in a ring is not in the ring."""
    a, b = bytes(range(1, 7)), bytes(range(11, 17))
    straddling = a[3:] + b[:3]
    assert ring_has(a + b, a) and ring_has(a + b, b)
    assert not ring_has(a + b, straddling)
    assert ring_has(a + b + straddling, straddling)  # found again where it is whole


def test_update_in_place_folds_the_given_states() -> None:
    """update(copy=False) folds the run into the caller's states and returns those."""
    h = History()
    h.passes("t", 5)
    states = fold(h.runs)
    run = Run("n", "c-new", "main", True, h.at + timedelta(hours=1), [Result("t", "passed")])
    copied, _, _ = update(states, run, now=run.at)
    new, verdicts, _ = update(states, run, now=run.at, copy=False)
    assert new["t"] is states["t"] and new["t"] == copied["t"]
    assert verdicts["t"] == verdict_from_state(copied["t"], run.at)


def test_verdicts_are_plain_frozen_dataclasses() -> None:
    """Verdicts built on the fast path equal ones built field by field, and stay frozen."""
    for st in _varied_states().values():
        v = verdict_from_state(st, T0 + timedelta(days=3))
        fields = {f.name: getattr(v, f.name) for f in dataclasses.fields(Verdict)}
        evidence = {f.name: getattr(v.evidence, f.name) for f in dataclasses.fields(Evidence)}
        assert v == Verdict(**{**fields, "evidence": Evidence(**evidence)})
        with pytest.raises(dataclasses.FrozenInstanceError):
            v.evidence.runs_seen = 0  # type: ignore[misc]


def test_sparse_evidence_leaves_out_zeros_and_absent_values() -> None:
    """Evidence.to_json(sparse=True) is to_json() without its zero and None entries."""
    for st in _varied_states().values():
        evidence = verdict_from_state(st, T0 + timedelta(days=3)).evidence
        full = evidence.to_json()
        assert evidence.to_json(sparse=True) == {k: v for k, v in full.items() if v}
        json.dumps(evidence.to_json(sparse=True))


def test_naive_run_times_are_refused() -> None:
    """Runs must carry timezone-aware times."""
    run = Run("r", "s", "main", True, datetime(2026, 1, 1), [Result("t", "passed")])
    with pytest.raises(ValueError, match="timezone"):
        analyze([run], now=T0)


@pytest.mark.parametrize("a", [0.5, 0.9, 1.3, 1.8, 2.5, 7.0, 40.0])
@pytest.mark.parametrize("b", [50.0, 300.0, 2000.0])
def test_fast_beta_quantiles_are_within_7pct_of_exact(a: float, b: float) -> None:
    """The fast interval is within 7% of the exact Beta quantiles for b >= 50."""
    for q in (0.05, 0.95):
        exact = beta_ppf_exact(q, a, b)
        assert abs(beta_ppf(q, a, b) - exact) <= 0.07 * exact


def test_quarantined_test_leaves_flaky_only_through_the_sprt() -> None:
    """A quarantined flake stays flaky through a quiet month until the SPRT says fixed."""
    h, states = _quarantined_after_one_flake(40, 0.01)  # needs ~300 clean runs
    unquarantined = fold(h.runs)
    for n in range(40):
        h.at += timedelta(days=1)
        run = Run(f"q{n}", f"q{n}", "main", True, h.at, [Result("t", "passed")])
        apply_run(states, run)
        apply_run(unquarantined, run)
    assert verdict_from_state(unquarantined["t"], h.at).state == "healthy"
    assert verdict_from_state(states["t"], h.at).state == "flaky"


def test_rerun_passing_a_failed_main_commit_flushes_the_stretch_as_flaky() -> None:
    """A main commit that failed and then passed on a re-run is a conflict, never a breakage."""
    h = History()
    h.passes("t", 40)
    _break_main(h, "t", 2)  # bad0, bad1 fail on every retry ...
    h.run("bad1", {"t": ["passed"]})  # ... but bad1 passes when re-run
    v = verdict(h, "t")
    assert v.state == "flaky"
    assert v.evidence.broken_episodes == 0
    assert v.evidence.failures_counted == 2
    assert v.evidence.same_commit_conflicts == 1


def test_one_main_commit_failing_on_every_retry_then_fixed_is_not_flaky() -> None:
    """A stable test that failed all retries on one commit, then passed, is not scored as flaky."""
    v = _broken_then_fixed(1, 5)
    assert v.state == "healthy"
    assert v.evidence.failures_counted == 0
    assert v.evidence.broken_episodes == 1


def test_commits_sharing_a_long_prefix_are_told_apart() -> None:
    """Zero-padded synthetic SHAs that share 39 digits are still different commits."""
    runs = [
        Run(f"r{n}", f"{n:040x}", "main", True, T0 + timedelta(hours=n), [Result("t", "passed")])
        for n in range(12)
    ]
    runs += [
        Run(
            f"r{n}",
            f"{n:040x}",
            "main",
            True,
            T0 + timedelta(hours=n),
            [Result("t", "failed"), Result("t", "failed", 1)],
        )
        for n in range(12, 18)
    ]
    v = analyze(runs, now=T0 + timedelta(hours=19))["t"]
    assert v.state == "broken"
    assert v.evidence.first_failing_sha == f"{12:040x}"
    assert v.evidence.same_commit_conflicts == 0


def test_every_state_field_has_a_key_in_the_stored_json_form() -> None:
    """The JSON form names each TestState field by its stored (version 1) key, none twice."""
    fields = set(TestState().__dict__)
    assert set(JSON_KEYS) == fields
    assert len(set(JSON_KEYS.values())) == len(fields)
    assert set(TestState().to_json()) == set(JSON_KEYS.values()) | {"v"}
