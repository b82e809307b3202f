"""Liveness, readiness and a deep check of every dependency."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app

from flakeguard.jobs import Job
from flakeguard.usecases import outbox
from models import db
from models.migrate import pending_migrations

health = Blueprint("health", __name__)


def _database() -> dict[str, Any]:
    try:
        db.execute_sql("SELECT 1")
        pending = pending_migrations(db.obj)
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}".splitlines()[0]}
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
    try:
        depth = huey.pending_count()
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}".splitlines()[0]}
    backend = "immediate" if huey.immediate else type(huey.storage).__name__
    return {"ok": True, "backend": backend, "pending": depth}


@health.get("/health")
def live() -> dict[str, str]:
    """The process is up."""
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
