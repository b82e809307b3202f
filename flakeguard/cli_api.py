"""``flakeguard api-token …``: a tenant's tokens for the ``/api/v1`` read and action API."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from flakeguard.cli import add_command, add_group, open_configured, refused
from flakeguard.errors import FlakeGuardError


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


def cmd_create(args: argparse.Namespace) -> int:
    """Create an API token of a tenant and print it once (only its hash is stored)."""
    from flakeguard.cli_status import cli_tenant
    from flakeguard.usecases import api_tokens

    open_configured()
    tenant = cli_tenant(args)
    if tenant is None:
        return 2
    try:
        info, token = api_tokens.create_token(
            args.name, tenant_id=tenant.id, created_by="cli", can_act=args.act
        )
    except FlakeGuardError as exc:
        return refused(exc)
    right = "read and act on quarantines" if info.can_act else "read only"
    print(f"API token {info.prefix} ({info.name}) for tenant {info.tenant}, {right}")
    print(f"token (shown once, only its hash is stored): {token}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    """List API tokens (of one tenant with --tenant): prefix, name, rights, use, revocation."""
    from flakeguard.usecases import api_tokens
    from flakeguard.usecases.tenancy import tenant_for_cli

    open_configured()
    tenant_id = None
    if args.tenant:
        try:
            tenant_id = tenant_for_cli(args.tenant).id
        except LookupError as exc:
            print(f"flakeguard: {exc}", file=sys.stderr)
            return 2
    found = api_tokens.list_tokens(tenant_id=tenant_id)
    if not found:
        print("no API token")
        return 0
    rows = [("PREFIX", "TENANT", "NAME", "RIGHTS", "BY", "CREATED", "LAST USED", "REVOKED")]
    rows += [
        (
            t.prefix,
            t.tenant,
            t.name,
            "act" if t.can_act else "read",
            t.created_by or "-",
            _when(t.created_at),
            _when(t.last_used_at),
            _when(t.revoked_at),
        )
        for t in found
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    """Revoke an API token by its prefix (as `api-token list` shows it); refused at once."""
    from flakeguard.usecases import api_tokens

    open_configured()
    try:
        info, revoked = api_tokens.revoke_token(args.prefix, tenant_id=None)
    except FlakeGuardError as exc:
        return refused(exc)
    if revoked:
        print(f"revoked API token {info.prefix} ({info.name}) of tenant {info.tenant}")
    else:
        print(f"API token {info.prefix} ({info.name}) of tenant {info.tenant} was already revoked")
    return 0


def register(sub: Any) -> None:
    """Add `flakeguard api-token`."""
    token_sub = add_group(
        sub,
        "api-token",
        "tokens for the /api/v1 read and action API",
        "Create, list and revoke a tenant's API tokens.",
    )
    create = add_command(token_sub, "create", cmd_create, "create a token")
    create.add_argument("name", metavar="NAME", help="what the token is for (shown in lists)")
    create.add_argument("--tenant", metavar="SLUG", help="the tenant (default: the only one)")
    create.add_argument(
        "--act",
        action="store_true",
        help="may also approve, assign, undo and dismiss quarantines (default: read only)",
    )
    listing = add_command(token_sub, "list", cmd_list, "list tokens")
    listing.add_argument("--tenant", metavar="SLUG", help="only this tenant's tokens")
    revoke = add_command(token_sub, "revoke", cmd_revoke, "revoke a token")
    revoke.add_argument("prefix", metavar="PREFIX", help="the prefix `api-token list` shows")
