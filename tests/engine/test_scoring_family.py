"""New tests: families, the prior a new parametrisation takes from its siblings, early verdicts."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from engine.junit import MAX_KEY_CHARS, make_key
from engine.scoring import DEFAULT_CONFIG, Result, Run, fold
from engine.scoring import verdict_from_state as judge
from engine.scoring.family import family_key, family_prior, seed
from engine.scoring.state import TestState

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("key", "family"),
    [
        ("tests.pay::test_pay[visa-3]", "tests.pay::test_pay"),
        ("tests.pay::test_pay", "tests.pay::test_pay"),
        ("tests.pay::test_pay[a[0]-b]", "tests.pay::test_pay"),
        ("tests/x[1].py::test_a", "tests/x[1].py::test_a"),  # brackets in the scope stay
        ("tests.pay::[odd]", "tests.pay::[odd]"),  # nothing before the bracket: no family
        ("test_pay[visa]", "test_pay"),
        ("m::test_x[a::b]", "m::test_x"),  # a "::" inside the parametrisation
        ("m::test(int[])[1]", "m::test(int[])"),  # brackets in the name: only the last group
        ("m::test[a]b[c]", "m::test[a]b"),
        ("m::test[[x]]", "m::test"),  # nested to the end
        ("m::[a][b]", "m::[a][b]"),  # a name of brackets only
        ("[1]", "[1]"),
        ("m::test[a]]", "m::test[a]]"),  # unbalanced: no trustworthy parametrisation
        ("m::test]", "m::test]"),
        ("pkg.Class::", "pkg.Class::"),  # a classname-only test is its own family
        ("::test_a[1]", "::test_a"),  # no scope
        ("m::tést_ünï[ß-東京]", "m::tést_ünï"),
        ("m::test[x]#0123456789abcdef", "m::test[x]#0123456789abcdef"),  # not cut: "#" in it
    ],
)
def test_a_family_is_the_key_without_its_parametrisation(key: str, family: str) -> None:
    assert family_key(key) == family


def test_a_key_cut_to_its_limit_keeps_its_family() -> None:
    """A parametrisation too long for a key still names the family of its kept part."""
    long_key = make_key("tests.pay", "test_pay[" + "x" * 600 + "]")
    assert len(long_key) == MAX_KEY_CHARS and not long_key.endswith("]")
    assert family_key(long_key) == "tests.pay::test_pay"
    cut_name = make_key("tests.pay", "test_" + "p" * 600 + "[1]")  # the bracket was cut off
    assert family_key(cut_name) == cut_name


def _history(new_from: int, fail_new: set[int]) -> list[Run]:
    """test_pay[visa] flakes at 40% on main; test_pay[amex] runs from run ``new_from``."""
    rng = random.Random(11)
    runs = []
    for n in range(60):
        failed = rng.random() < 0.4
        results = [Result("m::test_pay[visa]", "failed" if failed else "passed")]
        if failed:
            results.append(Result("m::test_pay[visa]", "passed", 1))
        if n >= new_from:
            results.append(Result("m::test_pay[amex]", "failed" if n in fail_new else "passed"))
        runs.append(Run(f"r{n}", f"s{n}", "main", True, T0 + timedelta(hours=n), results))
    return runs


def test_the_prior_alone_never_flags_a_new_case() -> None:
    """A new case of a flaky family that only passes is judged, and healthy."""
    states = fold(_history(40, set()), families=True)
    amex = states["m::test_pay[amex]"]
    assert amex.failure_weight > 0 and amex.failures_counted == 0
    verdict = judge(amex, T0 + timedelta(hours=60))
    assert verdict.state == "healthy" and not verdict.quarantine


def test_a_new_case_of_a_flaky_family_that_fails_twice_is_a_flake_not_a_breakage() -> None:
    """Two failing main commits look like a breakage of a new test, not of a flaky family's."""
    runs = _history(40, {41, 42})
    alone = fold(runs)["m::test_pay[amex]"]
    assert alone.broken_episodes == 1 and alone.failures_counted == 0
    family = fold(runs, families=True)["m::test_pay[amex]"]
    assert family.broken_episodes == 0 and family.failures_counted == 2
    assert judge(family, T0 + timedelta(hours=60)).state == "flaky"


def test_a_new_test_that_passes_and_fails_is_judged_before_min_samples() -> None:
    """An early verdict: failed on a main commit, passed on the next, flaky after 3 runs."""
    runs = [
        Run(f"r{n}", f"s{n}", "main", True, T0 + timedelta(hours=n), [Result("t", status)])
        for n, status in enumerate(("passed", "failed", "passed"))
    ]
    state = fold(runs)["t"]
    assert state.runs_seen < DEFAULT_CONFIG.min_samples
    assert judge(state, T0 + timedelta(hours=3)).state == "flaky"
    state = fold(runs[:2])["t"]  # failed, not yet passed again: nothing to judge yet
    assert judge(state, T0 + timedelta(hours=2)).state == "insufficient"


def test_the_family_rate_pools_the_siblings_in_any_order() -> None:
    """The prior is the score of the pooled siblings, the same whatever their order."""
    states = fold(_history(60, set()))
    visa = states["m::test_pay[visa]"]
    passes = [
        Run(f"p{n}", f"s{n}", "main", True, T0 + timedelta(hours=n), [Result("ok", "passed")])
        for n in range(60)
    ]
    other = fold(passes)["ok"]
    at = T0.timestamp() + 60 * 3600
    one = family_prior([visa, other], at, DEFAULT_CONFIG)
    two = family_prior([other, visa], at, DEFAULT_CONFIG)
    assert one == two and one is not None and one.siblings == 2
    assert family_prior([], at, DEFAULT_CONFIG) is None
    alone = family_prior([visa], at, DEFAULT_CONFIG)
    assert alone is not None and alone.rate > one.rate  # more passes, lower rate


def test_the_prior_is_at_most_the_familys_own_decayed_runs() -> None:
    """A family seen in two runs lends two pseudo-runs, not eight; a long-seen one lends eight."""
    two = [
        Run(f"r{n}", f"s{n}", "main", True, T0 + timedelta(hours=n), [Result("m::t[a]", status)])
        for n, status in enumerate(("failed", "passed"))
    ]
    at = T0.timestamp() + 2 * 3600
    young = family_prior([fold(two)["m::t[a]"]], at, DEFAULT_CONFIG)
    assert young is not None and 1.9 < young.runs < 2.0  # two runs, decayed a little
    state = TestState(at, 0)
    seed(state, young, 1.0, DEFAULT_CONFIG)
    assert state.failure_weight + state.pass_weight == pytest.approx(young.runs)
    old = family_prior([fold(_history(60, set()))["m::test_pay[visa]"]], at, DEFAULT_CONFIG)
    assert old is not None and old.runs > DEFAULT_CONFIG.family_prior_runs
    seed(state, old, 1.0, DEFAULT_CONFIG)
    assert state.failure_weight + state.pass_weight == pytest.approx(8.0)
