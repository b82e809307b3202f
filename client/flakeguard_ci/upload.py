"""``upload``: send a CI job's JUnit reports to FlakeGuard and, with ``--gate``, decide its exit.

It needs only ``FLAKEGUARD_URL`` and ``FLAKEGUARD_TOKEN``, reads the CI metadata
from the environment (explicit flags win), uploads every report of the job as
one run and, with ``--gate``, fails the job only for failures of tests that are
not quarantined. FlakeGuard being unreachable never fails the job unless
``--strict``; the gate then falls back to the reports' own result. The server's
``flakeguard upload`` is this same command.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from flakeguard_ci import repo_files
from flakeguard_ci.api import Client, Unreachable, error_text
from flakeguard_ci.ci_env import META_FLAGS, collect_metadata
from flakeguard_ci.gate import GateDecision, decide_gate
from flakeguard_ci.reports import DEFAULT_MAX_BYTES, LocalReport, expand_files, read_local

SHA = re.compile(r"^[0-9a-fA-F]{40}$")


def cmd_upload(args: argparse.Namespace) -> int:
    """Upload JUnit reports to FlakeGuard; with --gate, fail only on unquarantined failures."""
    return run_upload(args, os.environ)


def run_upload(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """``cmd_upload`` with the environment given (CI variables, FLAKEGUARD_URL/TOKEN)."""
    paths, unmatched = expand_files(args.files)
    for pattern in unmatched:
        print(f"flakeguard: warning: no file matches {pattern}", file=sys.stderr)
    reports = [read_local(path, max_bytes=args.max_bytes) for path in paths]
    for report in reports:
        print(report.summary())
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
            if outcome == "ok" and args.repo_files and not values.get("pr"):
                _send_repo_files(client, values, Path(args.checkout), env)

    exit_code = 1 if (args.strict and problem) else 0
    if args.gate:
        decision = _gate(client if reachable else None, reports, values.get("repo", ""))
        print_gate(decision)
        # A report we cannot read may hide failures: it never lets the gate pass.
        missing_reports = [f"{r.path} is unreadable" for r in reports if r.problem]
        if not reports:
            missing_reports.append("no test report found")
        for reason in missing_reports:
            print(f"gate: failed: {reason}")
        if missing_reports or not decision.passed:
            exit_code = 1
    return exit_code


def check_metadata(meta: Mapping[str, str]) -> str | None:
    """Why the server would refuse this metadata before anything is sent, or None."""
    if not meta.get("repo"):
        return "repo: required (owner/name)"
    sha = meta.get("sha", "")
    if not sha:
        return "sha: required (the 40-character commit SHA)"
    if not SHA.match(sha):
        return f"sha: expected 40 hexadecimal characters, got {sha[:60]!r}"
    return None


def _send(client: Client, reports: list[LocalReport], values: dict[str, str]) -> str:
    """Upload; print one line saying what happened; return ok, rejected or unreachable."""
    meta = {key: values[key] for key in META_FLAGS if values.get(key)}
    refusal = check_metadata(meta)
    if refusal is not None:
        hint = " (set it with a flag, e.g. --repo, --sha)" if "required" in refusal else ""
        print(f"flakeguard: error: {refusal}{hint}; nothing uploaded", file=sys.stderr)
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
    print(f"flakeguard: error: upload refused: {error_text(status, body)}", file=sys.stderr)
    return "rejected"


def _send_repo_files(
    client: Client, values: dict[str, str], root: Path, env: Mapping[str, str]
) -> None:
    """Send CODEOWNERS and .flakeguard.yml from the checkout; print what the server says.

    On GitHub Actions the job's OIDC token goes with them, for the audience
    ``FLAKEGUARD_OIDC_AUDIENCE`` (default: the FlakeGuard URL).
    """
    files = repo_files.find(root)
    token = None
    if values.get("provider") == "github-actions":
        audience = (env.get("FLAKEGUARD_OIDC_AUDIENCE") or "").strip() or client.url
        token, why = repo_files.actions_token(env, audience)
        if token is None:
            print(f"flakeguard: warning: repository files: {why}", file=sys.stderr)
    try:
        status, body = client.send_repo_files(repo_files.payload(values, files, token))
    except Unreachable as exc:
        print(f"flakeguard: warning: repository files not sent ({exc})", file=sys.stderr)
        return
    if status != 200 or not isinstance(body, dict):
        print(f"flakeguard: warning: repository files refused: {error_text(status, body)}")
        return
    if body.get("ignored"):
        print(f"repository files not used: {body['ignored']}")
    elif body.get("stored"):
        print("repository files updated: " + ", ".join(str(k) for k in body["stored"]))
    for line in body.get("problems") or []:
        print(f"flakeguard: warning: {line}", file=sys.stderr)


def _gate(client: Client | None, reports: list[LocalReport], repo: str) -> GateDecision:
    failing = [key for report in reports for key in report.failing]
    quarantined: set[str] | None = None
    if client is not None and repo:
        try:
            quarantined = client.quarantined(repo)
        except Unreachable as exc:
            print(f"flakeguard: warning: quarantine list unavailable ({exc})", file=sys.stderr)
    return decide_gate(failing, quarantined)


def print_gate(decision: GateDecision) -> None:
    """Print the decision and the failures it forgave or that block."""
    print(decision.summary())
    for key in decision.forgiven:
        print(f"  quarantined (ignored): {key}")
    for key in decision.blocking:
        print(f"  failing: {key}")


# -- arguments ------------------------------------------------------------------------


def add_meta_flags(parser: argparse.ArgumentParser, *, ci: bool) -> None:
    """The run metadata flags (--repo, --sha, ...); from the CI environment when ``ci``."""
    source = " (default: from the CI environment)" if ci else ""
    parser.add_argument("--repo", metavar="OWNER/NAME", required=not ci, help=f"repository{source}")
    parser.add_argument("--sha", help=f"commit SHA, 40 hex characters{source}")
    parser.add_argument("--branch", help=f"branch name{source}")
    parser.add_argument("--run-id", dest="run_id", help=f"CI run / pipeline id{source}")
    parser.add_argument("--job", help=f"CI job name{source}")
    parser.add_argument("--attempt", help=f"attempt of the CI run, from 1{source}")
    parser.add_argument("--pr", help=f"pull request number{source}")
    parser.add_argument(
        "--started-at", dest="started_at", type=timestamp, help="when the run started (ISO 8601)"
    )


def timestamp(raw: str) -> str:
    """Check an ISO 8601 timestamp flag (argparse type); return it unchanged."""
    try:
        datetime.fromisoformat(raw.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"started_at: not an ISO 8601 timestamp: {raw[:60]!r} (e.g. 2026-01-31T12:00:00Z)"
        ) from None
    return raw


def add_upload_arguments(parser: argparse.ArgumentParser) -> None:
    """Every flag of ``upload``: files, metadata, server, gate, strict, retries."""
    parser.add_argument("files", nargs="+", metavar="FILE", help="report files or globs (**)")
    add_meta_flags(parser, ci=True)
    add_server_flags(parser)
    parser.add_argument(
        "--gate",
        action="store_true",
        help="exit 1 when a failing test is not quarantined, 0 when every failure is; "
        "without FlakeGuard reachable, any failure fails",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 when the upload fails (by default only a warning: CI is not failed)",
    )
    parser.add_argument(
        "--checkout",
        default=".",
        metavar="DIR",
        help="the repository checkout, where CODEOWNERS and .flakeguard.yml are (default: .)",
    )
    parser.add_argument(
        "--no-repo-files",
        dest="repo_files",
        action="store_false",
        help="do not send CODEOWNERS and .flakeguard.yml with the upload",
    )
    parser.add_argument("--max-bytes", type=int, default=DEFAULT_MAX_BYTES, help=argparse.SUPPRESS)
    parser.set_defaults(handler=cmd_upload)


def add_server_flags(parser: argparse.ArgumentParser, *, timeout: float = 60.0) -> None:
    """--url, --token, --retries, --retry-backoff, --timeout."""
    parser.add_argument("--url", help="FlakeGuard URL (default $FLAKEGUARD_URL)")
    parser.add_argument(
        "--token", help="ingest token (default $FLAKEGUARD_TOKEN; prefer the variable)"
    )
    parser.add_argument("--retries", type=int, default=4, help="retries on 5xx/network errors")
    parser.add_argument(
        "--retry-backoff", type=float, default=1.0, help="backoff factor in seconds (default 1)"
    )
    parser.add_argument(
        "--timeout", type=float, default=timeout, help=f"read timeout in seconds ({timeout:g})"
    )


UPLOAD_DESCRIPTION: Any = (
    (cmd_upload.__doc__ or "")
    + " Reads FLAKEGUARD_URL and FLAKEGUARD_TOKEN; CI metadata comes from GitHub "
    "Actions, GitLab CI, Buildkite, CircleCI or Jenkins variables unless given as flags."
)
