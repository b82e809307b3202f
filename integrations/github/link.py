"""/github/link/*: link a Slack workspace through GitHub sign-in, then an explicit confirmation.

``start`` checks the state from ``/flakeguard connect`` and redirects to the
GitHub App's user-to-server OAuth (``{web}/login/oauth/authorize``); the
callback exchanges the code (``POST {web}/login/oauth/access_token``) and hands
a ``GitHubUserClient`` to the use case, which proves who administers what but
links nothing: the page names the workspace and the GitHub account and asks
for a POST to ``confirm`` with a single-use token (``cancel`` drops it). So a
link made by someone else and sent to an admin shows whose workspace it is
before anything happens. Every answer is a small HTML page, everything in it
escaped, not frameable, sending no referrer; a refusal is a 4xx page and
changes nothing.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import requests
from flask import Blueprint, Response, redirect, request
from github import Auth, Github, GithubException
from markupsafe import Markup, escape

from flakeguard.errors import BadRequestError, FlakeGuardError, NotConfiguredError
from flakeguard.settings import Settings
from flakeguard.usecases import tenant_links as uc
from flakeguard.usecases.github import html_url

START_PATH = "/github/link/start"
CALLBACK_PATH = "/github/link/callback"
CONFIRM_PATH = "/github/link/confirm"
CANCEL_PATH = "/github/link/cancel"
TIMEOUT = 10
NOT_CONFIGURED = (
    "Linking through GitHub is not configured: set GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET "
    "(the GitHub App's OAuth client), or ask an operator to run flakeguard tenant link."
)
UNREACHABLE = "GitHub could not be reached or refused the request. Nothing was linked."


class GitHubUserClient:
    """``tenant_links.GitHubUserPort`` over the OAuth endpoints and PyGithub, as the user."""

    def __init__(self, settings: Settings, *, timeout: int = TIMEOUT) -> None:
        self.api_url = settings.github_api_url
        self.web_url = html_url(settings.github_api_url)
        self.client_id = settings.github_client_id or ""
        self.client_secret = settings.github_client_secret or ""
        self.timeout = timeout

    def exchange_code(self, code: str) -> str:
        """The user's token for ``code`` (GitHub answers 200 with ``error`` when it refuses)."""
        try:
            response = requests.post(
                f"{self.web_url}/login/oauth/access_token",
                data={
                    "client_id": self.client_id,
                    "client_secret": self.client_secret,
                    "code": code,
                },
                headers={"Accept": "application/json"},
                timeout=self.timeout,
            )
            body = response.json() if response.ok else {}
        except (requests.RequestException, ValueError):
            raise BadRequestError(UNREACHABLE) from None
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise BadRequestError("GitHub did not accept the sign-in. Nothing was linked.")
        return token

    def _github(self, token: str) -> Github:
        return Github(auth=Auth.Token(token), base_url=self.api_url, timeout=self.timeout)

    def user(self, token: str) -> uc.GitHubUser:
        """The signed-in user."""
        with self._github(token) as gh:
            me = _guard(lambda: gh.get_user().raw_data)
        return uc.GitHubUser(login=str(me.get("login") or ""), id=int(me.get("id") or 0))

    def installations(self, token: str) -> list[uc.UserInstallation]:
        """The installations of this App the user can reach (``GET /user/installations``)."""
        with self._github(token) as gh:
            raws = _guard(lambda: [i.raw_data for i in gh.get_user().get_installations()])
        found = []
        for raw in raws:
            account = raw.get("account") if isinstance(raw.get("account"), dict) else {}
            if not isinstance(raw.get("id"), int):
                continue
            found.append(
                uc.UserInstallation(
                    id=raw["id"],
                    app_id=raw.get("app_id") if isinstance(raw.get("app_id"), int) else None,
                    account_login=str(account.get("login") or ""),
                    account_id=account.get("id") if isinstance(account.get("id"), int) else None,
                    account_type=str(account.get("type") or raw.get("target_type") or ""),
                )
            )
        return found

    def org_membership(self, token: str, org: str) -> tuple[str, str] | None:
        """(role, state) in ``org``; None when GitHub says the user is not a member (404/403)."""
        with self._github(token) as gh:
            try:
                membership = gh.get_user().get_organization_membership(org)
                return str(membership.role), str(membership.state)
            except GithubException as exc:
                if exc.status in (403, 404):
                    return None
                raise BadRequestError(UNREACHABLE) from None
            except requests.RequestException:
                raise BadRequestError(UNREACHABLE) from None


def _guard(call: Any) -> Any:
    try:
        return call()
    except (GithubException, requests.RequestException):
        raise BadRequestError(UNREACHABLE) from None


def page(status: int, title: str, lines: list[str], *, form: Markup | None = None) -> Response:
    """A minimal HTML page; every piece of text is escaped (``form`` is built escaped)."""
    body = Markup("").join(Markup("<p>{}</p>").format(line) for line in lines) + (form or "")
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title></head>"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>"
    )
    response = Response(html, status=status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"  # the app-wide CSP adds frame-ancestors 'none'
    return response


def confirm_form(state: str, token: str) -> Markup:
    """The Confirm button (a POST carrying the state and the single-use token) and Cancel."""
    return Markup(
        '<form method="post" action="{confirm}">'
        '<input type="hidden" name="state" value="{state}">'
        '<input type="hidden" name="confirm" value="{token}">'
        '<button type="submit">Confirm</button> <a href="{cancel}">Cancel</a></form>'
    ).format(
        confirm=CONFIRM_PATH,
        state=state,
        token=token,
        cancel=f"{CANCEL_PATH}?{urlencode({'state': state})}",
    )


def link_blueprint(settings: Settings, *, port: Any = None) -> Blueprint:
    """The two routes; 503 pages while GITHUB_CLIENT_ID/SECRET are not set."""
    bp = Blueprint("github_link", __name__)

    def refused(exc: FlakeGuardError) -> Response:
        status = exc.status if 400 <= exc.status < 500 else 503
        return page(status, "FlakeGuard: nothing was linked", [exc.message])

    @bp.get(START_PATH)
    def start() -> Any:
        if not settings.github_link_enabled:
            return refused(NotConfiguredError(NOT_CONFIGURED))
        state = request.args.get("state", "")
        try:
            uc.check_link_state(state)
        except FlakeGuardError as exc:
            return refused(exc)
        query = urlencode(
            {
                "client_id": settings.github_client_id,
                "redirect_uri": settings.public_url + CALLBACK_PATH,
                "state": state,
            }
        )
        return redirect(f"{html_url(settings.github_api_url)}/login/oauth/authorize?{query}")

    @bp.get(CALLBACK_PATH)
    def callback() -> Any:
        if not settings.github_link_enabled:
            return refused(NotConfiguredError(NOT_CONFIGURED))
        client = port or GitHubUserClient(settings)
        state = request.args.get("state", "")
        try:
            pending = uc.verify_link(
                state, request.args.get("code", ""), client, app_id=settings.github_app_id
            )
        except FlakeGuardError as exc:
            return refused(exc)
        workspace = pending.workspace_name or pending.team_id
        return page(
            200,
            "FlakeGuard: confirm the link",
            [
                f"Link Slack workspace {workspace} ({pending.team_id}) to the FlakeGuard "
                f"organisation of GitHub account {pending.account_login}?",
                "Only continue if you started this from your own Slack workspace.",
            ],
            form=confirm_form(state, pending.confirm_token),
        )

    @bp.post(CONFIRM_PATH)
    def confirm() -> Any:
        if not settings.github_link_enabled:
            return refused(NotConfiguredError(NOT_CONFIGURED))
        try:
            result = uc.confirm_link(request.form.get("state", ""), request.form.get("confirm", ""))
        except FlakeGuardError as exc:
            return refused(exc)
        workspace = result.workspace_name or result.team_id
        verb = "was already linked" if result.already else "is now linked"
        return page(
            200,
            "FlakeGuard: workspace linked",
            [
                f"The Slack workspace {workspace} ({result.team_id}) {verb} to the tenant "
                f"{result.tenant_name} ({result.tenant_slug}).",
                f"Proof: {result.linked_by} administers the GitHub account "
                f"{result.account_login}, where FlakeGuard's GitHub App is installed.",
                "The workspace now sees this tenant's repositories. You can close this page.",
            ],
        )

    @bp.get(CANCEL_PATH)
    def cancel() -> Any:
        if not settings.github_link_enabled:
            return refused(NotConfiguredError(NOT_CONFIGURED))
        uc.cancel_link(request.args.get("state", ""))
        return page(200, "FlakeGuard: nothing was linked", ["You can close this page."])

    return bp
