"""Slack alerts: one message per subscribed channel for each flaky, broken or fixed event.

``tasks/slack.py`` plans the messages of an event (``plan_alert``), renders
each from ``alert_view`` (the database's current state) and records the
delivery (``slack_delivery``); a quarantine action re-renders the messages
that show it (``messages_of_quarantine``, ``quarantine_synced``). Pending
work is database state: a DomainEvent with no ``slack_done_at``, a
Quarantine whose ``slack_synced_version`` is behind its ``version``.
Alerts go only to channels of workspaces linked to the repository's tenant
(checked when planned, and again when sent).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flakeguard.errors import NotFoundError
from flakeguard.usecases.github import web_url
from flakeguard.usecases.slack_scope import same_tenant_subscriptions
from flakeguard.usecases.status import display_name
from models import (
    ChannelSubscription,
    DomainEvent,
    FlakeScore,
    Quarantine,
    QuarantineEvent,
    Repository,
    SlackMessage,
    TestCase,
    TestResult,
    TestRun,
    db,
    utcnow,
)

EVENT_KINDS = ("flaky", "broken", "fixed")
FAILING_RUNS = 3


@dataclass(frozen=True)
class RunLink:
    """A failing run: a label and, when known, a URL."""

    label: str
    url: str | None


@dataclass(frozen=True)
class QuarantineView:
    """A quarantine as messages show it."""

    id: int
    state: str
    version: int
    reason: str
    assignee_slack: str | None
    assignee_github: str | None
    quarantined_by: str | None
    quarantined_at: datetime | None
    last_action: str | None
    last_actor: str | None
    last_source: str | None
    last_at: datetime | None
    github_issue_url: str | None


@dataclass(frozen=True)
class AlertView:
    """Everything one alert message shows, read from the database."""

    message_id: int
    kind: str  # flaky | broken | fixed
    repository: str
    test_case_id: int | None
    test_name: str
    state: str
    score: float
    low: float
    high: float
    reason: str
    since: datetime | None
    first_failing_sha: str | None
    failing_runs: list[RunLink]
    quarantine: QuarantineView | None
    first_failing_url: str | None = None  # the commit's page on GitHub


def quarantine_view(q: Quarantine) -> QuarantineView:
    """The view of one quarantine, with its latest event."""
    last = (
        QuarantineEvent.select()
        .where(QuarantineEvent.quarantine == q.id)
        .order_by(QuarantineEvent.id.desc())
        .first()
    )
    repo = Repository.get_by_id(q.repository_id)
    return QuarantineView(
        id=q.id,
        state=q.state,
        version=q.version,
        reason=q.reason,
        assignee_slack=q.assignee_slack,
        assignee_github=q.assignee_github,
        quarantined_by=q.quarantined_by,
        quarantined_at=q.quarantined_at,
        last_action=last.action if last else None,
        last_actor=last.actor if last else None,
        last_source=last.source if last else None,
        last_at=last.at if last else None,
        github_issue_url=(
            q.github_issue_url or web_url(repo.full_name, "issues", q.github_issue_number)
            if q.github_issue_number
            else None
        ),
    )


def failing_runs(test_case_id: int, repo: str, *, limit: int = FAILING_RUNS) -> list[RunLink]:
    """Links to the latest runs where the test failed."""
    runs = (
        TestRun.select(TestRun)
        .join(TestResult)
        .where(TestResult.test_case == test_case_id, TestResult.status.in_(("failed", "error")))
        .order_by(TestResult.created_at.desc())
        .limit(limit * 3)
    )
    out: list[RunLink] = []
    seen: set[int] = set()
    for run in runs:
        if run.id in seen:
            continue
        seen.add(run.id)
        label = f"{run.job or 'run'} @ {run.sha[:7]}"
        url = None
        if run.ci_run_id.isdigit() and run.source != "upload":
            url = web_url(repo, "actions", "runs", run.ci_run_id)
        out.append(RunLink(label, url))
        if len(out) >= limit:
            break
    return out


def alert_view(message_id: int) -> AlertView:
    """Render-ready data of one alert message, from the database."""
    msg = SlackMessage.get_or_none(SlackMessage.id == message_id)
    if msg is None:
        raise NotFoundError(f"unknown Slack message {message_id}")
    event = DomainEvent.get_or_none(DomainEvent.id == msg.event_id) if msg.event_id else None
    q = Quarantine.get_or_none(Quarantine.id == msg.quarantine_id) if msg.quarantine_id else None
    test_id = (event.test_case_id if event else None) or (q.test_case_id if q else None)
    test = TestCase.get_or_none(TestCase.id == test_id) if test_id else None
    repo = Repository.get_by_id(msg.repository_id or (test.repository_id if test else None))
    score = FlakeScore.get_or_none(FlakeScore.test_case == test.id) if test else None
    data = event.data if event else {}
    evidence = (score.evidence if score else None) or {}
    first_failing = data.get("first_failing_sha") or evidence.get("first_failing_sha")
    return AlertView(
        message_id=msg.id,
        kind=msg.kind,
        repository=repo.full_name,
        test_case_id=test.id if test else None,
        test_name=display_name(test) if test else str(data.get("test", "unknown test")),
        state=score.state if score else msg.kind,
        score=score.score if score else float(data.get("score", 0.0)),
        low=score.low if score else 0.0,
        high=score.high if score else 1.0,
        reason=(score.reason if score else "") or str(data.get("reason", "")),
        since=score.state_since if score else (event.created_at if event else None),
        first_failing_sha=first_failing,
        first_failing_url=web_url(repo.full_name, "commit", first_failing)
        if first_failing
        else None,
        failing_runs=failing_runs(test.id, repo.full_name) if test else [],
        quarantine=quarantine_view(q) if q else None,
    )


def plan_alert(event_id: int) -> list[int]:
    """Create the pending alert messages of an event (one per subscribed channel); return their ids.

    Idempotent: a second call returns the messages still to post, never new
    duplicates. A flaky alert whose quarantine is not proposed (dismissed by a
    person, already quarantined) is not posted.
    """
    event = DomainEvent.get_or_none(DomainEvent.id == event_id)
    if event is None:
        raise NotFoundError(f"unknown domain event {event_id}")
    if event.kind not in EVENT_KINDS:
        return []
    q = (
        Quarantine.get_or_none(Quarantine.test_case == event.test_case_id)
        if event.test_case_id
        else None
    )
    if event.kind == "flaky" and (q is None or q.state != "proposed"):
        return []
    if event.kind == "fixed" and (q is None or q.state != "quarantined"):
        return []
    with db.atomic():
        existing = {
            m.channel
            for m in SlackMessage.select(SlackMessage.channel).where(SlackMessage.event == event.id)
        }
        for sub in same_tenant_subscriptions().where(
            ChannelSubscription.repository == event.repository_id
        ):
            if sub.channel_id in existing:
                continue
            SlackMessage.create(
                team_id=sub.team_id,
                channel=sub.channel_id,
                kind=event.kind,
                quarantine=q.id if q and event.kind != "broken" else None,
                repository=event.repository_id,
                event=event.id,
            )
    return [
        m.id
        for m in SlackMessage.select(SlackMessage.id)
        .where(
            SlackMessage.event == event.id,
            SlackMessage.ts.is_null(),
            SlackMessage.last_error.is_null(),
        )
        .order_by(SlackMessage.id)
    ]


def finish_event(event_id: int) -> bool:
    """Mark an event's Slack side done when no message is pending; True when done."""
    pending = (
        SlackMessage.select()
        .where(
            SlackMessage.event == event_id,
            SlackMessage.ts.is_null(),
            SlackMessage.last_error.is_null(),
        )
        .exists()
    )
    if pending:
        return False
    DomainEvent.update(slack_done_at=utcnow()).where(
        DomainEvent.id == event_id, DomainEvent.slack_done_at.is_null()
    ).execute()
    return True


def messages_of_quarantine(quarantine_id: int) -> list[int]:
    """Posted messages (with a ts) that show this quarantine, to update in place."""
    return [
        m.id
        for m in SlackMessage.select(SlackMessage.id)
        .where(
            SlackMessage.quarantine == quarantine_id,
            SlackMessage.ts.is_null(False),
            SlackMessage.last_error.is_null(),
        )
        .order_by(SlackMessage.id)
    ]


def quarantine_synced(quarantine_id: int, version: int) -> None:
    """Record that Slack shows ``version`` of a quarantine (never moves backwards)."""
    Quarantine.update(slack_synced_version=version).where(
        Quarantine.id == quarantine_id, Quarantine.slack_synced_version < version
    ).execute()
