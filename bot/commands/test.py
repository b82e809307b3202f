"""/flakeguard test <part of a name>"""

from __future__ import annotations

from typing import Any

from bot.blocks.status import render_test
from bot.commands.base import Invocation, UsageError
from flakeguard.usecases import testcases

USAGE = "/flakeguard test <part of a test name>"


def run(inv: Invocation) -> dict[str, Any]:
    """The test matching the query best, naming the other matches."""
    if not inv.words:
        raise UsageError("which test? give part of its name", USAGE)
    matches = testcases.find_tests(inv.args, tenant_id=inv.tenant_id)
    detail = testcases.test_detail(matches[0].test_case_id, tenant_id=inv.tenant_id)
    return render_test(detail, matches[1:])
