"""Slack listeners: ack, parse, call one use case, render.

With ``process_before_response=True`` every listener runs before Slack gets
its answer, so each one only reads or writes the database briefly and
enqueues; messages are updated by the ``refresh_slack_quarantine`` task,
always re-rendered from the database.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltResponse
from slack_bolt.request import BoltRequest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import commands
from bot.blocks import alerts, digest
from flakeguard.errors import FlakeGuardError, ForbiddenError
from flakeguard.usecases import quarantine as quarantine_uc
from flakeguard.usecases import slack as slack_uc

log = logging.getLogger(__name__)

BUTTON_ACTIONS = {
    alerts.APPROVE: "approve",
    alerts.UNDO: "undo",
    alerts.DISMISS: "dismiss",
    alerts.LIFT: "lift",
}


def members_lookup(client: WebClient) -> Callable[[str], set[str]]:
    """Membership of a user group, asked from Slack (usergroups.users.list); empty on an error."""

    def members_of(usergroup_id: str) -> set[str]:
        try:
            response = client.usergroups_users_list(usergroup=usergroup_id)
        except SlackApiError as exc:
            log.warning(
                "usergroups.users.list %s failed: %s", usergroup_id, exc.response.get("error")
            )
            return set()
        return set(response.get("users") or [])

    return members_of


def register(app: App) -> None:
    """Attach every listener to ``app``."""
    app.middleware(process_events_once)

    @app.error
    def failed(error, body, logger):  # type: ignore[no-untyped-def]
        # Bolt answers 500; forget the event so Slack's retry of it is processed.
        event_id = body.get("event_id") if isinstance(body, dict) else None
        if event_id:
            slack_uc.forget_event(event_id)
        logger.exception("Slack listener failed", exc_info=error)

    @app.command("/flakeguard")
    def flakeguard(ack, command, client):  # type: ignore[no-untyped-def]
        ack(**commands.dispatch(command, members_of=members_lookup(client)))

    for action_id, action in BUTTON_ACTIONS.items():
        app.action(action_id)(_button(action))

    @app.action(alerts.ASSIGN)
    def assign(ack, body, action, client, respond):  # type: ignore[no-untyped-def]
        ack()
        qid, _version = _quarantine_of(body)
        assignee = action.get("selected_user") or ""
        problem = _unassignable(client, assignee)
        if problem:
            respond(**alerts.notice(f":warning: {problem}. Nothing was changed."))
            return
        _act(respond, lambda: _apply(qid, "assign", body, client, assignee=assignee))

    @app.action(digest.APPROVE_ALL)
    def approve_all(ack, body, action, client, respond):  # type: ignore[no-untyped-def]
        ack()
        message_id = int(action["value"])
        team_id = _team(body)
        user_id = body["user"]["id"]
        try:
            quarantine_uc.check_allowed(team_id, user_id, members_of=members_lookup(client))
            view = slack_uc.digest_of_message(message_id)
        except FlakeGuardError as exc:
            respond(**alerts.notice(_refusal(exc)))
            return
        channel = (body.get("channel") or {}).get("id", "")
        client.views_open(
            trigger_id=body["trigger_id"], view=digest.approve_all_modal(view, channel=channel)
        )

    @app.view(digest.APPROVE_ALL_VIEW)
    def approve_all_submitted(ack, body, view, client):  # type: ignore[no-untyped-def]
        message_id, _channel, items = digest.parse_metadata(view.get("private_metadata", ""))
        user_id = body["user"]["id"]
        try:
            quarantine_uc.approve_all(
                items,
                actor=user_id,
                source="slack",
                key_prefix=f"digest:{message_id}",
                team_id=_team(body),
                members_of=members_lookup(client),
            )
        except FlakeGuardError as exc:
            ack(response_action="update", view=digest.refusal_modal(_refusal(exc)))
            return
        ack()
        if message_id is not None:
            slack_uc.request_message_refresh(message_id)

    @app.event("app_uninstalled")
    def uninstalled(context):  # type: ignore[no-untyped-def]
        store = app.installation_store
        if store is not None:
            store.delete_all(enterprise_id=context.enterprise_id, team_id=context.team_id)
        slack_uc.record_team_error(context.team_id or "", "app_uninstalled")

    @app.event("tokens_revoked")
    def revoked(event, context):  # type: ignore[no-untyped-def]
        if not (event.get("tokens") or {}).get("bot"):
            return  # only user tokens: the bot still works
        store = app.installation_store
        if store is not None:
            store.delete_bot(enterprise_id=context.enterprise_id, team_id=context.team_id)
        slack_uc.record_team_error(context.team_id or "", "token_revoked")

    @app.event("app_home_opened")
    def home_opened(event, context):  # type: ignore[no-untyped-def]
        if event.get("tab", "home") == "home":
            slack_uc.request_home(context.team_id or "", event["user"])


def process_events_once(
    req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
) -> BoltResponse:
    """Handle an Events API event once: Slack's retries (X-Slack-Retry-Num) repeat its event_id."""
    event_id = req.body.get("event_id") if isinstance(req.body, dict) else None
    if not event_id:
        return next()
    if not slack_uc.first_time_event(event_id):
        retry = (req.headers.get("x-slack-retry-num") or ["0"])[0]
        log.info("Slack event %s already handled (retry %s)", event_id, retry)
        return BoltResponse(status=200, body="")
    return next()


def _unassignable(client: WebClient, user_id: str) -> str | None:
    """Why ``user_id`` cannot be assigned (unknown, deactivated, a bot), or None."""
    if not user_id:
        return "choose someone to assign"
    try:
        user = client.users_info(user=user_id).get("user") or {}
    except SlackApiError as exc:
        if exc.response.get("error") == "user_not_found":
            return f"<@{user_id}> is not a user of this workspace"
        raise
    if user.get("deleted"):
        return f"<@{user_id}> is deactivated"
    if user.get("is_bot"):
        return f"<@{user_id}> is a bot"
    return None


def _team(body: dict[str, Any]) -> str:
    return (body.get("team") or {}).get("id") or (body.get("user") or {}).get("team_id") or ""


def _quarantine_of(body: dict[str, Any]) -> tuple[int, int]:
    """The quarantine and version of the message's buttons (from the actions block id)."""
    for action in body.get("actions") or []:
        value = action.get("value")
        if value:
            return alerts.parse_value(value)
    block_id = (body.get("actions") or [{}])[0].get("block_id", "")
    if block_id.startswith("fg_q_"):
        return int(block_id[5:]), -1
    raise ValueError("no quarantine in this action")


def _button(action: str) -> Callable[..., None]:
    def handle(ack, body, client, respond):  # type: ignore[no-untyped-def]
        ack()
        qid, version = _quarantine_of(body)
        _act(respond, lambda: _apply(qid, action, body, client, version=version))

    handle.__name__ = f"button_{action}"
    return handle


def _apply(
    quarantine_id: int,
    action: str,
    body: dict[str, Any],
    client: WebClient,
    *,
    version: int | None = None,
    assignee: str | None = None,
) -> quarantine_uc.Outcome:
    user_id = body["user"]["id"]
    key = None
    if version is not None and version >= 0:
        # Two clicks on the same rendering of a message are one action.
        key = f"slack:{quarantine_id}:v{version}:{action}"
    return quarantine_uc.perform(
        None,
        action,
        quarantine_id=quarantine_id,
        actor=user_id,
        source="slack",
        assignee_slack=assignee,
        idempotency_key=key,
        expected_version=version if version is not None and version >= 0 else None,
        team_id=_team(body),
        members_of=members_lookup(client),
    )


def _act(respond, do: Callable[[], Any]) -> None:  # type: ignore[no-untyped-def]
    """Run an action; a refusal becomes an ephemeral reply and changes nothing (the boundary)."""
    try:
        do()
    except FlakeGuardError as exc:
        respond(**alerts.notice(_refusal(exc)))


def _refusal(exc: FlakeGuardError) -> str:
    if isinstance(exc, ForbiddenError):
        return f":no_entry: Not allowed: {exc.message}. Nothing was changed."
    return f":warning: {exc.message}"
