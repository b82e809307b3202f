"""A fake Slack Web API (a real HTTP server on 127.0.0.1) and Slack request signing.

Fixtures defined here are loaded by tests/conftest.py (pytest_plugins):
``fake_slack`` (the server, emptied per test), ``slack_settings`` (Settings
pointing at it), ``slack_app`` / ``slack_client`` (the Flask app with Slack
on) and ``slack`` (a :class:`SlackRequests` that sends signed commands, button
clicks, modal submissions and events to ``/slack/events``).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import itertools
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

SIGNING_SECRET = "test-signing-secret"
BOT_TOKEN = "xoxb-test-token"
TEAM_ID = "T0TEST"
BOT_USER_ID = "UBOT"
USER_ID = "U0ALICE"
CHANNEL_ID = "C0ALERTS"
INSTALLED_TEAM_ID = "T0OTHER"  # the workspace the OAuth flow installs into (by default)
INSTALLED_TOKEN = "xoxb-installed-token"
DEFAULT_TOKEN_TEAMS: dict[str, tuple[str, str | None]] = {BOT_TOKEN: (TEAM_ID, None)}
# "Sign in with Slack" (OpenID Connect): the app's client and the code the fake's authorize
# page hands out; who signs in is ``FakeSlack.oidc_user`` (user id, team id, name).
CLIENT_ID = "1111.2222"
CLIENT_SECRET = "test-client-secret"
OIDC_CODE = "good-oidc-code"
OIDC_TOKEN = "xoxp-oidc-user-token"


def sign(
    body: str | bytes, secret: str = SIGNING_SECRET, *, timestamp: int | None = None
) -> dict[str, str]:
    """The headers Slack sends: ``v0=`` HMAC-SHA256 of ``v0:{ts}:{body}`` and the timestamp."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    raw = body.decode() if isinstance(body, bytes) else body
    digest = hmac.new(secret.encode(), f"v0:{ts}:{raw}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


def nobody_view_submission() -> dict[str, Any]:
    """A view submission naming no team and no user (an attacker's, or a broken client's)."""
    return {
        "type": "view_submission",
        "team": None,
        "user": {"id": ""},
        "view": {
            "id": "V1",
            "type": "modal",
            "callback_id": "fg_approve_all_view",
            "private_metadata": "{}",
        },
    }


@dataclass
class Call:
    """One request the fake received."""

    method: str
    params: dict[str, Any]
    token: str | None


@dataclass
class _Planned:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class FakeSlack:
    """Answers Web API methods like Slack and records every call; failures on demand."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.responses: list[Call] = []  # posts to response_url
        self.posted: dict[str, dict[str, Any]] = {}  # ts -> params of chat.postMessage
        self._planned: dict[str, list[_Planned]] = {}
        self._ts = itertools.count(1)
        self._lock = threading.Lock()
        self.usergroups: dict[str, list[str]] = {}
        self.unknown_users: set[str] = set()
        self.memberships: dict[str, list[str]] = {}  # user -> channels (users.conversations)
        # What auth.test says about a token, as Slack does: (team, enterprise or None).
        self.token_teams: dict[str, tuple[str, str | None]] = dict(DEFAULT_TOKEN_TEAMS)
        self.install_team = INSTALLED_TEAM_ID  # the workspace oauth.v2.access installs into
        self.oidc_user: tuple[str, str, str] = (USER_ID, TEAM_ID, "Alice")
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # -- control

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/"

    @property
    def api_url(self) -> str:
        return self.url + "api/"

    def response_url(self, name: str = "r1") -> str:
        return f"{self.url}respond/{name}"

    def start(self) -> FakeSlack:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.responses.clear()
            self.posted.clear()
            self._planned.clear()
            self.usergroups.clear()
            self.unknown_users.clear()
            self.memberships.clear()
            self.token_teams = dict(DEFAULT_TOKEN_TEAMS)
            self.install_team = INSTALLED_TEAM_ID
            self.oidc_user = (USER_ID, TEAM_ID, "Alice")

    def fail(self, method: str, error: str, *, times: int = 1) -> None:
        """Answer ``method`` with ``{"ok": false, "error": error}`` the next ``times`` calls."""
        self._plan(method, _Planned(200, {"ok": False, "error": error}), times)

    def rate_limit(self, method: str, *, retry_after: int = 0, times: int = 1) -> None:
        """Answer ``method`` with HTTP 429 and Retry-After the next ``times`` calls."""
        self._plan(
            method,
            _Planned(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)}),
            times,
        )

    def _plan(self, method: str, planned: _Planned, times: int) -> None:
        with self._lock:
            self._planned.setdefault(method, []).extend([planned] * times)

    def ts_of(self, call: Call) -> str | None:
        """The ts Slack gave a recorded chat.postMessage call."""
        return next((ts for ts, params in self.posted.items() if params is call.params), None)

    def called(self, method: str) -> list[Call]:
        """Calls of one method, in order."""
        return [c for c in self.calls if c.method == method]

    # -- answers

    def answer(
        self, method: str, params: dict[str, Any], token: str | None = None
    ) -> dict[str, Any]:
        if method == "auth.test":
            if token not in self.token_teams:
                return {"ok": False, "error": "invalid_auth"}
            team, enterprise = self.token_teams[token]
            answer = {
                "ok": True,
                "url": "https://fake.slack.com/",
                "team": "Fake",
                "user": "flakeguard",
                "team_id": team,
                "user_id": BOT_USER_ID,
                "bot_id": "B0BOT",
                "is_enterprise_install": False,
            }
            if enterprise:
                answer["enterprise_id"] = enterprise
            return answer
        if method == "chat.postMessage":
            if not params.get("channel"):
                return {"ok": False, "error": "channel_not_found"}
            ts = f"1700000000.{next(self._ts):06d}"
            self.posted[ts] = params
            return {"ok": True, "channel": params["channel"], "ts": ts, "message": {"ts": ts}}
        if method == "chat.update":
            if not params.get("ts"):
                return {"ok": False, "error": "message_not_found"}
            return {"ok": True, "channel": params.get("channel"), "ts": params["ts"]}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": f"1700000000.{next(self._ts):06d}"}
        if method in ("views.publish", "views.open", "views.update"):
            return {"ok": True, "view": {"id": f"V{next(self._ts):06d}"}}
        if method == "users.info":
            user = params.get("user", "")
            if user in self.unknown_users:
                return {"ok": False, "error": "user_not_found"}
            return {"ok": True, "user": {"id": user, "name": user.lower(), "tz": "UTC"}}
        if method == "conversations.info":
            channel = params.get("channel", "")
            return {
                "ok": True,
                "channel": {"id": channel, "name": channel.lower(), "is_member": True},
            }
        if method == "oauth.v2.access":
            if params.get("code") != "good-code":
                return {"ok": False, "error": "invalid_code"}
            team = self.install_team
            token = INSTALLED_TOKEN if team == INSTALLED_TEAM_ID else f"xoxb-installed-{team}"
            self.token_teams[token] = (team, None)
            return {
                "ok": True,
                "app_id": "A0APP",
                "access_token": token,
                "token_type": "bot",
                "scope": "commands,chat:write",
                "bot_user_id": BOT_USER_ID,
                "team": {"id": team, "name": "Other"},
                "enterprise": None,
                "is_enterprise_install": False,
                "authed_user": {"id": "U0INSTALLER"},
            }
        if method == "openid.connect.token":
            if token != f"basic:{CLIENT_ID}:{CLIENT_SECRET}":
                return {"ok": False, "error": "invalid_client_id"}
            if params.get("code") != OIDC_CODE or not params.get("redirect_uri"):
                return {"ok": False, "error": "invalid_code"}
            return {"ok": True, "access_token": OIDC_TOKEN, "token_type": "Bearer", "id_token": ""}
        if method == "openid.connect.userInfo":
            if token != OIDC_TOKEN:
                return {"ok": False, "error": "invalid_auth"}
            user, team, name = self.oidc_user
            return {
                "ok": True,
                "sub": user,
                "https://slack.com/user_id": user,
                "https://slack.com/team_id": team,
                "name": name,
            }
        if method == "users.conversations":
            user = params.get("user", "")
            channels = self.memberships.get(user, [CHANNEL_ID])
            return {
                "ok": True,
                "channels": [{"id": c, "name": c.lower()} for c in channels],
                "response_metadata": {"next_cursor": ""},
            }
        if method == "usergroups.users.list":
            group = params.get("usergroup", "")
            if group not in self.usergroups:
                return {"ok": False, "error": "no_such_subteam"}
            return {"ok": True, "users": self.usergroups[group]}
        return {"ok": False, "error": "unknown_method"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                if (self.headers.get("Content-Type") or "").startswith("application/json"):
                    params = json.loads(raw or "{}")
                else:
                    params = dict(parse_qsl(raw))
                    for key in ("blocks", "view", "attachments"):
                        if isinstance(params.get(key), str):
                            params[key] = json.loads(params[key])
                auth = self.headers.get("Authorization") or ""
                token = auth[7:] if auth.startswith("Bearer ") else params.get("token")
                if auth.startswith("Basic "):  # an app's client id and secret
                    token = "basic:" + base64.b64decode(auth[6:]).decode()
                if self.path.startswith("/openid/connect/authorize"):
                    self._authorize()
                    return
                if self.path.startswith("/respond/"):
                    with fake._lock:
                        fake.responses.append(Call(self.path[9:], params, None))
                    self._send(200, b"ok", "text/plain")
                    return
                method = self.path.removeprefix("/api/")
                with fake._lock:
                    fake.calls.append(Call(method, params, token))
                    planned = fake._planned.get(method)
                    plan = planned.pop(0) if planned else None
                if plan is not None:
                    self._send(plan.status, json.dumps(plan.body).encode(), headers=plan.headers)
                    return
                self._send(200, json.dumps(fake.answer(method, params, token)).encode())

            do_GET = do_POST

            def _authorize(self) -> None:
                """Slack's consent page, already agreed to: back to the app with a code."""
                query = dict(parse_qsl(urlsplit(self.path).query))
                with fake._lock:
                    fake.calls.append(Call("openid.connect.authorize", query, None))
                back = urlencode({"code": OIDC_CODE, "state": query.get("state", "")})
                self.send_response(302)
                self.send_header("Location", f"{query.get('redirect_uri', '')}?{back}")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _send(
                self,
                status: int,
                body: bytes,
                content_type: str = "application/json; charset=utf-8",
                headers: dict[str, str] | None = None,
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

        return Handler


class SlackRequests:
    """Sends requests to /slack/events signed exactly as Slack signs them."""

    def __init__(self, client: Any, fake: FakeSlack, secret: str = SIGNING_SECRET) -> None:
        self.client = client
        self.fake = fake
        self.secret = secret
        self._ids = itertools.count(1)

    def post(
        self,
        body: str,
        content_type: str,
        *,
        timestamp: int | None = None,
        secret: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        signed = sign(body, secret or self.secret, timestamp=timestamp)
        return self.client.post(
            "/slack/events",
            data=body,
            headers={**signed, "Content-Type": content_type, **(headers or {})},
        )

    def command(
        self,
        text: str,
        *,
        user: str = USER_ID,
        channel: str = CHANNEL_ID,
        team: str = TEAM_ID,
        enterprise_id: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """A /flakeguard slash command (from a workspace of a Grid with ``enterprise_id``)."""
        grid = {"enterprise_id": enterprise_id} if enterprise_id else {}
        body = urlencode(
            {
                **grid,
                "token": "legacy",
                "team_id": team,
                "team_domain": "fake",
                "channel_id": channel,
                "channel_name": "alerts",
                "user_id": user,
                "user_name": user.lower(),
                "command": "/flakeguard",
                "text": text,
                "api_app_id": "A0APP",
                "response_url": self.fake.response_url(f"cmd{next(self._ids)}"),
                "trigger_id": f"trigger.{next(self._ids)}",
            }
        )
        return self.post(body, "application/x-www-form-urlencoded", **kwargs)

    def interactive(self, payload: dict[str, Any], **kwargs: Any) -> Any:
        body = urlencode({"payload": json.dumps(payload)})
        return self.post(body, "application/x-www-form-urlencoded", **kwargs)

    def click(
        self,
        action_id: str,
        value: str | None = None,
        *,
        block_id: str = "fg_q",
        user: str = USER_ID,
        team: str = TEAM_ID,
        channel: str = CHANNEL_ID,
        message_ts: str = "1700000000.000001",
        selected_user: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """A block_actions payload: a button click or a users_select choice."""
        action: dict[str, Any] = {
            "type": "users_select" if selected_user else "button",
            "action_id": action_id,
            "block_id": block_id,
            "action_ts": f"{time.time():.6f}",
        }
        if value is not None:
            action["value"] = value
        if selected_user:
            action["selected_user"] = selected_user
        payload = {
            **self._envelope("block_actions", user=user, team=team),
            "container": {"type": "message", "message_ts": message_ts, "channel_id": channel},
            "channel": {"id": channel, "name": "alerts"},
            "message": {"ts": message_ts, "text": "alert"},
            "response_url": self.fake.response_url(f"act{next(self._ids)}"),
            "actions": [action],
        }
        return self.interactive(payload, **kwargs)

    def _envelope(self, kind: str, *, user: str, team: str) -> dict[str, Any]:
        """What every interactive payload from Slack carries: its type, team, user, trigger."""
        return {
            "type": kind,
            "team": {"id": team, "domain": "fake"},
            "user": {"id": user, "username": user.lower(), "team_id": team},
            "api_app_id": "A0APP",
            "token": "legacy",
            "trigger_id": f"trigger.{next(self._ids)}",
        }

    def submit_view(
        self,
        callback_id: str,
        private_metadata: str,
        *,
        user: str = USER_ID,
        team: str = TEAM_ID,
        **kwargs: Any,
    ) -> Any:
        """A view_submission payload."""
        payload = {
            **self._envelope("view_submission", user=user, team=team),
            "view": {
                "id": "V0VIEW",
                "team_id": team,
                "type": "modal",
                "callback_id": callback_id,
                "private_metadata": private_metadata,
                "state": {"values": {}},
                "hash": "h",
            },
        }
        return self.interactive(payload, **kwargs)

    def event(
        self,
        event: dict[str, Any],
        *,
        event_id: str = "Ev0001",
        team: str = TEAM_ID,
        retry_num: int | None = None,
        **kwargs: Any,
    ) -> Any:
        """An Events API callback (with X-Slack-Retry-Num when ``retry_num`` is given)."""
        body = json.dumps(
            {
                "token": "legacy",
                "team_id": team,
                "api_app_id": "A0APP",
                "event": event,
                "type": "event_callback",
                "event_id": event_id,
                "event_time": int(time.time()),
                "authorizations": [{"team_id": team, "user_id": BOT_USER_ID, "is_bot": True}],
            }
        )
        headers = dict(kwargs.pop("headers", {}) or {})
        if retry_num is not None:
            headers.update(
                {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"}
            )
        return self.post(body, "application/json", headers=headers, **kwargs)


@pytest.fixture(scope="session")
def fake_slack_server() -> Iterator[FakeSlack]:
    """One fake Slack server for the session."""
    fake = FakeSlack().start()
    yield fake
    fake.stop()


@pytest.fixture
def fake_slack(fake_slack_server: FakeSlack) -> Iterator[FakeSlack]:
    """The fake Slack Web API, with no recorded calls and no planned failures."""
    fake_slack_server.reset()
    yield fake_slack_server
    fake_slack_server.reset()


def with_slack_oauth(settings: Any, api_url: str | None = None, **more: Any) -> Any:
    """``settings`` with Slack OAuth on (any workspace may install), against ``api_url``."""
    oauth: dict[str, Any] = {
        "slack_signing_secret": SIGNING_SECRET,
        "slack_client_id": "111.222",
        "slack_client_secret": "client-secret",
    }
    if api_url is not None:
        oauth["slack_api_url"] = api_url
    return dataclasses.replace(settings, **oauth, **more)


@pytest.fixture
def slack_settings(settings: Any, fake_slack: FakeSlack) -> Any:
    """Settings with Slack on (one workspace, bot token) against the fake."""
    return dataclasses.replace(
        settings,
        slack_signing_secret=SIGNING_SECRET,
        slack_bot_token=BOT_TOKEN,
        slack_api_url=fake_slack.api_url,
    )


def app_with_slack(settings: Any) -> Iterator[Any]:
    """The Flask app of ``settings`` in testing mode, its WebClient on their Slack API URL;
    the task queue set back to immediate after (for a fixture to yield from)."""
    from slack_sdk import WebClient

    import tasks
    from flakeguard.app import create_app
    from flakeguard.settings import Settings

    application = create_app(
        settings, slack=WebClient(token=BOT_TOKEN, base_url=settings.slack_api_url)
    )
    application.testing = True
    yield application
    tasks.configure(Settings(queue_mode="immediate"))


@pytest.fixture
def slack_app(slack_settings: Any, database: object) -> Iterator[Any]:
    """The Flask app with Slack on, its WebClient pointed at the fake."""
    yield from app_with_slack(slack_settings)


@pytest.fixture
def slack_client(slack_app: Any) -> Any:
    """A Flask test client of the Slack-enabled app."""
    return slack_app.test_client()


@pytest.fixture
def slack(slack_client: Any, fake_slack: FakeSlack) -> SlackRequests:
    """Signed Slack requests to /slack/events."""
    return SlackRequests(slack_client, fake_slack)
