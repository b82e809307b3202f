"""Cross-tenant requests against a live gunicorn on PostgreSQL, signed as Slack signs them.

Every case is refused, nothing changes (row counts of what a request could write are
identical before and after) and nothing is revealed (the answer for another tenant's
repository or test equals the answer for one that does not exist). Rerun with
``./scripts/test tests/e2e/test_tenancy_live.py -q -s``: it prints the figures.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg

from tests.e2e.conftest import Stack
from tests.fakes.slack import TEAM_ID

TABLES = (
    "quarantine",
    "quarantine_event",
    "channel_subscription",
    "user_link",
    "slack_message",
    "slack_workspace",
    "repository",
    "tenant",
)
FOREIGN_COMMANDS = [
    "status",
    "status acme/widgets",
    "top",
    "test anything",
    "quarantine anything",
    "unquarantine anything",
    "subscribe acme/widgets",
    "unsubscribe acme/widgets",
    "link octocat",
]
NAMED = ["status {}", "top {}", "subscribe {}", "unsubscribe {}"]


def counts(stack: Stack) -> dict[str, Any]:
    """Rows per table, and the audit trail's last id."""
    with psycopg.connect(stack.env["DATABASE_URL"]) as conn:
        out: dict[str, Any] = {
            t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES
        }  # type: ignore[index]
        out["last_event"] = conn.execute("SELECT max(id) FROM quarantine_event").fetchone()[0]  # type: ignore[index]
    return out


RIVAL = """
import os, sys
from models import Repository, TestCase, Tenant, init_db
from flakeguard.usecases.quarantine import perform
init_db(os.environ["DATABASE_URL"])
tenant = Tenant.create(slug="rival", name="Rival")
repo = Repository.create(tenant=tenant, full_name="rival/secret")
test = TestCase.create(repository=repo, key="k::test_secret_sauce", classname="k",
                       name="test_secret_sauce")
outcome = perform(test.id, "propose", tenant_id=None, actor="flakeguard", source="system")
print(outcome.quarantine.id)
"""


def rival_repository(stack: Stack) -> int:
    """Another tenant with a repository and a proposed quarantine; returns the quarantine id."""
    done = subprocess.run(
        [sys.executable, "-c", RIVAL],
        env=stack.env,
        cwd=Path(__file__).parents[2],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout.strip().splitlines()[-1])


def text_of(response: Any) -> str:
    body = response.get_json() or {}
    return json.dumps(body, sort_keys=True)


def test_cross_tenant_requests_on_a_live_server_change_and_reveal_nothing(stack: Stack) -> None:
    """Attacks on gunicorn: foreign team commands and clicks, forged values, other tenants."""
    home = stack.slack.command("status")  # the home workspace links itself on first use
    assert home.status_code == 200 and "acme/widgets" in text_of(home)
    secret_quarantine = rival_repository(stack)
    before = counts(stack)
    refused = 0

    for text in FOREIGN_COMMANDS:
        reply = stack.slack.command(text, team="T0EVIL")
        assert reply.status_code == 200 and "does not serve" in text_of(reply), text
        assert "acme" not in text_of(reply)
        refused += 1
    for text in NAMED:
        foreign = text_of(stack.slack.command(text.format("rival/secret")))
        missing = text_of(stack.slack.command(text.format("rival/nothing")))
        assert foreign.replace("secret", "X") == missing.replace("nothing", "X"), text
        refused += 1
    for text in ("test secret_sauce", "quarantine secret_sauce"):
        foreign = text_of(stack.slack.command(text))
        missing = text_of(stack.slack.command(text.replace("secret_sauce", "nothing_here")))
        assert foreign.replace("secret_sauce", "X") == missing.replace("nothing_here", "X")
        refused += 1
    for action in ("fg_approve", "fg_undo", "fg_dismiss", "fg_lift", "fg_approve_all"):
        for value in (f"{secret_quarantine}:1", "abc", "1", "id:-1", "-1:0", "99999999999:0"):
            for team in (TEAM_ID, "T0EVIL"):
                click = stack.slack.click(action, value, team=team)
                assert click.status_code == 200, (action, value, click.data)
                refused += 1
    metadata = json.dumps({"m": 1, "c": "C0ALERTS", "q": [[secret_quarantine, 1]]})
    for team in (TEAM_ID, "T0EVIL"):
        for raw in (metadata, "{", '{"m": -1}'):
            submitted = stack.slack.submit_view("fg_approve_all_view", raw, team=team)
            assert submitted.status_code == 200
            refused += 1

    assert counts(stack) == before
    print(f"\nlive server: {refused} cross-tenant requests refused, tables unchanged: {before}")
