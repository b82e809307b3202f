"""``flakeguard tenant …`` (who owns what) and ``flakeguard secrets …`` (tokens at rest)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from flakeguard.cli import add_command, add_group, open_configured, refused
from flakeguard.errors import FlakeGuardError

T = TypeVar("T")


def cmd_tenant_list(args: argparse.Namespace) -> int:
    """List tenants, their Slack workspaces and GitHub installations, and unlinked workspaces."""
    from flakeguard.usecases import tenant_links

    open_configured()
    for tenant, workspaces, installations in tenant_links.list_tenants():
        print(f"{tenant.slug}  {tenant.name}")
        for ws in workspaces:
            name = f" {ws.name}" if ws.name else ""
            print(f"  slack  {ws.team_id}{name}  (linked by {ws.linked_by or '?'})")
        for inst in installations:
            state = " deleted" if inst.deleted_at else (" suspended" if inst.suspended_at else "")
            print(f"  github {inst.installation_id} {inst.account_login}{state}")
    unlinked = tenant_links.unlinked_workspaces()
    if unlinked:
        print("unlinked (they see nothing):")
        for ws in unlinked:
            print(f"  slack  {ws.team_id} {ws.name}".rstrip())
    return 0


def _change(change: Callable[[], T], said: Callable[[T], str]) -> int:
    """Open the database, make one change and print what it did; 2 when it is refused."""
    open_configured()
    try:
        result = change()
    except FlakeGuardError as exc:
        return refused(exc)
    print(said(result))
    return 0


def cmd_tenant_create(args: argparse.Namespace) -> int:
    """Create a tenant."""
    from flakeguard.usecases import tenant_links

    return _change(
        lambda: tenant_links.create_tenant(args.slug, name=args.name or ""),
        lambda tenant: f"created tenant {tenant.slug}",
    )


def cmd_tenant_link(args: argparse.Namespace) -> int:
    """Link a Slack workspace (TEAM_ID) to a tenant: it then sees that tenant's repositories."""
    from flakeguard.usecases import tenant_links

    return _change(
        lambda: tenant_links.link_workspace(args.team_id, args.tenant),
        lambda ws: f"linked Slack workspace {ws.team_id} to tenant {ws.tenant.slug}",
    )


def cmd_tenant_unlink(args: argparse.Namespace) -> int:
    """Unlink a Slack workspace: it sees nothing until it is linked again."""
    from flakeguard.usecases import tenant_links

    return _change(
        lambda: tenant_links.unlink_workspace(args.team_id),
        lambda ws: f"unlinked Slack workspace {ws.team_id}",
    )


def cmd_secrets_rotate(args: argparse.Namespace) -> int:
    """Re-encrypt every stored token with the first key of FLAKEGUARD_SECRET_KEY."""
    from flakeguard.usecases import secrets_at_rest

    open_configured()
    if not secrets_at_rest.secrets_configured():
        print("flakeguard: FLAKEGUARD_SECRET_KEY: not set (nothing to rotate to)", file=sys.stderr)
        return 2
    count = secrets_at_rest.rotate_stored_secrets()
    print(f"re-encrypted the tokens of {count} Slack installation row(s) with the first key")
    return 0


def cmd_secrets_new_key(args: argparse.Namespace) -> int:
    """Print a new key for FLAKEGUARD_SECRET_KEY (put it first to rotate)."""
    from flakeguard.secrets import new_key

    print(new_key())
    return 0


def register(sub: Any) -> None:
    """Add `flakeguard tenant` and `flakeguard secrets`."""
    tenant_sub = add_group(sub, "tenant", "tenants and their Slack workspaces", "Manage tenants.")
    add_command(tenant_sub, "list", cmd_tenant_list, "list tenants")
    create = add_command(tenant_sub, "create", cmd_tenant_create, "create a tenant")
    create.add_argument("slug", metavar="SLUG")
    create.add_argument("--name", default="", help="display name (default: the slug)")
    link = add_command(tenant_sub, "link", cmd_tenant_link, "link a Slack workspace to a tenant")
    link.add_argument("team_id", metavar="TEAM_ID", help="the Slack workspace id (T...)")
    link.add_argument("tenant", metavar="TENANT_SLUG")
    unlink = add_command(tenant_sub, "unlink", cmd_tenant_unlink, "unlink a Slack workspace")
    unlink.add_argument("team_id", metavar="TEAM_ID")

    secrets_sub = add_group(
        sub, "secrets", "third-party tokens at rest", "Encryption keys and rotation."
    )
    add_command(
        secrets_sub, "rotate", cmd_secrets_rotate, "re-encrypt stored tokens with the first key"
    )
    add_command(secrets_sub, "new-key", cmd_secrets_new_key, "print a new key")
