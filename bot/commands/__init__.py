"""/flakeguard sub-commands: one module per sub-command, dispatched by name."""

from __future__ import annotations

from typing import Any

HELP = (
    "*FlakeGuard* keeps flaky tests from turning CI red.\n"
    "`/flakeguard status [owner/repo]` – flaky, broken and quarantined tests\n"
    "`/flakeguard help` – this help"
)


def dispatch(command: dict[str, Any]) -> dict[str, Any]:
    """Answer one /flakeguard invocation with a response payload (ephemeral by default)."""
    text = (command.get("text") or "").strip()
    name = text.split(maxsplit=1)[0].lower() if text else "help"
    if name == "help":
        return {"response_type": "ephemeral", "text": HELP}
    return {"response_type": "ephemeral", "text": f"Unknown sub-command `{name}`.\n{HELP}"}
