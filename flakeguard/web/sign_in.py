"""Sign-in: the one-time link of ``flakeguard login``, Slack (OpenID Connect), GitHub (OAuth).

Each provider's round trip carries a random ``state`` kept in the signed session
and compared on the way back, so a callback the visitor did not start is
refused. Every way in ends with :func:`sessions.sign_in` and a redirect.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlencode

from flask import abort, flash, redirect, render_template, request, session, url_for
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from flakeguard.errors import BadRequestError, FlakeGuardError
from flakeguard.settings import Settings
from flakeguard.usecases import web_auth
from flakeguard.usecases.github import html_url
from flakeguard.usecases.tenant_links import GitHubUser
from flakeguard.web import sessions
from flakeguard.web.blueprint import error_page, settings, web
from integrations.github.link import GitHubUserClient

TIMEOUT = 10
SLACK_SCOPES = "openid profile"
SLACK_REFUSED = "Slack did not accept the sign-in. You are not signed in."
BAD_STATE = "This sign-in was not started here or has expired. Start again from the sign-in page."


class SlackSignIn:
    """``web_auth.SlackSignInPort`` over slack_sdk's ``openid.connect.*`` methods."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def identity(self, code: str, redirect_uri: str) -> web_auth.SlackIdentity:
        base = self.settings.slack_api_url
        try:
            token = WebClient(base_url=base, timeout=TIMEOUT).openid_connect_token(
                client_id=self.settings.slack_client_id or "",
                client_secret=self.settings.slack_client_secret or "",
                code=code,
                redirect_uri=redirect_uri,
            )
            access = str(token.get("access_token") or "")
            info = WebClient(token=access, base_url=base, timeout=TIMEOUT).openid_connect_userInfo()
        except (SlackApiError, SlackClientError, OSError):
            raise BadRequestError(SLACK_REFUSED) from None
        user = info.get("https://slack.com/user_id") or info.get("sub")
        team = info.get("https://slack.com/team_id")
        if not isinstance(user, str) or not isinstance(team, str) or not user or not team:
            raise BadRequestError(SLACK_REFUSED)
        return web_auth.SlackIdentity(user_id=user, team_id=team, name=str(info.get("name") or ""))


def _new_state(kind: str) -> str:
    state = secrets.token_urlsafe(24)
    session[f"{kind}_state"] = state
    return state


def _check_state(kind: str) -> None:
    expected = session.pop(f"{kind}_state", None)
    given = request.args.get("state", "")
    if not isinstance(expected, str) or not secrets.compare_digest(expected, given):
        raise BadRequestError(BAD_STATE)


def _welcome(person: web_auth.SignedIn) -> Any:
    sessions.sign_in(person)
    flash(f"Signed in to {person.tenant_name} as {person.name}.", "success")
    return redirect(url_for("web.index"))


@web.get("/")
def index() -> Any:
    if sessions.current_person() is None:
        config = settings()
        return render_template(
            "sign_in.html",
            slack=config.slack_sign_in,
            github=config.github_link_enabled,
        )
    from flakeguard.web.pages import overview

    return overview()


@web.get("/sign-in/link")
def link() -> Any:
    # A page with a button, not a sign-in on GET: a link preview must not spend the link.
    # The secret is in the query string, which the access log leaves out (it logs the path).
    return render_template("link.html", secret=request.args.get("token", ""))


def _offered(flag: str) -> Settings:
    """The settings, when they turn on the sign-in ``flag`` names; else the page is a 404."""
    config = settings()
    if not getattr(config, flag):
        abort(404)
    return config


@web.post("/sign-in/link")
def redeem_link() -> Any:
    try:
        person = web_auth.redeem_login_link(request.form.get("secret", ""))
    except FlakeGuardError as exc:
        return error_page(exc.status, "This sign-in link does not work", exc.message)
    return _welcome(person)


@web.get("/sign-in/slack")
def slack_start() -> Any:
    config = _offered("slack_sign_in")
    query = urlencode(
        {
            "response_type": "code",
            "scope": SLACK_SCOPES,
            "client_id": config.slack_client_id,
            # No nonce: the person is read from userInfo with the token the code buys
            # (the code is bound to this browser by ``state``); no ID token is used.
            "state": _new_state("slack"),
            "redirect_uri": config.public_url + url_for("web.slack_callback"),
        }
    )
    return redirect(f"{config.slack_web_url}/openid/connect/authorize?{query}")


@web.get("/sign-in/slack/callback")
def slack_callback() -> Any:
    config = _offered("slack_sign_in")
    try:
        _check_state("slack")
        if request.args.get("error"):
            raise BadRequestError("You did not sign in with Slack. You are not signed in.")
        person = web_auth.sign_in_slack(
            SlackSignIn(config),
            request.args.get("code", ""),
            config.public_url + url_for("web.slack_callback"),
        )
    except FlakeGuardError as exc:
        return error_page(exc.status, "Sign-in with Slack did not work", exc.message)
    return _welcome(person)


@web.get("/sign-in/github")
def github_start() -> Any:
    config = _offered("github_link_enabled")
    query = urlencode(
        {
            "client_id": config.github_client_id,
            "redirect_uri": config.public_url + url_for("web.github_callback"),
            "state": _new_state("github"),
        }
    )
    return redirect(f"{html_url(config.github_api_url)}/login/oauth/authorize?{query}")


@web.get("/sign-in/github/callback")
def github_callback() -> Any:
    config = _offered("github_link_enabled")
    try:
        _check_state("github")
        user, tenants = web_auth.github_tenants(
            GitHubUserClient(config), request.args.get("code", ""), app_id=config.github_app_id
        )
    except FlakeGuardError as exc:
        return error_page(exc.status, "Sign-in with GitHub did not work", exc.message)
    if len(tenants) == 1:
        return _welcome(web_auth.sign_in_github(user, tenants[0].id))
    # Several organisations: the person picks one (the choice is kept in the signed session).
    session["github_choice"] = {
        "login": user.login,
        "id": user.id,
        "tenants": [t.id for t in tenants],
    }
    return render_template("choose_tenant.html", tenants=tenants)


@web.post("/sign-in/github/choose")
def github_choose() -> Any:
    choice = session.pop("github_choice", None)
    try:
        wanted = int(request.form.get("tenant", ""))
    except ValueError:
        wanted = 0
    if not isinstance(choice, dict) or wanted not in choice.get("tenants", []):
        return error_page(400, "Sign-in with GitHub did not work", BAD_STATE)
    user = GitHubUser(login=str(choice["login"]), id=int(choice["id"]))
    try:
        person = web_auth.sign_in_github(user, wanted)
    except FlakeGuardError as exc:
        return error_page(exc.status, "Sign-in with GitHub did not work", exc.message)
    return _welcome(person)


@web.post("/sign-out")
def sign_out() -> Any:
    sessions.sign_out()
    flash("You are signed out.", "success")
    return redirect(url_for("web.index"))
