"""What the CI says about one run (commit, branch, CI ids, attempt), checked field by field."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from flakeguard.errors import BadRequestError
from flakeguard.usecases.repos import check_repo_name

SHA = re.compile(r"^[0-9a-fA-F]{40}$")
MAX_ATTEMPT = 10_000
# Column widths of TestRun (longer values are refused, naming the field).
FIELD_LIMITS = {"branch": 255, "run_id": 100, "job": 255}
SOURCES = ("upload", "cli", "github_actions")


@dataclass(frozen=True)
class RunMeta:
    """What the CI says about one run: commit, branch, CI ids, attempt."""

    sha: str
    branch: str
    ci_run_id: str
    job: str
    attempt: int = 1
    pr: int | None = None
    started_at: datetime | None = None
    source: str = "upload"


def parse_run_meta(
    values: Mapping[str, str | None], *, source: str = "upload", require_sha: bool = True
) -> tuple[str, RunMeta]:
    """Validate raw metadata (repo, sha, branch, run_id, job, attempt, pr, started_at).

    Returns ``(owner/name, RunMeta)``; raises BadRequestError naming the field.
    """

    def text(name: str) -> str:
        value = (values.get(name) or "").strip()
        limit = FIELD_LIMITS.get(name)
        if limit is not None and len(value) > limit:
            raise BadRequestError(f"{name}: longer than {limit} characters")
        return value

    repo = text("repo")
    if not repo:
        raise BadRequestError("repo: required (owner/name)")
    try:
        repo = check_repo_name(repo)
    except BadRequestError as exc:
        raise BadRequestError(f"repo: {exc.message}") from None
    sha = text("sha")
    if sha and not SHA.match(sha):
        raise BadRequestError(f"sha: expected 40 hexadecimal characters, got {sha[:60]!r}")
    if require_sha and not sha:
        raise BadRequestError("sha: required (the 40-character commit SHA)")
    attempt = _int_field("attempt", text("attempt"), default=1, high=MAX_ATTEMPT)
    pr = _int_field("pr", text("pr"), default=None, high=2**31 - 1)
    started_raw = text("started_at")
    started_at = parse_timestamp(started_raw) if started_raw else None
    if source not in SOURCES:
        raise BadRequestError(f"source: expected one of {', '.join(SOURCES)}")
    meta = RunMeta(
        sha=sha.lower(),
        branch=text("branch"),
        ci_run_id=text("run_id"),
        job=text("job"),
        attempt=attempt or 1,
        pr=pr,
        started_at=started_at,
        source=source,
    )
    return repo, meta


def parse_timestamp(raw: str) -> datetime:
    """ISO 8601 to naive UTC (a value without offset is taken as UTC)."""
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise BadRequestError(
            f"started_at: not an ISO 8601 timestamp: {raw[:60]!r} (e.g. 2026-01-31T12:00:00Z)"
        ) from None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def _int_field(name: str, raw: str, *, default: int | None, high: int) -> int | None:
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequestError(f"{name}: expected a whole number, got {raw[:40]!r}") from None
    if not 1 <= value <= high:
        raise BadRequestError(f"{name}: {value} is out of range (1..{high})")
    return value
