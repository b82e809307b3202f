"""Slack side: installations, OAuth state, posted messages, subscriptions, user links."""

from __future__ import annotations

from peewee import (
    CharField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    JSONField,
    TextField,
)

from models.base import BaseModel, CreatedModel, StampedModel, UpdatedModel, utcnow
from models.crypto import EncryptedTextField, SealedJSONField
from models.quarantine import Quarantine
from models.repos import Repository
from models.results import DomainEvent


class SlackInstallation(BaseModel):
    """A workspace (or org) installation from OAuth; ``data`` is slack_sdk's Installation.

    The bot token and the tokens inside ``data`` are stored encrypted (models.crypto).
    """

    enterprise_id = CharField(max_length=32, default="")
    team_id = CharField(max_length=32, default="")
    user_id = CharField(max_length=32, default="")
    bot_token = EncryptedTextField(null=True)
    bot_user_id = CharField(max_length=32, null=True)
    data = SealedJSONField(default=dict)
    installed_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("enterprise_id", "team_id", "user_id"), True),)


class SlackOAuthState(BaseModel):
    """An OAuth ``state`` value, consumed once."""

    state = CharField(max_length=64, unique=True)
    expires_at = DateTimeField()


class SlackMessage(StampedModel):
    """A message we posted (channel + ts) so it can be updated in place."""

    team_id = CharField(max_length=32, default="")
    channel = CharField(max_length=32)
    ts = CharField(max_length=32, null=True)
    kind = CharField(max_length=16)
    quarantine = ForeignKeyField(Quarantine, null=True, backref="messages", on_delete="CASCADE")
    repository = ForeignKeyField(Repository, null=True, on_delete="CASCADE")
    # The domain event this alert was posted for: one message per event and channel.
    event = ForeignKeyField(DomainEvent, null=True, on_delete="SET NULL")
    rendered_version = IntegerField(default=-1)
    # Posted in the thread of this message (an alert's reminder, a later change).
    thread_ts = CharField(max_length=32, null=True)
    last_error = TextField(null=True)

    class Meta:
        indexes = ((("channel", "ts"), False),)


class ChannelSubscription(CreatedModel):
    """A channel that gets a repository's alerts and weekly digest."""

    team_id = CharField(max_length=32, default="")
    channel_id = CharField(max_length=32)
    repository = ForeignKeyField(Repository, backref="subscriptions", on_delete="CASCADE")
    created_by = CharField(max_length=32, default="")
    last_error = TextField(null=True)

    class Meta:
        indexes = ((("team_id", "channel_id", "repository"), True),)


class UserLink(CreatedModel):
    """A Slack user linked to a GitHub login, for assignment."""

    team_id = CharField(max_length=32, default="")
    slack_user_id = CharField(max_length=32)
    github_login = CharField(max_length=100)

    class Meta:
        indexes = ((("team_id", "slack_user_id"), True),)


class WorkspacePolicy(UpdatedModel):
    """Who may approve or undo quarantines in a workspace."""

    team_id = CharField(max_length=32, unique=True)
    mode = CharField(max_length=16, default="everyone")  # everyone | usergroup | users
    usergroup_id = CharField(max_length=32, null=True)
    users = JSONField(default=list)


class SlackEventReceipt(BaseModel):
    """A Slack event_id we processed, so Slack's retries are handled once."""

    event_id = CharField(max_length=64, unique=True)
    received_at = DateTimeField(default=utcnow)
