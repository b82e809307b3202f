"""``flakeguard upload`` (CI client) and ``flakeguard ingest`` (straight into the database).

``upload`` is the client that runs in CI: it needs only ``FLAKEGUARD_URL`` and
``FLAKEGUARD_TOKEN`` (never the server's settings), reads the CI metadata from
the environment of GitHub Actions, GitLab CI, Buildkite, CircleCI or Jenkins
(explicit flags win), uploads every report of the job as one run and, with
``--gate``, decides whether the job fails: only failures of tests that are not
quarantined fail it. FlakeGuard being unreachable never fails the job unless
``--strict``; the gate then falls back to the reports' own result.

This module is the one place besides ``flakeguard.settings`` that reads
``os.environ``: the upload client's own variables and the CI's.
"""

from __future__ import annotations

import argparse
import glob
import gzip
import json
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import urllib3

from flakeguard.errors import BadRequestError, FlakeGuardError, PayloadTooLargeError
from flakeguard.settings import DEFAULT_MAX_REPORT_BYTES
from flakeguard.usecases.gate import GateDecision, decide_gate
from flakeguard.usecases.ingest import parse_run_meta, parse_timestamp, read_reports

META_FLAGS = ("repo", "sha", "branch", "run_id", "job", "attempt", "pr", "started_at")
RETRY_STATUSES = (500, 502, 503, 504)
FAILED = ("failed", "error")
USER_AGENT = "flakeguard-upload/1"
GIT_REMOTE = re.compile(r"(?:[:/])([^/:]+/[^/]+?)(?:\.git)?/?$")
PULL_REF = re.compile(r"^refs/pull/(\d+)/")
TRAILING_NUMBER = re.compile(r"/(\d+)/?$")


# -- CI environments ----------------------------------------------------------------


def detect_ci(env: Mapping[str, str]) -> dict[str, str]:
    """CI metadata found in ``env`` (GitHub Actions, GitLab, Buildkite, CircleCI, Jenkins)."""
    get = lambda name: (env.get(name) or "").strip()  # noqa: E731
    found: dict[str, str] = {}
    if get("GITHUB_ACTIONS") == "true":
        pr_match = PULL_REF.match(get("GITHUB_REF"))
        found = {
            "provider": "github-actions",
            "repo": get("GITHUB_REPOSITORY"),
            "sha": _github_head_sha(get("GITHUB_EVENT_PATH")) or get("GITHUB_SHA"),
            "branch": get("GITHUB_HEAD_REF") or get("GITHUB_REF_NAME"),
            "run_id": get("GITHUB_RUN_ID"),
            "job": get("GITHUB_JOB"),
            "attempt": get("GITHUB_RUN_ATTEMPT"),
            "pr": pr_match.group(1) if pr_match else "",
        }
    elif get("GITLAB_CI") == "true":
        found = {
            "provider": "gitlab-ci",
            "repo": get("CI_PROJECT_PATH"),
            "sha": get("CI_COMMIT_SHA"),
            "branch": get("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME") or get("CI_COMMIT_REF_NAME"),
            "run_id": get("CI_PIPELINE_ID"),
            "job": get("CI_JOB_NAME"),
            "pr": get("CI_MERGE_REQUEST_IID"),
            "started_at": get("CI_JOB_STARTED_AT"),
        }
    elif get("BUILDKITE") == "true":
        retry = get("BUILDKITE_RETRY_COUNT")
        pr = get("BUILDKITE_PULL_REQUEST")
        found = {
            "provider": "buildkite",
            "repo": _repo_from_remote(get("BUILDKITE_REPO")),
            "sha": get("BUILDKITE_COMMIT"),
            "branch": get("BUILDKITE_BRANCH"),
            "run_id": get("BUILDKITE_BUILD_ID") or get("BUILDKITE_BUILD_NUMBER"),
            "job": get("BUILDKITE_STEP_KEY") or get("BUILDKITE_LABEL"),
            "attempt": str(int(retry) + 1) if retry.isdigit() else "",
            "pr": pr if pr.isdigit() else "",
        }
    elif get("CIRCLECI") == "true":
        pr_url = get("CIRCLE_PULL_REQUEST")
        pr_match = TRAILING_NUMBER.search(pr_url)
        owner, name = get("CIRCLE_PROJECT_USERNAME"), get("CIRCLE_PROJECT_REPONAME")
        found = {
            "provider": "circleci",
            "repo": f"{owner}/{name}" if owner and name else "",
            "sha": get("CIRCLE_SHA1"),
            "branch": get("CIRCLE_BRANCH"),
            "run_id": get("CIRCLE_WORKFLOW_ID") or get("CIRCLE_BUILD_NUM"),
            "job": get("CIRCLE_JOB"),
            "pr": pr_match.group(1) if pr_match else "",
        }
    elif get("JENKINS_URL") or get("JENKINS_HOME"):
        branch = get("CHANGE_BRANCH") or get("BRANCH_NAME") or get("GIT_BRANCH")
        found = {
            "provider": "jenkins",
            "repo": _repo_from_remote(get("GIT_URL")),
            "sha": get("GIT_COMMIT"),
            "branch": branch.removeprefix("origin/"),
            "run_id": get("BUILD_NUMBER"),
            "job": get("JOB_NAME"),
            "pr": get("CHANGE_ID") if get("CHANGE_ID").isdigit() else "",
        }
    return {key: value for key, value in found.items() if value}


def _github_head_sha(event_path: str) -> str:
    """The PR head commit (GITHUB_SHA is the merge commit on pull_request events)."""
    if not event_path:
        return ""
    try:
        event = json.loads(Path(event_path).read_text())
    except (OSError, ValueError):
        return ""
    pull = event.get("pull_request") if isinstance(event, dict) else None
    head = pull.get("head") if isinstance(pull, dict) else None
    sha = head.get("sha") if isinstance(head, dict) else None
    return sha if isinstance(sha, str) else ""


def _repo_from_remote(url: str) -> str:
    match = GIT_REMOTE.search(url.strip())
    return match.group(1) if match else ""


def collect_metadata(args: argparse.Namespace, env: Mapping[str, str]) -> dict[str, str]:
    """CI metadata from ``env`` overridden by the flags that were given."""
    values = detect_ci(env)
    for name in META_FLAGS:
        flag = getattr(args, name, None)
        if flag is not None and str(flag).strip():
            values[name] = str(flag).strip()
    return values


# -- files --------------------------------------------------------------------------


def expand_files(patterns: Sequence[str]) -> tuple[list[Path], list[str]]:
    """Files named or matched by the patterns (``**`` included), and patterns matching none."""
    found: dict[Path, None] = {}
    unmatched: list[str] = []
    for pattern in patterns:
        if glob.has_magic(pattern):
            matches = sorted(glob.glob(pattern, recursive=True))
            files = [Path(m) for m in matches if Path(m).is_file()]
        else:
            files = [Path(pattern)] if Path(pattern).is_file() else []
        if not files:
            unmatched.append(pattern)
        for path in files:
            found[path] = None
    return list(found), unmatched


@dataclass
class LocalReport:
    """One file read on the CI machine: its cases' outcome, or why it is unreadable."""

    path: Path
    tests: int = 0
    failures: int = 0
    errors: int = 0
    skipped: int = 0
    failing: list[str] = field(default_factory=list)
    problem: str | None = None

    def summary(self) -> str:
        if self.problem:
            return f"{self.path}: not uploaded: {self.problem}"
        parts = [f"{self.tests} tests", f"{self.failures} failed", f"{self.errors} errors"]
        parts.append(f"{self.skipped} skipped")
        return f"{self.path}: " + ", ".join(parts)


def read_local(path: Path, *, max_bytes: int) -> LocalReport:
    """Parse one report file (plain or gzip) to know its outcome before uploading it."""
    report = LocalReport(path)
    try:
        with path.open("rb") as handle:
            parsed = read_reports([(str(path), handle)], max_bytes=max_bytes)
    except OSError as exc:
        report.problem = exc.strerror or str(exc)
        return report
    except (BadRequestError, PayloadTooLargeError) as exc:
        report.problem = exc.message.removeprefix(f"{path.name}: ")
        return report
    for case in parsed.cases:
        report.tests += 1
        if case.status == "failed":
            report.failures += 1
        elif case.status == "error":
            report.errors += 1
        elif case.status == "skipped":
            report.skipped += 1
        if case.status in FAILED:
            report.failing.append(case.key)
    return report


# -- HTTP -----------------------------------------------------------------------------


class Unreachable(Exception):
    """FlakeGuard did not answer (connection refused, timeouts, 5xx after the retries)."""


class Client:
    """The upload client: urllib3 with retries and exponential backoff on 5xx and I/O errors."""

    def __init__(self, url: str, token: str, *, retries: int, backoff: float, timeout: float):
        self.url = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}", "User-Agent": USER_AGENT}
        retry = urllib3.Retry(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            other=0,
            backoff_factor=backoff,
            backoff_max=30,
            status_forcelist=RETRY_STATUSES,
            allowed_methods=None,  # POST too: the upload endpoint is duplicate-safe
            raise_on_status=False,
            respect_retry_after_header=False,
        )
        self._http = urllib3.PoolManager(
            retries=retry, timeout=urllib3.Timeout(connect=min(timeout, 10), read=timeout)
        )

    def request(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        """Send a request; return (status, JSON body) or raise Unreachable."""
        headers = {**self._headers, **kwargs.pop("headers", {})}
        try:
            response = self._http.request(method, self.url + path, headers=headers, **kwargs)
        except urllib3.exceptions.HTTPError as exc:
            raise Unreachable(_reason(exc)) from None
        if response.status in RETRY_STATUSES:
            raise Unreachable(f"HTTP {response.status} after retries")
        try:
            body = json.loads(response.data or b"null")
        except ValueError:
            body = None
        return response.status, body

    def upload(self, paths: Sequence[Path], meta: Mapping[str, str]) -> tuple[int, Any]:
        """POST the files (gzipped parts) and metadata as one multipart upload."""
        fields: list[tuple[str, Any]] = [(key, value) for key, value in meta.items()]
        for path in paths:
            data = path.read_bytes()
            if not data.startswith(b"\x1f\x8b"):
                data = gzip.compress(data, compresslevel=6)
            fields.append(("file", (path.name, data, "application/gzip")))
        body, content_type = urllib3.encode_multipart_formdata(fields)
        return self.request(
            "POST", "/api/v1/reports", body=body, headers={"Content-Type": content_type}
        )

    def quarantined(self, repo: str) -> set[str]:
        """Keys of the repository's quarantined tests."""
        owner, _, name = repo.partition("/")
        status, body = self.request(
            "GET", f"/api/v1/repos/{quote(owner, safe='')}/{quote(name, safe='')}/quarantine"
        )
        if status != 200 or not isinstance(body, dict):
            raise Unreachable(_error_text(status, body))
        return {test["key"] for test in body.get("tests", [])}


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason or exc)


def _error_text(status: int, body: Any) -> str:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return f"HTTP {status}: {body['error'].get('message', '')}"
    return f"HTTP {status}"


# -- commands -------------------------------------------------------------------------


def cmd_upload(args: argparse.Namespace) -> int:
    """Upload JUnit reports to FlakeGuard; with --gate, fail only on unquarantined failures."""
    env = os.environ
    out = sys.stdout
    paths, unmatched = expand_files(args.files)
    for pattern in unmatched:
        print(f"flakeguard: warning: no file matches {pattern}", file=sys.stderr)
    reports = [read_local(path, max_bytes=args.max_bytes) for path in paths]
    for report in reports:
        print(report.summary(), file=out)
    good = [report for report in reports if report.problem is None]
    problem = bool(unmatched) or len(good) != len(reports) or not reports

    url = args.url or env.get("FLAKEGUARD_URL", "").strip()
    token = args.token or env.get("FLAKEGUARD_TOKEN", "").strip()
    values = collect_metadata(args, env)
    client: Client | None = None
    reachable = True
    if not url or not token:
        missing = " and ".join(
            name for name, v in (("FLAKEGUARD_URL", url), ("FLAKEGUARD_TOKEN", token)) if not v
        )
        print(f"flakeguard: warning: {missing} not set; nothing uploaded", file=sys.stderr)
        problem = True
        reachable = False
    else:
        client = Client(
            url, token, retries=args.retries, backoff=args.retry_backoff, timeout=args.timeout
        )
        if not good:
            print("flakeguard: warning: no readable report to upload", file=sys.stderr)
        else:
            outcome = _send(client, good, values)
            problem = problem or outcome != "ok"
            reachable = outcome != "unreachable"

    exit_code = 1 if (args.strict and problem) else 0
    if args.gate:
        decision = _gate(client if reachable else None, reports, values.get("repo", ""))
        _print_gate(decision)
        # A report we cannot read may hide failures: it never lets the gate pass.
        missing = [f"{r.path} is unreadable" for r in reports if r.problem]
        if not reports:
            missing.append("no test report found")
        for reason in missing:
            print(f"gate: failed: {reason}")
        if missing or not decision.passed:
            exit_code = 1
    return exit_code


def _send(client: Client, reports: list[LocalReport], values: dict[str, str]) -> str:
    """Upload; print one line saying what happened; return ok, rejected or unreachable."""
    meta = {key: values[key] for key in META_FLAGS if values.get(key)}
    try:
        parse_run_meta(meta)
    except BadRequestError as exc:
        hint = " (set it with a flag, e.g. --repo, --sha)" if "required" in exc.message else ""
        print(f"flakeguard: error: {exc.message}{hint}; nothing uploaded", file=sys.stderr)
        return "rejected"
    try:
        status, body = client.upload([report.path for report in reports], meta)
    except Unreachable as exc:
        print(
            f"flakeguard: warning: FlakeGuard at {client.url} is unreachable ({exc}); "
            "results not uploaded",
            file=sys.stderr,
        )
        return "unreachable"
    if status in (200, 201) and isinstance(body, dict):
        totals = body.get("totals", {})
        note = " (already uploaded, stored once)" if body.get("duplicate") else ""
        print(
            f"uploaded {len(reports)} file(s) to {client.url} as run {body.get('run_id')}: "
            f"{totals.get('tests', 0)} tests, {totals.get('failures', 0)} failed, "
            f"{totals.get('errors', 0)} errors{note}"
        )
        return "ok"
    print(f"flakeguard: error: upload refused: {_error_text(status, body)}", file=sys.stderr)
    return "rejected"


def _gate(client: Client | None, reports: list[LocalReport], repo: str) -> GateDecision:
    failing = [key for report in reports for key in report.failing]
    quarantined: set[str] | None = None
    if client is not None and repo:
        try:
            quarantined = client.quarantined(repo)
        except Unreachable as exc:
            print(f"flakeguard: warning: quarantine list unavailable ({exc})", file=sys.stderr)
    return decide_gate(failing, quarantined)


def _print_gate(decision: GateDecision) -> None:
    print(decision.summary())
    for key in decision.forgiven:
        print(f"  quarantined (ignored): {key}")
    for key in decision.blocking:
        print(f"  failing: {key}")


def cmd_ingest(args: argparse.Namespace) -> int:
    """Store JUnit reports straight into the configured database (imports, embedded use)."""
    import tasks
    from flakeguard.cli import open_configured
    from flakeguard.usecases.ingest import ingest_reports
    from flakeguard.usecases.repos import get_repository

    settings = open_configured()
    tasks.configure(settings)
    full_name, meta = parse_run_meta(
        {name: getattr(args, name) for name in META_FLAGS}, source="cli", require_sha=False
    )
    repo = get_repository(full_name)
    paths, unmatched = expand_files(args.files)
    for pattern in unmatched:
        print(f"flakeguard: warning: no file matches {pattern}", file=sys.stderr)
    if not paths:
        print("flakeguard: no report files to ingest", file=sys.stderr)
        return 1
    groups = [paths] if args.single_run else [[path] for path in paths]
    progress = Progress(len(paths), every=args.progress_every)
    runs = duplicates = rejected = results = 0
    for group in groups:
        handles = [path.open("rb") for path in group]
        try:
            result = ingest_reports(
                repo,
                [(str(p), h) for p, h in zip(group, handles, strict=True)],
                meta,
                max_bytes=settings.max_report_bytes,
            )
        except (BadRequestError, PayloadTooLargeError) as exc:
            rejected += len(group)
            print(f"flakeguard: rejected: {exc.message}", file=sys.stderr)
        else:
            duplicates += result.duplicate
            runs += not result.duplicate
            results += result.totals["tests"]
        finally:
            for handle in handles:
                handle.close()
        progress.advance(len(group), results)
    print(
        f"ingested {len(paths) - rejected} of {len(paths)} file(s) into {repo.full_name}: "
        f"{runs} new run(s), {duplicates} duplicate(s), {rejected} rejected, {results} tests"
    )
    return 1 if rejected else 0


class Progress:
    """A progress line on stderr every ``every`` files (a bar when stderr is a terminal)."""

    def __init__(self, total: int, *, every: int | None = None, stream: Any = None) -> None:
        self.total = total
        self.done = 0
        self.stream = stream or sys.stderr
        self.every = every or max(1, total // 20)
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def advance(self, files: int, results: int) -> None:
        before = self.done
        self.done += files
        if self.total < 2:
            return
        if self.done // self.every == before // self.every and self.done != self.total:
            return
        width = 30
        filled = width * self.done // self.total
        bar = "#" * filled + "." * (width - filled)
        line = f"[{bar}] {self.done}/{self.total} files, {results} tests"
        if self.tty:
            end = "\n" if self.done == self.total else ""
            print("\r" + line, end=end, file=self.stream, flush=True)
        else:
            print(line, file=self.stream, flush=True)


# -- argument parsing -----------------------------------------------------------------


def _add_meta_flags(parser: argparse.ArgumentParser, *, ci: bool) -> None:
    source = " (default: from the CI environment)" if ci else ""
    parser.add_argument("--repo", metavar="OWNER/NAME", required=not ci, help=f"repository{source}")
    parser.add_argument("--sha", help=f"commit SHA, 40 hex characters{source}")
    parser.add_argument("--branch", help=f"branch name{source}")
    parser.add_argument("--run-id", dest="run_id", help=f"CI run / pipeline id{source}")
    parser.add_argument("--job", help=f"CI job name{source}")
    parser.add_argument("--attempt", help=f"attempt of the CI run, from 1{source}")
    parser.add_argument("--pr", help=f"pull request number{source}")
    parser.add_argument(
        "--started-at", dest="started_at", type=_timestamp, help="when the run started (ISO 8601)"
    )


def _timestamp(raw: str) -> str:
    try:
        parse_timestamp(raw)
    except FlakeGuardError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None
    return raw


def register(subparsers: Any) -> None:
    """Add the ``upload`` and ``ingest`` sub-commands."""
    upload = subparsers.add_parser(
        "upload",
        help="upload JUnit reports from CI (and gate on quarantined failures)",
        description=cmd_upload.__doc__
        + " Reads FLAKEGUARD_URL and FLAKEGUARD_TOKEN; CI metadata comes from GitHub "
        "Actions, GitLab CI, Buildkite, CircleCI or Jenkins variables unless given as flags.",
    )
    upload.add_argument("files", nargs="+", metavar="FILE", help="report files or globs (**)")
    _add_meta_flags(upload, ci=True)
    upload.add_argument("--url", help="FlakeGuard URL (default $FLAKEGUARD_URL)")
    upload.add_argument(
        "--token", help="ingest token (default $FLAKEGUARD_TOKEN; prefer the variable)"
    )
    upload.add_argument(
        "--gate",
        action="store_true",
        help="exit 1 when a failing test is not quarantined, 0 when every failure is; "
        "without FlakeGuard reachable, any failure fails",
    )
    upload.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 when the upload fails (by default only a warning: CI is not failed)",
    )
    upload.add_argument("--retries", type=int, default=4, help="retries on 5xx/network errors")
    upload.add_argument(
        "--retry-backoff", type=float, default=1.0, help="backoff factor in seconds (default 1)"
    )
    upload.add_argument("--timeout", type=float, default=60.0, help="read timeout in seconds")
    upload.add_argument(
        "--max-bytes", type=int, default=DEFAULT_MAX_REPORT_BYTES, help=argparse.SUPPRESS
    )
    upload.set_defaults(handler=cmd_upload)

    ingest = subparsers.add_parser(
        "ingest",
        help="store JUnit reports straight into the configured database",
        description=cmd_ingest.__doc__
        + " Each file becomes its own run unless --single-run; the same file twice is "
        "stored once.",
    )
    ingest.add_argument("files", nargs="+", metavar="FILE", help="report files or globs (**)")
    _add_meta_flags(ingest, ci=False)
    ingest.add_argument(
        "--single-run", action="store_true", help="store all the files as one run (one CI job)"
    )
    ingest.add_argument(
        "--progress-every", type=int, default=None, help="progress line every N files"
    )
    ingest.set_defaults(handler=cmd_ingest)
