"""REST API blueprints (adapters): parse input, call a use case, render JSON."""

from __future__ import annotations

from flask import Blueprint

api = Blueprint("api", __name__, url_prefix="/api/v1")


@api.get("/")
def index() -> dict[str, object]:
    """List what the API offers."""
    return {
        "name": "flakeguard",
        "version": 1,
        "endpoints": [
            "/api/v1/reports",
            "/api/v1/repos",
            "/api/v1/repos/{owner}/{repo}/tests",
            "/api/v1/repos/{owner}/{repo}/quarantines",
            "/api/v1/tests/{test_id}",
            "/api/v1/quarantines/{quarantine_id}/{action}",
        ],
    }
