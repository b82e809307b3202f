"""Which Slack channels follow which repositories, and who a Slack user is on GitHub.

``/flakeguard subscribe|unsubscribe|link`` call these; each takes the
caller's ``tenant_id``, so a channel can follow only its tenant's
repositories and a link re-assigns only the tenant's quarantines.
"""

from __future__ import annotations

import re

from peewee import IntegrityError

from flakeguard.errors import BadRequestError, NotFoundError
from flakeguard.usecases.status import resolve_repository, tenant_repositories
from models import ChannelSubscription, Quarantine, Repository, UserLink, db

GITHUB_LOGIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")


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
