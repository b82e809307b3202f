"""/flakeguard link <github-login>"""

from __future__ import annotations

from typing import Any

from bot.blocks.status import render_notice
from bot.commands.base import Invocation, UsageError
from flakeguard.usecases import subscriptions

USAGE = "/flakeguard link <github-login>"


def run(inv: Invocation) -> dict[str, Any]:
    """Link the caller's Slack user to a GitHub login (used when they are assigned)."""
    if len(inv.words) != 1:
        raise UsageError("give your GitHub login", USAGE)
    login, previous = subscriptions.link_user(
        inv.team_id, inv.user_id, inv.words[0], tenant_id=inv.tenant_id
    )
    was = f" (was `{previous}`)" if previous and previous != login else ""
    return render_notice(f":link: <@{inv.user_id}> is GitHub `{login}`{was}.")
