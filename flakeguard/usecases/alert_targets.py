"""Where an alert about a test goes, and who is assigned to it by default.

An alert for a test owned by an owner with a route (``owner_routes``) goes to that
channel; other alerts go to the repository's subscribed channels. The alert is
assigned by default to the first owner's linked Slack user (a user owner, or a
member of a team owner who linked their account).
"""

from __future__ import annotations

from collections.abc import Sequence

from peewee import fn

from engine.quarantine import ASSIGNABLE
from flakeguard.usecases import quarantine as quarantine_uc
from flakeguard.usecases.owner_routes import route_of
from flakeguard.usecases.repo_files import files_of, owners_of_test, owners_of_test_id
from flakeguard.usecases.slack_scope import same_tenant_subscriptions
from models import (
    ChannelSubscription,
    Quarantine,
    Repository,
    SlackWorkspace,
    TeamMember,
    TestCase,
    UserLink,
)


def alert_targets(repository_id: int, test_case_id: int | None) -> list[tuple[str, str]]:
    """The (team id, channel) pairs an alert about a test goes to.

    The route of the test's owner when there is one (only to workspaces linked to
    the repository's tenant); else every subscribed channel of the repository.
    """
    repo = Repository.get_by_id(repository_id)
    if test_case_id is not None:
        files = files_of(repo.id)
        test = TestCase.get_or_none(TestCase.id == test_case_id)
        owners = owners_of_test(test, files) if test is not None else ()
        target = route_of(repo, owners, files.config.config) if owners else None
        if target is not None:
            linked = SlackWorkspace.select().where(
                SlackWorkspace.team_id == target[0], SlackWorkspace.tenant == repo.tenant_id
            )
            if linked.exists():
                return [target]
    return [
        (sub.team_id, sub.channel_id)
        for sub in same_tenant_subscriptions()
        .where(ChannelSubscription.repository == repo.id)
        .order_by(ChannelSubscription.id)
    ]


def default_assignee(team_id: str, tenant_id: int, owners: Sequence[str]) -> str | None:
    """The Slack user of workspace ``team_id`` who owns by default: the first owner linked.

    A user owner by their own link; a team owner by its first member (by login) who
    linked. Emails are not matched.
    """
    for owner in owners:
        name = owner.lower()
        if not name.startswith("@"):
            continue
        if "/" in name:
            logins = [
                member.login
                for member in TeamMember.select(TeamMember.login)
                .where(TeamMember.tenant == tenant_id, TeamMember.team == name)
                .order_by(TeamMember.login)
            ]
        else:
            logins = [name[1:]]
        if not logins:
            continue
        link = (
            UserLink.select()
            .where(UserLink.team_id == team_id, fn.LOWER(UserLink.github_login).in_(logins))
            .order_by(fn.LOWER(UserLink.github_login), UserLink.id)
            .first()
        )
        if link is not None:
            return link.slack_user_id
    return None


def assign_default(quarantine_id: int, team_id: str) -> bool:
    """Assign a quarantine nobody is assigned to its owner's linked user; True when it did.

    Through the one quarantine use case (audit: actor ``flakeguard``, source
    ``system``), once per quarantine (its idempotency key).
    """
    q = Quarantine.get_or_none(Quarantine.id == quarantine_id)
    if q is None or q.assignee_slack or q.state not in ASSIGNABLE:
        return False
    repo = Repository.get_by_id(q.repository_id)
    user = default_assignee(team_id, repo.tenant_id, owners_of_test_id(q.test_case_id))
    if user is None:
        return False
    outcome = quarantine_uc.perform(
        None,
        "assign",
        quarantine_id=q.id,
        tenant_id=repo.tenant_id,
        actor="flakeguard",
        source="system",
        assignee_slack=user,
        reason="code owner",
        team_id=team_id,
        idempotency_key=f"owner-assign:{q.id}",
    )
    return outcome.changed
