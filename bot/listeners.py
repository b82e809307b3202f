"""Slack listeners: ack, parse, call one use case, render.

With ``process_before_response=True`` every listener runs before Slack gets
its answer, so each one only reads or writes the database briefly and
enqueues; messages are updated by the ``refresh_slack_quarantine`` task,
always re-rendered from the database.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt import App, BoltResponse
from slack_bolt.request import BoltRequest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import commands
from bot.blocks import alerts, digest
from flakeguard.errors import FlakeGuardError, ForbiddenError, NotFoundError
from flakeguard.usecases import (
    app_home,
    policy,
    slack_delivery,
    slack_receipts,
    slack_scope,
    tenancy,
)
from flakeguard.usecases import quarantine as quarantine_uc
from flakeguard.usecases.digest import approve_shown, digest_of_message

log = logging.getLogger(__name__)

BUTTON_ACTIONS = {
    alerts.APPROVE: "approve",
    alerts.UNDO: "undo",
    alerts.DISMISS: "dismiss",
    alerts.LIFT: "lift",
    alerts.EXTEND: "extend",
}
# Payloads that name no user or workspace data: Slack's own checks and lifecycle events.
NO_PRINCIPAL_TYPES = frozenset({"url_verification", "ssl_check"})
LIFECYCLE_EVENTS = frozenset({"app_uninstalled", "tokens_revoked"})
NOT_HERE = "this message is not one FlakeGuard can act on here"


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


def register(app: App, *, single_token: bool = True) -> None:
    """Attach every listener to ``app``; ``single_token``: one bot token, not OAuth."""
    app.middleware(process_events_once)
    app.middleware(principal_middleware(single_token=single_token))

    @app.error
    def failed(error, body, logger):  # type: ignore[no-untyped-def]
        # Bolt answers 500; forget the event so Slack's retry of it is processed.
        event_id = body.get("event_id") if isinstance(body, dict) else None
        if event_id:
            slack_receipts.forget_event(event_id)
        logger.exception("Slack listener failed", exc_info=error)

    @app.command("/flakeguard")
    def flakeguard(ack, command, client, context):  # type: ignore[no-untyped-def]
        ack(
            **commands.dispatch(
                command, principal=context["principal"], members_of=members_lookup(client)
            )
        )

    for action_id, action in BUTTON_ACTIONS.items():
        app.action(action_id)(_button(action))

    @app.action(alerts.ASSIGN)
    def assign(ack, body, action, client, respond, context):  # type: ignore[no-untyped-def]
        ack()
        principal, click = context["principal"], clicked(body, allow_block_id=True)
        if click is None:
            _refuse(respond, principal, "malformed assign action")
            return
        assignee = action.get("selected_user") or ""
        problem = _unassignable(client, assignee)
        if problem:
            respond(**alerts.notice(f":warning: {problem}. Nothing was changed."))
            return
        _act(
            respond,
            principal,
            lambda: _apply(principal, click, "assign", client, assignee=assignee),
        )

    @app.action(digest.APPROVE_ALL)
    def approve_all(ack, body, action, client, respond, context):  # type: ignore[no-untyped-def]
        ack()
        principal = context["principal"]
        value = str(action.get("value") or "")
        channel, ts = where_clicked(body)
        number = value.isascii() and value.isdigit() and 0 < len(value) <= 10
        if not (number and principal.linked and body.get("trigger_id")):
            _refuse(respond, principal, f"Approve all with value {value[:40]!r}")
            return
        try:
            msg = slack_scope.clicked_digest(
                int(value),
                tenant_id=principal.tenant_id,
                team_id=principal.team_id,
                channel=channel,
                ts=ts,
            )
            # The policy of the workspace the digest was posted in (the clicker's, checked above).
            policy.check_allowed(msg.team_id, principal.user_id, members_of=members_lookup(client))
            view = digest_of_message(msg.id)
        except FlakeGuardError as exc:
            _log_refusal(principal, exc)
            respond(**alerts.notice(_refusal(exc)))
            return
        client.views_open(
            trigger_id=str(body["trigger_id"]),
            view=digest.approve_all_modal(view, channel=channel),
        )

    @app.view(digest.APPROVE_ALL_VIEW)
    def approve_all_submitted(ack, body, view, client, context):  # type: ignore[no-untyped-def]
        principal = context["principal"]
        try:
            message_id, _channel, items = digest.parse_metadata(view.get("private_metadata", ""))
        except ValueError as exc:
            log.warning("Slack view refused (%s): %s", principal.team_id, exc)
            ack(response_action="update", view=digest.refusal_modal(tenancy.REFUSED + "."))
            return
        try:
            if message_id is None or not principal.linked:
                raise NotFoundError("this digest is not one FlakeGuard can act on here")
            approve_shown(
                message_id,
                items,
                actor=principal.user_id,
                tenant_id=principal.tenant_id,
                team_id=principal.team_id,
                members_of=members_lookup(client),
            )
        except FlakeGuardError as exc:
            _log_refusal(principal, exc)
            ack(response_action="update", view=digest.refusal_modal(_refusal(exc)))
            return
        ack()

    def forget_workspace(context, error: str, *, everything: bool) -> None:  # type: ignore[no-untyped-def]
        """Drop the workspace's tokens (all, or the bot's); record why on its subscriptions."""
        store = app.installation_store
        if store is not None:
            drop = store.delete_all if everything else store.delete_bot
            drop(enterprise_id=context.enterprise_id, team_id=context.team_id)
        slack_delivery.record_team_error(context.team_id or "", error)

    @app.event("app_uninstalled")
    def uninstalled(context):  # type: ignore[no-untyped-def]
        forget_workspace(context, "app_uninstalled", everything=True)

    @app.event("tokens_revoked")
    def revoked(event, context):  # type: ignore[no-untyped-def]
        if not (event.get("tokens") or {}).get("bot"):
            return  # only user tokens: the bot still works
        forget_workspace(context, "token_revoked", everything=False)

    @app.event("app_home_opened")
    def home_opened(event, context):  # type: ignore[no-untyped-def]
        if event.get("tab", "home") == "home":
            principal = context["principal"]
            app_home.request_home(principal.team_id, principal.user_id)


def process_events_once(
    req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
) -> BoltResponse:
    """Handle an Events API event once: Slack's retries (X-Slack-Retry-Num) repeat its event_id."""
    event_id = req.body.get("event_id") if isinstance(req.body, dict) else None
    if not event_id:
        return next()
    if not slack_receipts.first_time_event(event_id):
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


@dataclass(frozen=True)
class Click:
    """Where a button was clicked and what it names: the quarantine, the version shown."""

    quarantine_id: int
    version: int | None  # None: an element with no version (the assign menu)
    channel: str
    ts: str


def clicked(body: dict[str, Any], *, allow_block_id: bool = False) -> Click | None:
    """The click of a block_actions payload, validated; None when anything is malformed.

    A button's value is ``id:version`` (id > 0, version >= 0). The assign menu
    carries no value: its quarantine comes from the block id ``fg_q_ID``.
    """
    channel, ts = where_clicked(body)
    actions = body.get("actions") if isinstance(body.get("actions"), list) else []
    action = actions[0] if actions and isinstance(actions[0], dict) else {}
    value = action.get("value")
    try:
        if value:
            qid, version = alerts.parse_value(str(value))
            return Click(qid, version, channel, ts)
    except ValueError:
        return None
    block_id = str(action.get("block_id") or "")
    number = block_id.removeprefix("fg_q_")
    if allow_block_id and block_id.startswith("fg_q_") and number.isascii() and number.isdigit():
        qid = int(number)
        if 0 < qid <= alerts.MAX_ID:
            return Click(qid, None, channel, ts)
    return None


def where_clicked(body: dict[str, Any]) -> tuple[str, str]:
    """(channel, message ts) of the message whose button was clicked; "" when not said."""
    container = body.get("container") if isinstance(body.get("container"), dict) else {}
    channel = body.get("channel") if isinstance(body.get("channel"), dict) else {}
    message = body.get("message") if isinstance(body.get("message"), dict) else {}
    return (
        str(container.get("channel_id") or channel.get("id") or ""),
        str(container.get("message_ts") or message.get("ts") or ""),
    )


def _button(action: str) -> Callable[..., None]:
    def handle(ack, body, client, respond, context):  # type: ignore[no-untyped-def]
        ack()
        principal, click = context["principal"], clicked(body)
        if click is None:
            _refuse(respond, principal, f"malformed {action} button")
            return
        _act(respond, principal, lambda: _apply(principal, click, action, client))

    handle.__name__ = f"button_{action}"
    return handle


def _apply(
    principal: tenancy.Principal,
    click: Click,
    action: str,
    client: WebClient,
    *,
    assignee: str | None = None,
) -> quarantine_uc.Outcome:
    """Act on the clicked quarantine if FlakeGuard posted that message there, for this tenant."""
    if not principal.linked or click.quarantine_id <= 0:
        raise NotFoundError("this message is not one FlakeGuard can act on here")
    msg = slack_scope.posted_message(
        tenant_id=principal.tenant_id,
        team_id=principal.team_id,
        channel=click.channel,
        ts=click.ts,
        quarantine_id=click.quarantine_id,
    )
    key = None
    if click.version is not None:
        # Two clicks on the same rendering of a message are one action.
        key = f"slack:{click.quarantine_id}:v{click.version}:{action}"
    return quarantine_uc.perform(
        None,
        action,
        tenant_id=principal.tenant_id,
        quarantine_id=click.quarantine_id,
        actor=principal.user_id,
        source="slack",
        assignee_slack=assignee,
        idempotency_key=key,
        expected_version=click.version,
        # The policy of the workspace the message was posted in.
        team_id=msg.team_id,
        members_of=members_lookup(client),
    )


def _act(respond, principal: tenancy.Principal, do: Callable[[], Any]) -> None:  # type: ignore[no-untyped-def]
    """Run an action; a refusal becomes an ephemeral reply and changes nothing (the boundary)."""
    try:
        do()
    except FlakeGuardError as exc:
        _log_refusal(principal, exc)
        respond(**alerts.notice(_refusal(exc)))


def _refuse(respond, principal: tenancy.Principal, what: str) -> None:  # type: ignore[no-untyped-def]
    """Answer a malformed click with the refusal that reveals nothing, and log it."""
    log.warning("Slack click refused (%s/%s): %s", principal.team_id, principal.user_id, what)
    respond(**alerts.notice(f":warning: {NOT_HERE}."))


def _log_refusal(principal: tenancy.Principal, exc: FlakeGuardError) -> None:
    if isinstance(exc, (NotFoundError, ForbiddenError)):
        log.warning(
            "Slack action refused (%s/%s): %s", principal.team_id, principal.user_id, exc.message
        )


def _refusal(exc: FlakeGuardError) -> str:
    if isinstance(exc, ForbiddenError):
        return f":no_entry: Not allowed: {exc.message}. Nothing was changed."
    return f":warning: {exc.message}"


# ----------------------------------------------------------------- who is asking


def principal_middleware(*, single_token: bool) -> Callable[..., BoltResponse]:
    """A Bolt middleware: resolve every request into a Principal, or refuse it here, once.

    The workspace in scope is the installation's (``context.authorize_result``:
    the token's own from ``auth.test`` with one token, the stored one with
    OAuth), never only what the payload names. Slack's own lifecycle events
    (uninstalled, tokens revoked) need no principal.
    """

    def resolve(
        req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
    ) -> BoltResponse:
        body = req.body if isinstance(req.body, dict) else {}
        event = body.get("event") if isinstance(body.get("event"), dict) else {}
        if body.get("type") in NO_PRINCIPAL_TYPES or event.get("type") in LIFECYCLE_EVENTS:
            return next()
        auth = req.context.authorize_result
        user = body.get("user") if isinstance(body.get("user"), dict) else {}
        try:
            principal = tenancy.resolve_slack(
                installed_team_id=(auth.team_id if auth else "") or "",
                installed_enterprise_id=(auth.enterprise_id if auth else "") or "",
                team_id=req.context.team_id or "",
                enterprise_id=req.context.enterprise_id or "",
                user_id=req.context.user_id or "",
                user_team_id=str(user.get("team_id") or ""),
                single_token=single_token,
            )
        except tenancy.RefusedError as exc:
            log.warning("Slack request refused: %s", exc.why)
            return _refused_response(req, body)
        req.context["principal"] = principal
        return next()

    return resolve


def _refused_response(req: BoltRequest, body: dict[str, Any]) -> BoltResponse:
    """What Slack expects for a refused request: an ephemeral line, a modal, or an empty 200."""
    text = f":no_entry: {tenancy.REFUSED}."
    if "command" in body:
        return BoltResponse(status=200, body={"response_type": "ephemeral", "text": text})
    if body.get("type") == "view_submission":
        return BoltResponse(
            status=200,
            body={"response_action": "update", "view": digest.refusal_modal(text)},
        )
    if body.get("type") == "block_actions" and req.context.response_url:
        req.context.respond(**alerts.notice(text))
    return BoltResponse(status=200, body="")
