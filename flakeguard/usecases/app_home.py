"""A Slack user's App Home: the tests assigned to them, the flaky tests of their channels.

Published by ``tasks/slack.py:publish_slack_home`` when the user opens the
tab (``request_home``) and, after a quarantine action, for the people it
concerns (``concerned_users``). Shows only the tenant's repositories.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from flakeguard.jobs import Job
from flakeguard.usecases import outbox
from flakeguard.usecases.plan import PlanItem
from flakeguard.usecases.status import display_name, tenant_repositories
from flakeguard.usecases.subscriptions import github_login_for
from models import (
    ChannelSubscription,
    FlakeScore,
    Quarantine,
    QuarantineEvent,
    Repository,
    TestCase,
)

HOME_MAX = 10


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


def request_home(team_id: str, user_id: str) -> None:
    """Ask for a user's App Home to be (re)published."""
    outbox.record_and_dispatch(
        [outbox.want(Job.PUBLISH_SLACK_HOME, team_id=team_id, user_id=user_id)]
    )
