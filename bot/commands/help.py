"""/flakeguard help"""

from __future__ import annotations

from typing import Any

from bot.blocks.common import message, section
from bot.commands.base import Invocation

USAGE = [
    ("status [owner/repo]", "flaky, broken and quarantined tests, top 5, last analysis"),
    ("top [owner/repo] [N]", "the N flakiest tests (default 5)"),
    ("test <part of a name>", "verdict, score, recent history and quarantine of a test"),
    ("quarantine <test> [reason]", "quarantine a test now"),
    ("unquarantine <test>", "lift a test's quarantine"),
    ("subscribe <owner/repo>", "this channel gets the repo's alerts and weekly digest"),
    ("unsubscribe <owner/repo>", "stop them"),
    ("route @org/team [#channel]", "alerts for tests the team owns (CODEOWNERS) go here"),
    ("link <github-login>", "link your Slack user to your GitHub login, for assignment"),
    ("connect [github-account]", "link this Slack workspace to its GitHub organisation"),
    ("help", "this help"),
]

HELP = "*FlakeGuard* keeps flaky tests from turning CI red.\n" + "\n".join(
    f"`/flakeguard {form}` – {what}" for form, what in USAGE
)


def run(inv: Invocation, *, intro: str = "") -> dict[str, Any]:
    """The help text, after ``intro`` (an error or a hint) when given."""
    text = (intro.strip() + "\n" if intro else "") + HELP
    return {"response_type": "ephemeral", **message(text, [section(text)])}
