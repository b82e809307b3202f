"""Owner routes: ``/flakeguard route @org/team #channel`` sends that owner's alerts there.

A route is per tenant (``OwnerRoute``) and wins over the ``routing`` of a repository's
``.flakeguard.yml``; an owner with neither is unrouted (the repository's channels).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from engine import repo_config as rc
from engine.codeowners import OWNER_PATTERN
from flakeguard.errors import BadRequestError, NotFoundError
from flakeguard.usecases.repo_files import config_of
from flakeguard.usecases.slack_scope import same_tenant_subscriptions
from models import ChannelSubscription, OwnerRoute, Repository, SlackWorkspace, db

# A route's owner: "@user" or "@org/team" (the same names CODEOWNERS uses).
OWNER = OWNER_PATTERN
CHANNEL_ID = re.compile(r"[CG][A-Z0-9]{2,20}")


@dataclass(frozen=True)
class RoutedOwner:
    """A CODEOWNERS owner of a tenant whose alerts go to one channel."""

    tenant_id: int
    owner: str  # "@org/team" or "@user", lower-cased
    team_id: str
    channel: str


def normalize_owner(owner: str) -> str:
    """``@org/team`` or ``@user``, lower-cased; BadRequestError for anything else."""
    cleaned = owner.strip()
    if not cleaned.startswith("@"):
        cleaned = "@" + cleaned
    if not OWNER.fullmatch(cleaned):
        raise BadRequestError(f"{owner[:60]!r} is not a GitHub @user or @org/team")
    return cleaned.lower()


def set_route(
    *, tenant_id: int, team_id: str, owner: str, channel_id: str, actor: str
) -> tuple[str, str | None]:
    """Send ``owner``'s alerts in the tenant's repositories to a channel; return (owner, old)."""
    name = normalize_owner(owner)
    if not CHANNEL_ID.fullmatch(channel_id):
        raise BadRequestError("name the channel as #channel")
    linked = SlackWorkspace.select().where(
        SlackWorkspace.team_id == team_id, SlackWorkspace.tenant == tenant_id
    )
    if not linked.exists():
        raise NotFoundError("this workspace is not linked to the repositories' organisation")
    with db.atomic():
        row = OwnerRoute.get_or_none(OwnerRoute.tenant == tenant_id, OwnerRoute.owner == name)
        previous = row.channel_id if row else None
        if row is None:
            OwnerRoute.create(
                tenant=tenant_id,
                owner=name,
                team_id=team_id,
                channel_id=channel_id,
                created_by=actor[:100],
            )
        else:
            OwnerRoute.update(
                team_id=team_id, channel_id=channel_id, created_by=actor[:100], last_error=None
            ).where(OwnerRoute.id == row.id).execute()
    return name, previous


def remove_route(*, tenant_id: int, owner: str) -> str:
    """Stop routing ``owner``'s alerts; NotFoundError when there was no route."""
    name = normalize_owner(owner)
    deleted = (
        OwnerRoute.delete()
        .where(OwnerRoute.tenant == tenant_id, OwnerRoute.owner == name)
        .execute()
    )
    if not deleted:
        raise NotFoundError(f"{name} has no route")
    return name


class Route(NamedTuple):
    """A route as listed: the owner, its workspace and channel, and the channel's last
    permanent Slack error (None when the last post there went through)."""

    owner: str
    team_id: str
    channel: str
    last_error: str | None


def routes(tenant_id: int) -> list[Route]:
    """The tenant's routes, by owner."""
    return [
        Route(row.owner, row.team_id, row.channel_id, row.last_error)
        for row in OwnerRoute.select()
        .where(OwnerRoute.tenant == tenant_id)
        .order_by(OwnerRoute.owner)
    ]


def _default_team(repository: Repository) -> str | None:
    """The workspace of the repository's subscriptions, else the tenant's only workspace."""
    sub = (
        same_tenant_subscriptions()
        .where(ChannelSubscription.repository == repository.id)
        .order_by(ChannelSubscription.id)
        .first()
    )
    if sub is not None:
        return sub.team_id
    teams = list(
        SlackWorkspace.select(SlackWorkspace.team_id)
        .where(SlackWorkspace.tenant == repository.tenant_id)
        .limit(2)
    )
    return teams[0].team_id if len(teams) == 1 else None


def route_of(
    repository: Repository, owners: Sequence[str], config: rc.RepoConfig
) -> tuple[str, str] | None:
    """(team id, channel) the first routed owner's alerts go to, or None (unrouted)."""
    for owner in owners:
        name = owner.lower()
        row = OwnerRoute.get_or_none(
            OwnerRoute.tenant == repository.tenant_id, OwnerRoute.owner == name
        )
        if row is not None:
            return row.team_id, row.channel_id
        channel = config.channel_for(name)
        if channel is not None:
            team = _default_team(repository)
            if team is not None:
                return team, channel
    return None


def routed_owners(tenant_id: int) -> dict[RoutedOwner, list[int]]:
    """The tenant's routed owners, each with the ids of the repositories routed there.

    A route set from Slack or the CLI covers every repository of the tenant; a
    repository's ``routing`` covers that repository, for owners without such a route
    (as ``route_of`` decides for an alert). Only channels of workspaces linked to the
    tenant are kept.
    """
    linked = {
        row.team_id
        for row in SlackWorkspace.select(SlackWorkspace.team_id).where(
            SlackWorkspace.tenant == tenant_id
        )
    }
    set_routes = {
        row.owner: (row.team_id, row.channel_id)
        for row in OwnerRoute.select().where(OwnerRoute.tenant == tenant_id)
    }
    found: dict[RoutedOwner, list[int]] = {}
    for repo in Repository.select().where(Repository.tenant == tenant_id).order_by(Repository.id):
        targets = dict(set_routes)
        from_file = [(o, c) for o, c in config_of(repo.id).routes if o not in set_routes]
        team = _default_team(repo) if from_file else None
        if team is not None:
            targets.update({owner: (team, channel) for owner, channel in from_file})
        for owner, (team_id, channel) in targets.items():
            if team_id in linked:
                key = RoutedOwner(tenant_id, owner, team_id, channel)
                found.setdefault(key, []).append(repo.id)
    return found
