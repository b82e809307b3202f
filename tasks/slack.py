"""Slack tasks: post alerts, update messages in place, weekly digest, App Home.

Each task is a few lines over the Slack use cases; messages are rendered
from the database by the pure builders in bot/blocks. Calls go through
WebClients with slack_sdk's retry handlers (bot/client.py). Errors retrying
cannot fix (a deleted channel, a revoked token) are recorded on the message
and the subscription, shown by ``/flakeguard status``, and not retried;
other Slack errors raise so Huey retries the task a few times, after which the
database still shows the work as pending.
"""

from __future__ import annotations

import logging
from typing import Any

from huey import crontab
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.blocks.alerts import render_alert, render_summary
from bot.blocks.digest import render_digest
from bot.blocks.home import render_home
from bot.client import client_for_team, slack_errors
from flakeguard import jobs
from flakeguard.errors import NotConfiguredError, SlackGoneError
from flakeguard.jobs import Job
from flakeguard.usecases import (
    alerts,
    app_home,
    digest,
    noise,
    outbox,
    slack_delivery,
    slack_receipts,
    slack_scope,
    tenancy,
)
from models import Quarantine
from tasks.context import get_settings
from tasks.outbox import effect_task
from tasks.queue import huey, with_db

log = logging.getLogger(__name__)

RETRIES = 3
FOREIGN_WORKSPACE = "foreign_workspace"
RETRY_DELAY = 30


def _client(team_id: str) -> WebClient | None:
    try:
        return client_for_team(get_settings(), team_id)
    except NotConfiguredError as exc:
        log.warning("Slack: %s", exc.message)
        return None


def _send(message_id: int, payload: dict[str, Any], version: int) -> bool:
    """Post or update one stored message; True when Slack took it, False when recorded as failed."""
    msg = slack_delivery.message_target(message_id)
    if not slack_scope.deliverable(message_id):
        # The workspace is not (or no longer) linked to the repository's tenant.
        log.warning("Slack message %s: team %s is not of its tenant", message_id, msg.team_id)
        slack_delivery.message_failed(message_id, FOREIGN_WORKSPACE)
        return False
    client = _client(msg.team_id)
    if client is None:
        slack_delivery.message_failed(message_id, "no_installation")
        return False
    try:
        with slack_errors("chat.update" if msg.ts else "chat.postMessage"):
            if msg.ts:
                client.chat_update(channel=msg.channel, ts=msg.ts, **payload)
            else:
                response = client.chat_postMessage(channel=msg.channel, **payload)
    except SlackGoneError as exc:
        log.warning(
            "Slack message %s in %s: %s (not retried)", message_id, msg.channel, exc.message
        )
        slack_delivery.message_failed(message_id, exc.message)
        return False
    if msg.ts:
        slack_delivery.message_updated(message_id, version)
    else:
        slack_delivery.message_posted(message_id, response["ts"], version)
        slack_delivery.clear_channel_error(msg.team_id, msg.channel)
    return True


@effect_task(Job.NOTIFY_SLACK, retries=RETRIES, retry_delay=RETRY_DELAY)
def notify_slack(event_id: int) -> dict[str, int]:
    """Post the alert of a domain event in every subscribed channel; set slack_done_at."""
    posted = failed = 0
    for message_id in alerts.plan_alert(event_id):
        if slack_delivery.message_target(message_id).kind == noise.SUMMARY:
            payload, version = render_summary(noise.summary_view(message_id)), 0
        else:
            view = alerts.alert_view(message_id)
            payload = render_alert(view)
            version = view.quarantine.version if view.quarantine else 0
        if _send(message_id, payload, version):
            posted += 1
        else:
            failed += 1
    alerts.finish_event(event_id)
    return {"posted": posted, "failed": failed}


@effect_task(Job.REFRESH_SLACK_QUARANTINE, retries=RETRIES, retry_delay=RETRY_DELAY)
def refresh_slack_quarantine(quarantine_id: int) -> dict[str, int]:
    """Re-render every message of a quarantine in place and re-publish concerned App Homes.

    The cluster alerts that list the quarantine's test are re-rendered too: they
    show where each of their tests is now.
    """
    q = Quarantine.get_or_none(Quarantine.id == quarantine_id)
    if q is None:
        return {"updated": 0}
    updated = 0
    for message_id in alerts.messages_of_quarantine(quarantine_id):
        view = alerts.alert_view(message_id)
        if _send(message_id, render_alert(view), q.version):
            updated += 1
    for message_id in alerts.cluster_messages_of_test(q.test_case_id):
        if _send(message_id, render_alert(alerts.alert_view(message_id)), 0):
            updated += 1
    alerts.quarantine_synced(quarantine_id, q.version)
    outbox.record_and_dispatch(
        outbox.want(Job.PUBLISH_SLACK_HOME, team_id=team_id, user_id=user_id)
        for team_id, user_id in app_home.concerned_users(quarantine_id)
    )
    return {"updated": updated}


@effect_task(Job.REFRESH_SLACK_MESSAGE, retries=RETRIES, retry_delay=RETRY_DELAY)
def refresh_slack_message(message_id: int) -> bool:
    """Re-render one posted digest message from the database."""
    view = digest.digest_of_message(message_id)
    return _send(message_id, render_digest(view), 0)


HOME_CHANNEL_PAGES = 10  # at most 10 x 200 channels per user


def _channels_of(client: WebClient, user_id: str) -> list[str] | None:
    """The channels a user is in (users.conversations); None when Slack will not say."""
    channels: list[str] = []
    cursor = None
    try:
        for _ in range(HOME_CHANNEL_PAGES):
            with slack_errors("users.conversations"):
                response = client.users_conversations(
                    user=user_id,
                    types="public_channel,private_channel",
                    exclude_archived=True,
                    limit=200,
                    cursor=cursor,
                )
            channels.extend(c["id"] for c in response.get("channels") or [])
            cursor = (response.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
    except (SlackGoneError, SlackApiError) as exc:
        log.warning(
            "App Home of %s: channels unknown (%s); showing the workspace's repos", user_id, exc
        )
        return None
    return channels


@effect_task(Job.PUBLISH_SLACK_HOME, retries=RETRIES, retry_delay=RETRY_DELAY)
def publish_slack_home(team_id: str, user_id: str) -> bool:
    """Publish a user's App Home."""
    client = _client(team_id)
    if client is None:
        return False
    home = app_home.home_view(
        team_id,
        user_id,
        tenant_id=tenancy.tenant_of_team(team_id),
        channels=_channels_of(client, user_id),
    )
    view = render_home(home)
    try:
        with slack_errors("views.publish"):
            client.views_publish(user_id=user_id, view=view)
    except SlackGoneError as exc:
        log.warning("App Home of %s: %s (not retried)", user_id, exc.message)
        return False
    return True


@huey.periodic_task(crontab(day_of_week="1", hour="9", minute="0"), name=Job.WEEKLY_DIGEST.value)
@huey.lock_task("flakeguard-weekly-digest")
@with_db
def weekly_digest() -> dict[str, int]:
    """Plan each tenant's weekly digests; their posts go out as effects of their own."""
    planned = failed = 0
    for tenant_id in digest.tenants_with_proposals():
        # Each tenant in its own transaction; each post is a retried effect
        # (refresh_slack_message), re-driven by the reconcile job if it is lost.
        # One tenant failing leaves the others' digests going out: its week is
        # planned by the next run (planning skips the digests already created).
        try:
            created = digest.plan_digests(tenant_id)
        except Exception:
            log.exception("weekly digest of tenant %s not planned; the next run retries", tenant_id)
            failed += 1
            continue
        outbox.dispatch(digest.digest_posts(created))
        planned += len(created)
    slack_receipts.prune_receipts()
    return {"planned": planned, "failed": failed}


jobs.register(Job.WEEKLY_DIGEST, weekly_digest)
