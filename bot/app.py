"""The Bolt app and its Flask routes (one endpoint for events, commands and interactivity)."""

from __future__ import annotations

import logging
import re
from typing import Any

from flask import Flask, request
from slack_bolt import App
from slack_bolt.adapter.flask import SlackRequestHandler
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk import WebClient

from bot.client import listener_retry_handlers
from bot.installation_store import PeeweeInstallationStore, PeeweeOAuthStateStore
from flakeguard.http import error_response
from flakeguard.settings import Settings

NOT_CONFIGURED = (
    "Slack is not configured: set SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN "
    "(or SLACK_CLIENT_ID and SLACK_CLIENT_SECRET for OAuth)"
)
# What the code uses; slack-manifest.yml lists the same scopes.
BOT_SCOPES = [
    "commands",  # /flakeguard
    "chat:write",  # alerts, digests, chat.update of both
    "chat:write.public",  # post in public channels without being invited first
    "usergroups:read",  # usergroups.users.list for a workspace's usergroup policy
    "channels:read",  # users.conversations: App Home shows the repos of the user's channels
    "groups:read",  # ... private channels too
]
# What Slack sends: a Unix time in digits and "v0=" plus hex. slack_sdk's verifier raises
# (int() on the timestamp, compare_digest on a non-ASCII str) on anything else.
TIMESTAMP = re.compile(r"[0-9]{1,20}")
SIGNATURE = re.compile(r"[\x21-\x7e]{1,256}")
log = logging.getLogger(__name__)
INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"


def build_bolt_app(settings: Settings, *, client: WebClient | None = None) -> App:
    """Build the Bolt app; ``client`` defaults to a WebClient on ``SLACK_API_URL``.

    One workspace: ``SLACK_BOT_TOKEN``. Several: OAuth with our installation
    and state stores (the bot token of each request comes from the store).
    """
    from bot import listeners
    from bot.commands import connect

    oauth = settings.slack_oauth and not settings.slack_bot_token
    token = None if oauth else settings.slack_bot_token
    client = client or WebClient(
        token=token,
        base_url=settings.slack_api_url,
        timeout=5,
        retry_handlers=listener_retry_handlers(),
    )
    kwargs: dict[str, Any] = {}
    if oauth:
        kwargs["oauth_settings"] = OAuthSettings(
            client_id=settings.slack_client_id,
            client_secret=settings.slack_client_secret,
            scopes=BOT_SCOPES,
            install_path=INSTALL_PATH,
            redirect_uri_path=REDIRECT_PATH,
            redirect_uri=settings.public_url + REDIRECT_PATH,
            installation_store=PeeweeInstallationStore(),
            state_store=PeeweeOAuthStateStore(),
            install_page_rendering_enabled=False,
        )
        kwargs["user_facing_authorize_error_message"] = (
            ":warning: FlakeGuard is not installed in this workspace (or was uninstalled). "
            f"Install it: {settings.public_url}{INSTALL_PATH}"
        )
    app = App(
        signing_secret=settings.slack_signing_secret,
        client=client,
        process_before_response=True,
        token_verification_enabled=False,
        request_verification_enabled=True,
        **kwargs,
    )
    connect.configure(public_url=settings.public_url, enabled=settings.github_link_enabled)
    listeners.register(app, single_token=not oauth)
    return app


def register_routes(flask_app: Flask, bolt: App | None) -> None:
    """Mount /slack/events (and the OAuth routes); 503 with a hint when Slack is off."""
    handler = SlackRequestHandler(bolt) if bolt is not None else None

    @flask_app.route("/slack/events", methods=["POST"])
    def slack_events() -> Any:
        if handler is None:
            return error_response(503, "not_configured", NOT_CONFIGURED)
        refused = _malformed_signature_headers()
        if refused:
            log.warning("Slack request refused: %s is malformed", refused)
            return error_response(401, "invalid_request", "invalid request")
        return handler.handle(request)

    @flask_app.route(INSTALL_PATH, methods=["GET"])
    @flask_app.route(REDIRECT_PATH, methods=["GET"])
    def slack_oauth() -> Any:
        if handler is None or bolt is None or bolt.oauth_flow is None:
            return error_response(
                503,
                "not_configured",
                "Slack OAuth is not configured: set SLACK_CLIENT_ID and SLACK_CLIENT_SECRET",
            )
        return handler.handle(request)


def _malformed_signature_headers() -> str | None:
    """The name of a present Slack signature header that is not the shape Slack sends."""
    for name, shape in (
        ("X-Slack-Request-Timestamp", TIMESTAMP),
        ("X-Slack-Signature", SIGNATURE),
    ):
        value = request.headers.get(name)
        if value is not None and not shape.fullmatch(value):
            return name
    return None
