"""Load benchmark: gunicorn + a Huey worker on PostgreSQL and Redis, concurrent traffic.

    .venv/bin/python bench/load_bench.py [--seconds 20] [--clients 16] [--web-workers 4]

Creates its own PostgreSQL database (dropped at the end) and starts its own
redis-server on a free port, then runs gunicorn (the Procfile's web command)
and ``huey_consumer tasks.worker.huey`` against them. For a fixed time,
``--clients`` threads on 127.0.0.1 send a mix of report uploads
(``POST /api/v1/reports``), ``/flakeguard status`` slash commands (signed like
Slack) and GitHub ``ping`` webhooks (signed like GitHub, each its own delivery
id). It prints throughput and p50/p99 latency per endpoint, then waits for the
worker and checks that every upload answered 201 is stored with its results
and analyzed: nothing lost. Loopback only; bounded in time and requests.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlencode

import psycopg
import redis
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the fake Slack Web API of the tests answers auth.test
BIN = Path(sys.executable).parent
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
SLACK_SECRET = "bench-slack-signing-secret"
WEBHOOK_SECRET = "bench-webhook-secret"
MAX_REQUESTS = 200_000  # a hard bound besides the time
TESTS_PER_REPORT = 50


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check, what: str, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if check():
                return
        except (OSError, requests.RequestException, redis.RedisError):
            pass
        time.sleep(0.1)
    raise SystemExit(f"load_bench: gave up waiting for {what}")


def rsa_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def report(run: int) -> bytes:
    """A JUnit report of TESTS_PER_REPORT tests; test_7 fails on odd runs (a flake)."""
    cases = []
    for i in range(TESTS_PER_REPORT):
        failure = '<failure message="boom">trace</failure>' if i == 7 and run % 2 else ""
        cases.append(
            f'<testcase classname="bench.mod" name="test_{i}" time="0.01">{failure}</testcase>'
        )
    return (
        '<testsuites><testsuite name="bench">' + "".join(cases) + "</testsuite></testsuites>"
    ).encode()


class Traffic:
    """The three kinds of request, each recorded with its latency and status."""

    def __init__(self, base: str, token: str) -> None:
        self.base = base
        self.token = token
        self.lock = threading.Lock()
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.statuses: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        self.accepted_runs: list[int] = []
        self.counter = 0

    def _record(self, kind: str, started: float, status: int) -> None:
        with self.lock:
            self.latency[kind].append(time.perf_counter() - started)
            self.statuses[kind][status] += 1

    def upload(self, session: requests.Session) -> None:
        with self.lock:
            self.counter += 1
            n = self.counter
        started = time.perf_counter()
        response = session.post(
            f"{self.base}/api/v1/reports",
            params={"repo": "bench/app", "sha": hashlib.sha1(str(n % 20).encode()).hexdigest(),
                    "branch": "main", "run_id": str(n), "job": "test"},
            data=report(n),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/xml"},
            timeout=30,
        )  # fmt: skip
        self._record("upload", started, response.status_code)
        if response.status_code == 201:
            with self.lock:
                self.accepted_runs.append(response.json()["run_id"])

    def slash(self, session: requests.Session) -> None:
        body = urlencode(
            {"team_id": "T0BENCH", "channel_id": "C0BENCH", "user_id": "U0BENCH",
             "command": "/flakeguard", "text": "status bench/app", "api_app_id": "A0",
             "response_url": "http://127.0.0.1:9/unused", "trigger_id": uuid.uuid4().hex}
        )  # fmt: skip
        ts = str(int(time.time()))
        digest = hmac.new(SLACK_SECRET.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256)
        self._signed_post(
            "slash_command",
            session,
            "/slack/events",
            body,
            {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Slack-Request-Timestamp": ts,
                "X-Slack-Signature": "v0=" + digest.hexdigest(),
            },
        )

    def webhook(self, session: requests.Session) -> None:
        body = json.dumps({"zen": "Keep it logically awesome.", "hook_id": 1}).encode()
        signature = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
        self._signed_post(
            "webhook",
            session,
            "/github/webhook",
            body,
            {
                "Content-Type": "application/json",
                "X-GitHub-Event": "ping",
                "X-GitHub-Delivery": str(uuid.uuid4()),
                "X-Hub-Signature-256": "sha256=" + signature,
            },
        )

    def _signed_post(
        self,
        kind: str,
        session: requests.Session,
        path: str,
        body: str | bytes,
        headers: dict[str, str],
    ) -> None:
        """POST an already signed body and record its latency and status under ``kind``."""
        started = time.perf_counter()
        response = session.post(f"{self.base}{path}", data=body, headers=headers, timeout=30)
        self._record(kind, started, response.status_code)


def client_loop(traffic: Traffic, deadline: float, budget: list[int], seed: int) -> None:
    rng = random.Random(seed)
    session = requests.Session()
    actions = [traffic.upload] * 3 + [traffic.slash, traffic.webhook]
    while time.monotonic() < deadline:
        with traffic.lock:
            if budget[0] <= 0:
                return
            budget[0] -= 1
        rng.choice(actions)(session)


def percentile(values: list[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to send traffic")
    parser.add_argument("--clients", type=int, default=16, help="concurrent client threads")
    parser.add_argument("--web-workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--worker-threads", type=int, default=4, help="Huey worker threads")
    args = parser.parse_args()
    if shutil.which("redis-server") is None:
        raise SystemExit("load_bench: redis-server is not installed")

    db_name = f"flakeguard_bench_{os.getpid()}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{db_name}"')
    db_url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + db_name
    tmp = Path(tempfile.mkdtemp(prefix="flakeguard-bench-"))
    redis_port, web_port = free_port(), free_port()
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    metrics_dir = tmp / "metrics"
    metrics_dir.mkdir()
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_url,
        "SLACK_SIGNING_SECRET": SLACK_SECRET,
        "SLACK_BOT_TOKEN": "xoxb-bench-token",
        "GITHUB_APP_ID": "1",
        "GITHUB_APP_PRIVATE_KEY": rsa_key(),
        "GITHUB_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "GITHUB_API_URL": "http://127.0.0.1:9",
        "FLAKEGUARD_RATE_LIMIT_IP": "1000000/minute",
        "FLAKEGUARD_RATE_LIMIT_TOKEN": "1000000/minute",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "LOG_LEVEL": "WARNING",
    }
    from tests.fakes.slack import FakeSlack

    fake_slack = FakeSlack().start()
    env["SLACK_API_URL"] = fake_slack.api_url
    procs: list[subprocess.Popen[bytes]] = []
    log = (tmp / "processes.log").open("wb")
    try:
        procs.append(subprocess.Popen(
            ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(tmp)],
            stdout=subprocess.DEVNULL,
        ))  # fmt: skip
        wait_for(lambda: redis.Redis.from_url(redis_url).ping(), "redis-server")
        subprocess.run([str(BIN / "flakeguard"), "migrate"], env=env, check=True, cwd=ROOT,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        token = subprocess.run(
            [str(BIN / "flakeguard"), "repo", "add", "bench/app"], env=env, check=True, cwd=ROOT,
            capture_output=True, text=True,
        ).stdout.rsplit(" ", 1)[-1].strip()  # fmt: skip
        procs.append(subprocess.Popen(
            [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{web_port}", "--workers",
             str(args.web_workers), "--threads", "4", "flakeguard.app:create_app()"],
            env=env, cwd=ROOT, stdout=log, stderr=log,
        ))  # fmt: skip
        procs.append(subprocess.Popen(
            [str(BIN / "huey_consumer"), "tasks.worker.huey", "-n", "--workers",
             str(args.worker_threads), "--worker-type", "thread"],
            env=env, cwd=ROOT, stdout=log, stderr=log,
        ))  # fmt: skip
        base = f"http://127.0.0.1:{web_port}"
        wait_for(lambda: requests.get(f"{base}/health/ready", timeout=2).ok, "gunicorn")

        traffic = Traffic(base, token)
        budget = [MAX_REQUESTS]
        started = time.monotonic()
        deadline = started + args.seconds
        threads = [
            threading.Thread(target=client_loop, args=(traffic, deadline, budget, i))
            for i in range(args.clients)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started

        print(f"load: {args.clients} clients, {elapsed:.1f} s, gunicorn {args.web_workers}x4 "
              f"threads, worker {args.worker_threads} threads, PostgreSQL + Redis")  # fmt: skip
        print(f"{'endpoint':<15}{'requests':>9}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}  statuses")
        total = 0
        for kind in ("upload", "slash_command", "webhook"):
            values = traffic.latency.get(kind, [])
            if not values:
                continue
            total += len(values)
            statuses = ", ".join(f"{k}: {v}" for k, v in sorted(traffic.statuses[kind].items()))
            print(f"{kind:<15}{len(values):>9}{len(values) / elapsed:>9.1f}"
                  f"{percentile(values, 50) * 1000:>9.1f}{percentile(values, 99) * 1000:>9.1f}"
                  f"  {statuses}")  # fmt: skip
        print(f"{'all':<15}{total:>9}{total / elapsed:>9.1f}")

        queue = redis.Redis.from_url(redis_url)
        accepted = sorted(traffic.accepted_runs)
        drain_started = time.monotonic()
        with psycopg.connect(db_url, autocommit=True) as conn:

            def analyzed() -> int:
                row = conn.execute(
                    "SELECT count(*) FROM test_run WHERE id = ANY(%s) AND analyzed_at IS NOT NULL",
                    (accepted,),
                ).fetchone()
                return int(row[0])

            wait_for(lambda: analyzed() == len(accepted), "the worker to analyze every run", 600)
            drain = time.monotonic() - drain_started
            stored = conn.execute(
                "SELECT count(*), coalesce(sum(tests), 0) FROM test_run WHERE id = ANY(%s)",
                (accepted,),
            ).fetchone()
            results = conn.execute(  # the outcomes packed in the runs' blocks
                "SELECT count(*) FROM result_block b, generate_series(0, 63) AS s "
                "WHERE b.run_id = ANY(%s) AND get_byte(b.codes, s) <> 0",
                (accepted,),
            ).fetchone()[0]
            deliveries = conn.execute("SELECT count(*) FROM webhook_delivery").fetchone()[0]
            done = analyzed()
        expected_results = len(accepted) * TESTS_PER_REPORT
        print(f"worker drained the queue {drain:.1f} s after the load stopped "
              f"(queue keys now {queue.dbsize()})")  # fmt: skip
        print(f"nothing lost: {stored[0]}/{len(accepted)} accepted uploads stored, "
              f"{results}/{expected_results} results, {done}/{len(accepted)} analyzed; "
              f"{deliveries} webhook deliveries recorded")  # fmt: skip
        metrics = requests.get(f"{base}/metrics", timeout=10).text
        ingested = sum(
            float(line.rsplit(" ", 1)[1])
            for line in metrics.splitlines()
            if line.startswith("flakeguard_reports_ingested_total{")
        )
        print(f"/metrics (all gunicorn workers): flakeguard_reports_ingested_total {ingested:.0f}")
        ok = stored[0] == len(accepted) and results == expected_results
        return 0 if ok else 1
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        log.close()
        fake_slack.stop()
        if os.environ.get("BENCH_KEEP_LOG"):
            print((tmp / "processes.log").read_text()[-5000:])
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
