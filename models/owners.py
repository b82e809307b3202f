"""Ownership: a repository's CODEOWNERS and .flakeguard.yml, team routes, team members,
and the GitHub Actions OIDC tokens spent proving where uploaded files come from."""

from __future__ import annotations

from peewee import CharField, DateTimeField, ForeignKeyField, TextField

from engine.codeowners import MAX_OWNER_CHARS
from models.base import BaseModel, CreatedModel, UpdatedModel, utcnow
from models.repos import Repository
from models.tenancy import Tenant


class RepoFile(BaseModel):
    """The text of one of a repository's files FlakeGuard reads, as of its default branch.

    ``kind`` is ``codeowners`` or ``config`` (``.flakeguard.yml``); ``path`` is where it
    was found; ``source`` is ``github`` (the App) or ``upload`` (the CI client). A file
    that is gone is stored as ``content`` None so a later upload cannot bring it back
    unnoticed.
    """

    repository = ForeignKeyField(Repository, backref="files", on_delete="CASCADE")
    kind = CharField(max_length=16)
    path = CharField(max_length=100, default="")
    content = TextField(null=True)
    digest = CharField(max_length=64, default="")
    source = CharField(max_length=16, default="github")
    commit_sha = CharField(max_length=40, default="")
    fetched_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("repository", "kind"), True),)


class OwnerRoute(CreatedModel):
    """A CODEOWNERS owner (``@org/team`` or ``@user``) whose alerts go to one channel."""

    tenant = ForeignKeyField(Tenant, backref="owner_routes", on_delete="CASCADE")
    owner = CharField(max_length=MAX_OWNER_CHARS)  # lower-cased, with its "@"
    team_id = CharField(max_length=32)
    channel_id = CharField(max_length=32)
    created_by = CharField(max_length=100, default="")
    # The last permanent error Slack gave for the channel (a digest or an alert not
    # posted there); cleared by the next post that goes through.
    last_error = CharField(max_length=200, null=True)

    class Meta:
        indexes = ((("tenant", "owner"), True),)


class TeamMember(UpdatedModel):
    """A member of a GitHub team named in a tenant's CODEOWNERS (refreshed with it)."""

    tenant = ForeignKeyField(Tenant, backref="team_members", on_delete="CASCADE")
    team = CharField(max_length=MAX_OWNER_CHARS)  # "@org/team", lower-cased
    login = CharField(max_length=100)  # lower-cased

    class Meta:
        indexes = ((("tenant", "team", "login"), True),)


class ActionsTokenUse(BaseModel):
    """A GitHub Actions OIDC token spent on an upload: its ``jti``, kept until it expires.

    A token proves one upload; the same token sent again within its lifetime (a replay
    by whoever saw it) finds its ``jti`` here and is refused.
    """

    jti = CharField(max_length=200, unique=True)
    repository = ForeignKeyField(Repository, on_delete="CASCADE")
    expires_at = DateTimeField(index=True)
    used_at = DateTimeField(default=utcnow)
