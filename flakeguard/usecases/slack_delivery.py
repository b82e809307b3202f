"""Where each stored Slack message went, and the errors Slack answered.

The tasks that post and update messages (alerts, digests) record here the
``ts`` Slack gave, the version shown, or a permanent error; a permanent
error is also put on the channel's subscriptions (on the whole workspace
for a token error), where ``/flakeguard status`` shows it. A message with
no ``ts`` and no ``last_error`` is still to be delivered.
"""

from __future__ import annotations

from flakeguard.errors import NotFoundError
from models import ChannelSubscription, OwnerRoute, SlackMessage, utcnow

# Errors about the workspace's token: every subscription of the team is affected.
TOKEN_ERRORS = frozenset({"account_inactive", "invalid_auth", "token_revoked", "not_authed"})


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
    """Record a permanent error on a channel's subscriptions and owner routes (a token
    error: on the whole team's)."""
    for model in (ChannelSubscription, OwnerRoute):
        query = model.update(last_error=error[:200]).where(model.team_id == team_id)
        if error not in TOKEN_ERRORS:
            query = query.where(model.channel_id == channel_id)
        query.execute()


def record_team_error(team_id: str, error: str) -> int:
    """Record on every subscription of a workspace that Slack stopped serving it (uninstalled)."""
    return (
        ChannelSubscription.update(last_error=error)
        .where(ChannelSubscription.team_id == team_id)
        .execute()
    )


def clear_channel_error(team_id: str, channel_id: str) -> None:
    """Forget a channel's delivery error (subscriptions, routes) after a successful post."""
    for model in (ChannelSubscription, OwnerRoute):
        model.update(last_error=None).where(
            model.team_id == team_id,
            model.channel_id == channel_id,
            model.last_error.is_null(False),
        ).execute()
