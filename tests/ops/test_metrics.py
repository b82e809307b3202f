"""/metrics: Prometheus text with request, upload, job, queue and per-repository metrics."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from flakeguard import jobs, metrics
from flakeguard.jobs import Job
from models import FlakeScore, Quarantine, Repository, TestCase, default_tenant
from tests.ops.conftest import upload


def scrape(client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:  # type: ignore[no-untyped-def]
    """Every sample of /metrics as {(name, sorted labels): value}."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels: str) -> float:  # type: ignore[no-untyped-def]
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_requests_are_counted_by_route_template_and_status(client) -> None:  # type: ignore[no-untyped-def]
    """Requests count under their route template (not the raw path) with a latency histogram."""
    before = scrape(client)
    client.get("/api/v1/repos/acme/one/quarantine")
    client.get("/api/v1/repos/acme/two/quarantine")
    client.get("/no/such/page")
    after = scrape(client)
    route = "/api/v1/repos/<owner>/<name>/quarantine"
    key = {"route": route, "method": "GET", "status": "401"}
    assert (
        value(after, "flakeguard_http_requests_total", **key)
        - value(before, "flakeguard_http_requests_total", **key)
        == 2
    )
    unmatched = {"route": "unmatched", "method": "GET", "status": "404"}
    assert value(after, "flakeguard_http_requests_total", **unmatched) >= 1
    count = "flakeguard_http_request_duration_seconds_count"
    assert (
        value(after, count, route=route, method="GET")
        - value(before, count, route=route, method="GET")
        == 2
    )


def test_uploads_count_reports_and_results(client, acme) -> None:  # type: ignore[no-untyped-def]
    """A stored upload counts one report and its tests as results; a duplicate counts nothing."""
    before = scrape(client)
    assert upload(client, acme, run_id="9").status_code == 201
    assert upload(client, acme, run_id="9").status_code == 200
    after = scrape(client)
    reports = "flakeguard_reports_ingested_total"
    results = "flakeguard_results_stored_total"
    assert value(after, reports, repo="acme/shop") - value(before, reports, repo="acme/shop") == 1
    assert value(after, results, repo="acme/shop") - value(before, results, repo="acme/shop") == 2


def test_upload_metrics_are_labelled_with_the_canonical_repository_name(client, acme) -> None:  # type: ignore[no-untyped-def]
    """Attack: uploads spelling the repository in other letter cases (accepted: names match
    case-insensitively) do not grow the label set; every one counts under acme/shop."""
    before = scrape(client)
    for i, spelling in enumerate(("ACME/shop", "acme/SHOP", "AcMe/ShOp")):
        response = client.post(
            "/api/v1/reports",
            query_string={"repo": spelling, "sha": "b" * 40, "run_id": f"case-{i}", "job": "t"},
            data=b'<testsuite name="s"><testcase classname="c" name="n"/></testsuite>',
            headers={**acme.headers, "Content-Type": "application/xml"},
        )
        assert response.status_code == 201
    after = scrape(client)
    reports = "flakeguard_reports_ingested_total"
    assert value(after, reports, repo="acme/shop") - value(before, reports, repo="acme/shop") == 3
    labels = {dict(labels).get("repo") for name, labels in after if name == reports}
    assert {label for label in labels if (label or "").lower() == "acme/shop"} == {"acme/shop"}


def test_flaky_and_quarantined_tests_per_repo_come_from_the_database(client, database) -> None:  # type: ignore[no-untyped-def]
    """The per-repository gauges are the current counts in the database at scrape time."""
    shop = Repository.create(tenant=default_tenant(), full_name="acme/shop")
    web = Repository.create(tenant=default_tenant(), full_name="acme/web")
    for i, (repo, state) in enumerate(
        [(shop, "flaky"), (shop, "flaky"), (shop, "healthy"), (web, "flaky"), (web, "broken")]
    ):
        case = TestCase.create(repository=repo, key=f"k{i}", name=f"t{i}")
        FlakeScore.create(test_case=case, repository=repo, state=state)
        if i in (0, 3):
            Quarantine.create(test_case=case, repository=repo, state="quarantined")
        if i == 1:
            Quarantine.create(test_case=case, repository=repo, state="proposed")
    samples = scrape(client)
    assert value(samples, "flakeguard_flaky_tests", repo="acme/shop") == 2
    assert value(samples, "flakeguard_flaky_tests", repo="acme/web") == 1
    assert value(samples, "flakeguard_quarantined_tests", repo="acme/shop") == 1
    assert value(samples, "flakeguard_quarantined_tests", repo="acme/web") == 1
    FlakeScore.update(state="healthy").where(FlakeScore.repository == web.id).execute()
    assert ("flakeguard_flaky_tests", (("repo", "acme/web"),)) not in scrape(client)


def test_queue_depth_is_read_at_scrape_time(app, database, redis_huey) -> None:  # type: ignore[no-untyped-def]
    """The queue gauge is the number of jobs waiting in Redis."""
    client = app.test_client()
    assert value(scrape(client), "flakeguard_queue_depth") == 0
    jobs.enqueue(Job.RECONCILE)
    jobs.enqueue(Job.RECONCILE)
    samples = scrape(client)
    assert value(samples, "flakeguard_queue_depth") == 2
    assert value(samples, "flakeguard_queue_up") == 1


def test_jobs_are_counted_and_analysis_is_timed(client, acme) -> None:  # type: ignore[no-untyped-def]
    """A job run counts by name and outcome; analyze_run feeds the analysis duration."""
    before = scrape(client)
    assert upload(client, acme, run_id="77").status_code == 201  # immediate queue: analyzed now
    after = scrape(client)
    done = {"task": "analyze_run", "outcome": "complete"}
    assert (
        value(after, "flakeguard_tasks_total", **done)
        - value(before, "flakeguard_tasks_total", **done)
        == 1
    )
    count = "flakeguard_analysis_duration_seconds_count"
    assert value(after, count) - value(before, count) == 1


def test_counters_others_call_reject_unknown_names() -> None:
    """count() and observe() name their metrics; a typo is an error, not a silent new series."""
    metrics.count("slack_api_errors", method="chat.postMessage", error="ratelimited")
    metrics.count("github_api_errors", operation="create_issue", status=502)
    with pytest.raises(ValueError, match="unknown counter"):
        metrics.count("slack_errors")
    with pytest.raises(ValueError, match="unknown histogram"):
        metrics.observe("analysis_time", 1.0)


MULTIPROC_CHILD = """
from flakeguard import metrics
metrics.count("webhook_deliveries", event="workflow_run", status=202)
metrics.observe("analysis_duration", 0.5)
"""


def test_multiprocess_mode_adds_up_every_process(tmp_path: Path) -> None:
    """With PROMETHEUS_MULTIPROC_DIR, /metrics sums the values written by every process."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for _ in range(3):
        subprocess.run([sys.executable, "-c", MULTIPROC_CHILD], env=env, check=True, timeout=60)
    text = metrics.render(multiproc_dir=str(tmp_path), queue_depth=lambda: 0).decode()
    assert 'flakeguard_webhook_deliveries_total{event="workflow_run",status="202"} 3.0' in text
    assert "flakeguard_analysis_duration_seconds_count 3.0" in text


def test_metrics_token_guards_the_scrape(settings, database) -> None:  # type: ignore[no-untyped-def]
    """With FLAKEGUARD_METRICS_TOKEN set, /metrics answers 401 without it and 200 with it."""
    from dataclasses import replace

    from flakeguard.app import create_app

    app = create_app(replace(settings, metrics_token="s3cret-scrape"))
    client = app.test_client()
    missing = client.get("/metrics")
    assert missing.status_code == 401
    assert missing.get_json()["error"]["code"] == "unauthorized"
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = client.get("/metrics", headers={"Authorization": "Bearer s3cret-scrapf"})
    assert wrong.status_code == 401
    right = client.get("/metrics", headers={"Authorization": "Bearer s3cret-scrape"})
    assert right.status_code == 200
    assert "flakeguard_http_requests_total" in right.get_data(as_text=True)


def test_metrics_token_comes_from_the_environment_and_stays_out_of_repr() -> None:
    """FLAKEGUARD_METRICS_TOKEN is read from the environment and never shown."""
    from flakeguard.settings import Settings

    settings = Settings.from_env({"FLAKEGUARD_METRICS_TOKEN": "  tok-123  "})
    assert settings.metrics_token == "tok-123"
    assert "tok-123" not in repr(settings)
