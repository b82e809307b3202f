"""On a live ``flakeguard serve``: a signed event from another installation changes nothing."""

from __future__ import annotations

import json
import sqlite3
import urllib.error
import urllib.request
import uuid
from typing import Any

from tests.cli.conftest import serving, wait_for
from tests.fakes.github import APP_ID, WEBHOOK_SECRET, sign_webhook

REPOSITORY = {"id": 55, "full_name": "acme/widgets", "owner": {"login": "acme"}}
OWNER = {"id": 777, "account": {"login": "acme", "id": 9001, "type": "Organization"}}
STRANGER = {"id": 888, "account": {"login": "evil", "id": 6666, "type": "Organization"}}


def send(url: str, event: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    body = json.dumps(payload).encode()
    request = urllib.request.Request(
        url + "/github/webhook",
        data=body,
        headers={
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-Hub-Signature-256": sign_webhook(body, WEBHOOK_SECRET),
            "Content-Type": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, {}


def test_live_server_refuses_another_installations_events(workdir, github_rsa_key) -> None:  # type: ignore[no-untyped-def]
    """Attack on a running server: installation 888 sends signed events naming repository 55."""
    env = {
        "GITHUB_APP_ID": str(APP_ID),
        "GITHUB_APP_PRIVATE_KEY": github_rsa_key[0],
        "GITHUB_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "GITHUB_API_URL": "http://127.0.0.1:9",  # never called: nothing may be enqueued
    }
    with serving(workdir, **env) as (url, _proc):
        wait_for(url + "/health/ready")
        created = {"action": "created", "installation": OWNER, "repositories": [REPOSITORY]}
        assert send(url, "installation", created)[0] == 200
        assert send(url, "installation", {"action": "created", "installation": STRANGER})[0] == 200
        attacks = [
            ("workflow_run", {"action": "completed", "workflow_run": {"id": 31}}),
            ("check_suite", {"action": "rerequested", "check_suite": {"head_sha": "c" * 40}}),
            ("repository", {"action": "renamed"}),
        ]
        for event, payload in attacks:
            repo = (
                dict(REPOSITORY, full_name="evil/widgets") if event == "repository" else REPOSITORY
            )
            status, body = send(
                url, event, {**payload, "repository": repo, "installation": STRANGER}
            )
            assert (status, body.get("status")) == (200, "ignored"), (event, body)
    with sqlite3.connect(workdir / "flakeguard.db") as conn:
        rows = conn.execute(
            "SELECT r.full_name, i.installation_id FROM repository r "
            "JOIN installation i ON i.id = r.installation_id"
        ).fetchall()
        assert rows == [("acme/widgets", 777)]
        assert conn.execute("SELECT COUNT(*) FROM ingested_artifact").fetchone() == (0,)
