"""Which Slack messages and channels belong to whom: the tenancy checks of the Slack side.

A click acts only on a message FlakeGuard posted (team, channel and ts
recorded) for a repository of the clicker's tenant; alerts and digests go
only to channels of workspaces linked to the repository's tenant. Every
"no" here is the same NotFoundError, whatever the reason, so a refusal
reveals nothing.
"""

from __future__ import annotations

from flakeguard.errors import NotFoundError
from models import ChannelSubscription, Repository, SlackMessage, SlackWorkspace


def same_tenant_subscriptions():  # type: ignore[no-untyped-def]
    """Subscriptions whose workspace is linked to the tenant of their repository."""
    return (
        ChannelSubscription.select(ChannelSubscription)
        .join(Repository, on=(ChannelSubscription.repository == Repository.id))
        .join(SlackWorkspace, on=(SlackWorkspace.team_id == ChannelSubscription.team_id))
        .where(SlackWorkspace.tenant == Repository.tenant)
    )


def deliverable(message_id: int) -> bool:
    """True when a message's workspace is linked to its repository's tenant (checked at send)."""
    msg = SlackMessage.get_or_none(SlackMessage.id == message_id)
    if msg is None or msg.repository_id is None:
        return False
    return (
        SlackWorkspace.select()
        .join(Repository, on=(Repository.tenant == SlackWorkspace.tenant))
        .where(SlackWorkspace.team_id == msg.team_id, Repository.id == msg.repository_id)
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
    query = (
        SlackMessage.select(SlackMessage)
        .join(Repository, on=(SlackMessage.repository == Repository.id))
        .where(
            SlackMessage.team_id == team_id,
            SlackMessage.channel == channel,
            SlackMessage.ts == ts,
            Repository.tenant == tenant_id,
        )
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
        SlackMessage.select(SlackMessage)
        .join(Repository, on=(SlackMessage.repository == Repository.id))
        .where(
            SlackMessage.id == message_id,
            SlackMessage.kind == "digest",
            SlackMessage.team_id == team_id,
            SlackMessage.ts.is_null(False),
            Repository.tenant == tenant_id,
        )
        .first()
    )
    if msg is None:
        raise NotFoundError("this digest is not one FlakeGuard can act on here")
    return msg
