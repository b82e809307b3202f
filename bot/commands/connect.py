"""/flakeguard connect [github-account]: a single-use link that links this workspace via GitHub."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from bot.blocks.common import escape
from bot.blocks.status import render_notice
from bot.commands.base import Invocation, UsageError
from flakeguard.usecases import tenant_links

USAGE = "/flakeguard connect [github-account]"
START_PATH = "/github/link/start"
# Set by build_bolt_app from settings (FLAKEGUARD_PUBLIC_URL, GITHUB_CLIENT_ID): where
# the link points and whether GitHub sign-in is configured at all.
LINKS: dict[str, Any] = {"public_url": "", "enabled": False}


def configure(*, public_url: str, enabled: bool) -> None:
    """Where the links point (FlakeGuard's public URL) and whether GitHub sign-in is set up."""
    LINKS.update(public_url=public_url.rstrip("/"), enabled=enabled)


def run(inv: Invocation) -> dict[str, Any]:
    """Answer with a link (ephemeral, single use, minutes) that proves ownership through GitHub."""
    if len(inv.words) > 1:
        raise UsageError("give at most one GitHub account (organisation or user)", USAGE)
    tenant = tenant_links.workspace_tenant(inv.team_id)
    if tenant is not None:
        return render_notice(
            f":white_check_mark: This workspace is already linked to *{escape(tenant.name)}*."
        )
    if not LINKS["enabled"]:
        return render_notice(
            ":warning: Linking through GitHub is not set up here. Ask your FlakeGuard "
            f"operator to run `flakeguard tenant link {inv.team_id} TENANT`."
        )
    state = tenant_links.issue_link_state(
        inv.team_id, inv.user_id, account=inv.words[0] if inv.words else ""
    )
    url = f"{LINKS['public_url']}{START_PATH}?{urlencode({'state': state})}"
    minutes = int(tenant_links.STATE_TTL.total_seconds() // 60)
    return render_notice(
        f":link: <{url}|Link this workspace through GitHub>: sign in as an admin of the "
        f"GitHub account where FlakeGuard is installed. The link is yours alone, works once "
        f"and expires in {minutes} minutes."
    )
