"""Which Slack messages and channels belong to whom: the tenancy checks of the Slack side.

A click acts only on a message FlakeGuard posted (team, channel and ts
recorded) for a repository of the clicker's tenant (or, for a routed owner's
digest, which spans repositories, for the clicker's tenant); alerts and digests
go only to channels of workspaces linked to that tenant. Every
"no" here is the same NotFoundError, whatever the reason, so a refusal
reveals nothing.
"""

from __future__ import annotations

from peewee import JOIN

from flakeguard.errors import NotFoundError
from models import ChannelSubscription, Repository, SlackMessage, SlackWorkspace, WeeklyDigest


def same_tenant_subscriptions():  # type: ignore[no-untyped-def]
    """Subscriptions whose workspace is linked to the tenant of their repository."""
    return (
        ChannelSubscription.select(ChannelSubscription)
        .join(Repository, on=(ChannelSubscription.repository == Repository.id))
        .join(SlackWorkspace, on=(SlackWorkspace.team_id == ChannelSubscription.team_id))
        .where(SlackWorkspace.tenant == Repository.tenant)
    )


def _messages_of(tenant_id: int):  # type: ignore[no-untyped-def]
    """Messages of a repository of the tenant, and the tenant's owner digests."""
    return (
        SlackMessage.select(SlackMessage)
        .join(Repository, JOIN.LEFT_OUTER, on=(SlackMessage.repository == Repository.id))
        .switch(SlackMessage)
        .join(WeeklyDigest, JOIN.LEFT_OUTER, on=(WeeklyDigest.message == SlackMessage.id))
        .where(
            (Repository.tenant == tenant_id)
            | (SlackMessage.repository.is_null() & (WeeklyDigest.tenant == tenant_id))
        )
    )


def deliverable(message_id: int) -> bool:
    """True when a message's workspace is linked to its tenant (checked at send)."""
    msg = SlackMessage.get_or_none(SlackMessage.id == message_id)
    if msg is None:
        return False
    if msg.repository_id is not None:
        tenant = Repository.select(Repository.tenant).where(Repository.id == msg.repository_id)
    else:
        tenant = WeeklyDigest.select(WeeklyDigest.tenant).where(WeeklyDigest.message == msg.id)
    return (
        SlackWorkspace.select()
        .where(SlackWorkspace.team_id == msg.team_id, SlackWorkspace.tenant.in_(tenant))
        .exists()
    )


def posted_message(
    *, tenant_id: int, team_id: str, channel: str, ts: str, quarantine_id: int | None = None
) -> SlackMessage:
    """The message FlakeGuard posted at (team, channel, ts), of a repository of the tenant.

    With ``quarantine_id``, the message must show that quarantine. Anything
    else (a message we did not post there, another workspace's, another
    tenant's) is NotFoundError, the same for every case.
    """
    query = _messages_of(tenant_id).where(
        SlackMessage.team_id == team_id,
        SlackMessage.channel == channel,
        SlackMessage.ts == ts,
    )
    if quarantine_id is not None:
        query = query.where(SlackMessage.quarantine == quarantine_id)
    msg = query.first() if ts and channel else None
    if msg is None:
        raise NotFoundError("this message is not one FlakeGuard can act on here")
    return msg


def clicked_digest(
    message_id: int, *, tenant_id: int, team_id: str, channel: str, ts: str
) -> SlackMessage:
    """The digest message a click names, if FlakeGuard posted it at (team, channel, ts).

    NotFoundError otherwise (a forged id, another workspace's digest, an alert).
    """
    msg = posted_message(tenant_id=tenant_id, team_id=team_id, channel=channel, ts=ts)
    if msg.id != message_id or msg.kind != "digest":
        raise NotFoundError("this message is not one FlakeGuard can act on here")
    return msg


def submitted_digest(message_id: int, *, tenant_id: int, team_id: str) -> SlackMessage:
    """The digest an "Approve all" submission names: posted in ``team_id``, of the tenant."""
    msg = (
        _messages_of(tenant_id)
        .where(
            SlackMessage.id == message_id,
            SlackMessage.kind == "digest",
            SlackMessage.team_id == team_id,
            SlackMessage.ts.is_null(False),
        )
        .first()
    )
    if msg is None:
        raise NotFoundError("this digest is not one FlakeGuard can act on here")
    return msg
