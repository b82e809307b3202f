"""The app with Slack and GitHub on (the fakes), jobs run as they are enqueued."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
from slack_sdk import WebClient

from models import Installation, Repository, db, default_tenant
from tests.fakes.github import INSTALLATION_ID, FakeGitHub, WebhookSender
from tests.fakes.slack import BOT_TOKEN, SIGNING_SECRET, FakeSlack, SlackRequests


def write_from_another_connection() -> bool:
    """Commit a write to the SQLite database from a second connection, at once or not
    at all; True if it went in. Called mid-transaction by a test, it is a concurrent
    writer: it goes in when the transaction holds no write lock yet."""
    other = sqlite3.connect(db.obj.database, timeout=0)
    try:
        # A tenant made and dropped: a committed write that leaves nothing behind.
        other.execute(
            "INSERT INTO tenant (slug, name, created_at) VALUES ('concurrent', '', '2000-01-01')"
        )
        other.execute("DELETE FROM tenant WHERE slug = 'concurrent'")
        other.commit()
    except sqlite3.OperationalError as exc:
        assert "locked" in str(exc)
        return False
    finally:
        other.close()
    return True


REPO = "org/shop"
REPO_ID = 4242


@dataclass
class World:
    """The running app, what talks to it, and the repository under test."""

    app: Any
    slack: SlackRequests
    hook: WebhookSender
    fake_slack: FakeSlack
    fake_github: FakeGitHub
    repo: Repository


def push_payload(repo: Repository, *paths: str, ref: str = "refs/heads/main") -> dict[str, Any]:
    """A ``push`` webhook payload for ``repo`` whose one commit modifies ``paths``."""
    return {
        "ref": ref,
        "after": "f" * 40,
        "installation": {"id": INSTALLATION_ID},
        "repository": {
            "id": REPO_ID,
            "full_name": repo.full_name,
            "default_branch": repo.default_branch,
            "owner": {"login": repo.owner},
        },
        "commits": [{"id": "f" * 40, "added": [], "modified": list(paths), "removed": []}],
    }


@pytest.fixture
def world(
    github_settings: Any,
    github_client: Any,
    fake_slack: FakeSlack,
    fake_github: FakeGitHub,
    database: object,
) -> Iterator[World]:
    import tasks
    from flakeguard.app import create_app
    from flakeguard.settings import Settings
    from tasks import github as github_tasks

    settings = replace(
        github_settings,
        slack_signing_secret=SIGNING_SECRET,
        slack_bot_token=BOT_TOKEN,
        slack_api_url=fake_slack.api_url,
    )
    app = create_app(
        settings,
        slack=WebClient(token=BOT_TOKEN, base_url=fake_slack.api_url),
        github=github_client,
    )
    app.testing = True
    inst = Installation.create(
        installation_id=INSTALLATION_ID, account_login="org", tenant=default_tenant()
    )
    repo = Repository.create(
        tenant=default_tenant(), full_name=REPO, installation=inst, github_id=REPO_ID
    )
    client = app.test_client()
    yield World(
        app=app,
        slack=SlackRequests(client, fake_slack),
        hook=WebhookSender(client),
        fake_slack=fake_slack,
        fake_github=fake_github,
        repo=repo,
    )
    github_tasks.use_client(None)
    tasks.configure(Settings(queue_mode="immediate"))
