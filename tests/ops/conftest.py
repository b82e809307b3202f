"""Fixtures for the operations tests: a repository with its token, uploads, job recorders."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from flakeguard import jobs, logs
from flakeguard.usecases.repos import add_repository
from models import Repository

SHA = "b" * 40


@dataclass
class RepoToken:
    """A repository and the plain text of its ingest token."""

    repo: Repository
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def acme(database: object) -> RepoToken:
    """Repository acme/shop with an ingest token."""
    repo, token = add_repository("acme/shop")
    return RepoToken(repo, token)


def junit(*cases: tuple[str, str]) -> bytes:
    """A JUnit report of (name, 'passed' | 'failed') cases."""
    body = "".join(
        f'<testcase classname="t.mod" name="{name}" time="0.1">'
        + ('<failure message="boom">x</failure>' if status == "failed" else "")
        + "</testcase>"
        for name, status in cases
    )
    return f'<testsuites><testsuite name="s">{body}</testsuite></testsuites>'.encode()


def upload(client: Any, acme: RepoToken, *, run_id: str = "1", sha: str = SHA, **headers: str):  # type: ignore[no-untyped-def]
    """POST a two-test report for acme/shop."""
    return client.post(
        "/api/v1/reports",
        query_string={"repo": "acme/shop", "sha": sha, "run_id": run_id, "job": "test"},
        data=junit(("test_a", "passed"), ("test_b", "failed")),
        headers={**acme.headers, "Content-Type": "application/xml", **headers},
    )


@pytest.fixture
def recorded_jobs() -> Iterator[dict[str, list[dict[str, Any]]]]:
    """Replace every job by a recorder of its calls (name -> list of kwargs); restored after."""
    import tasks  # noqa: F401  (the real jobs are registered first)

    saved = dict(jobs._registry)
    calls: dict[str, list[dict[str, Any]]] = {}

    def recorder(name: str) -> Any:
        def record(**kwargs: Any) -> None:
            calls.setdefault(name, []).append(kwargs)

        return record

    for name in saved:
        jobs.register(name, recorder(name))
    yield calls
    jobs._registry.clear()
    jobs._registry.update(saved)


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """Everything logged during the test, as our JSON formatter writes it."""
    logs.install_redaction()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(old_level)
