"""``flakeguard-ci upload`` sends the checkout's CODEOWNERS and .flakeguard.yml from main."""

from __future__ import annotations

from pathlib import Path

import pytest
from flakeguard_ci.cli import main

from flakeguard.usecases import owners
from models import RepoFile, Repository
from tests.api import samples
from tests.client.conftest import OUTSIDE_VARIABLES, REPO, Live


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A checkout with CODEOWNERS at the root and a malformed .flakeguard.yml; CI env cleared."""
    for name in OUTSIDE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "CODEOWNERS").write_text("/tests/payments/ @acme/payments\n")
    (tmp_path / ".flakeguard.yml").write_text("quarantine:\n  expiry_days: forever\n")
    (tmp_path / "junit.xml").write_bytes(samples.simple(passed=2))
    return tmp_path


def _upload(live: Live, checkout: Path, *extra: str) -> int:
    return main(
        [
            "upload",
            str(checkout / "junit.xml"),
            "--repo",
            REPO,
            "--sha",
            samples.SHA,
            "--url",
            live.url,
            "--token",
            live.token,
            "--checkout",
            str(checkout),
            *extra,
        ]
    )


def test_default_branch_upload_stores_the_files_and_reports_problems(
    live: Live, checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """From main: both files stored; the bad value is named, its default used."""
    assert _upload(live, checkout, "--branch", "main") == 0
    captured = capsys.readouterr()
    assert "repository files updated: codeowners, config" in captured.out
    assert "quarantine.expiry_days: must be a whole number from 1 to 365" in captured.err
    repo = Repository.get(Repository.full_name == REPO)
    assert owners.config_of(repo.id).expiry_days == 30
    files = owners.files_of(repo.id)
    assert (files.codeowners_path, files.source) == ("CODEOWNERS", "upload")
    assert files.codeowners.owners_of("tests/payments/test_x.py") == ("@acme/payments",)


def test_a_pull_request_or_another_branch_changes_nothing(
    live: Live, checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A PR run does not even send them; a feature branch is answered "not used"."""
    assert _upload(live, checkout, "--branch", "main", "--pr", "12") == 0
    assert _upload(live, checkout, "--branch", "feature") == 0
    assert "repository files not used: files are read from the default branch (main) only" in (
        capsys.readouterr().out
    )
    assert RepoFile.select().count() == 0


def test_bad_bodies_are_precise_4xx(live: Live) -> None:  # type: ignore[no-untyped-def]
    """An unknown path, a wrong repository or a non-JSON body: 400/403, nothing stored."""
    from flakeguard_ci.api import Client

    client = Client(live.url, live.token, retries=0)
    assert client.request("PUT", "/api/v1/repository-files", body=b"nope")[0] == 400
    status, body = client.send_repo_files(
        b'{"repo": "acme/shop", "branch": "main", "files": {"/etc/passwd": "x"}}'
    )
    assert status == 400 and "unknown path" in body["error"]["message"]
    status, _ = client.send_repo_files(b'{"repo": "other/x", "branch": "main", "files": {}}')
    assert status == 403
    assert Client(live.url, "wrong", retries=0).send_repo_files(b"{}")[0] == 401
    assert RepoFile.select().count() == 0
