"""/flakeguard sub-commands: one module per sub-command, dispatched by name.

Every answer is a response payload (ephemeral by default). A FlakeGuardError
raised by a use case becomes a short reply here, the one boundary for
commands: unknown repositories and tests list near matches, a user who may
not act is told so, nothing changes.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any

from bot.blocks.status import ephemeral, render_error, render_not_found
from bot.commands import (
    connect,
    help,
    link,
    quarantine,
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

COMMANDS: dict[str, Callable[[Invocation], dict[str, Any]]] = {
    "status": status.run,
    "top": top.run,
    "test": test.run,
    "quarantine": quarantine.run,
    "unquarantine": unquarantine.run,
    "subscribe": subscribe.run,
    "unsubscribe": unsubscribe.run,
    "link": link.run,
    "connect": connect.run,
    "help": help.run,
}

__all__ = ["COMMANDS", "Invocation", "dispatch"]


def dispatch(
    command: dict[str, Any], *, members_of: Callable[[str], Any] | None = None
) -> dict[str, Any]:
    """Answer one /flakeguard invocation with a response payload (ephemeral by default)."""
    text = (command.get("text") or "").strip()
    name, _, rest = text.partition(" ")
    name = name.lower() or "help"
    inv = Invocation(
        team_id=command.get("team_id") or "",
        channel_id=command.get("channel_id") or "",
        user_id=command.get("user_id") or "",
        args=rest.strip(),
        members_of=members_of,
    )
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
