"""/flakeguard unsubscribe <owner/repo>"""

from __future__ import annotations

from typing import Any

from bot.blocks.status import render_notice
from bot.commands.base import Invocation, UsageError
from flakeguard.usecases import subscriptions

USAGE = "/flakeguard unsubscribe <owner/repo>"


def run(inv: Invocation) -> dict[str, Any]:
    """Stop a repository's alerts in this channel."""
    if len(inv.words) != 1:
        raise UsageError("give one repository", USAGE)
    repo = subscriptions.unsubscribe(
        inv.team_id, inv.channel_id, inv.words[0], tenant_id=inv.tenant_id
    )
    return render_notice(
        f":no_bell: <#{inv.channel_id}> no longer gets alerts of *{repo.full_name}*."
    )
