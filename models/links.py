"""Single-use states of the "link a Slack workspace to a tenant" flow (``/flakeguard connect``)."""

from __future__ import annotations

from peewee import CharField, DateTimeField, IntegerField

from models.base import CreatedModel


class WorkspaceLinkState(CreatedModel):
    """One link offered to a Slack user: bound to the team and user, expiring, used once.

    Only the SHA-256 of the state is stored (it is a bearer secret in a URL).
    ``account`` is the GitHub account the user asked for ("" = the only one they administer).
    After the GitHub callback, ``confirm_*`` hold the pending confirmation: the SHA-256 of
    its single-use token, the tenant and account proven, the GitHub login, its expiry.
    """

    state_hash = CharField(max_length=64, unique=True)
    team_id = CharField(max_length=32)
    enterprise_id = CharField(max_length=32, default="")
    user_id = CharField(max_length=32)
    account = CharField(max_length=100, default="")
    expires_at = DateTimeField()
    used_at = DateTimeField(null=True)
    confirm_hash = CharField(max_length=64, null=True)
    confirm_tenant_id = IntegerField(null=True)
    confirm_account = CharField(max_length=100, default="")
    confirm_login = CharField(max_length=200, default="")
    confirm_expires_at = DateTimeField(null=True)
    confirmed_at = DateTimeField(null=True)
