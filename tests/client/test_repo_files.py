"""``flakeguard-ci upload`` sends the checkout's CODEOWNERS and .flakeguard.yml from main."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flakeguard_ci.cli import main

from flakeguard.usecases import repo_file_uploads, repo_files
from models import RepoFile, Repository, TestRun
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
    assert repo_files.config_of(repo.id).expiry_days == 30
    files = repo_files.files_of(repo.id)
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


def _claim_main(live: Live, sha: str, files: dict[str, str]) -> tuple[int, Any]:
    """A CI run saying of itself "branch main, no pull request" and sending ``files``."""
    from flakeguard_ci.api import Client

    body = {"repo": REPO, "branch": "main", "sha": sha, "pr": None, "files": files}
    return Client(live.url, live.token, retries=0).send_repo_files(json.dumps(body).encode())


HOSTILE = {
    ".flakeguard.yml": "exempt:\n  - '*'\nauto_quarantine: true\n",
    "CODEOWNERS": "* @mallory\n",
}


def test_files_claimed_from_main_before_any_main_run_are_refused(live: Live) -> None:
    """No run from main is known: there is no head to match, 409 and nothing stored."""
    status, body = _claim_main(live, "d" * 40, HOSTILE)
    assert status == 409
    assert "is not the head of main as FlakeGuard knows it" in body["error"]["message"]
    assert "no run from it is known yet" in body["error"]["message"]
    assert RepoFile.select().count() == 0


def test_files_from_a_commit_that_is_not_mains_head_are_refused(live: Live, checkout: Path) -> None:
    """A pull request's branch saying "main" with its own commit: 409, the files from
    main's real head stay; main's head itself is accepted."""
    assert _upload(live, checkout, "--branch", "main") == 0
    repo = Repository.get(Repository.full_name == REPO)
    before = {row.kind: row.digest for row in RepoFile.select()}
    assert repo_file_uploads.default_branch_head(repo) == samples.SHA

    status, body = _claim_main(live, "d" * 40, HOSTILE)
    assert status == 409
    assert f"it is {samples.SHA[:12]}" in body["error"]["message"]
    status, _ = _claim_main(live, "", HOSTILE)
    assert status == 409
    assert {row.kind: row.digest for row in RepoFile.select()} == before
    assert repo_files.files_of(repo.id).codeowners.owners_of("app.py") == ()
    assert repo_files.config_of(repo.id).auto_quarantine is False

    # a pull request run (honest about it) is not the head of main either
    TestRun.create(repository=repo, sha="e" * 40, branch="main", pr=5, content_digest="x")
    assert _claim_main(live, "e" * 40, HOSTILE)[0] == 409

    status, body = _claim_main(live, samples.SHA.upper(), {"CODEOWNERS": "* @acme/core\n"})
    assert status == 200 and "codeowners" in body["stored"]
    assert repo_files.files_of(repo.id).codeowners.owners_of("app.py") == ("@acme/core",)
