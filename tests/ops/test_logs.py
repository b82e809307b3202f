"""JSON-lines logs: a correlation id per request, carried into jobs; secrets never logged."""

from __future__ import annotations

import json
import logging
from dataclasses import replace

import pytest

from flakeguard import jobs, logs
from flakeguard.app import create_app
from flakeguard.jobs import Job
from tests.ops.conftest import upload

SLACK_SECRET = "8f14e45fceea167a5a36dedd4bea2543"
BOT_TOKEN = "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOpQrStUvWx"
USER_TOKEN = "xoxp-1111111111-2222222222-3333333333-abcdef0123456789"
APP_TOKEN = "ghs_16C7e42F292c6912E7710c838347Ae178B4a"
PAT = "ghp_abcdefghijklmnopqrstuvwxyz0123456789"
WEBHOOK_SECRET = "it's-a-webhook-secret-42"
CLIENT_SECRET = "c1i3nt-s3cr3t-f00bar"


def lines(stream) -> list[dict]:  # type: ignore[no-untyped-def]
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_request_id_is_echoed_and_on_every_log_line(client, log_output) -> None:  # type: ignore[no-untyped-def]
    """A sane X-Request-Id comes back in the response and tags the request's log lines."""
    response = client.get("/api/v1/", headers={"X-Request-Id": "ci-run-42.attempt-1"})
    assert response.headers["X-Request-Id"] == "ci-run-42.attempt-1"
    access = [r for r in lines(log_output) if r["logger"] == "flakeguard.access"]
    assert access, "the request was not logged"
    assert access[-1]["correlation_id"] == "ci-run-42.attempt-1"
    assert access[-1]["status"] == 200
    assert access[-1]["message"].startswith("GET /api/v1/ 200")


def test_missing_or_hostile_request_id_gets_a_fresh_one(client) -> None:  # type: ignore[no-untyped-def]
    """Without a usable X-Request-Id each request gets its own new id."""
    first = client.get("/health").headers["X-Request-Id"]
    second = client.get("/health", headers={"X-Request-Id": "bad id <script>" + "x" * 80}).headers[
        "X-Request-Id"
    ]
    assert len(first) == 32 and len(second) == 32
    assert first != second
    assert "<" not in second


def test_log_lines_are_json_objects(log_output) -> None:  # type: ignore[no-untyped-def]
    """Every line is one JSON object with ts, level, logger, message and extras."""
    logging.getLogger("flakeguard.test").warning("hello %s", "world", extra={"repo": "a/b"})
    record = lines(log_output)[-1]
    assert record["level"] == "WARNING"
    assert record["logger"] == "flakeguard.test"
    assert record["message"] == "hello world"
    assert record["repo"] == "a/b"
    assert record["ts"].endswith("+00:00")


def test_correlation_id_is_carried_into_an_enqueued_task(  # type: ignore[no-untyped-def]
    app, acme, redis_huey, caplog
) -> None:
    """The analyze_run job an upload enqueues runs (in the worker) under the upload's id."""
    client = app.test_client()
    response = upload(client, acme, **{"X-Request-Id": "upload-7f3a"})
    assert response.status_code == 201, response.get_json()
    task = redis_huey.dequeue()
    assert task is not None and task.name == "analyze_run"
    assert logs.correlation_from_task_id(task.id) == "upload-7f3a"
    assert logs.get_correlation_id() is None  # nothing leaks out of the request
    with caplog.at_level(logging.INFO):
        redis_huey.execute(task)
    done = [r for r in caplog.records if "executed in" in r.getMessage()]
    assert done and done[-1].correlation_id == "upload-7f3a"
    assert logs.get_correlation_id() is None  # and nothing out of the task


def test_jobs_enqueued_outside_a_request_carry_no_id(database, redis_huey) -> None:  # type: ignore[no-untyped-def]
    """Outside a request the Huey task id is a plain one (backward compatible)."""
    assert jobs.enqueue(Job.RECONCILE) is True
    task = redis_huey.dequeue()
    assert logs.correlation_from_task_id(task.id) is None


@pytest.fixture
def secret_settings(settings):  # type: ignore[no-untyped-def]
    """Settings holding Slack secrets (signing, bot token, client) and a webhook secret."""
    return replace(
        settings,
        slack_signing_secret=SLACK_SECRET,
        slack_bot_token=BOT_TOKEN,
        slack_client_id="123.456",
        slack_client_secret=CLIENT_SECRET,
        github_webhook_secret=WEBHOOK_SECRET,
    )


def test_secrets_and_tokens_are_never_logged(  # type: ignore[no-untyped-def]
    secret_settings, database, acme, log_output
) -> None:
    """Tokens and configured secrets are redacted from messages, arguments and tracebacks."""
    app = create_app(secret_settings)
    client = app.test_client()
    assert upload(client, acme).status_code == 201
    log = logging.getLogger("flakeguard.anything")
    log.info("calling Slack with %s and %s", BOT_TOKEN, USER_TOKEN)
    log.info("Authorization: Bearer %s", acme.token)
    log.info("headers %s", {"Authorization": f"token {PAT}", "X-Installation": APP_TOKEN})
    log.warning("signature v0=%s for secret %s", "ab" * 32, SLACK_SECRET)
    log.error("webhook secret %r, client secret %s", WEBHOOK_SECRET, CLIENT_SECRET)
    try:
        raise RuntimeError(f"request failed with token {BOT_TOKEN} / {acme.token}")
    except RuntimeError:
        log.exception("Slack call failed")
    text = log_output.getvalue()
    for secret in (
        SLACK_SECRET,
        BOT_TOKEN,
        USER_TOKEN,
        APP_TOKEN,
        PAT,
        WEBHOOK_SECRET,
        CLIENT_SECRET,
        acme.token,
    ):
        assert secret not in text, f"{secret[:8]}... was logged"
    assert text.count(logs.REDACTED) >= 10
    assert "Slack call failed" in text and "RuntimeError" in text


def test_redaction_keeps_ordinary_text() -> None:
    """Messages without secrets are left alone."""
    message = "ingest token acme/shop accepted: 12 tests, sha " + "a" * 40
    assert logs.redact(message) == message
