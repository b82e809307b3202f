"""Rows for Slack and quarantine tests: repositories, tests, verdicts, runs, events."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

from flakeguard.usecases.quarantine import perform
from models import (
    ChannelSubscription,
    DomainEvent,
    FlakeScore,
    Quarantine,
    Repository,
    SlackWorkspace,
    TestCase,
    TestRun,
    utcnow,
)
from models.bulk import Outcome, store_results
from models.tenancy import default_tenant

_seq = itertools.count(1)


def repo(full_name: str = "acme/widgets") -> Repository:
    """A repository."""
    return Repository.create(tenant=default_tenant(), full_name=full_name)


def test_case(
    repository: Repository, name: str = "test_upload_retries", classname: str = "tests.test_api"
) -> TestCase:
    """A test case of ``repository``."""
    return TestCase.create(
        repository=repository, key=f"{classname}::{name}", classname=classname, name=name
    )


test_case.__test__ = False  # type: ignore[attr-defined]


def score(
    test: TestCase,
    *,
    state: str = "flaky",
    value: float = 0.12,
    low: float = 0.05,
    high: float = 0.25,
    reason: str = "passed and failed on the same commit twice in 14 days",
    conflicts: int = 2,
    days_ago: int = 1,
) -> FlakeScore:
    """The verdict of a test."""
    return FlakeScore.create(
        test_case=test,
        repository=test.repository_id,
        state=state,
        score=value,
        low=low,
        high=high,
        reason=reason,
        evidence={
            "same_commit_conflicts": conflicts,
            "first_failing_sha": "deadbeef" * 5 if state == "broken" else None,
        },
        state_since=utcnow() - timedelta(days=days_ago),
    )


def results(test: TestCase, statuses: str, *, source: str = "github") -> list[TestRun]:
    """One run per character of ``statuses`` (+ passed, x failed, - skipped), oldest first."""
    names = {"+": "passed", "x": "failed", "-": "skipped"}
    runs = []
    start = utcnow() - timedelta(hours=len(statuses))
    for index, char in enumerate(statuses):
        n = next(_seq)
        at = start + timedelta(hours=index)
        run = TestRun.create(
            repository=test.repository_id,
            sha=f"{n:040x}",
            ci_run_id=str(1000 + n),
            job="pytest",
            source=source,
            content_digest=f"{n:064x}",
            received_at=at,
            analyzed_at=at,
        )
        store_results(run.id, [Outcome(test.id, names[char])], dated=at)
        runs.append(run)
    return runs


def event(test: TestCase, kind: str = "flaky", **data: object) -> DomainEvent:
    """A domain event about a test."""
    return DomainEvent.create(repository=test.repository_id, test_case=test, kind=kind, data=data)


def subscription(
    repository: Repository, channel: str = "C0ALERTS", team: str = "T0TEST"
) -> ChannelSubscription:
    """A channel subscribed to ``repository``, its workspace linked to the repository's tenant."""
    workspace(team, tenant_id=repository.tenant_id)
    return ChannelSubscription.create(team_id=team, channel_id=channel, repository=repository)


def workspace(team: str = "T0TEST", *, tenant_id: int | None = None) -> SlackWorkspace:
    """A Slack workspace linked to a tenant (default: the default tenant), as a link leaves it."""
    tenant = tenant_id if tenant_id is not None else default_tenant().id
    row, created = SlackWorkspace.get_or_create(
        team_id=team, defaults={"tenant": tenant, "linked_by": "operator", "linked_at": utcnow()}
    )
    if not created and row.tenant_id != tenant:
        SlackWorkspace.update(tenant=tenant).where(SlackWorkspace.id == row.id).execute()
    return SlackWorkspace.get_by_id(row.id)


def act(test_case_id: int, action: str, *, actor: str, source: str, **options: Any) -> Quarantine:
    """One quarantine action on a test the test made itself (no tenant to check); the row after."""
    return perform(
        test_case_id, action, tenant_id=None, actor=actor, source=source, **options
    ).quarantine


def propose(test_case_id: int) -> Quarantine:
    """The analysis proposing to quarantine a test."""
    return act(test_case_id, "propose", actor="flakeguard", source="system")


def proposal(
    repository: Repository, name: str = "test_upload_retries", *, value: float = 0.12
) -> tuple[TestCase, Quarantine]:
    """A flaky test of ``repository`` whose quarantine the analysis proposed."""
    test = test_case(repository, name)
    score(test, value=value)
    return test, propose(test.id)
