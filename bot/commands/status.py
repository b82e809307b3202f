"""/flakeguard status [owner/repo]"""

from __future__ import annotations

from typing import Any

from bot.blocks.status import render_status
from bot.commands.base import Invocation, UsageError
from flakeguard.usecases import status as status_uc

USAGE = "/flakeguard status [owner/repo]"


def run(inv: Invocation) -> dict[str, Any]:
    """Status of the named repository, else of the channel's subscriptions, else of all."""
    if len(inv.words) > 1:
        raise UsageError("status takes at most one repository", USAGE)
    repo = inv.words[0] if inv.words else None
    statuses = status_uc.status_for(
        repo, tenant_id=inv.tenant_id, team_id=inv.team_id, channel_id=inv.channel_id
    )
    return render_status(statuses)
