"""The CI client waits as long as a 429 or 503 asks (Retry-After, bounded) before it
retries, for the repository files' PUT as for a report's upload."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from flakeguard_ci.api import MAX_RETRY_AFTER, Client, Unreachable, retry_after

from tests.fakes.github import _Server


class Flaky:
    """A server answering each request with the next planned (status, headers), then 200."""

    def __init__(self) -> None:
        self.plan: list[tuple[int, dict[str, str]]] = []
        self.calls: list[tuple[str, str]] = []
        self.server = _Server(self._respond)

    def _respond(
        self, method: str, target: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, dict[str, str], Any]:
        self.calls.append((method, target))
        if self.plan:
            status, extra = self.plan.pop(0)
            return status, extra, {"error": {"message": "busy"}}
        return 200, {}, {"stored": [], "run_id": 1, "totals": {}}


@pytest.fixture
def flaky() -> Iterator[Flaky]:
    server = Flaky()
    yield server
    server.server.close()


def _client(flaky: Flaky, slept: list[float], retries: int = 4) -> Client:
    return Client(flaky.server.url, "t", retries=retries, backoff=1.0, sleep=slept.append)


def _repo_files(client: Client) -> tuple[int, Any]:
    return client.send_repo_files(json.dumps({"repo": "acme/shop"}).encode())


def _report(client: Client, tmp_path: Path) -> tuple[int, Any]:
    report = tmp_path / "junit.xml"
    report.write_text("<testsuite/>")
    return client.upload([report], {"repo": "acme/shop"})


@pytest.mark.parametrize("send", [_repo_files, _report], ids=["repo-files", "report"])
@pytest.mark.parametrize("status", [429, 503])
def test_a_retry_after_in_seconds_is_waited_before_the_retry(
    flaky: Flaky, tmp_path: Path, send: Any, status: int
) -> None:
    slept: list[float] = []
    flaky.plan = [(status, {"Retry-After": "7"})]
    args = (tmp_path,) if send is _report else ()
    assert send(_client(flaky, slept), *args)[0] == 200
    assert slept == [7.0] and len(flaky.calls) == 2


def test_a_retry_after_past_the_bound_waits_the_bound(flaky: Flaky) -> None:
    slept: list[float] = []
    flaky.plan = [(503, {"Retry-After": "86400"})]
    assert _repo_files(_client(flaky, slept))[0] == 200
    assert slept == [MAX_RETRY_AFTER]


def test_without_retry_after_the_backoff_applies_and_a_429_is_retried(flaky: Flaky) -> None:
    slept: list[float] = []
    flaky.plan = [(429, {}), (502, {}), (503, {"Retry-After": "soon"})]
    assert _repo_files(_client(flaky, slept))[0] == 200
    assert slept == [0.0, 2.0, 4.0]


def test_rate_limited_past_the_retries_is_unreachable_not_an_error(flaky: Flaky) -> None:
    slept: list[float] = []
    flaky.plan = [(429, {"Retry-After": "1"})] * 3
    with pytest.raises(Unreachable, match="HTTP 429 after retries"):
        _repo_files(_client(flaky, slept, retries=2))
    assert slept == [1.0, 1.0]


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=12), usegmt=True)
    assert retry_after(later, now=now.timestamp()) == 12.0
    assert retry_after("0") == 0.0
    assert retry_after(format_datetime(now, usegmt=True), now=now.timestamp() + 5) == 0.0
    for junk in (None, "", "-3", "1.5", "tomorrow", "٣"):
        assert retry_after(junk) is None
