"""GitHub side figures: webhook acknowledgement, check-run content, artifact ingestion.

In one process on a temporary SQLite database (Huey on its SQLite storage, no
worker, so the webhook figures are what GitHub waits for):

1. ``workflow_run`` deliveries signed as GitHub signs them, through the Flask
   app: p50 / p99 / max acknowledgement time (GitHub's limit: 10 s), and the
   same deliveries again (redeliveries, no-ops).
2. The check run of a commit with N results (10% failing, some flaky or
   quarantined): content from the database, then summary/text/annotations
   rendered under GitHub's limits.
3. An Actions run through the fake GitHub API: one zip artifact of 5 JUnit
   files (2,000 tests each) listed, downloaded via the redirect, unpacked with
   the zip-bomb guard and ingested.

    .venv/bin/python bench/github_bench.py [--deliveries 500] [--results 20000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


from flakeguard.app import create_app  # noqa: E402
from flakeguard.settings import Settings  # noqa: E402
from flakeguard.usecases.github_actions import ingest_workflow_run  # noqa: E402
from flakeguard.usecases.github_checks import build_check_run_report  # noqa: E402
from integrations.github import check_runs  # noqa: E402
from integrations.github.client import GitHubClient, default_retry  # noqa: E402
from models import (  # noqa: E402
    FlakeScore,
    Installation,
    Quarantine,
    Repository,
    TestCase,
    TestRun,
    db,
)
from models.bulk import Outcome, store_results  # noqa: E402
from models.tenancy import default_tenant  # noqa: E402
from tests.fakes.github import (  # noqa: E402
    APP_ID,
    INSTALLATION_ID,
    REPO,
    WEBHOOK_SECRET,
    FakeGitHub,
    make_zip,
    rsa_key_pair,
    sign_webhook,
)

SHA = "e" * 40


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def bench_webhooks(http, deliveries: int) -> None:  # type: ignore[no-untyped-def]
    ids = [str(uuid.uuid4()) for _ in range(deliveries)]
    for label in ("new deliveries", "redeliveries"):
        times = []
        for n, delivery in enumerate(ids):
            body = json.dumps(
                {
                    "action": "completed",
                    "workflow_run": {"id": 10_000 + n, "run_attempt": 1, "head_sha": SHA},
                    "repository": {"id": 55, "full_name": REPO},
                    "installation": {"id": INSTALLATION_ID, "account": {"login": "acme"}},
                }
            ).encode()
            headers = {
                "X-GitHub-Event": "workflow_run",
                "X-GitHub-Delivery": delivery,
                "X-Hub-Signature-256": sign_webhook(body),
            }
            start = time.perf_counter()
            response = http.post("/github/webhook", data=body, headers=headers)
            times.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200, response.get_data()
        print(
            f"webhook {label:15s} n={deliveries}: p50 {statistics.median(times):.1f} ms, "
            f"p99 {pct(times, 0.99):.1f} ms, max {max(times):.1f} ms (limit 10000 ms)"
        )


def seed_commit(repo: Repository, results: int) -> None:
    run = TestRun.create(repository=repo, sha=SHA, content_digest="bench", ci_run_id="b")
    cases = [
        {
            "repository": repo.id,
            "key": f"k{i}",
            "classname": "tests.mod",
            "name": f"test_{i}",
            "file": f"tests/test_{i % 50}.py",
            "line": i % 400 + 1,
            "ordinal": i,
        }
        for i in range(results)
    ]
    with db.atomic():
        for start in range(0, len(cases), 500):
            TestCase.insert_many(cases[start : start + 500]).execute()
    ids = [c.id for c in TestCase.select(TestCase.id).where(TestCase.repository == repo)]
    rows = [
        Outcome(
            cid,
            "failed" if i % 10 == 0 else "passed",
            message="AssertionError: expected 1 got 2\n" * 5 if i % 10 == 0 else None,
        )
        for i, cid in enumerate(ids)
    ]
    with db.atomic():
        store_results(run.id, rows)
        failing = ids[::10]
        for n, cid in enumerate(failing):
            if n % 3 == 0:
                FlakeScore.create(test_case=cid, repository=repo, state="flaky", score=0.2)
            if n % 6 == 0:
                Quarantine.create(test_case=cid, repository=repo, state="quarantined")


def bench_check_run(repo: Repository, results: int) -> None:
    seed_commit(repo, results)
    start = time.perf_counter()
    report = build_check_run_report(repo.id, SHA)
    built = time.perf_counter() - start
    start = time.perf_counter()
    summary, text = check_runs.render_summary(report), check_runs.render_text(report)
    notes = check_runs.build_annotations(report)
    rendered = time.perf_counter() - start
    print(
        f"check run, {results} results / {len(report.failing)} failing: content "
        f"{built * 1000:.0f} ms, render {rendered * 1000:.0f} ms; summary {len(summary)} chars, "
        f"text {len(text)} chars, {len(notes)} annotations "
        f"({-(-len(notes) // check_runs.ANNOTATION_BATCH)} requests)"
    )


def junit_file(n: int, prefix: str) -> bytes:
    cases = "".join(
        f'<testcase classname="tests.{prefix}" name="test_{i}" time="0.01"/>' for i in range(n)
    )
    return f'<?xml version="1.0"?><testsuite name="{prefix}">{cases}</testsuite>'.encode()


def bench_artifacts(settings: Settings, fake: FakeGitHub, repo: Repository) -> None:
    files = {f"reports/r{i}.xml": junit_file(2000, f"m{i}") for i in range(5)}
    data = make_zip(files)
    fake.add_workflow_run(555, head_sha=SHA)
    fake.add_artifact(555, "junit-results", data)
    client = GitHubClient.from_settings(
        settings, retry=default_retry(total=2, backoff_factor=0), throttle=False
    )
    start = time.perf_counter()
    report = ingest_workflow_run(
        repo.id, 555, 1, github=client, max_bytes=settings.max_report_bytes
    )
    took = time.perf_counter() - start
    raw = sum(len(v) for v in files.values())
    print(
        f"actions artifact: {len(data) / 1e6:.2f} MB zip / {raw / 1e6:.1f} MB XML / 10,000 tests "
        f"ingested in {took:.2f} s ({raw / 1e6 / took:.1f} MB/s XML); runs {report.ingested}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=500)
    parser.add_argument("--results", type=int, default=20_000)
    args = parser.parse_args()
    private, public = rsa_key_pair()
    fake = FakeGitHub(public)
    with tempfile.TemporaryDirectory() as tmp:
        settings = replace(
            Settings(
                database_url=f"sqlite:///{tmp}/bench.db",
                queue_path=f"{tmp}/queue.db",
            ),
            github_app_id=APP_ID,
            github_app_private_key=private,
            github_webhook_secret=WEBHOOK_SECRET,
            github_api_url=fake.url,
        )
        app = create_app(settings)
        with db.connection_context():
            inst = Installation.create(
                tenant=default_tenant(), installation_id=INSTALLATION_ID, account_login="acme"
            )
            repo = Repository.create(
                tenant=default_tenant(), full_name=REPO, installation=inst, github_id=55
            )
        bench_webhooks(app.test_client(), args.deliveries)
        with db.connection_context():
            bench_check_run(repo, args.results)
            bench_artifacts(settings, fake, repo)
    fake.close()


if __name__ == "__main__":
    main()
