"""Slack listeners: ack, parse, call one use case, render."""

from __future__ import annotations

from slack_bolt import App

from bot import commands


def register(app: App) -> None:
    """Attach every listener to ``app``."""

    @app.command("/flakeguard")
    def flakeguard(ack, command, respond):  # type: ignore[no-untyped-def]
        ack()
        respond(**commands.dispatch(command))
