"""WebClients for talking to Slack, with slack_sdk's retry handlers configured in one place."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from bot.installation_store import PeeweeInstallationStore
from flakeguard import metrics
from flakeguard.errors import NotConfiguredError, SlackGoneError
from flakeguard.settings import Settings

RATE_LIMIT_RETRIES = 2
CONNECTION_RETRIES = 2
TIMEOUT = 10

# Errors that retrying cannot fix: recorded, shown in status, never retried.
PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "account_inactive",
        "invalid_auth",
        "token_revoked",
        "not_authed",
        "team_access_not_granted",
        "missing_scope",
        "message_not_found",
        "cant_update_message",
        "restricted_action",
        "user_not_found",
        "no_installation",
        "app_uninstalled",
    }
)


@contextmanager
def slack_errors(method: str) -> Iterator[None]:
    """Count a Slack API error of ``method`` for /metrics, and classify it.

    An error retrying cannot fix (a deleted channel, a revoked token) becomes
    ``SlackGoneError`` naming Slack's code; any other one is re-raised as it is,
    so the task fails and Huey retries it.
    """
    try:
        yield
    except SlackApiError as exc:
        error = str(exc.response.get("error") or exc.response.status_code)
        metrics.count("slack_api_errors", method=method, error=error)
        if error in PERMANENT_ERRORS:
            raise SlackGoneError(error) from exc
        raise


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
