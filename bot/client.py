"""WebClients for talking to Slack, with slack_sdk's retry handlers configured in one place."""

from __future__ import annotations

from slack_sdk import WebClient
from slack_sdk.http_retry import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from bot.installation_store import PeeweeInstallationStore
from flakeguard.errors import NotConfiguredError
from flakeguard.settings import Settings

RATE_LIMIT_RETRIES = 2
CONNECTION_RETRIES = 2
TIMEOUT = 10


def retry_handlers() -> list:  # type: ignore[type-arg]
    """429 (honouring Retry-After) and connection errors, a bounded number of times."""
    return [
        ConnectionErrorRetryHandler(max_retry_count=CONNECTION_RETRIES),
        RateLimitErrorRetryHandler(max_retry_count=RATE_LIMIT_RETRIES),
    ]


def listener_retry_handlers() -> list:  # type: ignore[type-arg]
    """Listeners answer within Slack's 3 s: retry a connection error once, never sleep on a 429."""
    return [ConnectionErrorRetryHandler(max_retry_count=1)]


def build_client(settings: Settings, token: str | None) -> WebClient:
    """A WebClient on ``SLACK_API_URL`` with our retry handlers."""
    return WebClient(
        token=token,
        base_url=settings.slack_api_url,
        timeout=TIMEOUT,
        retry_handlers=retry_handlers(),
    )


def client_for_team(
    settings: Settings, team_id: str, *, enterprise_id: str | None = None
) -> WebClient:
    """The client for a workspace: the single bot token, or the one OAuth stored for the team."""
    if settings.slack_bot_token:
        return build_client(settings, settings.slack_bot_token)
    bot = PeeweeInstallationStore().find_bot(enterprise_id=enterprise_id, team_id=team_id)
    if bot is None:
        raise NotConfiguredError(f"FlakeGuard is not installed in Slack workspace {team_id or '?'}")
    return build_client(settings, bot.bot_token)
