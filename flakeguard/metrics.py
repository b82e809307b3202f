"""Prometheus metrics: counters others call, and gauges read from the database at scrape time.

Call ``metrics.count("slack_api_errors", method="chat.postMessage", error="ratelimited")``
or ``metrics.observe("analysis_duration", seconds)`` from anywhere; the names
and their labels are in ``COUNTERS`` and ``HISTOGRAMS``. Under gunicorn set
``PROMETHEUS_MULTIPROC_DIR`` (an empty directory shared by the web and worker
processes of one host): prometheus_client then writes every process's values
there and ``/metrics`` adds them up. Flaky and quarantined tests per
repository and the queue depth are read when ``/metrics`` is scraped (two
GROUP BY queries and one queue length), so they are right in every process.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import REGISTRY, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

from models import FlakeScore, Quarantine, Repository

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PREFIX = "flakeguard"

disable_created_metrics()  # no *_created series: half the lines, nothing a dashboard uses

COUNTERS: dict[str, Counter] = {
    "http_requests": Counter(
        f"{PREFIX}_http_requests",
        "HTTP requests by route template, method and status.",
        ["route", "method", "status"],
    ),
    "reports_ingested": Counter(
        f"{PREFIX}_reports_ingested",
        "Report uploads stored as a new run.",
        ["repo"],
    ),
    "results_stored": Counter(
        f"{PREFIX}_results_stored",
        "Test results stored by uploads (one per test of a new run).",
        ["repo"],
    ),
    "webhook_deliveries": Counter(
        f"{PREFIX}_webhook_deliveries",
        "GitHub webhook deliveries by event and response status.",
        ["event", "status"],
    ),
    "slack_api_errors": Counter(
        f"{PREFIX}_slack_api_errors",
        "Slack Web API calls that failed, by method and error.",
        ["method", "error"],
    ),
    "github_api_errors": Counter(
        f"{PREFIX}_github_api_errors",
        "GitHub API calls that failed, by operation and status.",
        ["operation", "status"],
    ),
    "tasks": Counter(
        f"{PREFIX}_tasks",
        "Background jobs run, by job name and outcome (complete, error, locked, ...).",
        ["task", "outcome"],
    ),
    "rate_limited": Counter(
        f"{PREFIX}_rate_limited",
        "API requests refused with 429, by limit (ip or token).",
        ["limit"],
    ),
}

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
TASK_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

HISTOGRAMS: dict[str, Histogram] = {
    "http_request_duration": Histogram(
        f"{PREFIX}_http_request_duration_seconds",
        "Time to answer an HTTP request, by route template and method.",
        ["route", "method"],
        buckets=LATENCY_BUCKETS,
    ),
    "analysis_duration": Histogram(
        f"{PREFIX}_analysis_duration_seconds",
        "Time to analyze one run (the analyze_run job).",
        buckets=TASK_BUCKETS,
    ),
    "task_duration": Histogram(
        f"{PREFIX}_task_duration_seconds",
        "Time to run one background job, by job name.",
        ["task"],
        buckets=TASK_BUCKETS,
    ),
}


def count(name: str, amount: float = 1, **labels: str | int) -> None:
    """Add ``amount`` to counter ``name`` (a key of COUNTERS) with these labels."""
    _labelled(COUNTERS, "counter", name, labels).inc(amount)


def observe(name: str, seconds: float, **labels: str | int) -> None:
    """Record one observation in histogram ``name`` (a key of HISTOGRAMS)."""
    _labelled(HISTOGRAMS, "histogram", name, labels).observe(seconds)


def _labelled(known: dict[str, Any], kind: str, name: str, labels: dict[str, str | int]) -> Any:
    """Metric ``name`` of ``known``, with these labels if any; ValueError for an unknown name."""
    metric = known.get(name)
    if metric is None:
        raise ValueError(f"unknown {kind} {name!r}; known: {', '.join(sorted(known))}")
    return metric.labels(**{k: str(v) for k, v in labels.items()}) if labels else metric


class DatabaseCollector:
    """Gauges computed when scraped: flaky and quarantined tests per repository."""

    def collect(self) -> Iterator[Metric]:
        flaky = GaugeMetricFamily(
            f"{PREFIX}_flaky_tests", "Tests whose current verdict is flaky.", labels=["repo"]
        )
        quarantined = GaugeMetricFamily(
            f"{PREFIX}_quarantined_tests",
            "Tests currently quarantined (approved, not lifted).",
            labels=["repo"],
        )
        repos = dict(Repository.select(Repository.id, Repository.full_name).tuples())
        for repo_id, n in _per_repo(FlakeScore, FlakeScore.state == "flaky"):
            flaky.add_metric([repos.get(repo_id, str(repo_id))], n)
        for repo_id, n in _per_repo(Quarantine, Quarantine.state == "quarantined"):
            quarantined.add_metric([repos.get(repo_id, str(repo_id))], n)
        yield flaky
        yield quarantined


def _per_repo(model: Any, condition: Any) -> list[tuple[int, int]]:
    from peewee import fn

    return list(
        model.select(model.repository, fn.COUNT(model.id))
        .where(condition)
        .group_by(model.repository)
        .tuples()
    )


class QueueCollector:
    """The number of jobs waiting in the queue, read when scraped."""

    def __init__(self, depth: Callable[[], int]) -> None:
        self._depth = depth

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(f"{PREFIX}_queue_up", "1 when the queue answered the scrape.")
        try:
            depth = float(self._depth())
        except Exception:  # noqa: BLE001 - a queue that does not answer is reported as down
            up.add_metric([], 0.0)
            yield up
            return
        up.add_metric([], 1.0)
        gauge = GaugeMetricFamily(f"{PREFIX}_queue_depth", "Jobs waiting in the queue.")
        gauge.add_metric([], depth)
        yield up
        yield gauge


class _Forward:
    """Collect from another registry (the process-wide default one)."""

    def __init__(self, source: Any) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        yield from self._source.collect()


def render(*, multiproc_dir: str | None, queue_depth: Callable[[], int]) -> bytes:
    """The exposition text of every metric: process (or all processes') values plus scrape-time
    gauges."""
    registry = CollectorRegistry(auto_describe=False)
    if multiproc_dir:
        MultiProcessCollector(registry, path=multiproc_dir)
    else:
        registry.register(_Forward(REGISTRY))
    registry.register(DatabaseCollector())
    registry.register(QueueCollector(queue_depth))
    return generate_latest(registry)
