"""``PUT /api/v1/repository-files``: the CI client sends CODEOWNERS and .flakeguard.yml.

The client finds the files in the checkout and sends them (JSON, at most ``MAX_BODY``
bytes) with the run's branch, commit and pull request and, from GitHub Actions, the
job's OIDC token (``actions_token``). Stored only for the default branch and no pull
request, and only when the GitHub App is not installed (the App reads the default
branch itself); otherwise answered 200 with ``stored: []`` and the reason. What proves
the default branch (the OIDC token, or the ingest token where the repository trusts
it) is decided in ``flakeguard.usecases.repo_file_uploads``: 401 / 403 when the proof
is missing or wrong, 409 when the commit is not the branch's head; nothing stored.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from flakeguard.errors import BadRequestError, ForbiddenError, PayloadTooLargeError
from flakeguard.usecases import repo_file_uploads
from flakeguard.usecases.actions_oidc import MAX_TOKEN_CHARS, ActionsIssuer
from flakeguard.usecases.repo_files import WATCHED_PATHS, problems
from flakeguard.usecases.repos import authenticate
from integrations.github.actions_issuer import JwksIssuer

repo_files = Blueprint("repo_files", __name__, url_prefix="/api/v1")

MAX_BODY = 4 * 1024 * 1024  # CODEOWNERS may be up to 3 MB (GitHub's limit), plus JSON
ISSUER = "flakeguard.actions_issuer"


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
    token = body.get("actions_token")
    if token is not None and (not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS):
        raise BadRequestError(f"actions_token: a JWT of at most {MAX_TOKEN_CHARS} characters")
    files = _files(body.get("files"))
    stored, source = repo_file_uploads.store_upload(
        repo.id, files, branch=branch, pr=pr, sha=sha, actions_token=token, issuer=_issuer()
    )
    answer: dict[str, Any] = {"stored": stored, "problems": problems(repo.id)}
    if source:
        answer["source"] = source
    if not stored and not repo_file_uploads.accepts_upload(repo, branch=branch, pr=pr):
        answer["ignored"] = repo_file_uploads.upload_refusal(repo, branch=branch, pr=pr)
    return jsonify(answer), 200


def _issuer() -> ActionsIssuer:
    """GitHub Actions' issuer as configured; its key set is fetched once per app and cached."""
    issuer = current_app.extensions.get(ISSUER)
    if issuer is None:
        settings = current_app.extensions["flakeguard"].settings
        issuer = current_app.extensions[ISSUER] = JwksIssuer(
            issuer=settings.actions_oidc_issuer,
            audience=settings.actions_oidc_expected_audience,
            jwks_url=settings.actions_oidc_keys_url,
        )
    return issuer


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
