"""A fake GitHub REST API (a real HTTP server on 127.0.0.1) and webhook signing.

Fixtures defined here are loaded by tests/conftest.py (pytest_plugins):
``github_rsa_key`` (an RSA key made per session with ``cryptography``),
``fake_github`` (the API server plus a second "blob storage" server that
artifact downloads redirect to), ``github_settings`` (Settings pointing at it),
``github_client`` (our client with fast retries and a manual breaker clock),
``github_app`` / ``github_http`` (the Flask app with GitHub on) and
``github_hook`` (sends webhooks signed exactly as GitHub signs them).

The fake checks the App JWT (RS256, the test's public key) on
``POST /app/installations/{id}/access_tokens``, then the installation token on
every other call, answers like GitHub for check runs, issues, labels,
assignees, comments, workflow runs and artifacts, repository contents (``put_file``)
and team members (``add_team``), records every call, and
fails on demand: a 500 storm, 429 and secondary rate limits with Retry-After,
404 for a repository or an installation that is gone. For the workspace link
flow it also plays GitHub's user-to-server OAuth (``POST
/login/oauth/access_token``) and answers ``GET /user``, ``GET
/user/installations`` and ``GET /user/memberships/orgs/{org}`` for the users a
test adds with ``add_user``.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import dataclasses
import hashlib
import hmac
import io
import itertools
import json
import re
import threading
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import jwt
import pytest

APP_ID = 4242
INSTALLATION_ID = 777
WEBHOOK_SECRET = "test-webhook-secret"
REPO = "acme/widgets"
REPO_GITHUB_ID = 55  # GitHub's id of REPO (tests.github.helpers.installed_repo uses it)
FORK_GITHUB_ID = 9055  # a fork's repository id
GHES_PREFIX = "/api/v3"
OAUTH_CLIENT_ID = "Iv1.fakeclient"
OAUTH_CLIENT_SECRET = "fake-oauth-client-secret"


def sign_webhook(body: bytes, secret: str = WEBHOOK_SECRET) -> str:
    """``X-Hub-Signature-256`` as GitHub computes it: ``sha256=`` + hex HMAC of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def make_zip(files: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A zip archive holding ``files``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@dataclass
class Call:
    """One request the fake received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    raw_path: str = ""


@dataclass
class Issue:
    number: int
    title: str
    body: str
    state: str = "open"
    labels: list[str] = field(default_factory=list)
    assignees: list[str] = field(default_factory=list)
    state_reason: str | None = None
    comments: list[str] = field(default_factory=list)


class _Server:
    """A ThreadingHTTPServer on 127.0.0.1 answering through ``respond``."""

    def __init__(self, respond: Any) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                status, headers, body = respond(self.command, self.path, dict(self.headers), raw)
                payload = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                if not isinstance(body, bytes):
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                # the client may stop reading (a download over the size cap)
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()
        del owner

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class FakeGitHub:
    """Answers the GitHub REST calls FlakeGuard makes, records them, and fails on demand."""

    def __init__(self, public_key_pem: str, *, app_id: int = APP_ID) -> None:
        self.public_key = public_key_pem
        self.app_id = app_id
        self.calls: list[Call] = []
        self.blob_calls: list[Call] = []
        self._lock = threading.RLock()
        self._ids = itertools.count(1001)
        self.tokens: dict[str, int] = {}
        self.token_ttl = timedelta(hours=1)
        # failure switches
        self.storm = False  # every API call answers 500
        self.rate_limited = 0  # the next N API calls answer 429 with Retry-After
        self.secondary_limited = 0  # the next N answer 403 "secondary rate limit" + Retry-After
        self.gone_repos: set[str] = set()
        self.removed_installations: set[int] = set()
        self.unassignable: set[str] = set()  # logins GitHub refuses to assign (422)
        self.hidden_labels: set[str] = set()  # exist (create answers 422) but are not listed
        # state
        self.check_runs: dict[int, dict[str, Any]] = {}
        self.annotations: dict[int, list[dict[str, Any]]] = {}
        self.issues: dict[str, dict[int, Issue]] = {}
        self.labels: dict[str, dict[str, dict[str, Any]]] = {}
        self.workflow_runs: dict[tuple[str, int], dict[str, Any]] = {}
        self.artifacts: dict[tuple[str, int], list[dict[str, Any]]] = {}
        self.blobs: dict[int, bytes] = {}
        # the link flow: users, their OAuth codes and tokens, installations, memberships
        self.users: dict[str, dict[str, Any]] = {}
        self.oauth_codes: dict[str, str] = {}
        self.user_tokens: dict[str, str] = {}
        self.user_installations: dict[str, list[dict[str, Any]]] = {}
        self.memberships: dict[tuple[str, str], dict[str, str]] = {}
        # repository contents: (repo, ref, path) -> bytes; team members: (org, slug) -> logins
        self.contents: dict[tuple[str, str, str], bytes] = {}
        self.teams: dict[tuple[str, str], list[str]] = {}
        self.api = _Server(self._respond)
        self.blob = _Server(self._respond_blob)

    @property
    def url(self) -> str:
        return self.api.url

    def close(self) -> None:
        self.api.close()
        self.blob.close()

    # -- helpers for tests ----------------------------------------------------------------

    def calls_to(self, method: str, pattern: str) -> list[Call]:
        """Recorded calls whose method matches and whose path matches the regex ``pattern``."""
        rx = re.compile(pattern)
        return [c for c in self.calls if c.method == method and rx.search(c.path)]

    def add_workflow_run(
        self,
        run_id: int,
        *,
        repo: str = REPO,
        head_sha: str = "a" * 40,
        branch: str = "main",
        name: str = "CI",
        attempt: int = 1,
        pr: int | None = None,
        started_at: str = "2026-11-29T08:00:00Z",
        fork: str | None = None,
    ) -> None:
        """A workflow run GitHub knows (artifacts are added with ``add_artifact``).

        ``fork``: the owner/name of the fork the run's commit comes from (a pull
        request from a fork); by default the commit is the repository's own.
        """
        base = f"{self.url}/repos/{repo}/actions/runs/{run_id}"
        head = fork or repo
        self.workflow_runs[(repo, run_id)] = {
            "id": run_id,
            "name": name,
            "head_sha": head_sha,
            "head_branch": branch,
            "run_attempt": attempt,
            "status": "completed",
            "conclusion": "failure",
            "pull_requests": [{"number": pr, "id": pr}] if pr else [],
            "run_started_at": started_at,
            "created_at": "2026-11-29T07:59:00Z",
            "repository": {"id": REPO_GITHUB_ID, "full_name": repo},
            "head_repository": {
                "id": FORK_GITHUB_ID if fork else REPO_GITHUB_ID,
                "full_name": head,
                "owner": {"login": head.split("/")[0]},
            },
            "url": base,
            "artifacts_url": f"{base}/artifacts",
        }
        self.artifacts.setdefault((repo, run_id), [])

    def add_artifact(
        self,
        run_id: int,
        name: str,
        data: bytes,
        *,
        repo: str = REPO,
        expired: bool = False,
        size: int | None = None,
    ) -> int:
        """An artifact of a run whose zip download redirects to the blob server."""
        artifact_id = next(self._ids)
        self.blobs[artifact_id] = data
        self.artifacts.setdefault((repo, run_id), []).append(
            {
                "id": artifact_id,
                "name": name,
                "size_in_bytes": len(data) if size is None else size,
                "expired": expired,
                "url": f"{self.url}/repos/{repo}/actions/artifacts/{artifact_id}",
                "archive_download_url": (
                    f"{self.url}/repos/{repo}/actions/artifacts/{artifact_id}/zip"
                ),
            }
        )
        return artifact_id

    def add_user(
        self,
        login: str,
        user_id: int,
        *,
        installations: list[dict[str, Any]] = (),  # type: ignore[assignment]
        memberships: dict[str, tuple[str, str]] | None = None,
    ) -> str:
        """A GitHub user who can sign in; returns the OAuth code GitHub would hand back.

        ``installations``: what ``GET /user/installations`` lists for them (see
        ``installation_json``); ``memberships``: org login -> (role, state).
        """
        self.users[login] = {"login": login, "id": user_id, "type": "User"}
        self.user_installations[login] = list(installations)
        for org, (role, state) in (memberships or {}).items():
            self.memberships[(org.lower(), login)] = {"role": role, "state": state}
        code = f"code-{uuid.uuid4().hex[:12]}"
        self.oauth_codes[code] = login
        return code

    def installation_json(
        self,
        installation_id: int,
        account: str,
        account_id: int,
        *,
        account_type: str = "Organization",
        app_id: int | None = None,
    ) -> dict[str, Any]:
        """An installation as ``GET /user/installations`` lists it."""
        return {
            "id": installation_id,
            "app_id": self.app_id if app_id is None else app_id,
            "target_type": account_type,
            "account": {"login": account, "id": account_id, "type": account_type},
            "permissions": {"checks": "write"},
            "events": ["workflow_run"],
        }

    def put_file(
        self, path: str, content: str | bytes, *, repo: str = REPO, ref: str = "main"
    ) -> None:
        """Make ``path`` exist on ``ref`` of ``repo`` (answered by the contents API)."""
        data = content.encode() if isinstance(content, str) else content
        self.contents[(repo, ref, path)] = data

    def add_team(self, org: str, slug: str, members: list[str]) -> None:
        """Make team ``org/slug`` exist with ``members`` (logins)."""
        self.teams[(org.lower(), slug.lower())] = list(members)

    def open_issues(self, repo: str = REPO) -> list[Issue]:
        return [i for i in self.issues.get(repo, {}).values() if i.state == "open"]

    # -- the API server --------------------------------------------------------------------

    def _respond(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> Any:
        parts = urlsplit(target)
        path = unquote(parts.path)
        if path.startswith(GHES_PREFIX):  # GitHub Enterprise Server serves the API under /api/v3
            path = path[len(GHES_PREFIX) :]
        query = dict(parse_qsl(parts.query))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        with self._lock:
            self.calls.append(Call(method, path, query, headers, body, raw_path=parts.path))
            if self.storm:
                return 500, {}, {"message": "Server Error"}
            if self.rate_limited > 0:
                self.rate_limited -= 1
                return 429, {"Retry-After": "0"}, {"message": "API rate limit exceeded"}
            if self.secondary_limited > 0:
                self.secondary_limited -= 1
                return (
                    403,
                    {"Retry-After": "0"},
                    {"message": "You have exceeded a secondary rate limit. Please wait."},
                )
            match = re.fullmatch(r"/app/installations/(\d+)/access_tokens", path)
            if match and method == "POST":
                return self._access_token(int(match.group(1)), headers)
            if path == "/login/oauth/access_token" and method == "POST":
                return self._oauth_token(raw)
            if path.startswith("/user"):
                return self._user(method, path, headers)
            auth = headers.get("Authorization", "")
            if not auth.startswith("token ") or auth[6:] not in self.tokens:
                return 401, {}, {"message": "Bad credentials"}
            match = re.fullmatch(r"/orgs/([^/]+)/teams/([^/]+)(/members)?", path)
            if match and method == "GET":
                return self._team(match.group(1), match.group(2), bool(match.group(3)))
            match = re.match(r"/repos/([^/]+/[^/]+)(/.*)?$", path)
            if not match:
                return 404, {}, {"message": "Not Found"}
            repo, rest = match.group(1), match.group(2) or ""
            if repo in self.gone_repos:
                return 404, {}, {"message": "Not Found"}
            return self._repo(method, repo, rest, query, body)

    def _access_token(self, installation_id: int, headers: dict[str, str]) -> Any:
        auth = headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return 401, {}, {"message": "A JSON web token could not be decoded"}
        try:
            claims = jwt.decode(auth[7:], self.public_key, algorithms=["RS256"])
        except jwt.PyJWTError as exc:
            return 401, {}, {"message": f"JWT rejected: {exc}"}
        if str(claims.get("iss")) != str(self.app_id):
            return 401, {}, {"message": "JWT issuer is not this App"}
        if installation_id in self.removed_installations:
            return 404, {}, {"message": "Not Found"}
        token = f"ghs_{uuid.uuid4().hex}"
        self.tokens[token] = installation_id
        expires = (datetime.now(UTC) + self.token_ttl).strftime("%Y-%m-%dT%H:%M:%SZ")
        return 201, {}, {"token": token, "expires_at": expires, "permissions": {}}

    def _oauth_token(self, raw: bytes) -> Any:
        # GitHub answers a refused exchange with 200 and an ``error`` field.
        form = dict(parse_qsl(raw.decode()))
        if (form.get("client_id"), form.get("client_secret")) != (
            OAUTH_CLIENT_ID,
            OAUTH_CLIENT_SECRET,
        ):
            return 200, {}, {"error": "incorrect_client_credentials"}
        login = self.oauth_codes.pop(form.get("code", ""), None)
        if login is None:
            return 200, {}, {"error": "bad_verification_code"}
        token = f"ghu_{uuid.uuid4().hex}"
        self.user_tokens[token] = login
        return 200, {}, {"access_token": token, "token_type": "bearer", "scope": ""}

    def _user(self, method: str, path: str, headers: dict[str, str]) -> Any:
        auth = headers.get("Authorization", "")
        login = self.user_tokens.get(auth.removeprefix("token ").removeprefix("Bearer "))
        if login is None:
            return 401, {}, {"message": "Bad credentials"}
        if path == "/user" and method == "GET":
            return 200, {}, self.users[login]
        if path == "/user/installations" and method == "GET":
            listed = self.user_installations.get(login, [])
            return 200, {}, {"total_count": len(listed), "installations": listed}
        match = re.fullmatch(r"/user/memberships/orgs/([^/]+)", path)
        if match and method == "GET":
            membership = self.memberships.get((match.group(1).lower(), login))
            if membership is None:
                return 404, {}, {"message": "Not Found"}
            org = {"login": match.group(1)}
            return 200, {}, {**membership, "organization": org, "user": self.users[login]}
        return 404, {}, {"message": f"fake GitHub has no route {method} {path}"}

    def _issue_json(self, repo: str, issue: Issue) -> dict[str, Any]:
        url = f"{self.url}/repos/{repo}/issues/{issue.number}"
        return {
            "id": issue.number * 10,
            "number": issue.number,
            "title": issue.title,
            "body": issue.body,
            "state": issue.state,
            "state_reason": issue.state_reason,
            "labels": [self._label_json(repo, name) for name in issue.labels],
            "assignees": [{"login": login, "id": 1, "type": "User"} for login in issue.assignees],
            "url": url,
            "html_url": f"https://github.test/{repo}/issues/{issue.number}",
            "comments_url": f"{url}/comments",
            "labels_url": f"{url}/labels{{/name}}",
            "comments": len(issue.comments),
        }

    def _label_json(self, repo: str, name: str) -> dict[str, Any]:
        label = self.labels.get(repo, {}).get(name, {"color": "ededed", "description": ""})
        return {
            "name": name,
            "color": label.get("color", "ededed"),
            "description": label.get("description", ""),
            "url": f"{self.url}/repos/{repo}/labels/{name}",
        }

    def _team(self, org: str, slug: str, members: bool) -> Any:
        logins = self.teams.get((org.lower(), slug.lower()))
        if logins is None:
            return 404, {}, {"message": "Not Found"}
        if members:
            return (
                200,
                {},
                [{"login": login, "id": n, "type": "User"} for n, login in enumerate(logins)],
            )
        team = {
            "id": sum(map(ord, f"{org}/{slug}")),
            "slug": slug,
            "name": slug,
            "url": f"{self.url}/orgs/{org}/teams/{slug}",
        }
        return 200, {}, team

    def _contents(self, repo: str, path: str, ref: str) -> Any:
        data = self.contents.get((repo, ref, path))
        if data is None:
            return 404, {}, {"message": "Not Found"}
        return (
            200,
            {},
            {
                "type": "file",
                "encoding": "base64",
                "size": len(data),
                "name": path.rsplit("/", 1)[-1],
                "path": path,
                "sha": hashlib.sha1(data).hexdigest(),
                "content": base64.b64encode(data).decode(),
                "url": f"{self.url}/repos/{repo}/contents/{path}?ref={ref}",
            },
        )

    def _repo(self, method: str, repo: str, rest: str, query: dict[str, str], body: Any) -> Any:
        issues = self.issues.setdefault(repo, {})
        if rest.startswith("/contents/") and method == "GET":
            return self._contents(repo, rest[len("/contents/") :], query.get("ref", "main"))
        labels = self.labels.setdefault(repo, {})
        if rest == "/check-runs" and method == "POST":
            run_id = next(self._ids)
            run = copy.deepcopy(body)
            notes = run.get("output", {}).pop("annotations", []) if run.get("output") else []
            run.update(id=run_id, url=f"{self.url}/repos/{repo}/check-runs/{run_id}")
            self.check_runs[run_id] = run
            self.annotations[run_id] = list(notes)
            return 201, {}, run
        match = re.fullmatch(r"/commits/([0-9a-f]+)/check-runs", rest)
        if match and method == "GET":
            found = [
                run
                for run in self.check_runs.values()
                if run["head_sha"] == match.group(1)
                and query.get("check_name", run["name"]) == run["name"]
            ]
            return 200, {}, {"total_count": len(found), "check_runs": found}
        match = re.fullmatch(r"/check-runs/(\d+)(/annotations)?", rest)
        if match:
            run_id = int(match.group(1))
            if run_id not in self.check_runs:
                return 404, {}, {"message": "Not Found"}
            if match.group(2) and method == "GET":
                return 200, {}, self.annotations[run_id]
            if method == "PATCH":
                output = copy.deepcopy(body.get("output") or {})
                self.annotations[run_id].extend(output.pop("annotations", []))
                update = {k: v for k, v in body.items() if k != "output"}
                if output:
                    update["output"] = output
                self.check_runs[run_id].update(update)
                return 200, {}, self.check_runs[run_id]
            return 200, {}, self.check_runs[run_id]
        if rest == "/labels":
            if method == "GET":
                return 200, {}, [self._label_json(repo, name) for name in labels]
            if body["name"] in labels or body["name"] in self.hidden_labels:
                exists = {"message": "Validation Failed", "errors": [{"code": "already_exists"}]}
                return 422, {}, exists
            labels[body["name"]] = body
            return 201, {}, self._label_json(repo, body["name"])
        writes_assignees = (
            rest.startswith("/issues") and isinstance(body, dict) and method in ("POST", "PATCH")
        )
        if writes_assignees and set(body.get("assignees") or []) & self.unassignable:
            return 422, {}, {"message": "Validation Failed", "errors": [{"field": "assignees"}]}
        if rest == "/issues":
            if method == "POST":
                number = max(issues, default=0) + 1
                issue = Issue(
                    number=number,
                    title=body["title"],
                    body=body.get("body", ""),
                    labels=list(body.get("labels", [])),
                    assignees=list(body.get("assignees", [])),
                )
                for name in issue.labels:
                    labels.setdefault(name, {"name": name, "color": "ededed"})
                issues[number] = issue
                return 201, {}, self._issue_json(repo, issue)
            state = query.get("state", "open")
            wanted = [x for x in query.get("labels", "").split(",") if x]
            found = [
                self._issue_json(repo, i)
                for i in issues.values()
                if (state == "all" or i.state == state) and all(w in i.labels for w in wanted)
            ]
            return 200, {}, found
        match = re.fullmatch(r"/issues/(\d+)(/comments|/labels(?:/(.+))?)?", rest)
        if match:
            issue = issues.get(int(match.group(1)))
            if issue is None:
                return 404, {}, {"message": "Not Found"}
            sub = match.group(2) or ""
            if sub == "/comments":
                if method == "POST":
                    issue.comments.append(body["body"])
                    return 201, {}, {"id": next(self._ids), "body": body["body"]}
                return 200, {}, [{"id": n, "body": c} for n, c in enumerate(issue.comments)]
            if sub.startswith("/labels"):
                if method == "POST":
                    names = body if isinstance(body, list) else body.get("labels", [])
                    for name in names:
                        if name not in issue.labels:
                            issue.labels.append(name)
                elif method == "DELETE":
                    name = match.group(3)
                    if name not in issue.labels:
                        return 404, {}, {"message": "Label does not exist"}
                    issue.labels.remove(name)
                return 200, {}, [self._label_json(repo, name) for name in issue.labels]
            if method == "PATCH":
                for key in ("title", "body", "state", "state_reason"):
                    if key in body:
                        setattr(issue, key, body[key])
                if "assignees" in body:
                    issue.assignees = list(body["assignees"])
                if "labels" in body:
                    issue.labels = list(body["labels"])
            return 200, {}, self._issue_json(repo, issue)
        match = re.fullmatch(r"/actions/runs/(\d+)(/artifacts)?", rest)
        if match and method == "GET":
            run_id = int(match.group(1))
            run = self.workflow_runs.get((repo, run_id))
            if run is None:
                return 404, {}, {"message": "Not Found"}
            if match.group(2):
                listed = self.artifacts.get((repo, run_id), [])
                return 200, {}, {"total_count": len(listed), "artifacts": listed}
            return 200, {}, run
        match = re.fullmatch(r"/actions/artifacts/(\d+)/zip", rest)
        if match and method == "GET":
            artifact_id = int(match.group(1))
            if artifact_id not in self.blobs:
                return 410, {}, {"message": "Artifact has expired"}
            location = f"{self.blob.url}/blob/{artifact_id}?sig=signed"
            return 302, {"Location": location}, b""
        return 404, {}, {"message": f"fake GitHub has no route {method} {rest}"}

    # -- the blob server (another port: a different origin) --------------------------------

    def _respond_blob(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> Any:
        parts = urlsplit(target)
        with self._lock:
            query = dict(parse_qsl(parts.query))
            self.blob_calls.append(Call(method, parts.path, query, headers, None))
        match = re.fullmatch(r"/blob/(\d+)", parts.path)
        if not match or int(match.group(1)) not in self.blobs:
            return 404, {}, b"no such blob"
        return 200, {"Content-Type": "application/zip"}, self.blobs[int(match.group(1))]


# -- fixtures ---------------------------------------------------------------------------------


def rsa_key_pair() -> tuple[str, str]:
    """A fresh RSA key pair (private PEM, public PEM) for the App JWT."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


@pytest.fixture(scope="session")
def github_rsa_key() -> tuple[str, str]:
    """A fresh RSA key pair (private PEM, public PEM) for the App JWT."""
    return rsa_key_pair()


@pytest.fixture
def fake_github(github_rsa_key: tuple[str, str]) -> Iterator[FakeGitHub]:
    """The fake GitHub API and its blob server, fresh per test."""
    fake = FakeGitHub(github_rsa_key[1])
    yield fake
    fake.close()


class ManualClock:
    """A monotonic clock the test moves by hand (for the circuit breaker)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def breaker_clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def github_settings(settings: Any, fake_github: FakeGitHub, github_rsa_key: tuple[str, str]) -> Any:
    """Settings with the GitHub App on, pointing at the fake."""
    return dataclasses.replace(
        settings,
        github_app_id=APP_ID,
        github_app_private_key=github_rsa_key[0],
        github_webhook_secret=WEBHOOK_SECRET,
        github_api_url=fake_github.url,
    )


@pytest.fixture
def github_client(github_settings: Any, breaker_clock: ManualClock) -> Any:
    """Our client on the fake: real GithubRetry without backoff, breaker after 3 failures."""
    from integrations.github.client import CircuitBreaker, GitHubClient, default_retry

    return GitHubClient.from_settings(
        github_settings,
        retry=default_retry(total=2, backoff_factor=0, secondary_rate_wait=0),
        breaker=CircuitBreaker(threshold=3, cooldown=60, clock=breaker_clock),
        throttle=False,
        timeout=10,
    )


@pytest.fixture
def github_app(github_settings: Any, database: object, github_client: Any) -> Iterator[Any]:
    """The Flask app with GitHub on and our client injected (tasks use it too)."""
    from flakeguard.app import create_app
    from flakeguard.settings import Settings

    application = create_app(github_settings, github=github_client)
    application.testing = True
    yield application
    import tasks
    from tasks import github as github_tasks

    github_tasks.use_client(None)
    tasks.configure(Settings(queue_mode="immediate"))


@pytest.fixture
def github_http(github_app: Any) -> Any:
    """A Flask test client of the GitHub-enabled app."""
    return github_app.test_client()


class WebhookSender:
    """Posts webhooks to /github/webhook signed exactly as GitHub signs them."""

    def __init__(self, http: Any) -> None:
        self.http = http

    def send(
        self,
        event: str,
        payload: dict[str, Any],
        *,
        delivery: str | None = None,
        secret: str = WEBHOOK_SECRET,
        signature: str | None = None,
    ) -> Any:
        body = json.dumps(payload).encode()
        if signature is None:
            signature = sign_webhook(body, secret)
        headers = {
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
            "X-Hub-Signature-256": signature,
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/fake",
        }
        return self.http.post("/github/webhook", data=body, headers=headers)


@pytest.fixture
def github_hook(github_http: Any) -> WebhookSender:
    """Send signed webhooks to the app."""
    return WebhookSender(github_http)
