"""``flakeguard-ci upload`` sends the checkout's CODEOWNERS and .flakeguard.yml from main.

From GitHub Actions it sends the job's OIDC token with them (the fake issuer's token
endpoint plays ``ACTIONS_ID_TOKEN_REQUEST_URL``); elsewhere the repository must trust
its ingest token, and then the commit must be main's head as FlakeGuard knows it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flakeguard_ci.cli import main

from flakeguard.settings import Settings
from flakeguard.usecases import repo_file_uploads, repo_files
from models import RepoFile, Repository, TestRun
from tests.api import samples
from tests.client.conftest import OUTSIDE_VARIABLES, REPO, Live
from tests.fakes.actions_oidc import AUDIENCE, REQUEST_TOKEN, FakeActionsIssuer, trusting


@pytest.fixture
def settings(settings: Settings, actions_issuer: FakeActionsIssuer) -> Settings:
    return trusting(settings, actions_issuer)


@pytest.fixture
def on_actions(
    monkeypatch: pytest.MonkeyPatch, actions_issuer: FakeActionsIssuer
) -> Callable[..., FakeActionsIssuer]:
    """Make this the environment of a GitHub Actions job pushed to main; return the issuer."""

    def enter(*, id_token: bool = True) -> FakeActionsIssuer:
        variables = {
            "GITHUB_ACTIONS": "true",
            "GITHUB_REPOSITORY": REPO,
            "GITHUB_SHA": samples.SHA,
            "GITHUB_REF": "refs/heads/main",
            "GITHUB_REF_NAME": "main",
            "GITHUB_RUN_ID": "77",
            "FLAKEGUARD_OIDC_AUDIENCE": AUDIENCE,
        }
        if id_token:  # what `permissions: id-token: write` gives a job
            variables["ACTIONS_ID_TOKEN_REQUEST_URL"] = actions_issuer.request_url
            variables["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] = REQUEST_TOKEN
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        actions_issuer.job.update(repository=REPO, sha=samples.SHA)
        return actions_issuer

    return enter


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


def test_an_actions_job_of_main_sends_its_token_and_the_files_are_stored(
    live: Live, checkout: Path, capsys: pytest.CaptureFixture[str], on_actions: Any
) -> None:
    """On GitHub Actions with id-token: write: the client asks GitHub for a token for
    FlakeGuard's audience and sends it; both files stored; the bad value is named."""
    actions_issuer = on_actions()
    assert _upload(live, checkout) == 0
    captured = capsys.readouterr()
    assert "repository files updated: codeowners, config" in captured.out
    assert "quarantine.expiry_days: must be a whole number from 1 to 365" in captured.err
    [(_, query, headers)] = [call for call in actions_issuer.calls if call[0] == "/token"]
    assert query == {"api-version": "2.0", "audience": AUDIENCE}
    assert headers["Authorization"] == f"bearer {REQUEST_TOKEN}"
    repo = Repository.get(Repository.full_name == REPO)
    assert repo_files.config_of(repo.id).expiry_days == 30
    files = repo_files.files_of(repo.id)
    assert (files.codeowners_path, files.source) == ("CODEOWNERS", "actions")
    assert files.codeowners.owners_of("tests/payments/test_x.py") == ("@acme/payments",)


def test_an_actions_job_without_id_token_permission_is_told_how_to_fix_it(
    live: Live, checkout: Path, capsys: pytest.CaptureFixture[str], on_actions: Any
) -> None:
    """No id-token permission: the client warns, the server refuses; the job still passes."""
    on_actions(id_token=False)
    assert _upload(live, checkout) == 0
    captured = capsys.readouterr()
    assert "grant it `permissions: id-token: write`" in captured.err
    assert "repository files refused: HTTP 401" in captured.out
    assert RepoFile.select().count() == 0


def test_without_actions_the_ingest_token_must_be_trusted(
    live: Live, checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Other CI: refused until the repository trusts its ingest token, then stored."""
    assert _upload(live, checkout, "--branch", "main") == 0
    assert "--trust ingest-token" in capsys.readouterr().out
    assert RepoFile.select().count() == 0
    repo_file_uploads.set_trust(live.repo, repo_file_uploads.INGEST_TOKEN)
    assert _upload(live, checkout, "--branch", "main") == 0
    assert "repository files updated: codeowners, config" in capsys.readouterr().out
    assert repo_files.files_of(live.repo.id).source == "upload"


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
    """Trusting the ingest token, no run from main is known: no head to match, 409."""
    repo_file_uploads.set_trust(live.repo, repo_file_uploads.INGEST_TOKEN)
    status, body = _claim_main(live, "d" * 40, HOSTILE)
    assert status == 409
    assert "is not the head of main as FlakeGuard knows it" in body["error"]["message"]
    assert "no run from it is known yet" in body["error"]["message"]
    assert RepoFile.select().count() == 0


def test_files_from_a_commit_that_is_not_mains_head_are_refused(live: Live, checkout: Path) -> None:
    """Trusting the ingest token, a pull request's branch saying "main" with its own
    commit: 409, the files from main's real head stay; main's head itself is accepted."""
    repo_file_uploads.set_trust(live.repo, repo_file_uploads.INGEST_TOKEN)
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


def test_a_refused_token_request_is_a_warning_not_a_token(
    actions_issuer: FakeActionsIssuer,
) -> None:
    """GitHub refusing the job's request token: no token, and the reason."""
    from flakeguard_ci import repo_files as client_files

    env = {
        "ACTIONS_ID_TOKEN_REQUEST_URL": actions_issuer.request_url,
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "stolen",
    }
    token, why = client_files.actions_token(env, AUDIENCE)
    assert token is None and "GitHub gave no OIDC token" in why
