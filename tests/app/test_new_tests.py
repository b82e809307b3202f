"""A new test's family, looked up in the database: its own repository only, keys taken literally."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from engine.scoring import DEFAULT_CONFIG, Result, TestState
from flakeguard.usecases import new_tests
from flakeguard.usecases.analysis import analyze_run
from flakeguard.usecases.new_tests import families_of
from models import FlakeScore, Repository, Tenant, TestCase, queries
from tests.app.analysis_helpers import flaky_state, make_run, store_run

T0 = datetime(2026, 9, 1, tzinfo=UTC)


def _scored(repo: Repository, key: str, rate: float) -> TestCase:
    """A test case of ``repo`` with a stored engine state that fails ``rate`` of 100 runs."""
    case = TestCase.create(repository=repo, key=key, name=key.rsplit("::", 1)[-1])
    FlakeScore.create(
        test_case=case,
        repository=repo,
        state="flaky",
        engine_state=flaky_state(rate, T0).to_bytes(),
    )
    return case


def test_a_family_is_looked_up_in_the_tests_own_repository_only(database) -> None:  # type: ignore[no-untyped-def]
    """Another tenant's repository with the same keys lends nothing."""
    ours = Repository.create(tenant=Tenant.create(slug="ours", name="Ours"), full_name="a/ours")
    theirs = Repository.create(tenant=Tenant.create(slug="theirs", name="Theirs"), full_name="b/x")
    _scored(ours, "m::test_pay[visa]", 0.1)
    _scored(theirs, "m::test_pay[visa]", 0.5)
    _scored(theirs, "m::test_pay[mc]", 0.5)
    _scored(ours, "m::test_solo[0]", 0.1)  # a family of ours that a test of theirs shares
    new = TestCase.create(repository=ours, key="m::test_pay[amex]", name="test_pay[amex]")
    alone = TestCase.create(repository=theirs, key="m::test_solo[1]", name="test_solo[1]")
    at = (T0 + timedelta(hours=101)).timestamp()
    found = families_of(ours.id, [new.id], at, DEFAULT_CONFIG)
    assert list(found) == [new.id]  # test_solo[0] is no sibling of ours: not new
    assert found[new.id].key == "m::test_pay" and found[new.id].prior.siblings == 1
    assert 0.05 < found[new.id].prior.rate < 0.15
    assert families_of(ours.id, [alone.id], at, DEFAULT_CONFIG) == {}  # not ours: not even read


def test_like_wildcards_in_a_key_are_taken_literally(database) -> None:  # type: ignore[no-untyped-def]
    """A key with %, _ and ! matches only its own family, whatever the database's LIKE."""
    repo = Repository.create(tenant=Tenant.create(slug="t", name="T"), full_name="a/b")
    _scored(repo, "m::test_a%_!ü[1]", 0.2)
    _scored(repo, "m::test_aZZ!ü[2]", 0.2)  # what an unescaped pattern would match
    _scored(repo, "M::TEST_A%_!Ü[3]", 0.2)  # SQLite's LIKE ignores ASCII case
    new = TestCase.create(repository=repo, key="m::test_a%_!ü[4]", name="test_a%_!ü[4]")
    at = (T0 + timedelta(hours=101)).timestamp()
    found = families_of(repo.id, [new.id], at, DEFAULT_CONFIG)
    assert found[new.id].key == "m::test_a%_!ü" and found[new.id].prior.siblings == 1


def test_family_states_returns_the_members_and_only_them(database) -> None:  # type: ignore[no-untyped-def]
    """The rows of a family with %, _ and ! in its name: its own key and its [...] members."""
    repo = Repository.create(tenant=Tenant.create(slug="t", name="T"), full_name="a/b")
    own = _scored(repo, "m::t_%!", 0.2)
    member = _scored(repo, "m::t_%![1]", 0.2)
    nested = _scored(repo, "m::t_%![a[0]]", 0.2)
    for decoy in ("m::tX%![1]", "m::t_X![1]", "m::t_%X[1]", "M::T_%![1]", "m::t_%!x[1]"):
        _scored(repo, decoy, 0.2)  # what a wildcard, a missed escape or ignored case would match
    rows = queries.family_states(repo.id, {"m::t_%!"})
    assert sorted((test_id, key) for test_id, key, _state in rows) == [
        (own.id, "m::t_%!"),
        (member.id, "m::t_%![1]"),
        (nested.id, "m::t_%![a[0]]"),
    ]
    assert all(TestState.from_stored(state).runs_seen == 100 for _i, _k, state in rows)


def test_a_huge_family_is_read_only_up_to_its_bound(database) -> None:  # type: ignore[no-untyped-def]
    """Of a family's members the first ``per_family`` in key order, each family in its own bound."""
    repo = Repository.create(tenant=Tenant.create(slug="t", name="T"), full_name="a/b")
    families = [f"m::test_{n:02}" for n in range(30)]  # more than one statement's worth
    for family in families:
        for n in range(4):
            _scored(repo, f"{family}[{n}]", 0.1)
    rows = queries.family_states(repo.id, set(families), per_family=2)
    expected = sorted(f"{family}[{n}]" for family in families for n in range(2))
    assert sorted(key for _id, key, _state in rows) == expected


def test_an_undecodable_sibling_is_skipped_and_logged(database, caplog) -> None:  # type: ignore[no-untyped-def]
    """A damaged state costs the prior one member; the others still give it."""
    repo = Repository.create(tenant=Tenant.create(slug="t", name="T"), full_name="a/b")
    _scored(repo, "m::test_pay[visa]", 0.1)
    broken = _scored(repo, "m::test_pay[mc]", 0.1)
    FlakeScore.update(engine_state=b"\x7f garbage").where(FlakeScore.test_case == broken).execute()
    new = TestCase.create(repository=repo, key="m::test_pay[amex]", name="test_pay[amex]")
    at = (T0 + timedelta(hours=101)).timestamp()
    with caplog.at_level(logging.WARNING, logger="flakeguard.usecases.new_tests"):
        found = families_of(repo.id, [new.id], at, DEFAULT_CONFIG)
    assert found[new.id].prior.siblings == 1
    assert f"test case {broken.id}" in caplog.text


def _pay_history(repo: Repository, runs: int) -> None:
    """``t::pay[visa]`` flakes at about 25% on main (hourly runs), analysed run by run."""
    for n in range(runs):
        failed = n % 4 == 1
        results = [Result("t::pay[visa]", "failed" if failed else "passed")]
        if failed:
            results.append(Result("t::pay[visa]", "passed", 1))
        analyze_run(store_run(repo, make_run(n, results)).id, now=T0 + timedelta(hours=n))


def test_a_skipped_test_is_not_new_until_it_runs(database) -> None:  # type: ignore[no-untyped-def]
    """Skipped appearances leave no state; the first run that runs it gives it the family prior."""
    repo = Repository.create(tenant=Tenant.create(slug="t", name="T"), full_name="a/b")
    _pay_history(repo, 20)
    for n in (20, 21):
        results = [Result("t::pay[visa]", "passed"), Result("t::pay[amex]", "skipped")]
        analyze_run(store_run(repo, make_run(n, results)).id, now=T0 + timedelta(hours=n))
    amex = TestCase.get(TestCase.key == "t::pay[amex]")
    assert not FlakeScore.select().where(FlakeScore.test_case == amex).exists()
    results = [Result("t::pay[visa]", "passed"), Result("t::pay[amex]", "passed")]
    analyze_run(store_run(repo, make_run(22, results)).id, now=T0 + timedelta(hours=22))
    state = TestState.from_stored(FlakeScore.get(FlakeScore.test_case == amex).engine_state)
    assert state.runs_seen == 1 and state.passes_counted == 1
    assert state.failure_weight > 0  # the family's pseudo-runs, from its first run on


def test_skipped_new_tests_do_not_count_against_the_family_lookup(database, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Skipped new tests are not new: they neither cost a lookup nor crowd out a real one."""
    monkeypatch.setattr(new_tests, "MAX_FAMILIES", 1)
    repo = Repository.create(tenant=Tenant.create(slug="t", name="T"), full_name="a/b")
    _pay_history(repo, 20)
    results = [
        Result("t::pay[amex]", "passed"),
        Result("t::gone[1]", "skipped"),
        Result("t::later[1]", "skipped"),
    ]
    analyze_run(store_run(repo, make_run(20, results)).id, now=T0 + timedelta(hours=20))
    amex = TestCase.get(TestCase.key == "t::pay[amex]")
    state = TestState.from_stored(FlakeScore.get(FlakeScore.test_case == amex).engine_state)
    assert state.failure_weight > 0


def test_a_new_member_of_a_huge_family_pools_only_the_bounded_read(database) -> None:  # type: ignore[no-untyped-def]
    """A family larger than the bound lends the prior of its first MAX_SIBLINGS members."""
    repo = Repository.create(tenant=Tenant.create(slug="t", name="T"), full_name="a/b")
    for n in range(queries.MAX_SIBLINGS + 10):
        _scored(repo, f"m::test_big[{n:03}]", 0.1)
    new = TestCase.create(repository=repo, key="m::test_big[new]", name="test_big[new]")
    at = (T0 + timedelta(hours=101)).timestamp()
    found = families_of(repo.id, [new.id], at, DEFAULT_CONFIG)
    assert found[new.id].prior.siblings == queries.MAX_SIBLINGS
    first = {c.id for c in TestCase.select().where(TestCase.key < "m::test_big[050]")}
    assert set(found[new.id].siblings) == first
