"""Where each stored Slack message went, and the errors Slack answered.

The tasks that post and update messages (alerts, digests) record here the
``ts`` Slack gave, the version shown, or a permanent error; a permanent
error is also put on the channel's subscriptions (on the whole workspace
for a token error), where ``/flakeguard status`` shows it. A message with
no ``ts`` and no ``last_error`` is still to be delivered.
"""

from __future__ import annotations

from flakeguard.errors import NotFoundError
from models import ChannelSubscription, SlackMessage, utcnow

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
