"""The read API and quarantine actions under ``/api/v1``, for API tokens (``flakeguard api-token``).

Every endpoint needs ``Authorization: Bearer <API token>``: 401 without a
valid one (counted by the failed-authentication limit, ``flakeguard.security``),
403 for a read-only token on an action. A repository or test of another
tenant answers 404 exactly like a missing one: the answer never tells whether
something exists elsewhere. Reads are the dashboard's (``usecases.catalog``);
actions go through ``usecases.quarantine.perform`` with source ``api``.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, g, request

from flakeguard.api.render import plain, quarantine_json, test_json, test_view_json
from flakeguard.errors import (
    BadRequestError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    UnsupportedMediaError,
)
from flakeguard.http import error_response
from flakeguard.security import bearer_token
from flakeguard.usecases import api_tokens, catalog, person_policy
from flakeguard.usecases.api_tokens import ApiPrincipal
from flakeguard.usecases.policy import GUARDED
from flakeguard.usecases.quarantine import StaleVersionError, perform
from flakeguard.usecases.repos import check_repo_name
from models import Quarantine

v1 = Blueprint("v1", __name__, url_prefix="/api/v1")

ACTIONS = ("approve", "assign", "undo", "dismiss")
MAX_ID = 2**31 - 1  # ids are 32-bit integers: a larger one names nothing
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,100}$")  # printable ASCII, no spaces
SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,30}$")
REASON_MAX = 500


def principal() -> ApiPrincipal:
    """The caller, from its bearer token (AuthError: 401)."""
    found = g.get("api_principal")
    if found is None:
        found = g.api_principal = api_tokens.authenticate(bearer_token())
    return found


def _repo_name(owner: str, name: str) -> str:
    try:
        return check_repo_name(f"{owner}/{name}")
    except BadRequestError:
        # A name no repository can have is unknown, like any repository not the caller's.
        raise NotFoundError(f"unknown repository {owner}/{name}"[:200]) from None


def _limit(default: int, maximum: int) -> int:
    raw = request.args.get("limit")
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 6:
        raise BadRequestError(f"limit must be a whole number from 1 to {maximum}")
    return int(raw)


def _text(name: str) -> str | None:
    value = request.args.get(name)
    return value if value not in (None, "") else None


@v1.get("/repos")
def list_repos() -> dict[str, Any]:
    """Every repository of the token's tenant with counts, week changes and 30-day series."""
    view = catalog.overview(tenant_id=principal().tenant_id)
    return {
        "repos": [plain(summary) for summary in view.repos],
        "changes": [plain(change) for change in view.changes],
        "window_start": view.window_start.isoformat(),
    }


@v1.get("/repos/<owner>/<name>")
def show_repo(owner: str, name: str) -> dict[str, Any]:
    """One repository: summary, the week's changes, recent infrastructure storms."""
    detail = catalog.repository_detail(_repo_name(owner, name), tenant_id=principal().tenant_id)
    return {
        "repo": plain(detail.summary),
        "changes": [plain(change) for change in detail.changes],
        "storms": [plain(storm) for storm in detail.storms],
    }


@v1.get("/repos/<owner>/<name>/tests")
def list_tests(owner: str, name: str) -> dict[str, Any]:
    """A page of a repository's tests: ?state=&q=&sort=&cursor=&limit=."""
    who = principal()
    full_name = _repo_name(owner, name)
    page = catalog.list_tests(
        full_name,
        tenant_id=who.tenant_id,
        state=_text("state"),
        query=request.args.get("q", ""),
        sort=request.args.get("sort") or "score",
        cursor=request.args.get("cursor"),
        limit=_limit(catalog.PAGE_DEFAULT, catalog.PAGE_MAX),
    )
    return {
        "repo": page.repository,
        "state": page.state,
        "q": page.query,
        "sort": page.sort,
        "limit": page.limit,
        "tests": [test_json(row) for row in page.items],
        "next_cursor": page.next_cursor,
    }


@v1.get("/tests/<int:test_id>")
def show_test(test_id: int) -> dict[str, Any]:
    """One test: verdict, reason, history per run, failures grouped, quarantine timeline."""
    who = principal()
    if test_id > MAX_ID:
        raise NotFoundError(f"unknown test {test_id}")
    return test_view_json(catalog.test_view(test_id, tenant_id=who.tenant_id))


@v1.get("/repos/<owner>/<name>/quarantines")
def list_quarantines(owner: str, name: str) -> dict[str, Any]:
    """A page of a repository's quarantines, newest first, with the version to act on."""
    who = principal()
    page = catalog.list_quarantines(
        _repo_name(owner, name),
        tenant_id=who.tenant_id,
        state=_text("state"),
        cursor=request.args.get("cursor"),
        limit=_limit(catalog.PAGE_DEFAULT, catalog.PAGE_MAX),
    )
    return {
        "repo": page.repository,
        "state": page.state,
        "limit": page.limit,
        "quarantines": [plain(row) for row in page.items],
        "next_cursor": page.next_cursor,
    }


@v1.post("/quarantines/<int:quarantine_id>/<action>")
def act(quarantine_id: int, action: str) -> Any:
    """Approve, assign, undo or dismiss a quarantine (tokens with the right to act)."""
    who = principal()
    if action not in ACTIONS:
        raise NotFoundError(f"no action {action[:40]!r}: use one of {', '.join(ACTIONS)}")
    if not who.can_act:
        raise ForbiddenError("this API token may only read; create one with --act to act")
    if quarantine_id > MAX_ID:
        raise NotFoundError(f"unknown quarantine {quarantine_id}")
    if action in GUARDED:
        # The token acts for its creator: the workspace policies hold them, now.
        person_policy.check_token_creator(who.tenant_id, who.created_by)
    body = _json_body()
    key = request.headers.get("Idempotency-Key")
    if key is not None and not IDEMPOTENCY_KEY.match(key):
        raise BadRequestError("Idempotency-Key must be 1 to 100 printable characters, no spaces")
    try:
        outcome = perform(
            None,
            action,
            tenant_id=who.tenant_id,
            quarantine_id=quarantine_id,
            actor=who.actor,
            source="api",
            assignee_slack=_assignee(body) if action == "assign" else None,
            reason=_reason(body),
            # Keys are the token's own: another client's key can never name this request.
            idempotency_key=f"api:{who.token_id}:{key}" if key else None,
            expected_version=_version(body),
        )
    except StaleVersionError as exc:
        return _stale(exc)
    if outcome.quarantine.id != quarantine_id:
        raise ConflictError("this Idempotency-Key was used for another quarantine")
    return {"quarantine": quarantine_json(outcome.quarantine), "changed": outcome.changed}


def _stale(exc: StaleVersionError) -> Any:
    current = Quarantine.get_or_none(Quarantine.id == exc.quarantine_id)
    return error_response(
        409,
        "stale_version",
        "the quarantine changed since expected_version; read it again",
        current_version=current.version if current else None,
    )


def _json_body() -> dict[str, Any]:
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    if request.mimetype != "application/json":
        raise UnsupportedMediaError("send the body as application/json (or no body)")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequestError("the body must be a JSON object")
    unknown = set(body) - {"expected_version", "reason", "assignee_slack"}
    if unknown:
        raise BadRequestError(f"unknown field {sorted(unknown)[0][:40]!r}")
    return body


def _version(body: dict[str, Any]) -> int | None:
    value = body.get("expected_version")
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_ID:
        raise BadRequestError("expected_version must be a whole number (the version you read)")
    return value


def _reason(body: dict[str, Any]) -> str:
    value = body.get("reason", "")
    if not isinstance(value, str) or len(value) > REASON_MAX:
        raise BadRequestError(f"reason must be text of at most {REASON_MAX} characters")
    return value


def _assignee(body: dict[str, Any]) -> str:
    value = body.get("assignee_slack")
    if not isinstance(value, str) or not SLACK_USER.match(value):
        raise BadRequestError("assign needs assignee_slack, a Slack user id (U...)")
    return value
