"""Report upload and the quarantine list for CI: ``POST /api/v1/reports``, ``GET .../quarantine``.

The body is read as a stream and never more than the configured limit is read
(``FLAKEGUARD_MAX_REPORT_BYTES``, on the bytes sent and again on the bytes after
gzip), so a large or compressed-bomb upload is refused with 413 while it
streams. Accepted bodies: one JUnit XML file (``application/xml``,
``text/xml``, ``application/octet-stream``, or no content type), optionally
with ``Content-Encoding: gzip``; or ``multipart/form-data`` with one or more
files (each may be gzip) and the metadata as form fields.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from flakeguard.errors import (
    BadRequestError,
    ForbiddenError,
    PayloadTooLargeError,
    UnsupportedMediaError,
)
from flakeguard.streams import BoundedReader, Budget, GzipReader
from flakeguard.usecases.gate import quarantined_tests
from flakeguard.usecases.ingest import ingest_reports, parse_run_meta
from flakeguard.usecases.repos import authenticate, check_repo_name
from models import Repository

reports = Blueprint("reports", __name__, url_prefix="/api/v1")

RAW_TYPES = frozenset(
    {
        "",
        "application/xml",
        "text/xml",
        "application/junit+xml",
        "application/octet-stream",
        "application/gzip",
        "application/x-gzip",
    }
)
MULTIPART = "multipart/form-data"
GZIP_ENCODINGS = frozenset({"gzip", "x-gzip"})
META_FIELDS = ("repo", "sha", "branch", "run_id", "job", "attempt", "pr", "started_at")
# Room for multipart boundaries, part headers and the metadata fields.
MULTIPART_OVERHEAD = 256 * 1024
MAX_FILES = 1000


@reports.post("/reports")
def upload_report() -> tuple[Response, int]:
    """Store one CI job's JUnit report(s) as one run; 201 new, 200 duplicate."""
    repo = authenticate(_bearer_token())
    g.upload_repository = repo.full_name  # the canonical name labels the upload metrics
    limit = current_app.extensions["flakeguard"].settings.max_report_bytes
    mimetype = request.mimetype
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in ("", "identity", *GZIP_ENCODINGS):
        raise UnsupportedMediaError(
            f"Content-Encoding {encoding!r} is not supported; send gzip or no encoding"
        )
    if mimetype == MULTIPART:
        if encoding in GZIP_ENCODINGS:
            raise UnsupportedMediaError(
                "a gzip-encoded multipart body is not supported; gzip the files instead"
            )
        files, fields = _read_multipart(limit)
    elif mimetype in RAW_TYPES:
        fields = {}
        files = []
    else:
        raise UnsupportedMediaError(
            f"content type {mimetype!r} is not supported; send JUnit XML "
            "(application/xml, optionally gzip) or multipart/form-data"
        )
    full_name, meta = parse_run_meta(_metadata(fields), source="upload")
    _check_repository(repo, full_name)
    if mimetype != MULTIPART:
        files = [("report", _raw_body(limit, gzip=encoding in GZIP_ENCODINGS))]
    try:
        result = ingest_reports(repo, files, meta, max_bytes=limit)
    except RequestEntityTooLarge:
        raise PayloadTooLargeError(
            f"the upload is larger than the limit of {limit} bytes"
        ) from None
    body = {"run_id": result.run_id, "totals": result.totals, "duplicate": result.duplicate}
    return jsonify(body), 200 if result.duplicate else 201


@reports.get("/repos/<owner>/<name>/quarantine")
def list_quarantined(owner: str, name: str) -> dict[str, Any]:
    """The quarantined tests of a repository, for the CI gate."""
    repo = authenticate(_bearer_token())
    _check_repository(repo, check_repo_name(f"{owner}/{name}"))
    tests = quarantined_tests(repo)
    return {
        "repo": repo.full_name,
        "tests": [
            {
                "key": test.key,
                "name": test.name,
                "classname": test.classname,
                "file": test.file,
                "since": test.since.isoformat() + "Z" if test.since else None,
                "reason": test.reason,
                "issue_url": test.issue_url,
            }
            for test in tests
        ],
    }


def _bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def _check_repository(repo: Repository, full_name: str) -> None:
    if full_name.lower() != repo.full_name.lower():
        raise ForbiddenError(f"this ingest token belongs to {repo.full_name}, not {full_name}")


def _metadata(fields: dict[str, str]) -> dict[str, str | None]:
    """Query parameters and multipart fields; the same name twice must agree."""
    values: dict[str, str | None] = {}
    for key in META_FIELDS:
        candidates = {
            value.strip()
            for value in (*request.args.getlist(key), *([fields[key]] if key in fields else []))
        }
        if len(candidates) > 1:
            raise BadRequestError(f"{key}: given more than once with different values")
        values[key] = candidates.pop() if candidates else None
    return values


def _raw_body(limit: int, *, gzip: bool) -> Any:
    """The request body as a bounded stream (413 while reading past the limit)."""
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLargeError(
            f"the upload ({request.content_length} bytes) is larger than the limit of {limit} bytes"
        )
    request.max_content_length = limit + 1
    try:
        stream = request.stream
    except RequestEntityTooLarge:
        raise PayloadTooLargeError(
            f"the upload is larger than the limit of {limit} bytes"
        ) from None
    reader = BoundedReader(stream, Budget(limit, what="the upload"))
    return GzipReader(reader) if gzip else reader


def _read_multipart(limit: int) -> tuple[list[tuple[str, Any]], dict[str, str]]:
    """Parse a multipart body: every file part is a report, other parts are metadata."""
    request.max_content_length = limit + MULTIPART_OVERHEAD
    request.max_form_parts = MAX_FILES + len(META_FIELDS) + 10
    if request.content_length is not None and request.content_length > limit + MULTIPART_OVERHEAD:
        raise PayloadTooLargeError(
            f"the upload ({request.content_length} bytes) is larger than the limit of {limit} bytes"
        )
    try:
        form = request.form
        uploaded = request.files
    except RequestEntityTooLarge:
        raise PayloadTooLargeError(
            f"the upload is larger than the limit of {limit} bytes"
        ) from None
    files = [
        (storage.filename or field_name, storage.stream)
        for field_name in uploaded
        for storage in uploaded.getlist(field_name)
    ]
    if not files:
        raise BadRequestError("the multipart body has no file part (send the report as a file)")
    fields = {key: form[key] for key in form if key in META_FIELDS}
    return files, fields
