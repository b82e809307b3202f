"""/github/webhook: verify the signature on the raw body, record the delivery, dispatch.

The signature is checked on the raw bytes before anything is parsed or stored
(401 otherwise). Events are looked up in ``HANDLERS``; an event we do not
handle answers 204. A handled event runs its use case with the delivery
recorded in the same transaction (a redelivery answers 200 and does nothing);
the slow work is enqueued for the tasks, so GitHub gets its answer at once.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, jsonify, request

from flakeguard.http import error_response
from flakeguard.settings import Settings
from flakeguard.usecases import github_webhooks as uc

NOT_CONFIGURED = (
    "GitHub is not configured: set GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY and GITHUB_WEBHOOK_SECRET"
)
MAX_WEBHOOK_BYTES = 25 * 2**20  # GitHub caps payloads at 25 MB

Handler = Callable[..., uc.Outcome]

log = logging.getLogger(__name__)


def signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    """Check ``X-Hub-Signature-256`` (``sha256=<hex HMAC of the raw body>``) in constant time."""
    if not header or not header.startswith("sha256="):
        return False
    try:
        given = header.removeprefix("sha256=").encode("ascii")
    except UnicodeEncodeError:
        # compare_digest refuses non-ASCII str (TypeError): a forged header, not our bug.
        log.warning("webhook refused: X-Hub-Signature-256 is not ASCII")
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest().encode("ascii")
    return hmac.compare_digest(expected, given)


HANDLERS: dict[str, Handler] = {
    "ping": uc.on_ping,
    "installation": uc.on_installation,
    "installation_repositories": uc.on_installation_repositories,
    "workflow_run": uc.on_workflow_run,
    "check_suite": uc.on_check_suite,
    "check_run": uc.on_check_run,
    "repository": uc.on_repository,
    "push": uc.on_push,
}


def webhook_blueprint(settings: Settings) -> Blueprint:
    """The webhook endpoint; 503 with a hint when GitHub is not configured."""
    bp = Blueprint("github", __name__)

    @bp.post("/github/webhook")
    def webhook() -> Any:
        secret = settings.github_webhook_secret
        if not settings.github_enabled or not secret:
            return error_response(503, "not_configured", NOT_CONFIGURED)
        if (request.content_length or 0) > MAX_WEBHOOK_BYTES:
            return error_response(413, "too_large", "webhook payload over 25 MB")
        body = request.get_data(cache=True)
        if not signature_ok(secret, body, request.headers.get("X-Hub-Signature-256")):
            return error_response(401, "bad_signature", "X-Hub-Signature-256 missing or wrong")
        event = request.headers.get("X-GitHub-Event", "")
        handler = HANDLERS.get(event)
        if handler is None:
            return Response(status=204)
        try:
            payload = json.loads(body)
        except ValueError:
            return error_response(400, "bad_json", "the webhook body is not JSON")
        if not isinstance(payload, dict):
            return error_response(400, "bad_json", "the webhook body is not a JSON object")
        delivery = request.headers.get("X-GitHub-Delivery", "").strip()
        if not delivery or len(delivery) > 64:
            return error_response(400, "bad_delivery", "X-GitHub-Delivery missing or malformed")
        # With Slack OAuth each GitHub account gets its own tenant; otherwise all share one.
        bound = functools.partial(handler, per_account=settings.multi_workspace)
        outcome = uc.process_delivery(delivery, event, payload, bound)
        return jsonify(outcome.as_json()), 200

    return bp
