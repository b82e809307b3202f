"""People who sign in to the dashboard, and the one-time sign-in links of ``flakeguard login``."""

from __future__ import annotations

from peewee import CharField, DateTimeField, ForeignKeyField, IntegerField

from models.base import CreatedModel
from models.tenancy import Tenant


class WebUser(CreatedModel):
    """One person of one tenant, as an identity provider names them.

    ``provider`` is "local" (a one-time link from ``flakeguard login``), "slack"
    (OpenID Connect; ``subject`` is the Slack user id, ``team_id`` the workspace)
    or "github" (``subject`` is the GitHub user id). A person who signs in to two
    tenants has a row in each: every row belongs to exactly one tenant.
    """

    tenant = ForeignKeyField(Tenant, backref="web_users", on_delete="CASCADE")
    provider = CharField(max_length=16)
    subject = CharField(max_length=100)
    name = CharField(max_length=200, default="")
    team_id = CharField(max_length=32, default="")
    last_sign_in_at = DateTimeField(null=True)
    # Bumped at sign-out: a session begun in an earlier generation is over.
    session_generation = IntegerField(default=0)

    class Meta:
        indexes = ((("tenant", "provider", "subject"), True),)


class WebLoginToken(CreatedModel):
    """A one-time sign-in link: only the SHA-256 of its secret is stored; used once, expiring."""

    token_hash = CharField(max_length=64, unique=True)
    user = ForeignKeyField(WebUser, backref="login_tokens", on_delete="CASCADE")
    expires_at = DateTimeField()
    used_at = DateTimeField(null=True)
