"""``PUT /api/v1/repository-files``: the CI client sends CODEOWNERS and .flakeguard.yml.

The client finds the files in the checkout and sends them (JSON, at most
``MAX_BODY`` bytes) with the run's branch, commit and pull request. Stored only for
the default branch and no pull request, and only when the GitHub App is not
installed (the App reads the default branch itself); otherwise answered 200 with
``stored: []`` and the reason. The branch and pull request are the client's word, so
the commit must also be the default branch's head as FlakeGuard knows it (the newest
non-pull-request run on it); otherwise 409 and nothing stored.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from flakeguard.errors import BadRequestError, ForbiddenError, PayloadTooLargeError
from flakeguard.usecases import repo_file_uploads
from flakeguard.usecases.repo_files import WATCHED_PATHS, problems
from flakeguard.usecases.repos import authenticate

repo_files = Blueprint("repo_files", __name__, url_prefix="/api/v1")

MAX_BODY = 4 * 1024 * 1024  # CODEOWNERS may be up to 3 MB (GitHub's limit), plus JSON


@repo_files.put("/repository-files")
def put_repository_files() -> tuple[Response, int]:
    """Store the repository's CODEOWNERS and .flakeguard.yml from a default-branch CI run."""
    repo = authenticate(_bearer_token())
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise PayloadTooLargeError(f"the body is larger than {MAX_BODY} bytes")
    request.max_content_length = MAX_BODY
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequestError("send a JSON object: repo, branch, sha, pr, files")
    name = body.get("repo")
    if not isinstance(name, str) or name.lower() != repo.full_name.lower():
        raise ForbiddenError(f"this ingest token belongs to {repo.full_name}")
    branch, sha, pr = body.get("branch"), body.get("sha", ""), body.get("pr")
    if not isinstance(branch, str) or not branch:
        raise BadRequestError("branch: required (the branch the CI run checked out)")
    if not isinstance(sha, str) or len(sha) > 40:
        raise BadRequestError("sha: a commit SHA")
    if pr is not None and (isinstance(pr, bool) or not isinstance(pr, int)):
        raise BadRequestError("pr: a pull request number, or null")
    files = _files(body.get("files"))
    stored = repo_file_uploads.store_upload(repo.id, files, branch=branch, pr=pr, sha=sha)
    answer: dict[str, Any] = {"stored": stored, "problems": problems(repo.id)}
    if not stored and not repo_file_uploads.accepts_upload(repo, branch=branch, pr=pr):
        answer["ignored"] = repo_file_uploads.upload_refusal(repo, branch=branch, pr=pr)
    return jsonify(answer), 200


def _bearer_token() -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _files(value: Any) -> dict[str, str | None]:
    if not isinstance(value, dict):
        raise BadRequestError("files: an object of path -> text (or null when absent)")
    unknown = sorted(str(path)[:80] for path in value if path not in WATCHED_PATHS)
    if unknown:
        known = ", ".join(WATCHED_PATHS)
        raise BadRequestError(f"files: unknown path {unknown[0]!r}; known paths: {known}")
    for path, text in value.items():
        if text is not None and not isinstance(text, str):
            raise BadRequestError(f"files.{path}: text or null")
    return dict(value)
