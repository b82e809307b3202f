"""Fixtures for the operations tests: a repository with its token, uploads, job recorders."""

from __future__ import annotations

import io
import logging
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from flakeguard import jobs, logs
from tests.conftest import RepoToken, service_missing
from tests.ops.live import DEADLINE, RedisServer, poll

SHA = "b" * 40


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

    calls: dict[str, list[dict[str, Any]]] = {}

    def recorder(job: jobs.Job) -> Any:
        def record(**kwargs: Any) -> None:
            calls.setdefault(str(job), []).append(kwargs)

        return record

    with jobs.replaced({job: recorder(job) for job in jobs.registered()}):
        yield calls


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


# -- a redis-server of the test's own, and running its queue in-process -----------------


def wait_for(condition: Callable[[], Any], what: str, timeout: float = DEADLINE) -> Any:
    """Poll ``condition`` until it is truthy; fail naming ``what`` after ``timeout``."""
    try:
        return poll(condition, what, timeout)
    except RuntimeError as exc:
        pytest.fail(str(exc))


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own."""
    if shutil.which("redis-server") is None:
        service_missing("redis-server", FileNotFoundError("redis-server is not installed"))
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


def drain(queue: Any, *, limit: int = 200) -> int:
    """Run every queued job (and the jobs they enqueue) in this process; how many ran."""
    ran = 0
    while ran < limit:
        task = queue.dequeue()
        if task is None:
            return ran
        queue.execute(task)
        ran += 1
    pytest.fail("the queue did not drain")
