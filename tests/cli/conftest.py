"""Helpers to run the real ``flakeguard`` console script in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.processes import free_port, run_to_end, stop_process

FLAKEGUARD = str(Path(sys.executable).with_name("flakeguard"))
BASE_ENV_DROP = (
    "DATABASE_URL",
    "REDIS_URL",
    "SLACK_SIGNING_SECRET",
    "SLACK_BOT_TOKEN",
    "SLACK_CLIENT_ID",
    "SLACK_CLIENT_SECRET",
    "GITHUB_APP_ID",
    "GITHUB_APP_PRIVATE_KEY",
    "GITHUB_WEBHOOK_SECRET",
    "PORT",
    "FLAKEGUARD_SECRET_KEY",
    "GITHUB_CLIENT_ID",
    "GITHUB_CLIENT_SECRET",
)


def clean_env(**extra: str) -> dict[str, str]:
    """The current environment without FlakeGuard's variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in BASE_ENV_DROP}
    env.update(extra)
    return env


def run_cli(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``flakeguard ARGS`` and capture its output."""
    return run_to_end([FLAKEGUARD, *args], cwd=cwd, env=clean_env(**env), timeout=60)


def wait_for(url: str, *, deadline_s: float = 30.0) -> tuple[int, bytes]:
    """Poll ``url`` until it answers (any status) or the deadline passes."""
    end = time.monotonic() + deadline_s
    last: Exception | None = None
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except OSError as exc:  # not listening yet
            last = exc
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer: {last}")


@contextmanager
def serving(cwd: Path, **env: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """Start ``flakeguard serve`` on a free port; stop it afterwards."""
    port = free_port()
    log = (cwd / "serve.log").open("w")
    proc = subprocess.Popen(
        [FLAKEGUARD, "serve", "--port", str(port)],
        cwd=cwd,
        env=clean_env(**env),
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield f"http://127.0.0.1:{port}", proc
    finally:
        stop_process(proc, timeout=15)
        log.close()


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path
