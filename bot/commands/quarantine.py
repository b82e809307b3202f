"""/flakeguard quarantine <test> [reason]"""

from __future__ import annotations

from typing import Any

from bot.blocks.common import escape
from bot.blocks.status import render_notice
from bot.commands.base import Invocation, UsageError
from flakeguard.usecases import testcases

USAGE = "/flakeguard quarantine <test> [reason]"


def run(inv: Invocation) -> dict[str, Any]:
    """Quarantine a test now (a person's decision: no proposal needed)."""
    if not inv.words:
        raise UsageError("which test? give part of its name", USAGE)
    query, _, reason = inv.args.partition(" ")
    match = testcases.find_test(query, tenant_id=inv.tenant_id)
    outcome = inv.act(match.test_case_id, "approve", reason=reason.strip())
    if not outcome.changed:
        return render_notice(f"`{escape(match.name)}` is already quarantined.")
    return render_notice(
        f":lock: Quarantined `{escape(match.name)}` in *{escape(match.repository)}*."
    )
