"""Slack-side use cases: subscriptions, user links, alerts, digests, App Home, delivery errors.

The Slack adapters (bot/ listeners, tasks/slack.py) call these; every message
is rendered from the views returned here, so it always shows the database's
current state. Pending deliveries are database state: a SlackMessage with no
``ts`` and no ``last_error``, a DomainEvent with no ``slack_done_at``, a
Quarantine whose ``slack_synced_version`` is behind its ``version``.

Scoped by tenant: what a request reads or changes takes the caller's
``tenant_id``; alerts and digests go only to channels of workspaces linked
to the repository's tenant (checked when planned and again when sent).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from peewee import JOIN, IntegrityError

from engine.plan import PlanInput, build_plan
from flakeguard.errors import BadRequestError, NotFoundError
from flakeguard.jobs import Job
from flakeguard.usecases import outbox
from flakeguard.usecases.github import web_url
from flakeguard.usecases.slack_scope import same_tenant_subscriptions
from flakeguard.usecases.status import display_name, resolve_repository, tenant_repositories
from models import (
    ChannelSubscription,
    DomainEvent,
    FlakeScore,
    Quarantine,
    QuarantineEvent,
    Repository,
    SlackEventReceipt,
    SlackMessage,
    TestCase,
    TestResult,
    TestRun,
    UserLink,
    db,
    utcnow,
)
from models.base import as_aware

GITHUB_LOGIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")
# Errors about the workspace's token: every subscription of the team is affected.
TOKEN_ERRORS = frozenset({"account_inactive", "invalid_auth", "token_revoked", "not_authed"})
EVENT_KINDS = ("flaky", "broken", "fixed")
FAILING_RUNS = 3
DIGEST_MAX = 10
HOME_MAX = 10
RECEIPT_TTL = timedelta(days=2)


# ----------------------------------------------------------------- subscriptions, links


def subscribe(
    team_id: str, channel_id: str, full_name: str, *, tenant_id: int, user_id: str = ""
) -> tuple[Repository, bool]:
    """Subscribe a channel to one of the tenant's repositories; True when it is new."""
    repo = resolve_repository(full_name, tenant_id=tenant_id)
    try:
        with db.atomic():
            ChannelSubscription.create(
                team_id=team_id, channel_id=channel_id, repository=repo, created_by=user_id
            )
    except IntegrityError:
        # Already subscribed: clear an old delivery error, the user is trying again.
        ChannelSubscription.update(last_error=None).where(
            ChannelSubscription.team_id == team_id,
            ChannelSubscription.channel_id == channel_id,
            ChannelSubscription.repository == repo.id,
        ).execute()
        return repo, False
    return repo, True


def unsubscribe(team_id: str, channel_id: str, full_name: str, *, tenant_id: int) -> Repository:
    """Stop a channel's alerts for a repository; NotFoundError when it was not subscribed."""
    repo = resolve_repository(full_name, tenant_id=tenant_id)
    deleted = (
        ChannelSubscription.delete()
        .where(
            ChannelSubscription.team_id == team_id,
            ChannelSubscription.channel_id == channel_id,
            ChannelSubscription.repository == repo.id,
        )
        .execute()
    )
    if not deleted:
        raise NotFoundError(f"this channel is not subscribed to {repo.full_name}")
    return repo


def link_user(
    team_id: str, slack_user_id: str, github_login: str, *, tenant_id: int
) -> tuple[str, str | None]:
    """Link a Slack user to a GitHub login; return (login, previous login).

    The user's assignments in the tenant's repositories take the new login.
    """
    login = github_login.strip().lstrip("@")
    if not GITHUB_LOGIN.match(login):
        raise BadRequestError(f"{github_login!r} is not a GitHub login")
    with db.atomic():
        link = UserLink.get_or_none(
            UserLink.team_id == team_id, UserLink.slack_user_id == slack_user_id
        )
        previous = link.github_login if link else None
        if link is None:
            UserLink.create(team_id=team_id, slack_user_id=slack_user_id, github_login=login)
        else:
            UserLink.update(github_login=login).where(UserLink.id == link.id).execute()
        Quarantine.update(assignee_github=login).where(
            Quarantine.assignee_slack == slack_user_id,
            Quarantine.repository.in_(tenant_repositories(tenant_id)),
        ).execute()
    return login, previous


def github_login_for(team_id: str, slack_user_id: str) -> str | None:
    """The GitHub login linked to a Slack user, if any."""
    link = UserLink.get_or_none(
        UserLink.team_id == team_id, UserLink.slack_user_id == slack_user_id
    )
    return link.github_login if link else None


def first_time_event(event_id: str) -> bool:
    """Record a Slack event_id; False when it was seen before (a retry)."""
    try:
        with db.atomic():
            SlackEventReceipt.create(event_id=event_id)
    except IntegrityError:
        return False
    return True


def forget_event(event_id: str) -> None:
    """Drop a receipt so Slack's retry of an event we failed to handle is processed."""
    SlackEventReceipt.delete().where(SlackEventReceipt.event_id == event_id).execute()


def prune_receipts(*, now: datetime | None = None) -> int:
    """Delete receipts older than Slack's retry window."""
    cutoff = (now or utcnow()) - RECEIPT_TTL
    return SlackEventReceipt.delete().where(SlackEventReceipt.received_at < cutoff).execute()


def request_home(team_id: str, user_id: str) -> None:
    """Ask for a user's App Home to be (re)published."""
    outbox.record_and_dispatch(
        [outbox.want(Job.PUBLISH_SLACK_HOME, team_id=team_id, user_id=user_id)]
    )


def request_message_refresh(message_id: int) -> None:
    """Ask for one posted message (a digest) to be re-rendered from the database."""
    outbox.record_and_dispatch([outbox.want(Job.REFRESH_SLACK_MESSAGE, message_id=message_id)])


# ----------------------------------------------------------------- views


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


@dataclass(frozen=True)
class PlanItem:
    """One candidate of a quarantine plan."""

    quarantine_id: int
    version: int
    test_case_id: int
    test_name: str
    score: float
    reason: str
    failures_week: int
    why: str = ""  # the plan's impact line, when ranked by engine.plan


@dataclass(frozen=True)
class DigestView:
    """The weekly digest of one repository."""

    message_id: int | None
    repository: str
    flaky: int
    quarantined: int
    items: list[PlanItem]
    total: int


@dataclass(frozen=True)
class HomeView:
    """A user's App Home."""

    user_id: str
    github_login: str | None
    assigned: list[PlanItem]
    flaky: list[PlanItem]
    recent: list[tuple[str, str, str, datetime]]  # (actor, action, test name, at)
    flaky_total: int = 0
    assigned_total: int = 0
    repositories: list[str] = field(default_factory=list)


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


# ----------------------------------------------------------------- alerts


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


def message_target(message_id: int) -> SlackMessage:
    """The stored message (team, channel, ts, kind)."""
    msg = SlackMessage.get_or_none(SlackMessage.id == message_id)
    if msg is None:
        raise NotFoundError(f"unknown Slack message {message_id}")
    return msg


def message_posted(message_id: int, ts: str, version: int) -> None:
    """Record where Slack put a message and which quarantine version it shows."""
    SlackMessage.update(
        ts=ts, rendered_version=version, last_error=None, updated_at=utcnow()
    ).where(SlackMessage.id == message_id).execute()


def message_updated(message_id: int, version: int) -> None:
    """Record that a message now shows ``version``."""
    SlackMessage.update(rendered_version=version, last_error=None, updated_at=utcnow()).where(
        SlackMessage.id == message_id
    ).execute()


def message_failed(message_id: int, error: str) -> None:
    """Record a permanent delivery error on a message (and on its channel's subscriptions)."""
    msg = message_target(message_id)
    SlackMessage.update(last_error=error, updated_at=utcnow()).where(
        SlackMessage.id == message_id
    ).execute()
    record_channel_error(msg.team_id, msg.channel, error)


def record_channel_error(team_id: str, channel_id: str, error: str) -> None:
    """Record a permanent error on a channel's subscriptions (a token error: on the whole team)."""
    query = ChannelSubscription.update(last_error=error)
    if error in TOKEN_ERRORS:
        query.where(ChannelSubscription.team_id == team_id).execute()
    else:
        query.where(
            ChannelSubscription.team_id == team_id, ChannelSubscription.channel_id == channel_id
        ).execute()


def record_team_error(team_id: str, error: str) -> int:
    """Record on every subscription of a workspace that Slack stopped serving it (uninstalled)."""
    return (
        ChannelSubscription.update(last_error=error)
        .where(ChannelSubscription.team_id == team_id)
        .execute()
    )


def clear_channel_error(team_id: str, channel_id: str) -> None:
    """Forget a channel's delivery error after a successful post."""
    ChannelSubscription.update(last_error=None).where(
        ChannelSubscription.team_id == team_id,
        ChannelSubscription.channel_id == channel_id,
        ChannelSubscription.last_error.is_null(False),
    ).execute()


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


def concerned_users(quarantine_id: int) -> list[tuple[str, str]]:
    """(team_id, user_id) whose App Home shows this quarantine: the assignee and Slack actors."""
    q = Quarantine.get_or_none(Quarantine.id == quarantine_id)
    if q is None:
        return []
    users: dict[str, str] = {}
    events = (
        QuarantineEvent.select()
        .where(QuarantineEvent.quarantine == q.id, QuarantineEvent.source == "slack")
        .order_by(QuarantineEvent.id.desc())
        .limit(20)
    )
    for ev in events:
        team = str((ev.data or {}).get("team_id", ""))
        users.setdefault(ev.actor, team)
        assignee = (ev.data or {}).get("assignee_slack")
        if assignee:
            users.setdefault(str(assignee), team)
    if q.assignee_slack and q.assignee_slack not in users:
        users[q.assignee_slack] = ""
    return [(team, user) for user, team in users.items()]


# ----------------------------------------------------------------- digest


def quarantine_plan(
    repo_id: int, *, limit: int = DIGEST_MAX, now: datetime | None = None
) -> tuple[list[PlanItem], int]:
    """Proposed quarantines ranked by impact (engine.plan), and how many in all."""
    now = now or utcnow()
    week = now - timedelta(days=7)
    rows = list(
        Quarantine.select(Quarantine, TestCase, FlakeScore)
        .join(TestCase)
        .switch(Quarantine)
        .join(
            FlakeScore,
            JOIN.LEFT_OUTER,
            on=(FlakeScore.test_case == Quarantine.test_case),
            attr="fs",
        )
        .where(Quarantine.repository == repo_id, Quarantine.state == "proposed")
    )
    red_runs: dict[int, dict[int, float]] = {}  # test case -> {run id: run duration}
    last_failure: dict[int, datetime] = {}
    if rows:
        failing = (
            TestResult.select(
                TestResult.test_case, TestResult.run, TestRun.duration, TestResult.created_at
            )
            .join(TestRun, on=(TestResult.run == TestRun.id))
            .where(
                TestResult.test_case.in_([r.test_case_id for r in rows]),
                TestResult.status.in_(("failed", "error")),
                TestResult.created_at >= week,
            )
            .tuples()
        )
        for test_case_id, run_id, duration, at in failing:
            red_runs.setdefault(test_case_id, {})[run_id] = duration or 0.0
            if test_case_id not in last_failure or at > last_failure[test_case_id]:
                last_failure[test_case_id] = at
    by_key = {str(r.test_case_id): r for r in rows}
    inputs = []
    for r in rows:
        fs = r.fs if getattr(r, "fs", None) is not None and r.fs.id else None
        runs = red_runs.get(r.test_case_id, {})
        last = last_failure.get(r.test_case_id)
        inputs.append(
            PlanInput(
                test=str(r.test_case_id),
                name=display_name(r.test_case),
                score=fs.score if fs else 0.0,
                red_runs=len(runs),
                seconds_lost=sum(runs.values()),
                last_failure_at=as_aware(last) if last else None,
                state=fs.state if fs else "flaky",
            )
        )
    plan = build_plan(inputs, now=as_aware(now))
    items = []
    for entry in plan:
        r = by_key[entry.test]
        fs = r.fs if getattr(r, "fs", None) is not None and r.fs.id else None
        items.append(
            PlanItem(
                quarantine_id=r.id,
                version=r.version,
                test_case_id=r.test_case_id,
                test_name=entry.name,
                score=entry.score,
                reason=(fs.reason if fs else "") or r.reason,
                failures_week=entry.red_runs,
                why=entry.why,
            )
        )
    return items[:limit], len(items)


def digest_view(repo_id: int, *, message_id: int | None = None) -> DigestView:
    """The weekly digest of one repository, from the database."""
    repo = Repository.get_by_id(repo_id)
    items, total = quarantine_plan(repo_id)
    flaky = (
        FlakeScore.select()
        .where(FlakeScore.repository == repo_id, FlakeScore.state == "flaky")
        .count()
    )
    quarantined = (
        Quarantine.select()
        .where(Quarantine.repository == repo_id, Quarantine.state == "quarantined")
        .count()
    )
    return DigestView(message_id, repo.full_name, flaky, quarantined, items, total)


def plan_digests() -> list[int]:
    """Create this week's pending digest messages (one per subscription with candidates)."""
    ids = []
    with db.atomic():
        for sub in same_tenant_subscriptions().where(ChannelSubscription.last_error.is_null()):
            _, total = quarantine_plan(sub.repository_id, limit=0)
            if not total:
                continue
            msg = SlackMessage.create(
                team_id=sub.team_id,
                channel=sub.channel_id,
                kind="digest",
                repository=sub.repository_id,
            )
            ids.append(msg.id)
        outbox.record(outbox.want(Job.REFRESH_SLACK_MESSAGE, message_id=i) for i in ids)
    return ids


def digest_of_message(message_id: int) -> DigestView:
    """The digest a posted digest message shows now (for the tasks that render it)."""
    msg = message_target(message_id)
    if msg.kind != "digest" or msg.repository_id is None:
        raise NotFoundError(f"Slack message {message_id} is not a digest")
    return digest_view(msg.repository_id, message_id=msg.id)


# ----------------------------------------------------------------- App Home


def home_view(
    team_id: str, user_id: str, *, tenant_id: int | None, channels: Sequence[str] | None = None
) -> HomeView:
    """A user's App Home: assigned tests, flaky tests of their channels' repos, recent actions.

    Only the tenant's repositories (a workspace not linked yet, ``tenant_id``
    None, shows nothing). ``channels`` are the channels the user is in; None
    (Slack could not say) means every repository subscribed in the workspace.
    """
    own = tenant_repositories(tenant_id if tenant_id is not None else 0)
    assigned_q = (
        Quarantine.select(Quarantine, TestCase)
        .join(TestCase)
        .where(
            Quarantine.assignee_slack == user_id,
            Quarantine.state.in_(("proposed", "quarantined")),
            Quarantine.repository.in_(own),
        )
        .order_by(Quarantine.updated_at.desc())
    )
    assigned = [
        PlanItem(q.id, q.version, q.test_case_id, display_name(q.test_case), 0.0, q.state, 0)
        for q in assigned_q.limit(HOME_MAX)
    ]
    subscribed = ChannelSubscription.select(ChannelSubscription.repository).where(
        ChannelSubscription.team_id == team_id, ChannelSubscription.repository.in_(own)
    )
    if channels is not None:
        subscribed = subscribed.where(ChannelSubscription.channel_id.in_(list(channels) or [""]))
    repo_ids = [r for (r,) in subscribed.distinct().tuples()]
    repos = (
        [
            n
            for (n,) in Repository.select(Repository.full_name)
            .where(Repository.id.in_(repo_ids))
            .tuples()
        ]
        if repo_ids
        else []
    )
    flaky_q = (
        (
            FlakeScore.select(FlakeScore, TestCase)
            .join(TestCase)
            .where(FlakeScore.repository.in_(repo_ids), FlakeScore.state == "flaky")
            .order_by(FlakeScore.score.desc())
        )
        if repo_ids
        else None
    )
    flaky = (
        [
            PlanItem(0, 0, s.test_case_id, display_name(s.test_case), s.score, s.reason, 0)
            for s in flaky_q.limit(HOME_MAX)
        ]
        if flaky_q is not None
        else []
    )
    recent_q = (
        (
            QuarantineEvent.select(QuarantineEvent, Quarantine, TestCase)
            .join(Quarantine)
            .join(TestCase)
            .where(
                Quarantine.repository.in_(repo_ids)
                | ((QuarantineEvent.actor == user_id) & Quarantine.repository.in_(own))
            )
            .order_by(QuarantineEvent.id.desc())
            .limit(HOME_MAX)
        )
        if repo_ids
        else (
            QuarantineEvent.select(QuarantineEvent, Quarantine, TestCase)
            .join(Quarantine)
            .join(TestCase)
            .where(QuarantineEvent.actor == user_id, Quarantine.repository.in_(own))
            .order_by(QuarantineEvent.id.desc())
            .limit(HOME_MAX)
        )
    )
    recent = [(e.actor, e.action, display_name(e.quarantine.test_case), e.at) for e in recent_q]
    return HomeView(
        user_id=user_id,
        github_login=github_login_for(team_id, user_id),
        assigned=assigned,
        flaky=flaky,
        recent=recent,
        flaky_total=flaky_q.count() if flaky_q is not None else 0,
        assigned_total=assigned_q.count(),
        repositories=repos,
    )
