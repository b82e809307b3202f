"""Slack round trips through gunicorn: p50/p99 of slash commands and button clicks.

Seeds a PostgreSQL database with 50,000 tests (5 repositories, 10% flaky,
results for history strips, a proposed quarantine per clicked test), starts
the fake Slack Web API and gunicorn serving ``flakeguard.app:create_app()``,
then runs 20 concurrent clients sending requests signed as Slack signs them:
``/flakeguard status``, ``top``, ``test <part of a name>`` and Approve / Undo
button clicks (each click goes through the quarantine use case, appends an
audit event and enqueues the Slack refresh and GitHub mirror on Redis; no
worker runs, so the figures are what Slack waits for). Target: p99 < 300 ms.

    .venv/bin/python bench/slack_bench.py [--small] [--clients 20] [--requests 40]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flakeguard.usecases import quarantine as quarantine_uc  # noqa: E402
from models import (  # noqa: E402
    FlakeScore,
    Repository,
    TestCase,
    TestRun,
    db,
    init_db,
    utcnow,
)
from models.base import close_database  # noqa: E402
from models.bulk import Outcome, store_results  # noqa: E402
from models.migrate import apply_migrations  # noqa: E402
from models.tenancy import default_tenant  # noqa: E402
from tests.fakes.slack import BOT_TOKEN, SIGNING_SECRET, TEAM_ID, FakeSlack, sign  # noqa: E402

PG_ADMIN = os.environ.get(
    "FLAKEGUARD_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS = os.environ.get("FLAKEGUARD_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
REPOS = 5
BATCH = 2000


def seed(url: str, tests: int, clicked: int) -> list[tuple[int, int]]:
    """Fill the database; return (quarantine id, version) of the tests clients will click."""
    database = init_db(url, pooled=False)
    apply_migrations(database)
    rng = random.Random(7)
    with db.connection_context():
        repos = [
            Repository.create(tenant=default_tenant(), full_name=f"bench/repo{i}")
            for i in range(REPOS)
        ]
        rows = [
            {
                "repository": repos[i % REPOS].id,
                "key": f"tests/test_mod{i // 40}.py::TestThing{i % 7}::test_case_{i}",
                "classname": f"tests.test_mod{i // 40}.TestThing{i % 7}",
                "name": f"test_case_{i}",
                "file": f"tests/test_mod{i // 40}.py",
                "ordinal": i // REPOS,
            }
            for i in range(tests)
        ]
        with db.atomic():
            for start in range(0, len(rows), BATCH):
                TestCase.insert_many(rows[start : start + BATCH]).execute()
        ids = [
            (tid, rid)
            for tid, rid in TestCase.select(TestCase.id, TestCase.repository)
            .order_by(TestCase.id)
            .tuples()
        ]
        flaky = ids[::10]
        now = utcnow()
        with db.atomic():
            scores = [
                {
                    "test_case": tid,
                    "repository": rid,
                    "state": "flaky",
                    "score": rng.uniform(0.02, 0.4),
                    "low": 0.01,
                    "high": 0.5,
                    "reason": "passed and failed on the same commit twice in 14 days",
                    "evidence": {"same_commit_conflicts": 2},
                    "state_since": now,
                }
                for tid, rid in flaky
            ]
            for start in range(0, len(scores), BATCH):
                FlakeScore.insert_many(scores[start : start + BATCH]).execute()
            # 20 runs of history for the first 2,000 tests: strips for `test`.
            for n in range(20):
                repo_id = repos[0].id
                run = TestRun.create(
                    repository=repo_id,
                    sha=f"{n:040x}",
                    ci_run_id=str(9000 + n),
                    job="pytest",
                    source="github",
                    content_digest=uuid.uuid4().hex,
                    analyzed_at=now,
                )
                results = [
                    Outcome(tid, "failed" if rng.random() < 0.05 else "passed")
                    for tid, rid in ids[: 2000 * REPOS : REPOS]
                ]
                store_results(run.id, results)
        clicked_ids = []
        for tid, _ in flaky[:clicked]:
            q = quarantine_uc.perform(
                tid, "propose", tenant_id=None, actor="flakeguard", source="system"
            ).quarantine
            clicked_ids.append((q.id, q.version))
    close_database(database)
    return clicked_ids


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port: int, proc: subprocess.Popen) -> None:  # type: ignore[type-arg]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("gunicorn exited; see its output above")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/health")
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not start in 60 s")


def command_body(text: str, user: str) -> str:
    return urlencode(
        {
            "team_id": TEAM_ID,
            "channel_id": "C0BENCH",
            "user_id": user,
            "command": "/flakeguard",
            "text": text,
            "response_url": "http://127.0.0.1:9/unused",
            "trigger_id": "t",
        }
    )


def click_body(action_id: str, value: str, user: str) -> str:
    payload = {
        "type": "block_actions",
        "team": {"id": TEAM_ID},
        "user": {"id": user, "team_id": TEAM_ID},
        "api_app_id": "A0APP",
        "container": {"type": "message", "message_ts": "1.1", "channel_id": "C0BENCH"},
        "channel": {"id": "C0BENCH"},
        "response_url": "http://127.0.0.1:9/unused",
        "trigger_id": "t",
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": "b",
                "value": value,
                "action_ts": "1.1",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)})


def client(
    port: int,
    tests: int,
    index: int,
    requests: int,
    quarantines: list[tuple[int, int]],
    out: dict[str, list[float]],
    errors: list[str],
    lock: threading.Lock,
) -> None:
    rng = random.Random(index)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    user = f"U{index:05d}"
    versions = dict(quarantines)
    states = {qid: "proposed" for qid, _ in quarantines}
    local: dict[str, list[float]] = {"command": [], "button": [], "floor": []}
    by_text: dict[str, list[float]] = {}
    for n in range(requests):
        # Every fifth request is GET /health: the floor under the same load.
        start = time.perf_counter()
        if n % 5 == 4:
            conn.request("GET", "/health")
            conn.getresponse().read()
            local["floor"].append((time.perf_counter() - start) * 1000)
            continue
        if n % 2 == 0:
            kind = "command"
            text = rng.choice(
                [
                    f"status bench/repo{rng.randrange(REPOS)}",
                    f"top bench/repo{rng.randrange(REPOS)} 5",
                    f"test test_case_{rng.randrange(tests)}",
                    # one in ten names a test that does not exist: the near-matches path
                    f"test test_csae_{rng.randrange(tests)}" if n % 10 == 0 else "top 5",
                ]
            )
            body = command_body(text, user)
        else:
            kind = "button"
            qid = quarantines[(n // 2) % len(quarantines)][0]
            action = "fg_approve" if states[qid] == "proposed" else "fg_undo"
            body = click_body(action, f"{qid}:{versions[qid]}", user)
            states[qid] = "quarantined" if action == "fg_approve" else "proposed"
            versions[qid] += 1
        headers = {
            **sign(body, SIGNING_SECRET),
            "Content-Type": "application/x-www-form-urlencoded",
        }
        start = time.perf_counter()
        conn.request("POST", "/slack/events", body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        elapsed = (time.perf_counter() - start) * 1000
        local[kind].append(elapsed)
        label = text.split()[0] if kind == "command" else "button"
        by_text.setdefault(label, []).append(elapsed)
        if response.status != 200 or (kind == "button" and data not in (b"", b"{}")):
            with lock:
                errors.append(f"{kind} {response.status} {data[:200]!r}")
    with lock:
        for key, values in local.items():
            out[key].extend(values)
        for key, values in by_text.items():
            out.setdefault("  " + key, []).extend(values)


def warm(port: int, n: int) -> None:
    """Open every worker's database pool and Slack client before measuring."""

    def one() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        body = command_body("status bench/repo0", "U0WARM")
        headers = {
            **sign(body, SIGNING_SECRET),
            "Content-Type": "application/x-www-form-urlencoded",
        }
        conn.request("POST", "/slack/events", body=body, headers=headers)
        conn.getresponse().read()

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", action="store_true", help="2,000 tests and fewer requests")
    parser.add_argument("--tests", type=int, default=50_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=50, help="per client")
    parser.add_argument("--workers", type=int, default=max(2, os.cpu_count() or 2))
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    if args.small:
        args.tests, args.requests = 2_000, 15

    name = f"flakeguard_slack_bench_{os.getpid()}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    fake = FakeSlack().start()
    proc = None
    tmp = tempfile.mkdtemp(prefix="fg-slack-bench-")
    try:
        t0 = time.perf_counter()
        quarantines = seed(url, args.tests, clicked=args.clients * 3)
        print(f"seeded {args.tests:,} tests in {time.perf_counter() - t0:.1f} s")
        port = free_port()
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_API_URL": fake.api_url,
            "REDIS_URL": REDIS,
            "LOG_LEVEL": "WARNING",
            "FLAKEGUARD_QUEUE_PATH": f"{tmp}/queue.db",
        }
        cmd = [
            str(ROOT / ".venv/bin/gunicorn"),
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            str(args.workers),
            "-k",
            "gthread",
            "--threads",
            str(args.threads),
            "--log-level",
            "warning",
            "flakeguard.app:create_app()",
        ]
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env)
        wait_ready(port, proc)
        warm(port, args.workers * args.threads * 2)
        out: dict[str, list[float]] = {"command": [], "button": [], "floor": []}
        errors: list[str] = []
        lock = threading.Lock()
        share = max(1, len(quarantines) // args.clients)
        threads = [
            threading.Thread(
                target=client,
                args=(
                    port,
                    args.tests,
                    i,
                    args.requests,
                    quarantines[i * share : (i + 1) * share],
                    out,
                    errors,
                    lock,
                ),
            )
            for i in range(args.clients)
        ]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - start
        total = sum(len(out[k]) for k in ("command", "button", "floor"))
        print(
            f"{args.clients} clients, {total} requests in {wall:.1f} s ({total / wall:.0f} req/s), "
            f"gunicorn {args.workers} workers x {args.threads} threads, {os.cpu_count()} CPUs"
        )
        for kind, values in out.items():
            print(
                f"{kind:8s} n={len(values):4d}  p50 {statistics.median(values):6.1f} ms  "
                f"p99 {pct(values, 0.99):6.1f} ms  max {max(values):6.1f} ms"
            )
        p99 = pct(out["command"] + out["button"], 0.99)
        floor = pct(out["floor"], 0.99)
        print(f"all      p99 {p99:.1f} ms (target < 300 ms; ratio {p99 / 300:.2f})")
        print(f"Slack p99 / GET /health p99 under the same load: {p99 / floor:.2f}")
        if errors:
            print(f"{len(errors)} errors, first: {errors[0]}")
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
        fake.stop()
        try:
            import redis
            from huey import RedisHuey

            RedisHuey("flakeguard", url=REDIS).flush()
            redis.Redis.from_url(REDIS).close()
        except Exception as exc:  # noqa: BLE001 - cleanup of a bench; report and go on
            print(f"note: could not flush the bench queue: {exc}")
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
