"""`flakeguard login`: a one-time sign-in link to the dashboard for a tenant's administrator."""

from __future__ import annotations

import argparse
import sys
from typing import Any

LINK_PATH = "/sign-in/link?token="


def cmd_login(args: argparse.Namespace) -> int:
    """Print a one-time sign-in URL (single use, valid 10 minutes) for a local administrator."""
    from flakeguard.cli import open_configured
    from flakeguard.usecases import web_auth
    from flakeguard.usecases.tenancy import tenant_for_cli
    from models import default_tenant

    settings = open_configured()
    if args.tenant:
        try:
            tenant = tenant_for_cli(args.tenant)
        except LookupError as exc:
            print(f"flakeguard: {exc}", file=sys.stderr)
            return 2
    else:
        tenant = default_tenant()
    secret = web_auth.issue_login_link(tenant)
    minutes = int(web_auth.LOGIN_TTL.total_seconds() // 60)
    print(
        f"Sign in to the FlakeGuard dashboard as an administrator of tenant {tenant.slug}: "
        f"open this link within {minutes} minutes (it works once):"
    )
    print(f"{settings.public_url}{LINK_PATH}{secret}")
    return 0


def register(sub: Any) -> None:
    """Add `flakeguard login`."""
    from flakeguard.cli import add_command

    login = add_command(sub, "login", cmd_login, "print a one-time sign-in link to the dashboard")
    login.add_argument("--tenant", metavar="SLUG", help="the tenant (default: the default tenant)")
