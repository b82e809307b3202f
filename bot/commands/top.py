"""/flakeguard top [owner/repo] [N]"""

from __future__ import annotations

from typing import Any

from bot.blocks.status import render_top
from bot.commands.base import Invocation, UsageError
from flakeguard.usecases import status as status_uc

USAGE = "/flakeguard top [owner/repo] [N]"


def run(inv: Invocation) -> dict[str, Any]:
    """The N flakiest tests of a repository (or of all)."""
    repo: str | None = None
    n = status_uc.TOP_DEFAULT
    for word in inv.words:
        if word.isdigit():
            n = int(word)
            if not 1 <= n <= status_uc.TOP_MAX:
                raise UsageError(f"N must be between 1 and {status_uc.TOP_MAX}", USAGE)
        elif repo is None and "/" in word:
            repo = word
        else:
            raise UsageError(f"unexpected argument `{word}`", USAGE)
    if repo is None and inv.channel_id:
        subscribed = status_uc.subscribed_repositories(
            inv.team_id, inv.channel_id, tenant_id=inv.tenant_id
        )
        if len(subscribed) == 1:
            repo = subscribed[0].full_name
    return render_top(status_uc.top_flaky(repo, n, tenant_id=inv.tenant_id), repo)
