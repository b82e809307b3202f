"""/flakeguard subscribe <owner/repo>"""

from __future__ import annotations

from typing import Any

from bot.blocks.status import render_notice
from bot.commands.base import Invocation, UsageError
from flakeguard.usecases import subscriptions

USAGE = "/flakeguard subscribe <owner/repo>"


def run(inv: Invocation) -> dict[str, Any]:
    """Send a repository's alerts and weekly digest to this channel."""
    if len(inv.words) != 1:
        raise UsageError("give one repository", USAGE)
    repo, created = subscriptions.subscribe(
        inv.team_id, inv.channel_id, inv.words[0], tenant_id=inv.tenant_id, user_id=inv.user_id
    )
    if not created:
        return render_notice(f"<#{inv.channel_id}> is already subscribed to *{repo.full_name}*.")
    return render_notice(
        f":bell: <#{inv.channel_id}> now gets alerts and the weekly digest of *{repo.full_name}*. "
        "Invite me to the channel (`/invite @FlakeGuard`) if it is private."
    )
