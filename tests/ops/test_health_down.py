"""Health endpoints with the database down: liveness stays 200, readiness and the deep check
answer 503 JSON that names no host or port (the detail goes to the log)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from models import db
from models.base import make_database
from tests.cli.conftest import free_port


@pytest.fixture
def database_down(client: Any, db_url: str, tmp_path: Path) -> Iterator[str]:
    """Point the models at a database that does not answer (PostgreSQL: a closed port;
    SQLite: a file in a directory that does not exist); the detail that must not leak."""
    working = db.obj
    if db_url.startswith("sqlite"):
        missing = tmp_path / "gone" / "flakeguard.db"
        db.initialize(make_database(f"sqlite:///{missing}"))
        leak = "unable to open database file"  # the driver's error
    else:
        port = free_port()
        db.initialize(make_database(f"postgresql://postgres@127.0.0.1:{port}/flakeguard"))
        leak = str(port)
    yield leak
    db.initialize(working)


def test_liveness_answers_200_with_the_database_down(client, database_down) -> None:  # type: ignore[no-untyped-def]
    """/health says the process is up even when the database does not answer (was 500)."""
    response = client.get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readiness_answers_503_json_with_the_database_down(client, database_down) -> None:  # type: ignore[no-untyped-def]
    """/health/ready answers 503 with JSON saying the database is unreachable (was 500)."""
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.get_json() == {
        "status": "unavailable",
        "database": {"ok": False, "error": "unreachable"},
    }


def test_deep_check_says_unreachable_and_logs_the_detail(client, database_down, caplog) -> None:  # type: ignore[no-untyped-def]
    """Attack: probing /health/deep learns nothing of the database's host, port or driver
    error; the operator finds the detail in the log."""
    response = client.get("/health/deep")
    assert response.status_code == 503
    body = response.get_json()
    assert body["database"] == {"ok": False, "error": "unreachable"}
    assert database_down not in response.get_data(as_text=True)
    assert "127.0.0.1" not in response.get_data(as_text=True)
    logged = [r.getMessage() for r in caplog.records if r.name == "flakeguard.health"]
    assert len(logged) == 1 and logged[0].startswith("health: the database is unreachable: ")
    assert database_down in logged[0]


def test_deep_check_hides_the_queue_error_detail(settings, database, tmp_path, caplog) -> None:  # type: ignore[no-untyped-def]
    """A Redis queue that does not answer is "unreachable" in /health/deep, detail logged."""
    from dataclasses import replace

    import tasks
    from flakeguard.app import create_app
    from flakeguard.settings import Settings

    port = free_port()
    app = create_app(replace(settings, queue_mode="auto", redis_url=f"redis://127.0.0.1:{port}/0"))
    try:
        response = app.test_client().get("/health/deep")
    finally:
        tasks.configure(Settings(queue_mode="immediate"))
    assert response.status_code == 503
    assert response.get_json()["queue"] == {
        "ok": False,
        "backend": "RedisStorage",
        "error": "unreachable",
    }
    assert str(port) not in response.get_data(as_text=True)
    assert any(str(port) in r.getMessage() for r in caplog.records if r.name == "flakeguard.health")
