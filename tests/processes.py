"""Helpers for tests that run FlakeGuard, its worker or its CI client as a separate process."""

from __future__ import annotations

import socket
import subprocess
from typing import Any

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
