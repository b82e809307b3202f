"""/flakeguard route @org/team [#channel] | route list | route remove @org/team"""

from __future__ import annotations

import re
from typing import Any

from bot.blocks.common import escape
from bot.blocks.status import render_notice
from bot.commands.base import Invocation, UsageError
from flakeguard.usecases import owner_routes
from flakeguard.usecases.policy import check_allowed

USAGE = "/flakeguard route @org/team [#channel]  (or: route list, route remove @org/team)"
# A channel as Slack escapes it (<#C123|name>, <#C123>) or as a bare ID.
ESCAPED = re.compile(r"<#([CG][A-Z0-9]{2,20})(?:\|[^>]*)?>|([CG][A-Z0-9]{2,20})")


def _channel(inv: Invocation, word: str | None) -> str:
    """The channel ID named by ``word``; the current channel when it is omitted or named."""
    if word is None:
        return inv.channel_id
    match = ESCAPED.fullmatch(word)
    if match:
        return match.group(1) or match.group(2)
    name = word.lstrip("#").lower()
    if inv.channel_name and name == inv.channel_name.lower():
        return inv.channel_id
    raise UsageError(
        f"FlakeGuard cannot look up #{name[:80]} from here: run this command in that channel",
        USAGE,
    )


def run(inv: Invocation) -> dict[str, Any]:
    """Send a CODEOWNERS owner's alerts to a channel (this one by default)."""
    words = inv.words
    if words[:1] == ["list"]:
        found = owner_routes.routes(inv.tenant_id)
        if not found:
            return render_notice("No routes: every alert goes to its repository's channels.")
        lines = [
            f"`{escape(route.owner)}` → <#{route.channel}>"
            + (f" (last post failed: `{escape(route.last_error)}`)" if route.last_error else "")
            for route in found
        ]
        return render_notice("*Routes*\n" + "\n".join(lines))
    check_allowed(inv.team_id, inv.user_id, members_of=inv.members_of)
    if words[:1] == ["remove"]:
        if len(words) != 2:
            raise UsageError("give the owner whose route to remove", USAGE)
        name = owner_routes.remove_route(tenant_id=inv.tenant_id, owner=words[1])
        return render_notice(f"`{escape(name)}` alerts go to their repositories' channels again.")
    if not 1 <= len(words) <= 2:
        raise UsageError("give an owner (@org/team or @user) and a channel", USAGE)
    channel = _channel(inv, words[1] if len(words) == 2 else None)
    name, previous = owner_routes.set_route(
        tenant_id=inv.tenant_id,
        team_id=inv.team_id,
        owner=words[0],
        channel_id=channel,
        actor=inv.user_id,
    )
    was = f" (was <#{previous}>)" if previous and previous != channel else ""
    return render_notice(
        f":twisted_rightwards_arrows: Alerts for tests owned by `{escape(name)}` (CODEOWNERS) "
        f"now go to <#{channel}>{was}. Invite me to the channel if it is private."
    )
