"""``flakeguard-ci quarantined`` and ``flakeguard-ci upload`` against a live FlakeGuard."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flakeguard_ci.cli import main

from models import TestRun
from tests.api import samples
from tests.client.conftest import FLAKY, ISSUE, METHOD, NESTED, OUTSIDE_VARIABLES, REPO, Live


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No CI or FlakeGuard variables from the machine running the tests."""
    for name in OUTSIDE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def point_at(env: pytest.MonkeyPatch, live: Live) -> None:
    env.setenv("FLAKEGUARD_URL", live.url)
    env.setenv("FLAKEGUARD_TOKEN", live.token)


def test_quarantined_json_is_the_api_list_with_issue_links(
    live: Live, env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--format json prints every quarantined test with its key and GitHub issue."""
    live.quarantine(FLAKY)
    live.quarantine(METHOD, issue_url=None)
    point_at(env, live)
    assert main(["quarantined", "--repo", REPO, "--format", "json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["repo"] == REPO
    assert sorted((t["key"], t["issue_url"]) for t in body["tests"]) == [
        (METHOD, None),
        (FLAKY, ISSUE),
    ]


def test_quarantined_pytest_format_gives_node_ids_for_deselect(
    live: Live, env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--format pytest turns junitxml classnames back into node ids (module path, classes)."""
    for key in (FLAKY, METHOD, NESTED):
        live.quarantine(key)
    point_at(env, live)
    env.setenv("GITHUB_ACTIONS", "true")
    env.setenv("GITHUB_REPOSITORY", REPO)  # the repository comes from the CI environment
    assert main(["quarantined", "--format", "pytest"]) == 0
    assert sorted(capsys.readouterr().out.splitlines()) == [
        "tests/unit/deep/test_nested.py::TestOuter::TestInner::test_deep[a b]",
        "tests/unit/test_shop.py::TestCart::test_total",
        "tests/unit/test_shop.py::test_flaky",
    ]


def test_quarantined_text_and_a_refused_token(
    live: Live, env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Text lists key, date and link; a wrong token exits 1 with the server's reason."""
    live.quarantine(FLAKY)
    point_at(env, live)
    assert main(["quarantined", "--repo", REPO]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"1 quarantined test(s) in {REPO}\n")
    assert FLAKY in out and ISSUE in out
    env.setenv("FLAKEGUARD_TOKEN", "fgi_wrong")
    assert main(["quarantined", "--repo", REPO]) == 1
    assert "HTTP 401" in capsys.readouterr().err


def test_quarantined_needs_url_token_and_repository(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing configured: exit 2 naming what is missing."""
    assert main(["quarantined"]) == 2
    assert "FLAKEGUARD_URL and FLAKEGUARD_TOKEN and --repo not set" in capsys.readouterr().err


def test_upload_is_the_same_command_as_the_servers(
    live: Live, env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """flakeguard-ci upload stores one run and says so, as flakeguard upload does."""
    report = tmp_path / "junit.xml"
    report.write_bytes(samples.simple(passed=2))
    point_at(env, live)
    assert main(["upload", str(report), "--repo", REPO, "--sha", samples.SHA]) == 0
    run = TestRun.get()
    assert f"uploaded 1 file(s) to {live.url} as run {run.id}: 2 tests" in capsys.readouterr().out
