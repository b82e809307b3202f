"""The Bolt app and its Flask routes (one endpoint for events, commands and interactivity)."""

from __future__ import annotations

from typing import Any

from flask import Flask, request
from slack_bolt import App
from slack_bolt.adapter.flask import SlackRequestHandler
from slack_sdk import WebClient

from flakeguard.http import error_response
from flakeguard.settings import Settings

NOT_CONFIGURED = (
    "Slack is not configured: set SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN "
    "(or SLACK_CLIENT_ID and SLACK_CLIENT_SECRET for OAuth)"
)


def build_bolt_app(settings: Settings, *, client: WebClient | None = None) -> App:
    """Build the Bolt app; ``client`` defaults to a WebClient on ``SLACK_API_URL``."""
    from bot import listeners

    client = client or WebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url)
    app = App(
        signing_secret=settings.slack_signing_secret,
        client=client,
        token=settings.slack_bot_token,
        process_before_response=True,
        token_verification_enabled=False,
        request_verification_enabled=True,
    )
    listeners.register(app)
    return app


def register_routes(flask_app: Flask, bolt: App | None) -> None:
    """Mount /slack/events (and the OAuth routes); 503 with a hint when Slack is off."""
    handler = SlackRequestHandler(bolt) if bolt is not None else None

    @flask_app.route("/slack/events", methods=["POST"])
    def slack_events() -> Any:
        if handler is None:
            return error_response(503, "not_configured", NOT_CONFIGURED)
        return handler.handle(request)

    @flask_app.route("/slack/install", methods=["GET"])
    @flask_app.route("/slack/oauth_redirect", methods=["GET"])
    def slack_oauth() -> Any:
        if handler is None or bolt is None or bolt.oauth_flow is None:
            return error_response(
                503,
                "not_configured",
                "Slack OAuth is not configured: set SLACK_CLIENT_ID and SLACK_CLIENT_SECRET",
            )
        return handler.handle(request)
