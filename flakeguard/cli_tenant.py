"""``flakeguard tenant …`` (who owns what) and ``flakeguard secrets …`` (tokens at rest)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from flakeguard.errors import FlakeGuardError

T = TypeVar("T")


def _open() -> None:
    from flakeguard.cli import open_configured

    open_configured()


def _refused(exc: FlakeGuardError) -> int:
    print(f"flakeguard: {exc.message}", file=sys.stderr)
    return 2


def cmd_tenant_list(args: argparse.Namespace) -> int:
    """List tenants, their Slack workspaces and GitHub installations, and unlinked workspaces."""
    from flakeguard.usecases import tenant_links

    _open()
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
    _open()
    try:
        result = change()
    except FlakeGuardError as exc:
        return _refused(exc)
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

    _open()
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
    tenant = sub.add_parser(
        "tenant", help="tenants and their Slack workspaces", description="Manage tenants."
    )
    tenant_sub = tenant.add_subparsers(dest="tenant_command", metavar="ACTION")
    listing = tenant_sub.add_parser(
        "list", help="list tenants", description=cmd_tenant_list.__doc__
    )
    listing.set_defaults(handler=cmd_tenant_list)
    create = tenant_sub.add_parser(
        "create", help="create a tenant", description=cmd_tenant_create.__doc__
    )
    create.add_argument("slug", metavar="SLUG")
    create.add_argument("--name", default="", help="display name (default: the slug)")
    create.set_defaults(handler=cmd_tenant_create)
    link = tenant_sub.add_parser(
        "link", help="link a Slack workspace to a tenant", description=cmd_tenant_link.__doc__
    )
    link.add_argument("team_id", metavar="TEAM_ID", help="the Slack workspace id (T...)")
    link.add_argument("tenant", metavar="TENANT_SLUG")
    link.set_defaults(handler=cmd_tenant_link)
    unlink = tenant_sub.add_parser(
        "unlink", help="unlink a Slack workspace", description=cmd_tenant_unlink.__doc__
    )
    unlink.add_argument("team_id", metavar="TEAM_ID")
    unlink.set_defaults(handler=cmd_tenant_unlink)
    tenant.set_defaults(handler=lambda args: _usage(tenant))

    secrets = sub.add_parser(
        "secrets", help="third-party tokens at rest", description="Encryption keys and rotation."
    )
    secrets_sub = secrets.add_subparsers(dest="secrets_command", metavar="ACTION")
    rotate = secrets_sub.add_parser(
        "rotate",
        help="re-encrypt stored tokens with the first key",
        description=cmd_secrets_rotate.__doc__,
    )
    rotate.set_defaults(handler=cmd_secrets_rotate)
    new = secrets_sub.add_parser(
        "new-key", help="print a new key", description=cmd_secrets_new_key.__doc__
    )
    new.set_defaults(handler=cmd_secrets_new_key)
    secrets.set_defaults(handler=lambda args: _usage(secrets))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2
