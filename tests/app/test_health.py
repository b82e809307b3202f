"""Health endpoints and the unconfigured integrations, on both databases."""

from __future__ import annotations

from models import db


def test_liveness(client) -> None:  # type: ignore[no-untyped-def]
    """/health answers 200 while the process is up."""
    assert client.get("/health").get_json() == {"status": "ok"}


def test_ready_when_database_is_migrated(client, db_url) -> None:  # type: ignore[no-untyped-def]
    """/health/ready is 200 with the database reachable and migrated."""
    response = client.get("/health/ready")
    assert response.status_code == 200
    expected = "sqlite" if db_url.startswith("sqlite") else "postgresql"
    assert response.get_json()["database"] == {"ok": True, "backend": expected}


def test_not_ready_with_pending_migration(client) -> None:  # type: ignore[no-untyped-def]
    """A migration not applied makes /health/ready answer 503 naming it."""
    db.execute_sql("DELETE FROM schema_migration WHERE name = '0001_initial'")
    try:
        response = client.get("/health/ready")
        assert response.status_code == 503
        assert response.get_json()["database"]["pending"] == ["0001_initial"]
    finally:
        db.execute_sql(
            "INSERT INTO schema_migration (name, applied) VALUES ('0001_initial', "
            "CURRENT_TIMESTAMP)"
        )


def test_deep_reports_queue_and_integrations(client) -> None:  # type: ignore[no-untyped-def]
    """/health/deep reports the queue backend and that Slack and GitHub are off."""
    body = client.get("/health/deep").get_json()
    assert body["status"] == "ok"
    assert body["queue"]["backend"] == "immediate"
    assert body["slack"]["configured"] is False
    assert body["github"]["configured"] is False


def test_unconfigured_slack_and_github_answer_503(client) -> None:  # type: ignore[no-untyped-def]
    """Without configuration, the Slack and GitHub endpoints say what to set."""
    slack = client.post("/slack/events", data=b"{}")
    github = client.post("/github/webhook", data=b"{}")
    assert (
        slack.status_code == 503 and "SLACK_SIGNING_SECRET" in slack.get_json()["error"]["message"]
    )
    assert github.status_code == 503 and "GITHUB_APP_ID" in github.get_json()["error"]["message"]


def test_unknown_route_is_json_404(client) -> None:  # type: ignore[no-untyped-def]
    """Errors are JSON everywhere."""
    response = client.get("/nope")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"
