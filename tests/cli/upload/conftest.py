"""Fixtures for the upload and ingest commands: the real WSGI app served on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.processes import CI_VARIABLES, served, unused_url


class Failing:
    """WSGI middleware answering 503 to the first ``count`` requests, counting all."""

    def __init__(self, app: Callable[..., Any], count: int = 0) -> None:
        self.app = app
        self.count = count
        self.requests = 0

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        self.requests += 1
        if self.requests <= self.count:
            environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"busy"]
        return self.app(environ, start_response)


@pytest.fixture
def server(app) -> Iterator[tuple[str, Failing]]:  # type: ignore[no-untyped-def]
    """The app served over HTTP in a thread: (base URL, middleware to make it fail)."""
    front = Failing(app)
    with served(front) as url:
        yield url, front


@pytest.fixture
def down_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (a port just released)."""
    return unused_url()


@pytest.fixture
def ci_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No CI or FlakeGuard variables from the machine running the tests; no server settings."""
    for name in CI_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", "nope://the upload client must not read this")
    return monkeypatch


@pytest.fixture
def analyzed() -> Iterator[list[int]]:
    """Record the run ids of analyze_run jobs instead of running an analysis."""
    import tasks  # noqa: F401  (registers the real jobs first, so ours wins)
    from flakeguard import jobs

    calls: list[int] = []
    with jobs.replaced({jobs.Job.ANALYZE_RUN: lambda run_id: calls.append(run_id)}):
        yield calls
