"""A live FlakeGuard for the operations tests and benches: gunicorn (with the repository's
gunicorn.conf.py) on a fresh PostgreSQL database, optionally on a redis-server of its own.

``tests/ops`` uses it under pytest; ``bench/`` scripts import it too (no pytest needed
there). Every process listens on 127.0.0.1 on a free port and is stopped on exit.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import subprocess
import threading
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
from tests.processes import BIN, free_port, gunicorn_command, run_to_end, stop_process

ROOT = Path(__file__).resolve().parents[2]
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

    def unanalyzed_runs(self, ci_run_prefix: str) -> int:
        """How many stored runs whose CI run id starts with ``ci_run_prefix`` wait for analysis."""
        import psycopg

        with psycopg.connect(self.database_url) as conn:
            row = conn.execute(
                "SELECT count(*) FROM test_run WHERE ci_run_id LIKE %s AND analyzed_at IS NULL",
                (ci_run_prefix + "%",),
            ).fetchone()
        return int(row[0]) if row else 0


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
    workdir: Path, *, redis_url: str | None = None, workers: int = 2, **env: str
) -> Iterator[LiveServer]:
    """Migrate a fresh PostgreSQL database and serve it with gunicorn (2 workers x 4 threads,
    the Procfile's shape, unless ``workers`` says otherwise) until the block ends."""
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
                gunicorn_command(
                    port,
                    "--config",
                    str(ROOT / "gunicorn.conf.py"),
                    "--threads",
                    "4",
                    workers=workers,
                ),
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


# -- nginx with deploy/nginx.conf in front, and slow clients --------------------------------


def nginx_binary() -> str | None:
    """The nginx executable (Debian installs it in /usr/sbin, often not on PATH), or None."""
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None


def nginx_config(upstream_port: int, listen_port: int, workdir: Path) -> Path:
    """deploy/nginx.conf with only the upstream address, the port and writable paths changed."""
    text = (ROOT / "deploy" / "nginx.conf").read_text()
    replaced = {
        "server web:8000;": f"server 127.0.0.1:{upstream_port};",
        "listen 8080;": f"listen 127.0.0.1:{listen_port};",
        "http {": (
            f"http {{\n    client_body_temp_path {workdir}/body;\n"
            f"    proxy_temp_path {workdir}/proxy;"
        ),
    }
    for old, new in replaced.items():
        assert text.count(old) == 1, f"deploy/nginx.conf no longer has {old!r}"
        text = text.replace(old, new)
    path = workdir / "nginx.conf"
    path.write_text(f"pid {workdir}/nginx.pid;\nerror_log {workdir}/error.log;\n" + text)
    return path


@contextmanager
def nginx_in_front(upstream_port: int, workdir: Path) -> Iterator[tuple[str, int]]:
    """nginx with the shipped config proxying to ``upstream_port``: (url, port) until the
    block ends. RuntimeError when nginx is not installed."""
    binary = nginx_binary()
    if binary is None:
        raise RuntimeError("nginx is not installed (apt-get install -y nginx)")
    port = free_port()
    config = nginx_config(upstream_port, port, workdir)
    proc = subprocess.Popen(
        [binary, "-e", str(workdir / "error.log"), "-c", str(config), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        poll(lambda: proc.poll() is not None or _answers(url + "/health"), "nginx to answer")
        if proc.poll() is not None:
            raise RuntimeError(f"nginx exited: {(workdir / 'error.log').read_text()[-2000:]}")
        yield url, port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def github_webhook_env() -> dict[str, str]:
    """GitHub App settings (a fresh key, no API calls made) so that /github/webhook reads
    each body before checking its signature, as in production; unconfigured it answers 503
    at once."""
    from tests.fakes.github import rsa_key_pair

    pem, _ = rsa_key_pair()
    return {
        "GITHUB_APP_ID": "4242",
        "GITHUB_APP_PRIVATE_KEY": pem,
        "GITHUB_WEBHOOK_SECRET": "slow-clients-webhook-secret",
    }


class SlowClient(threading.Thread):
    """One connection that dribbles a request a byte at a time and never finishes it: the
    headers (even ``index``) or a body announced as 100 kB to /github/webhook (odd)."""

    def __init__(self, port: int, index: int, *, interval: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.index = index
        self.interval = interval
        self.sent = 0  # dribbled bytes so far
        self.error: OSError | None = None
        self._stop_event = threading.Event()
        self._sock: socket.socket | None = None

    def run(self) -> None:
        try:
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        except OSError as exc:
            self.error = exc
            return
        self._sock = sock
        if self.index % 2:
            head = b"POST /github/webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
            piece = b"{"
        else:
            head, piece = b"GET /health HTTP/1.1\r\nHost: x\r\n", b"X"
        try:
            sock.sendall(head)
            while not self._stop_event.is_set():
                sock.sendall(piece)
                self.sent += 1
                self._stop_event.wait(self.interval)
        except OSError as exc:
            self.error = exc

    def held(self) -> bool:
        """Still connected and unanswered: nothing to read (neither an answer nor EOF)."""
        sock = self._sock
        if sock is None or self.error is not None:
            return False
        readable, _, _ = select.select([sock], [], [], 0)
        return not readable

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=10)
        if self._sock is not None:
            self._sock.close()


@contextmanager
def slow_clients(port: int, count: int = 8, *, dribbled: int = 2) -> Iterator[list[SlowClient]]:
    """``count`` slow clients on ``port``, yielded once each has dribbled ``dribbled`` bytes
    after its request line (so each holds whatever its connection holds); closed after."""
    clients = [SlowClient(port, i) for i in range(count)]
    for client in clients:
        client.start()
    try:
        poll(
            lambda: all(c.sent >= dribbled or c.error for c in clients),
            "the slow clients to connect and dribble",
        )
        errors = [c.error for c in clients if c.error]
        if errors:
            raise RuntimeError(f"a slow client failed: {errors[0]}")
        yield clients
    finally:
        for client in clients:
            client.stop()
