"""The weekly digests posted in Slack: which channel got which digest, which week."""

from __future__ import annotations

from peewee import AutoField, CharField, DateField, DateTimeField, ForeignKeyField

from engine.codeowners import MAX_OWNER_CHARS
from models.base import BaseModel, utcnow
from models.repos import Repository
from models.slack import SlackMessage
from models.tenancy import Tenant


class WeeklyDigest(BaseModel):
    """One channel's digest of one week: a repository's plan, or a routed owner's.

    ``subject`` is what it is about (``repository:ID`` or ``owner:@org/team``), unique per
    week, channel and tenant: planning a week again finds its digests instead of posting
    them twice. An owner's digest spans the tenant's repositories, so its message has
    no repository; ``tenant`` says whose it is.
    """

    id = AutoField()
    tenant = ForeignKeyField(Tenant, on_delete="CASCADE")
    week = DateField()  # the Monday (UTC) of the week
    team_id = CharField(max_length=32)
    channel = CharField(max_length=32)
    subject = CharField(max_length=160)
    repository = ForeignKeyField(Repository, null=True, on_delete="CASCADE")
    owner = CharField(max_length=MAX_OWNER_CHARS, default="")  # "@org/team"; "" for a repository
    message = ForeignKeyField(SlackMessage, unique=True, on_delete="CASCADE")
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("week", "team_id", "channel", "tenant", "subject"), True),)
