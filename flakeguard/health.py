"""Liveness, readiness and a deep check of every dependency.

``/health`` (liveness) touches nothing outside the process: no database, no
Redis (the app opens no database connection for this blueprint). ``/health/ready``
answers 503 with JSON when the database is unreachable or not migrated.
``/health/deep`` says "unreachable" for a dependency that does not answer and
logs the driver's detail (host, port, reason) instead of echoing it.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, current_app

from flakeguard.jobs import Job
from flakeguard.usecases import outbox
from models import db
from models.migrate import pending_migrations

log = logging.getLogger(__name__)

health = Blueprint("health", __name__)


def _database() -> dict[str, Any]:
    try:
        with db.connection_context():
            db.execute_sql("SELECT 1")
            pending = pending_migrations(db.obj)
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        log.warning("health: the database is unreachable: %s", _one_line(exc))
        return {"ok": False, "error": "unreachable"}
    if pending:
        return {
            "ok": False,
            "error": "migrations pending: run `flakeguard migrate`",
            "pending": pending,
        }
    return {
        "ok": True,
        "backend": "postgresql" if "Postgres" in type(db.obj).__name__ else "sqlite",
    }


def _queue() -> dict[str, Any]:
    huey = current_app.extensions["flakeguard"].queue
    backend = "immediate" if huey.immediate else type(huey.storage).__name__
    try:
        depth = huey.pending_count()
    except Exception as exc:  # noqa: BLE001 - a queue that does not answer is reported as down
        log.warning("health: the queue is unreachable: %s", _one_line(exc))
        return {"ok": False, "backend": backend, "error": "unreachable"}
    return {"ok": True, "backend": backend, "pending": depth}


def _one_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    return text.splitlines()[0] if text else type(exc).__name__


@health.get("/health")
def live() -> dict[str, str]:
    """The process is up (nothing else is checked)."""
    return {"status": "ok"}


@health.get("/health/ready")
def ready() -> tuple[dict[str, Any], int]:
    """The database is reachable and migrated."""
    database = _database()
    return {"status": "ok" if database["ok"] else "unavailable", "database": database}, (
        200 if database["ok"] else 503
    )


@health.get("/health/deep")
def deep() -> tuple[dict[str, Any], int]:
    """Database, queue backend, and which integrations are configured."""
    settings = current_app.extensions["flakeguard"].settings
    checks = {"database": _database(), "queue": _queue()}
    ok = all(check["ok"] for check in checks.values())
    body = {
        "status": "ok" if ok else "unavailable",
        **checks,
        "slack": {"configured": settings.slack_enabled, "oauth": settings.slack_oauth},
        "github": {"configured": settings.github_enabled},
        "analysis": _analysis() if checks["database"]["ok"] else {},
    }
    return body, 200 if ok else 503


def _analysis() -> dict[str, Any]:
    """Runs set aside because their analysis failed too often (they block nothing)."""
    count = outbox.set_aside_count(Job.ANALYZE_RUN)
    return {"runs_set_aside": count, "note": outbox.runs_set_aside_text(count)}
