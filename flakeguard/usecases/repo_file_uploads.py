"""Repository files uploaded by the CI client: stored only from the default branch's head.

``PUT /api/v1/repository-files`` (``flakeguard/api/repo_files.py``) calls
``store_upload``; files from a pull request, another branch, or a repository the
GitHub App reads itself are not used.
"""

from __future__ import annotations

from collections.abc import Mapping

from flakeguard.errors import ConflictError
from flakeguard.usecases.repo_files import WATCHED_PATHS, store_files
from models import Repository, TestRun


def store_upload(
    repository_id: int, files: Mapping[str, str | None], *, branch: str, pr: int | None, sha: str
) -> list[str]:
    """Store the files the CI client sent with a run; only from the default branch.

    Ignored (returns []) for a pull request or another branch, and when the GitHub
    App is installed on the repository (it reads the default branch itself).

    The branch and pull request are what the CI run says of itself, and anyone who can
    run CI with the ingest token (a pull request's branch) can say ``main``. So the
    files are stored only when ``sha`` is the head of the default branch as FlakeGuard
    knows it (:func:`default_branch_head`); otherwise ConflictError and nothing stored.
    """
    repo = Repository.get_by_id(repository_id)
    if not accepts_upload(repo, branch=branch, pr=pr):
        return []
    head = default_branch_head(repo)
    if head is None or sha.strip().lower() != head.lower():
        known = f"it is {head[:12]}" if head else "no run from it is known yet"
        raise ConflictError(
            f"sha {sha.strip()[:40] or '(none)'} is not the head of {repo.default_branch} "
            f"as FlakeGuard knows it ({known}); files are taken only from the commit of "
            f"the newest report uploaded from {repo.default_branch} outside a pull request"
        )
    wanted = {path: files.get(path) for path in WATCHED_PATHS}
    return store_files(repository_id, wanted, source="upload", commit_sha=sha)


def default_branch_head(repo: Repository) -> str | None:
    """The commit of the newest run reported from the default branch outside a pull
    request: the head of the default branch as FlakeGuard knows it (None: no such run)."""
    run = (
        TestRun.select(TestRun.sha)
        .where(
            TestRun.repository == repo.id,
            TestRun.branch == repo.default_branch,
            TestRun.pr.is_null(),
        )
        .order_by(TestRun.received_at.desc(), TestRun.id.desc())
        .first()
    )
    return run.sha if run is not None and run.sha else None


def accepts_upload(repo: Repository, *, branch: str, pr: int | None) -> bool:
    """Whether files uploaded from this branch and pull request are stored for ``repo``."""
    return pr is None and branch == repo.default_branch and repo.installation_id is None


def upload_refusal(repo: Repository, *, branch: str, pr: int | None) -> str:
    """Why uploaded files are not stored ("" when they are)."""
    if repo.installation_id is not None:
        return "the GitHub App reads these files from the default branch"
    if pr is not None or branch != repo.default_branch:
        return f"files are read from the default branch ({repo.default_branch}) only"
    return ""
