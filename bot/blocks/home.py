"""The App Home view."""

from __future__ import annotations

from typing import Any

from bot.blocks.common import (
    Block,
    context,
    divider,
    escape,
    fit_blocks,
    header,
    lines_section,
    section,
    slack_date,
    who,
)
from flakeguard.text import pct
from flakeguard.usecases.app_home import HomeView


def render_home(view: HomeView) -> dict[str, Any]:
    """A user's App Home: assigned tests, flaky tests in the workspace's repos, recent actions."""
    link = (
        f"Linked to GitHub `{escape(view.github_login)}`."
        if view.github_login
        else "Link your GitHub login with `/flakeguard link <login>` to be assigned issues."
    )
    blocks: list[Block] = [header("FlakeGuard"), context(link), divider()]
    assigned = [f"• `{escape(i.test_name)}` ({i.reason})" for i in view.assigned]
    blocks.append(
        section(
            "*Assigned to you*\n"
            + (
                lines_section(assigned, total=view.assigned_total)
                if assigned
                else "Nothing. :tada:"
            )
        )
    )
    flaky = [f"• `{escape(i.test_name)}` {pct(i.score)}: {escape(i.reason)}" for i in view.flaky]
    repos = ", ".join(escape(r) for r in view.repositories[:10]) or "no subscribed repositories"
    blocks.append(
        section(
            f"*Flaky tests* in {repos}\n"
            + (lines_section(flaky, total=view.flaky_total) if flaky else "None. :tada:")
        )
    )
    recent = [
        f"• {who(actor)} {action} `{escape(name)}` {slack_date(at)}"
        for actor, action, name, at in view.recent
    ]
    blocks.append(
        section("*Recent actions*\n" + (lines_section(recent) if recent else "None yet."))
    )
    return {"type": "home", "blocks": fit_blocks(blocks)}
