"""The whole stack as in production: gunicorn + a Huey worker process on PostgreSQL and Redis,
talking to the fake Slack and GitHub servers over HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest
import redis

from tests.cli.conftest import clean_env, free_port, wait_for
from tests.conftest import PG_ADMIN_URL, REDIS_TEST_URL, service_missing
from tests.fakes.github import INSTALLATION_ID, FakeGitHub, sign_webhook
from tests.fakes.slack import FakeSlack, SlackRequests
from tests.processes import BIN, fakes_env, gunicorn_command, run_to_end, stop_process

T = TypeVar("T")


class HttpResponse:
    """The little of a Flask test response that SlackRequests' callers read."""

    def __init__(self, status: int, data: bytes) -> None:
        self.status_code = status
        self.data = data

    def get_json(self) -> Any:
        return json.loads(self.data) if self.data else None


class HttpClient:
    """POSTs to the running server, shaped like Flask's test client."""

    def __init__(self, base: str) -> None:
        self.base = base

    def post(self, path: str, *, data: bytes | str, headers: dict[str, str]) -> HttpResponse:
        body = data.encode() if isinstance(data, str) else data
        request = urllib.request.Request(self.base + path, data=body, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return HttpResponse(response.status, response.read())
        except urllib.error.HTTPError as exc:
            return HttpResponse(exc.code, exc.read())


def eventually(probe: Callable[[], T | None], what: str, *, deadline_s: float = 180.0) -> T:
    """Poll ``probe`` until it returns something truthy (the worker is asynchronous)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        value = probe()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class Stack:
    """The running FlakeGuard and its surroundings."""

    url: str
    env: dict[str, str]
    slack: SlackRequests
    fake_slack: FakeSlack
    fake_github: FakeGitHub
    workdir: Path

    def cli(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return run_to_end(
            [str(BIN / "flakeguard"), *args], cwd=self.workdir, env={**self.env, **env}
        )

    def webhook(self, event: str, payload: dict[str, Any]) -> HttpResponse:
        body = json.dumps(payload).encode()
        return HttpClient(self.url).post(
            "/github/webhook",
            data=body,
            headers={
                "X-GitHub-Event": event,
                "X-GitHub-Delivery": str(uuid.uuid4()),
                "X-Hub-Signature-256": sign_webhook(body),
                "Content-Type": "application/json",
            },
        )

    def upload(self, token: str, xml: bytes, **meta: str) -> dict[str, Any]:
        query = urllib.parse.urlencode(meta)
        request = urllib.request.Request(
            f"{self.url}/api/v1/reports?{query}",
            data=xml,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/xml"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status in (200, 201)
            return json.loads(response.read())


class Process:
    """A child process whose output goes to a log file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self.handle = log.open("wb")
        self.proc = subprocess.Popen(
            args, env=env, stdout=self.handle, stderr=subprocess.STDOUT, cwd=log.parent
        )

    def stop(self) -> None:
        stop_process(self.proc, timeout=20)
        self.handle.close()

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture
def stack(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    fake_slack: FakeSlack,
    github_rsa_key: tuple[str, str],
) -> Iterator[Stack]:
    """Migrate a fresh PostgreSQL database, start gunicorn and a worker on Redis."""
    name = f"flakeguard_e2e_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        service_missing("PostgreSQL", exc)
    redis_url = REDIS_TEST_URL.rsplit("/", 1)[0] + "/14"
    queue = redis.Redis.from_url(redis_url)
    try:
        queue.flushdb()
    except redis.RedisError as exc:
        service_missing("Redis", exc)
    fake_github = FakeGitHub(github_rsa_key[1])
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = clean_env(
        DATABASE_URL=f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}",
        REDIS_URL=redis_url,
        **fakes_env(fake_slack.api_url, fake_github.url, github_rsa_key[0]),
        FLAKEGUARD_PUBLIC_URL=url,
        FLAKEGUARD_URL=url,
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        PYTHONUNBUFFERED="1",
        FLAKEGUARD_QUEUE_NAME=f"e2e-{uuid.uuid4().hex[:8]}",
    )
    stack = Stack(
        url, env, SlackRequests(HttpClient(url), fake_slack), fake_slack, fake_github, tmp_path
    )
    migrated = stack.cli("migrate")
    assert migrated.returncode == 0, migrated.stderr
    web = Process(
        gunicorn_command(port, "--threads", "4"),
        env,
        tmp_path / "web.log",
    )
    worker = Process(
        [
            str(BIN / "huey_consumer"),
            "tasks.worker.huey",
            "--workers",
            "2",
            "--worker-type",
            "thread",
        ],
        env,
        tmp_path / "worker.log",
    )
    try:
        status, body = wait_for(url + "/health/ready", deadline_s=60)
        assert status == 200, body
        response = stack.webhook(
            "installation",
            {
                "action": "created",
                "installation": {
                    "id": INSTALLATION_ID,
                    "account": {"login": "acme", "type": "Organization"},
                },
                "repositories": [{"id": 1, "full_name": "acme/widgets", "name": "widgets"}],
            },
        )
        assert response.status_code == 200, response.data
        yield stack
        if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
            print("--- web log\n" + web.tail() + "\n--- worker log\n" + worker.tail())
    except BaseException:
        print("--- web log\n" + web.tail() + "\n--- worker log\n" + worker.tail())
        raise
    finally:
        web.stop()
        worker.stop()
        fake_github.close()
        queue.flushdb()
        queue.close()
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Remember each phase's report so the stack fixture can show logs of a failed test."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
