"""What the CI says about one run (commit, branch, CI ids, attempt), checked field by field."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flakeguard.errors import BadRequestError
from flakeguard.usecases.repos import check_repo_name

SHA = re.compile(r"^[0-9a-fA-F]{40}$")
MAX_ATTEMPT = 10_000
# Column widths of TestRun (longer values are refused, naming the field).
FIELD_LIMITS = {"branch": 255, "run_id": 100, "job": 255}
SOURCES = ("upload", "cli", "github_actions", "demo")
# A run's timestamps must fall in a sane window: a date far ahead would make its
# results the newest history for years, and one before 2000 is a clock error.
EARLIEST = datetime(2000, 1, 1)
MAX_AHEAD = timedelta(days=1)
# Control characters (NUL above all: PostgreSQL text cannot hold it) in a text field.
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


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
        _check_text(name, value)
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
    return repo, check_run_meta(meta)


def check_run_meta(meta: RunMeta, *, now: datetime | None = None) -> RunMeta:
    """Check a RunMeta however it was built (the API, a CLI, GitHub's answers); return it.

    Raises BadRequestError naming the field: a SHA that is not 40 hexadecimal
    characters, text too long for its column or holding control characters, an
    attempt or PR out of range, a ``started_at`` outside the sane window.
    """
    if meta.sha and not SHA.match(meta.sha):
        raise BadRequestError(f"sha: expected 40 hexadecimal characters, got {meta.sha[:60]!r}")
    for name, value in (("branch", meta.branch), ("run_id", meta.ci_run_id), ("job", meta.job)):
        _check_text(name, value)
    if not 1 <= meta.attempt <= MAX_ATTEMPT:
        raise BadRequestError(f"attempt: {meta.attempt} is out of range (1..{MAX_ATTEMPT})")
    if meta.pr is not None and not 1 <= meta.pr <= 2**31 - 1:
        raise BadRequestError(f"pr: {meta.pr} is out of range (1..{2**31 - 1})")
    if meta.started_at is not None:
        check_timestamp(meta.started_at, "started_at", now=now)
    if meta.source not in SOURCES:
        raise BadRequestError(f"source: expected one of {', '.join(SOURCES)}")
    return meta


def parse_timestamp(raw: str, name: str = "started_at") -> datetime:
    """ISO 8601 to naive UTC (a value without offset is taken as UTC), in the sane window."""
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise BadRequestError(
            f"{name}: not an ISO 8601 timestamp: {raw[:60]!r} (e.g. 2026-01-31T12:00:00Z)"
        ) from None
    if value.tzinfo is not None:
        try:
            value = value.astimezone(UTC).replace(tzinfo=None)
        except OverflowError:  # e.g. 9999-12-31T23:59:59-05:00 is past year 9999 in UTC
            raise _outside_window(name, raw) from None
    return check_timestamp(value, name)


def check_timestamp(value: datetime, name: str, *, now: datetime | None = None) -> datetime:
    """Return ``value`` (naive UTC) if it lies from 2000 to a day from now; else BadRequestError."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    now = now or datetime.now(UTC).replace(tzinfo=None)
    if not EARLIEST <= value <= now + MAX_AHEAD:
        raise _outside_window(name, value.isoformat() + "Z")
    return value


def _outside_window(name: str, shown: str) -> BadRequestError:
    return BadRequestError(
        f"{name}: {shown[:60]} is outside the accepted window "
        f"(from {EARLIEST.date().isoformat()} to one day from now, UTC)"
    )


def _check_text(name: str, value: str) -> None:
    limit = FIELD_LIMITS.get(name)
    if limit is not None and len(value) > limit:
        raise BadRequestError(f"{name}: longer than {limit} characters")
    if CONTROL.search(value):
        raise BadRequestError(f"{name}: holds a control character")


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
