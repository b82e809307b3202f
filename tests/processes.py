"""Helpers for tests that run FlakeGuard, its worker or its CI client as a separate process."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from werkzeug.serving import make_server

# Variables of a CI machine (and FlakeGuard's own) that would change what the CI client does.
CI_VARIABLES = (
    "GITHUB_ACTIONS",
    "GITLAB_CI",
    "BUILDKITE",
    "CIRCLECI",
    "JENKINS_URL",
    "JENKINS_HOME",
    "FLAKEGUARD_URL",
    "FLAKEGUARD_TOKEN",
)


BIN = Path(sys.executable).parent  # this environment's console scripts


def gunicorn_command(port: int, *options: str, workers: int = 2) -> list[str]:
    """gunicorn serving FlakeGuard's app factory on 127.0.0.1:``port``, with ``options``."""
    return [
        str(BIN / "gunicorn"),
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        *options,
        "flakeguard.app:create_app()",
    ]


def fakes_env(slack_api_url: str, github_api_url: str, private_key: str) -> dict[str, str]:
    """The variables that point a FlakeGuard process's Slack and GitHub App at the fakes."""
    from tests.fakes.github import APP_ID, WEBHOOK_SECRET
    from tests.fakes.slack import BOT_TOKEN, SIGNING_SECRET

    return {
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_API_URL": slack_api_url,
        "GITHUB_APP_ID": str(APP_ID),
        "GITHUB_APP_PRIVATE_KEY": private_key,
        "GITHUB_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "GITHUB_API_URL": github_api_url,
    }


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_process(proc: subprocess.Popen[Any], *, timeout: float) -> None:
    """SIGTERM, then SIGKILL when it has not exited after ``timeout`` seconds."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def unused_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (a port just released)."""
    return f"http://127.0.0.1:{free_port()}"


@contextmanager
def served(app: Callable[..., Any]) -> Iterator[str]:
    """A WSGI app served over HTTP on 127.0.0.1 in a thread of this process: its base URL."""
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def run_to_end(
    command: list[str], *, cwd: Any, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run a command to its end, capturing its text output; the exit code is the test's to judge."""
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
