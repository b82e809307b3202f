"""A live FlakeGuard for the operations tests and benches: gunicorn (with the repository's
gunicorn.conf.py) on a fresh PostgreSQL database, optionally on a redis-server of its own.

``tests/ops`` uses it under pytest; ``bench/`` scripts import it too (no pytest needed
there). Every process listens on 127.0.0.1 on a free port and is stopped on exit.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from tests.cli.conftest import clean_env
from tests.conftest import scratch_pg_database
from tests.processes import free_port, run_to_end, stop_process

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DEADLINE = 60.0
SHA = "d" * 40


def poll(condition: Callable[[], Any], what: str, timeout: float = DEADLINE) -> Any:
    """Poll ``condition`` until truthy; RuntimeError naming ``what`` after ``timeout``."""
    end = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > end:
            raise RuntimeError(f"gave up waiting for {what}")
        time.sleep(0.05)


class RedisServer:
    """A dedicated redis-server on its own port, without persistence: stop, freeze, thaw."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        conn = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        poll(lambda: _pings(conn), "redis-server to answer")
        conn.close()

    def freeze(self) -> None:
        """SIGSTOP: the port still accepts connections, nothing answers."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.thaw()  # a stopped process would not act on SIGTERM
            self.proc.terminate()
            self.proc.wait(timeout=DEADLINE)
        self.proc = None


def _pings(conn: redis.Redis) -> bool:
    try:
        return bool(conn.ping())
    except redis.RedisError:
        return False


@dataclass
class LiveServer:
    """A running gunicorn serving FlakeGuard."""

    url: str
    port: int
    env: dict[str, str]
    database_url: str
    log: Path

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_to_end([str(BIN / "flakeguard"), *args], cwd=self.log.parent, env=self.env)

    def add_repository(self, full_name: str) -> str:
        """Create ``full_name`` and return its ingest token."""
        done = self.cli("repo", "add", full_name)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip().rsplit(" ", 1)[-1]

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def request(
    url: str,
    *,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> tuple[int, bytes, float]:
    """(status, body, seconds) of one HTTP request; an error status is an answer too."""
    started = time.perf_counter()
    req = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, response.read(), time.perf_counter() - started
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), time.perf_counter() - started


def upload(base: str, token: str, *, run_id: str, repo: str = "acme/shop") -> tuple[int, float]:
    """POST a two-test report; (status, seconds)."""
    query = urllib.parse.urlencode({"repo": repo, "sha": SHA, "run_id": run_id, "job": "t"})
    body = (
        b'<testsuite name="s"><testcase classname="c" name="a"/>'
        b'<testcase classname="c" name="b"><failure message="x"/></testcase></testsuite>'
    )
    status, answer, seconds = request(
        f"{base}/api/v1/reports?{query}",
        data=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/xml"},
    )
    if status == 201:
        assert json.loads(answer)["run_id"]
    return status, seconds


@contextmanager
def live_flakeguard(
    workdir: Path, *, redis_url: str | None = None, **env: str
) -> Iterator[LiveServer]:
    """Migrate a fresh PostgreSQL database and serve it with gunicorn (2 workers x 4 threads,
    the Procfile's shape) until the block ends."""
    with scratch_pg_database("flakeguard_live") as database_url:
        port = free_port()
        server_env = clean_env(
            DATABASE_URL=database_url,
            FLAKEGUARD_PUBLIC_URL=f"http://127.0.0.1:{port}",
            FLAKEGUARD_QUEUE_NAME=f"live-{uuid.uuid4().hex[:8]}",
            FLAKEGUARD_LOG_FORMAT="text",
            PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            PYTHONUNBUFFERED="1",
            **({"REDIS_URL": redis_url} if redis_url else {}),
            **env,
        )
        server = LiveServer(
            f"http://127.0.0.1:{port}", port, server_env, database_url, workdir / "web.log"
        )
        migrated = server.cli("migrate")
        assert migrated.returncode == 0, migrated.stderr
        with server.log.open("wb") as log:
            proc = subprocess.Popen(
                [
                    str(BIN / "gunicorn"),
                    "--config", str(ROOT / "gunicorn.conf.py"),
                    "--bind", f"127.0.0.1:{port}",
                    "--workers", "2",
                    "--threads", "4",
                    "flakeguard.app:create_app()",
                ],
                env=server_env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            poll(lambda: _answers(server.url + "/health/ready"), "gunicorn to be ready")
            yield server
        finally:
            stop_process(proc, timeout=30)


def _answers(url: str) -> bool:
    try:
        return request(url, timeout=2)[0] == 200
    except OSError:
        return False
