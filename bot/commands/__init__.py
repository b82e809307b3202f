"""/flakeguard sub-commands: one module per sub-command, dispatched by name.

Every answer is a response payload (ephemeral by default). A FlakeGuardError
raised by a use case becomes a short reply here, the one boundary for
commands: unknown repositories and tests list near matches, a user who may
not act is told so, nothing changes. Every sub-command runs for a resolved
Principal (bot/listeners.py); in a workspace not linked to a tenant yet
only ``help`` and ``connect`` run, the others say how to link it.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any

from bot.blocks.status import ephemeral, render_error, render_not_found, render_notice
from bot.commands import (
    connect,
    help,
    link,
    quarantine,
    route,
    status,
    subscribe,
    test,
    top,
    unquarantine,
    unsubscribe,
)
from bot.commands.base import Invocation, UsageError
from flakeguard.errors import FlakeGuardError, ForbiddenError
from flakeguard.usecases.status import NoMatchError
from flakeguard.usecases.tenancy import Principal

COMMANDS: dict[str, Callable[[Invocation], dict[str, Any]]] = {
    "status": status.run,
    "top": top.run,
    "test": test.run,
    "quarantine": quarantine.run,
    "unquarantine": unquarantine.run,
    "subscribe": subscribe.run,
    "unsubscribe": unsubscribe.run,
    "link": link.run,
    "route": route.run,
    "connect": connect.run,
    "help": help.run,
}

# Sub-commands that need no tenant: they read nothing of anyone's.
WITHOUT_TENANT = frozenset({"help", "connect"})
NOT_LINKED = (
    ":wave: This Slack workspace is not linked to a FlakeGuard organisation yet, so there "
    "is nothing to show or change here. To link it, an admin of the GitHub account where "
    "FlakeGuard is installed runs `/flakeguard connect`, or your FlakeGuard operator runs "
    "`flakeguard tenant link {team_id} TENANT`."
)

__all__ = ["COMMANDS", "NOT_LINKED", "Invocation", "dispatch"]


def dispatch(
    command: dict[str, Any],
    *,
    principal: Principal,
    members_of: Callable[[str], Any] | None = None,
) -> dict[str, Any]:
    """Answer one /flakeguard invocation of ``principal`` with a response payload (ephemeral)."""
    text = (command.get("text") or "").strip()
    name, _, rest = text.partition(" ")
    name = name.lower() or "help"
    inv = Invocation(
        team_id=principal.team_id,
        channel_id=command.get("channel_id") or "",
        channel_name=command.get("channel_name") or "",
        user_id=principal.user_id,
        args=rest.strip(),
        members_of=members_of,
        principal=principal,
    )
    if not principal.linked and name not in WITHOUT_TENANT:
        return ephemeral(render_notice(NOT_LINKED.format(team_id=principal.team_id)))
    run = COMMANDS.get(name)
    if run is None:
        near = difflib.get_close_matches(name, list(COMMANDS), n=1, cutoff=0.5)
        hint = f"Did you mean `{near[0]}`? " if near else ""
        return help.run(inv, intro=f"Unknown sub-command `{name}`. {hint}")
    try:
        return ephemeral(run(inv))
    except UsageError as exc:
        return help.run(inv, intro=f"{exc.message}\nUsage: `{exc.usage}`\n")
    except NoMatchError as exc:
        return ephemeral(render_not_found(exc.message, exc.suggestions))
    except ForbiddenError as exc:
        return ephemeral(render_error(f"Not allowed: {exc.message}. Nothing was changed."))
    except FlakeGuardError as exc:
        return ephemeral(render_error(exc.message))
