"""Flask wiring for logs and metrics: correlation ids, request metrics, ``/metrics``.

Every request gets a correlation id (from ``X-Request-Id`` when sane, else a
new one), echoed in the response's ``X-Request-Id`` and attached to every log
line and every job the request enqueues. Every response is counted by route
template, method and status, and timed. A stored upload counts as a report
ingested and its tests as results stored; a GitHub webhook delivery is counted
by event and status. ``/metrics`` is open unless ``FLAKEGUARD_METRICS_TOKEN``
is set; then a scraper sends it as a bearer token.
"""

from __future__ import annotations

import hmac
import logging
import time
from typing import Any

from flask import Flask, Response, current_app, g, request

from flakeguard import logs, metrics
from flakeguard.http import error_response

access_log = logging.getLogger("flakeguard.access")

UPLOAD_ENDPOINT = "reports.upload_report"
WEBHOOK_ENDPOINT = "github.webhook"
QUIET_ROUTES = frozenset({"/metrics", "/health", "/health/ready"})


def wire(app: Flask, services: Any) -> None:
    """Install JSON logs, correlation ids, request metrics and the ``/metrics`` route."""
    settings = services.settings
    logs.configure_logging(
        level=settings.log_level,
        fmt=settings.log_format,
        secrets=logs.settings_secrets(settings),
    )

    @app.before_request
    def start_request() -> None:
        g.ops_started = time.perf_counter()
        incoming = logs.sanitize_correlation_id(request.headers.get(logs.CORRELATION_HEADER))
        g.correlation_id = incoming or logs.new_correlation_id()
        g.correlation_token = logs.set_correlation_id(g.correlation_id)

    @app.after_request
    def finish_request(response: Response) -> Response:
        correlation = g.get("correlation_id")
        if correlation:
            response.headers[logs.CORRELATION_HEADER] = correlation
        _record(response)
        return response

    @app.teardown_request
    def end_request(exc: BaseException | None) -> None:
        token = g.pop("correlation_token", None)
        if token is not None:
            logs.reset_correlation_id(token)

    @app.get("/metrics")
    def prometheus_metrics() -> Response | tuple[Response, int]:
        if settings.metrics_token and not _scraper_allowed(settings.metrics_token):
            response, status = error_response(
                401,
                "unauthorized",
                "this /metrics needs Authorization: Bearer <FLAKEGUARD_METRICS_TOKEN>",
            )
            response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response, status
        queue = current_app.extensions["flakeguard"].queue
        body = metrics.render(
            multiproc_dir=settings.prometheus_multiproc_dir, queue_depth=queue.pending_count
        )
        return Response(body, content_type=metrics.CONTENT_TYPE)


def _scraper_allowed(token: str) -> bool:
    """Whether the request carries ``Authorization: Bearer <token>`` (constant-time compare)."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def _record(response: Response) -> None:
    """Count and time the request; count uploads and webhook deliveries."""
    route = request.url_rule.rule if request.url_rule is not None else "unmatched"
    status = response.status_code
    metrics.count("http_requests", route=route, method=request.method, status=status)
    started = g.get("ops_started")
    elapsed = time.perf_counter() - started if started is not None else 0.0
    metrics.observe("http_request_duration", elapsed, route=route, method=request.method)
    if request.endpoint == UPLOAD_ENDPOINT and status == 201:
        _count_upload(response)
    elif request.endpoint == WEBHOOK_ENDPOINT:
        event = request.headers.get("X-GitHub-Event", "") if status < 400 else ""
        metrics.count("webhook_deliveries", event=_label(event) or "unknown", status=status)
    if route not in QUIET_ROUTES:
        access_log.info(
            "%s %s %s %.1fms",
            request.method,
            request.path,
            status,
            elapsed * 1000,
            extra={"status": status, "route": route, "duration_ms": round(elapsed * 1000, 1)},
        )


def _count_upload(response: Response) -> None:
    body = response.get_json(silent=True) or {}
    # The authenticated repository's stored name, never the request's spelling of it
    # (owner/name match case-insensitively: request text would grow the label set).
    repo = g.get("upload_repository") or "unknown"
    metrics.count("reports_ingested", repo=repo)
    totals = body.get("totals") or {}
    stored = totals.get("results", totals.get("tests", 0))
    if isinstance(stored, int) and stored > 0:
        metrics.count("results_stored", stored, repo=repo)


def _label(value: str) -> str:
    """A label value of bounded size from request data."""
    return "".join(c for c in value[:100] if c.isalnum() or c in "/._-")
