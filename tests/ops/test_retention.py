"""Retention deletes old raw results in batches and keeps verdicts and run totals."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from flakeguard.usecases.retention import DELIVERY_DAYS, purge_deliveries, purge_results
from models import (
    FlakeScore,
    Repository,
    TestCase,
    TestResult,
    TestRun,
    WebhookDelivery,
    utcnow,
)
from models.tenancy import default_tenant


def _results(old: int, recent: int) -> TestCase:
    repo = Repository.create(tenant=default_tenant(), full_name="acme/shop")
    case = TestCase.create(repository=repo, key="k", name="test_x")
    run = TestRun.create(repository=repo, sha="a" * 40, content_digest="d" * 64, tests=old + recent)
    now = utcnow()
    for i in range(old):
        TestResult.create(
            run=run, test_case=case, status="passed", created_at=now - timedelta(days=91 + i)
        )
    for i in range(recent):
        TestResult.create(
            run=run, test_case=case, status="failed", created_at=now - timedelta(days=i)
        )
    FlakeScore.create(
        test_case=case, repository=repo, state="flaky", score=0.3, runs_seen=old + recent
    )
    return case


def test_old_results_are_deleted_in_batches_and_verdicts_kept(database) -> None:  # type: ignore[no-untyped-def]
    """5 old results go in batches of 2 (2, 2, 1); recent ones, the run and FlakeScore stay."""
    case = _results(old=5, recent=3)
    report = purge_results(90, batch=2)
    assert (report.deleted, report.batches, report.complete) == (5, 3, True)
    left = list(TestResult.select(TestResult.status).tuples())
    assert left == [("failed",)] * 3
    score = FlakeScore.get(FlakeScore.test_case == case.id)
    assert (score.state, score.runs_seen) == ("flaky", 8)
    assert TestRun.select().count() == 1 and TestRun.get().tests == 8


def test_a_pass_is_bounded_and_the_next_one_goes_on(database) -> None:  # type: ignore[no-untyped-def]
    """With max_batches the pass stops early, says so, and the next pass finishes."""
    _results(old=5, recent=0)
    first = purge_results(90, batch=2, max_batches=1)
    assert (first.deleted, first.complete) == (2, False)
    second = purge_results(90, batch=2)
    assert (second.deleted, second.complete) == (3, True)
    assert TestResult.select().count() == 0


def test_retention_job_uses_the_configured_days(settings, database) -> None:  # type: ignore[no-untyped-def]
    """The retention job keeps FLAKEGUARD_RETENTION_DAYS of results."""
    import tasks
    from tasks import maintenance

    _results(old=2, recent=2)
    tasks.configure(replace(settings, retention_days=1))
    try:
        result = maintenance.retention.call_local()
    finally:
        tasks.configure(settings)
    assert result["deleted"] == 3  # only today's result is younger than one day
    assert TestResult.select().count() == 1
    assert result["deliveries_deleted"] == 0


def test_old_webhook_deliveries_go_recent_ones_stay(database) -> None:  # type: ignore[no-untyped-def]
    """Delivery ids past the redelivery window are deleted; recent ones still dedupe."""
    now = utcnow()
    WebhookDelivery.create(
        delivery_id="old", event="push", received_at=now - timedelta(days=DELIVERY_DAYS + 1)
    )
    WebhookDelivery.create(delivery_id="new", event="push", received_at=now - timedelta(days=3))
    assert purge_deliveries(now=now) == 1
    assert [d.delivery_id for d in WebhookDelivery.select()] == ["new"]


def test_retention_refuses_to_delete_everything(database) -> None:  # type: ignore[no-untyped-def]
    """Zero days would wipe every result: refused."""
    with pytest.raises(ValueError):
        purge_results(0)
