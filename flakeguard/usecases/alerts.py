"""Slack alerts: one message per subscribed channel for each flaky, broken, fixed or cluster event.

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
from datetime import datetime, timedelta

from flakeguard.errors import NotFoundError
from flakeguard.usecases import alert_targets, noise, repo_files
from flakeguard.usecases.github import web_url
from flakeguard.usecases.status import display_name
from models import (
    DomainEvent,
    FlakeScore,
    Quarantine,
    QuarantineEvent,
    Repository,
    SlackMessage,
    TestCase,
    TestRun,
    db,
    failure_reads,
    utcnow,
)

EVENT_KINDS = ("flaky", "broken", "fixed", "cluster")
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
    cause: str = ""  # a cluster's failure signature, as a label
    members: tuple[ClusterMember, ...] = ()  # a cluster's tests
    owners: tuple[str, ...] = ()  # CODEOWNERS owners of the test's file
    expires_at: datetime | None = None  # when the quarantine ends
    escalated_at: datetime | None = None  # it outlived its expiry (at_expiry: escalate)
    thread_ts: str | None = None  # a message not posted yet, to post in this thread


@dataclass(frozen=True)
class ClusterMember:
    """One test of a cluster alert (tests that turned flaky together, with one cause)."""

    test_case_id: int
    test_name: str
    score: float
    reason: str
    status: str = "proposed"  # where it is now: proposed, quarantined, not flaky, recovered...


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
    repository_id = TestCase.select(TestCase.repository).where(TestCase.id == test_case_id).scalar()
    if repository_id is None:
        return []
    failures = failure_reads.test_failures(
        repository_id, test_case_id, limit=limit * 3, messages=False
    )
    by_id = {
        run.id: run for run in TestRun.select().where(TestRun.id.in_([f.run_id for f in failures]))
    }
    runs = [by_id[f.run_id] for f in failures if f.run_id in by_id]
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
    if msg.kind == "cluster" and event is not None:
        return _cluster_view(msg, event)
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
        owners=repo_files.owners_of_test(test) if test else (),
        expires_at=q.expires_at if q and q.state == "quarantined" else None,
        escalated_at=q.escalated_at if q and q.state == "quarantined" else None,
        thread_ts=msg.thread_ts if msg.ts is None else None,
    )


def _cluster_view(msg: SlackMessage, event: DomainEvent) -> AlertView:
    """A cluster alert: its tests (of the event's repository only), their scores and reasons."""
    ids = [int(i) for i in event.data.get("tests", [])]
    tests = {
        t.id: t
        for t in TestCase.select().where(
            TestCase.id.in_(ids), TestCase.repository == event.repository_id
        )
    }
    scores = {s.test_case_id: s for s in FlakeScore.select().where(FlakeScore.test_case.in_(ids))}
    quarantines = {
        q.test_case_id: q.state
        for q in Quarantine.select(Quarantine.test_case, Quarantine.state).where(
            Quarantine.test_case.in_(ids)
        )
    }
    members = tuple(
        ClusterMember(
            test_case_id=i,
            test_name=display_name(tests[i]),
            score=scores[i].score if i in scores else 0.0,
            reason=scores[i].reason if i in scores else "",
            status=_member_status(scores[i].state if i in scores else None, quarantines.get(i)),
        )
        for i in ids
        if i in tests
    )
    repo = Repository.get_by_id(event.repository_id)
    return AlertView(
        message_id=msg.id,
        kind="cluster",
        repository=repo.full_name,
        test_case_id=None,
        test_name=f"{len(members)} tests",
        state="flaky",
        score=max((m.score for m in members), default=0.0),
        low=0.0,
        high=1.0,
        reason=str(event.data.get("text", "")),
        since=event.created_at,
        first_failing_sha=None,
        failing_runs=[],
        quarantine=None,
        cause=str(event.data.get("label", "")),
        members=members,
    )


def _member_status(state: str | None, quarantine: str | None) -> str:
    """Where one test of a cluster is now, in a word or two for its line in the alert."""
    if quarantine == "quarantined":
        return "quarantined"
    if state in ("recovered", "healthy"):
        return "recovered"
    if quarantine == "dismissed":
        return "not flaky"
    if state == "broken":
        return "broken"
    return "proposed" if quarantine == "proposed" else "flaky"


# How far back a test's cluster alerts are re-rendered when the test changes: a
# range of the (repository, created_at) index, not the repository's whole history.
CLUSTER_REFRESH_DAYS = 90


def cluster_messages_of_test(test_case_id: int) -> list[int]:
    """Posted cluster messages (with a ts) that list this test, to update in place."""
    test = TestCase.get_or_none(TestCase.id == test_case_id)
    if test is None:
        return []
    since = utcnow() - timedelta(days=CLUSTER_REFRESH_DAYS)
    events = [
        event_id
        for event_id, data in DomainEvent.select(DomainEvent.id, DomainEvent.data)
        .where(
            DomainEvent.repository == test.repository_id,
            DomainEvent.created_at >= since,
            DomainEvent.kind == "cluster",
        )
        .tuples()
        if test_case_id in (data or {}).get("tests", ())
    ]
    if not events:
        return []
    return [
        m.id
        for m in SlackMessage.select(SlackMessage.id)
        .where(
            SlackMessage.event.in_(events),
            SlackMessage.kind == "cluster",
            SlackMessage.ts.is_null(False),
            SlackMessage.last_error.is_null(),
        )
        .order_by(SlackMessage.id)
    ]


def plan_alert(event_id: int) -> list[int]:
    """Create the pending alert messages of an event; return their ids.

    One message per channel the alert goes to: the route of the test's owner when it
    has one, else every subscribed channel (``alert_targets.alert_targets``). A proposal with
    nobody assigned is first assigned to the owner's linked Slack user.

    Past the run's alert cap (``alerts.max_per_run``) the event is listed in the run's
    summary message instead (``noise.py``).

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
    auto = q is not None and q.state == "quarantined" and q.quarantined_by == "flakeguard"
    if event.kind == "flaky" and (q is None or (q.state != "proposed" and not auto)):
        return []  # (auto: quarantined at once by auto_quarantine, still announced)
    if event.kind == "fixed" and (q is None or q.state != "quarantined"):
        return []
    targets = alert_targets.alert_targets(event.repository_id, event.test_case_id)
    if event.kind == "flaky" and q is not None and targets:
        alert_targets.assign_default(q.id, targets[0][0])
    first_over = noise.over_cap(event)
    if first_over is not None:  # past the run's alert cap: one summary message instead
        return noise.plan_summary(event, first_over)
    with db.atomic():
        existing = {
            m.channel
            for m in SlackMessage.select(SlackMessage.channel).where(SlackMessage.event == event.id)
        }
        for team_id, channel in targets:
            if channel in existing:
                continue
            SlackMessage.create(
                team_id=team_id,
                channel=channel,
                kind=event.kind,
                quarantine=q.id if q and event.kind != "broken" else None,
                repository=event.repository_id,
                event=event.id,
                thread_ts=_earlier_alert(event, team_id, channel),
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


def _earlier_alert(event: DomainEvent, team_id: str, channel: str) -> str | None:
    """The ts of this test's first alert in the channel: a later change goes in its thread."""
    if event.test_case_id is None:
        return None
    earlier = (
        SlackMessage.select(SlackMessage.ts)
        .join(DomainEvent, on=(SlackMessage.event == DomainEvent.id))
        .where(
            DomainEvent.test_case == event.test_case_id,
            DomainEvent.id < event.id,
            SlackMessage.team_id == team_id,
            SlackMessage.channel == channel,
            SlackMessage.kind.in_(EVENT_KINDS),
            SlackMessage.ts.is_null(False),
            SlackMessage.thread_ts.is_null(),
        )
        .order_by(SlackMessage.id)
        .first()
    )
    return earlier.ts if earlier is not None else None


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
