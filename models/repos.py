"""Installations, repositories and their ingest tokens."""

from __future__ import annotations

from peewee import (
    BigIntegerField,
    BooleanField,
    CharField,
    DateTimeField,
    ForeignKeyField,
    JSONField,
)

from models.base import CreatedModel, StampedModel
from models.tenancy import Tenant


class Installation(StampedModel):
    """A GitHub App installation."""

    installation_id = BigIntegerField(unique=True)
    tenant = ForeignKeyField(Tenant, backref="installations")
    account_login = CharField(max_length=100)
    # GitHub's id of the account (organisation or user) the App is installed on: it
    # survives renames, so a reinstall by the same account finds its tenant again.
    account_id = BigIntegerField(null=True, index=True)
    account_type = CharField(max_length=20, default="Organization")
    suspended_at = DateTimeField(null=True)
    deleted_at = DateTimeField(null=True)


class OwnerAndName:
    """``owner`` and ``name`` of a repository known by its ``full_name``, ``owner/name``."""

    full_name: str

    @property
    def owner(self) -> str:
        return self.full_name.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.full_name.split("/", 1)[1]


class Repository(OwnerAndName, CreatedModel):
    """One repository, ``owner/name``, of one tenant, with per-repo settings.

    ``github_id`` (GitHub's repository id) survives renames and transfers and is
    how GitHub events find their repository; ``full_name`` is unique per tenant.
    """

    tenant = ForeignKeyField(Tenant, backref="repositories")
    full_name = CharField(max_length=200)
    default_branch = CharField(max_length=255, default="main")
    installation = ForeignKeyField(
        Installation, null=True, backref="repositories", on_delete="SET NULL"
    )
    github_id = BigIntegerField(null=True)
    settings = JSONField(default=dict)
    active = BooleanField(default=True)

    class Meta:
        indexes = (
            (("tenant", "full_name"), True),
            (("github_id",), False),
        )


class IngestToken(CreatedModel):
    """A per-repository upload token; only its SHA-256 is stored."""

    repository = ForeignKeyField(Repository, backref="tokens", on_delete="CASCADE")
    token_hash = CharField(max_length=64, unique=True)
    prefix = CharField(max_length=16)
    label = CharField(max_length=100, default="")
    last_used_at = DateTimeField(null=True)
    revoked_at = DateTimeField(null=True)
