"""A new test's family, looked up in the database: its own repository only, keys taken literally."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from engine.scoring import DEFAULT_CONFIG
from flakeguard.usecases.new_tests import families_of
from models import FlakeScore, Repository, Tenant, TestCase
from tests.app.analysis_helpers import flaky_state

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
