"""/flakeguard unquarantine <test>"""

from __future__ import annotations

from typing import Any

from bot.blocks.status import render_notice
from bot.commands.base import Invocation, UsageError
from flakeguard.usecases import testcases

USAGE = "/flakeguard unquarantine <test>"


def run(inv: Invocation) -> dict[str, Any]:
    """Lift a test's quarantine: it runs and counts again."""
    if len(inv.words) != 1:
        raise UsageError("give exactly one test", USAGE)
    match = testcases.find_test(inv.words[0], tenant_id=inv.tenant_id)
    outcome = inv.act(match.test_case_id, "lift")
    if not outcome.changed:
        return render_notice(f"`{match.name}` is not quarantined.")
    return render_notice(
        f":unlock: Lifted the quarantine of `{match.name}` in *{match.repository}*."
    )
