"""A repository's flake costs from the database, in `flakeguard status`; scoped to the tenant."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest

from flakeguard.cli_status import print_status
from flakeguard.errors import NotFoundError
from flakeguard.usecases.flake_cost import repository_costs
from models import DomainEvent, FlakeScore, Tenant, TestRun, default_tenant, utcnow
from models.bulk import Outcome, store_results
from tests.bot import factories as f
from tests.stored import add_result


def _run(repo, n: int, *, pr: int | None, branch: str, duration: float) -> TestRun:  # type: ignore[no-untyped-def]
    return TestRun.create(
        repository=repo,
        sha=f"{n:040x}",
        branch=branch,
        pr=pr,
        ci_run_id=str(n),
        content_digest=f"{n:064x}",
        duration=duration,
    )


def test_costs_of_a_repository_rank_its_flaky_tests(database) -> None:  # type: ignore[no-untyped-def]
    """Red runs, CI time, PRs blocked and the flag/fix times come from runs and events."""
    repo = f.repo("acme/widgets")
    flaky = f.test_case(repo, "test_upload")
    other = f.test_case(repo, "test_login")
    for test in (flaky, other):
        FlakeScore.create(test_case=test, repository=repo, state="flaky", score=0.1)
    now = utcnow()
    red1 = _run(repo, 1, pr=7, branch="feature-a", duration=600)
    red2 = _run(repo, 2, pr=8, branch="feature-b", duration=300)
    retried = _run(repo, 3, pr=7, branch="feature-a", duration=900)
    for run in (red1, red2):
        add_result(run, flaky, "failed", duration=10, created_at=now)
    add_result(retried, flaky, "failed", duration=20, created_at=now)
    add_result(retried, flaky, "passed", retry=1, duration=20, created_at=now)
    add_result(red1, other, "error", duration=1, created_at=now)
    old = _run(repo, 4, pr=9, branch="feature-c", duration=999)
    add_result(old, flaky, "failed", created_at=now - timedelta(days=40))  # outside the 30 days
    DomainEvent.create(
        repository=repo, test_case=flaky, kind="flaky", created_at=now - timedelta(days=4)
    )
    DomainEvent.create(
        repository=repo, test_case=flaky, kind="recovered", created_at=now - timedelta(days=1)
    )

    tests, total = repository_costs("acme/widgets", tenant_id=default_tenant().id)
    assert [t.name.rsplit(".", 1)[-1] for t in tests] == ["test_upload", "test_login"]
    cost = tests[0].cost
    assert (cost.red_runs, cost.failed_runs) == (2, 3)
    assert cost.seconds_lost == 10 + 600 + 10 + 300 + 20
    assert cost.blocked == ("PR #7", "PR #8")
    assert cost.time_to_fix() == pytest.approx(3 * 86400, abs=1)
    assert total is not None and total.red_runs == 3 and total.blocked == ("PR #7", "PR #8")

    out = io.StringIO()
    print_status("acme/widgets", tenant_id=default_tenant().id, out=out)
    text = out.getvalue()
    assert "cost of flakes, last 30 days" in text and "3 runs turned red" in text
    assert (
        "1. tests.test_api.test_upload:" in text
        and "2 red runs, 2 PRs/branches blocked" in text
        and "fixed after 3d" in text
    )

    rival = Tenant.create(slug="rival", name="Rival")
    with pytest.raises(NotFoundError):
        repository_costs("acme/widgets", tenant_id=rival.id)


def test_a_test_that_passed_then_failed_in_one_run_did_not_turn_it_red(database) -> None:  # type: ignore[no-untyped-def]
    """A test reported twice in one run, passed then failed: the run is not red (its pass is
    read too) and costs only the failure's seconds."""
    repo = f.repo("acme/widgets")
    flaky = f.test_case(repo, "test_upload")
    FlakeScore.create(test_case=flaky, repository=repo, state="flaky", score=0.1)
    run = _run(repo, 1, pr=7, branch="feature-a", duration=600)
    store_results(
        run.id,
        [Outcome(flaky.id, "passed", duration=2), Outcome(flaky.id, "failed", duration=3)],
        dated=utcnow(),
    )
    [test], _ = repository_costs("acme/widgets", tenant_id=default_tenant().id)
    assert (test.cost.red_runs, test.cost.failed_runs) == (0, 1)
    assert test.cost.seconds_lost == 3
