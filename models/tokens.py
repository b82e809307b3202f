"""API tokens: a tenant's bearer tokens for ``/api/v1`` (read, or read and act)."""

from __future__ import annotations

from peewee import BooleanField, CharField, DateTimeField, ForeignKeyField

from models.base import CreatedModel
from models.tenancy import Tenant


class ApiToken(CreatedModel):
    """A tenant's API token; only its SHA-256 is stored, its prefix is what people see.

    ``can_act`` tokens may also approve, assign, undo and dismiss quarantines;
    the others only read. ``created_by`` says who made it ("cli", a web user).
    """

    tenant = ForeignKeyField(Tenant, backref="api_tokens", on_delete="CASCADE")
    name = CharField(max_length=100)
    token_hash = CharField(max_length=64, unique=True)
    prefix = CharField(max_length=16, index=True)
    created_by = CharField(max_length=200, default="")
    can_act = BooleanField(default=False)
    last_used_at = DateTimeField(null=True)
    revoked_at = DateTimeField(null=True)
