"""Retention deletes old raw results in batches and keeps verdicts and run totals."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from flakeguard.usecases.retention import DELIVERY_DAYS, purge_deliveries, purge_results
from models import (
    FailureMessage,
    FlakeScore,
    Repository,
    ResultBlock,
    TestCase,
    TestRun,
    WebhookDelivery,
    utcnow,
)
from models.tenancy import default_tenant
from tests.stored import add_result, stored_results


def _results(old: int, recent: int) -> TestCase:
    """A test with ``old`` results past 90 days (passed) and ``recent`` ones (failed), each
    stored on its own date."""
    repo = Repository.create(tenant=default_tenant(), full_name="acme/shop")
    case = TestCase.create(repository=repo, key="k", name="test_x")
    run = TestRun.create(repository=repo, sha="a" * 40, content_digest="d" * 64, tests=old + recent)
    now = utcnow()
    for i in range(old):
        add_result(run, case, "passed", created_at=now - timedelta(days=91 + i))
    for i in range(recent):
        add_result(run, case, "failed", message="boom", created_at=now - timedelta(days=i))
    FlakeScore.create(
        test_case=case, repository=repo, state="flaky", score=0.3, runs_seen=old + recent
    )
    return case


def test_old_results_are_deleted_in_batches_and_verdicts_kept(database) -> None:  # type: ignore[no-untyped-def]
    """5 old results go in batches of 2 (2, 2, 1); recent ones, the run and FlakeScore stay."""
    case = _results(old=5, recent=3)
    report = purge_results(90, batch=2)
    assert (report.deleted, report.batches, report.complete) == (5, 3, True)
    assert [r.status for r in stored_results()] == ["failed"] * 3
    assert {r.message for r in stored_results()} == {"boom"}  # their messages too
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
    assert stored_results() == []


def test_messages_go_with_the_last_results_of_their_month(database) -> None:  # type: ignore[no-untyped-def]
    """A failure message is kept while a result of its month is; then it goes too."""
    repo = Repository.create(tenant=default_tenant(), full_name="acme/shop")
    case = TestCase.create(repository=repo, key="k", name="test_x")
    run = TestRun.create(repository=repo, sha="a" * 40, content_digest="d" * 64)
    add_result(run, case, "failed", message="old", created_at=datetime(2027, 1, 5))
    add_result(run, case, "failed", message="boundary", created_at=datetime(2027, 3, 2))
    add_result(run, case, "failed", message="kept", created_at=datetime(2027, 3, 25))
    report = purge_results(90, now=datetime(2027, 6, 15))  # cutoff 2027-03-17
    assert report.complete
    assert [r.message for r in stored_results()] == ["kept"]
    months = sorted(m.month for m in FailureMessage.select())
    assert months == [datetime(2027, 3, 1)] * 2  # March's stay while a March result does
    purge_results(90, now=datetime(2027, 7, 2))
    assert FailureMessage.select().count() == 0 and ResultBlock.select().count() == 0


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
    # rows: three result blocks and yesterday's failure (the attempt row beside its block)
    assert result["deleted"] == 4
    assert len(stored_results()) == 1  # only today's result is younger than one day
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
