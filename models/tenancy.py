"""Who owns what: a tenant (an organisation) and the Slack workspaces that belong to it.

A tenant owns its GitHub installations (``Installation.tenant``), its
repositories (``Repository.tenant``) and its Slack workspaces. A workspace
sees exactly the repositories of its tenant; a workspace with no tenant (a
fresh OAuth install nobody has linked yet) sees nothing.
"""

from __future__ import annotations

from peewee import CharField, DateTimeField, ForeignKeyField

from models.base import CreatedModel

# The tenant every repository of a one-workspace setup (and of data from before
# tenancy) belongs to.
DEFAULT_TENANT_SLUG = "default"


class Tenant(CreatedModel):
    """An organisation: its repositories, GitHub installations and Slack workspaces."""

    slug = CharField(max_length=64, unique=True)
    name = CharField(max_length=200, default="")


class SlackWorkspace(CreatedModel):
    """A Slack workspace (``team_id``) and the tenant it was linked to, with who linked it."""

    team_id = CharField(max_length=32, unique=True)
    enterprise_id = CharField(max_length=32, default="")
    name = CharField(max_length=200, default="")
    tenant = ForeignKeyField(Tenant, null=True, backref="workspaces", on_delete="SET NULL")
    # "operator", "migration", "single-token" or "github:LOGIN": the proof the link rests on.
    linked_by = CharField(max_length=200, default="")
    linked_at = DateTimeField(null=True)


def default_tenant() -> Tenant:
    """The default tenant (created on first use): the only one of a one-workspace setup."""
    tenant, _ = Tenant.get_or_create(slug=DEFAULT_TENANT_SLUG, defaults={"name": "Default"})
    return tenant
