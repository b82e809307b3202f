"""Terminal commands: status, test, analyze, demo — the same answers Slack gives."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from flakeguard.cli import add_command, open_configured
from flakeguard.text import pct, terminal_safe

TENANT_HELP = "whose repositories (default: the only tenant; required when there are several)"
CAUSES_SHOWN = 5  # distinct failure causes `flakeguard test` lists
STATE_ORDER = ("flaky", "broken", "fixed", "recovered", "healthy", "insufficient")


def print_status(full_name: str | None, *, tenant_id: int, top: int = 5, out: Any = None) -> int:
    """Print what /flakeguard status shows for a tenant, plus broken and healthy tests."""
    from flakeguard.usecases.outbox import runs_set_aside_text
    from flakeguard.usecases.report import tests_in_state
    from flakeguard.usecases.status import status_for

    out = out or sys.stdout
    statuses = status_for(full_name, tenant_id=tenant_id, top=top)
    if not statuses:
        print(
            "No repositories yet: add one with `flakeguard repo add OWNER/NAME` "
            "or try `flakeguard demo`.",
            file=out,
        )
        return 0
    for status in statuses:
        when = (
            status.last_analysis_at.strftime("%Y-%m-%d %H:%M UTC")
            if (status.last_analysis_at)
            else "never"
        )
        print(f"\n{status.repository}", file=out)
        print(
            f"  flaky {status.flaky} (new this week {status.new_this_week}) · broken "
            f"{status.broken} · quarantined {status.quarantined} · proposed "
            f"{status.proposed} · last analysis {when}",
            file=out,
        )
        if status.top:
            print("  top flaky:", file=out)
            for i, entry in enumerate(status.top, 1):
                q = f" [{entry.quarantine_state}]" if entry.quarantine_state else ""
                print(
                    f"   {i}. {entry.name}{q}\n      {pct(entry.score)} "
                    f"({pct(entry.low)}–{pct(entry.high)}): {entry.reason}",
                    file=out,
                )
        _print_costs(status.repository, tenant_id=tenant_id, top=top, out=out)
        broken, _ = tests_in_state(status.repository, "broken", tenant_id=tenant_id)
        if broken:
            print("  broken (never quarantined; fix the commit):", file=out)
            for entry in broken:
                sha = (entry.first_failing_sha or "")[:10]
                print(
                    f"   - {entry.name}: first failing commit {sha}\n      {entry.reason}", file=out
                )
        healthy, n_healthy = tests_in_state(
            status.repository, "healthy", tenant_id=tenant_id, limit=3
        )
        if healthy:
            names = ", ".join(e.name for e in healthy)
            print(f"  healthy: {n_healthy} tests (e.g. {names})", file=out)
        for error in status.slack_errors:
            print(f"  Slack problem: {error}", file=out)
        if status.runs_set_aside:
            print(f"  {runs_set_aside_text(status.runs_set_aside)}", file=out)
        for line in status.file_problems:
            print(f"  repository file: {line}", file=out)
    return 0


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.0f}h"
    return f"{seconds / 86400:.0f}d"


def _print_costs(full_name: str, *, tenant_id: int, top: int, out: Any) -> None:
    """The costliest flaky tests of the last 30 days (engine.cost), and the repository's total."""
    from datetime import UTC, datetime

    from flakeguard.usecases.flake_cost import COST_DAYS, repository_costs

    tests, total = repository_costs(full_name, tenant_id=tenant_id, limit=top)
    if total is None or not tests:
        return
    now = datetime.now(UTC)
    print(
        f"  cost of flakes, last {COST_DAYS} days: {total.minutes:.0f} CI minutes, "
        f"{total.red_runs} runs turned red, {len(total.blocked)} PRs/branches blocked",
        file=out,
    )
    for i, entry in enumerate(tests, 1):
        cost = entry.cost
        since = cost.since_flagged(now)
        flagged = f", flagged {_duration(since)} ago" if since is not None else ""
        fixed = cost.time_to_fix()
        fix = f", fixed after {_duration(fixed)}" if fixed is not None else ""
        print(
            f"   {i}. {entry.name}: {cost.minutes:.0f} min, {cost.red_runs} red runs, "
            f"{len(cost.blocked)} PRs/branches blocked{flagged}{fix}",
            file=out,
        )


def cli_tenant(args: argparse.Namespace) -> Any:
    """The tenant named by ``--tenant``, else the only one; None (after one line) when unclear."""
    from flakeguard.usecases.tenancy import tenant_for_cli

    try:
        return tenant_for_cli(getattr(args, "tenant", None))
    except LookupError as exc:
        print(f"flakeguard: {exc}", file=sys.stderr)
        return None


def _quiet() -> None:
    """Terminal answers: only warnings from the machinery underneath."""
    logging.getLogger().setLevel(logging.WARNING)


def open_for_tenant(args: argparse.Namespace) -> Any:
    """Open the database for a terminal answer; the tenant as ``cli_tenant`` finds it."""
    _quiet()
    open_configured()
    return cli_tenant(args)


def cmd_status(args: argparse.Namespace) -> int:
    """Flaky, broken and quarantined tests per repository, with the top flaky ones."""
    tenant = open_for_tenant(args)
    if tenant is None:
        return 2
    return print_status(args.repo, tenant_id=tenant.id, top=args.top)


def cmd_test(args: argparse.Namespace) -> int:
    """Find a test by part of its name and show its verdict and recent history."""
    from flakeguard.usecases.failure_causes import failure_causes
    from flakeguard.usecases.status import NoMatchError
    from flakeguard.usecases.testcases import find_tests, test_detail

    tenant = open_for_tenant(args)
    if tenant is None:
        return 2
    try:
        # Reading, not acting: the best match is shown and the others named.
        matches = find_tests(args.query, tenant_id=tenant.id, repository=args.repo)
    except NoMatchError as exc:
        print(exc.message)
        for name in exc.suggestions:
            print(f"  did you mean: {name}")
        return 1
    match = matches[0]
    detail = test_detail(match.test_case_id, tenant_id=tenant.id)
    print(f"{terminal_safe(detail.name)}  ({detail.repository})")
    print(
        f"  verdict: {detail.state}, score {pct(detail.score)} "
        f"({pct(detail.low)}–{pct(detail.high)})"
    )
    print(f"  reason: {detail.reason}")
    print(f"  recent history (oldest → newest): {detail.history}")
    causes = failure_causes(match.test_case_id, tenant_id=tenant.id)
    if causes:
        print("  failures by cause:")
        for cause in causes[:CAUSES_SHOWN]:
            label, example = terminal_safe(cause.label, 80), terminal_safe(cause.example, 120)
            print(f"    {cause.count:>4} × {label}: {example}")
        if len(causes) > CAUSES_SHOWN:
            print(f"    … and {len(causes) - CAUSES_SHOWN} more causes")
    if detail.quarantine_state:
        who = detail.assignee_github or detail.assignee_slack or "nobody"
        print(f"  quarantine: {detail.quarantine_state}, assigned to {who}")
    if detail.expires_at:
        print(f"  quarantine expires: {detail.expires_at:%Y-%m-%d %H:%M} UTC")
    if detail.owners:
        print("  owners (CODEOWNERS): " + ", ".join(detail.owners))
    if detail.github_issue_url:
        print(f"  issue: {detail.github_issue_url}")
    others = [m.name for m in matches if m.test_case_id != match.test_case_id]
    if others:
        print("  other matches: " + ", ".join(others[:5]))
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    """Analyze every run still waiting (normally the worker does this)."""
    from flakeguard.usecases.analysis import analyze_pending

    _quiet()
    settings = open_configured()
    _inline_jobs(settings)
    total = 0
    while batch := analyze_pending(limit=200):
        total += len(batch)
    print(f"analyzed {total} runs")
    return 0


def _inline_jobs(settings: Any) -> None:
    """Run enqueued jobs inline (analysis, alerts) for commands that work synchronously."""
    from dataclasses import replace

    import tasks

    tasks.configure(replace(settings, queue_mode="immediate"))


def cmd_demo(args: argparse.Namespace) -> int:
    """Create a demo repository with three weeks of CI history and show what FlakeGuard finds."""
    from flakeguard.usecases.demo import DEMO_REPO, create_demo
    from models import default_tenant

    _quiet()
    settings = open_configured(migrate=True)
    _inline_jobs(settings)

    tty = sys.stdout.isatty()

    def progress(done: int, total: int) -> None:
        if done % 12 == 0 or done == total:
            line = f"  ingesting and analyzing CI runs: {done}/{total}"
            # On a terminal one line is redrawn; in a log each update is its own line.
            print("\r" + line if tty else line, end="" if tty else "\n", flush=True)

    print(
        f"Creating {DEMO_REPO} with three weeks of CI history "
        "(stable, flaky, broken and broken-then-fixed tests)…"
    )
    result = create_demo(max_bytes=settings.max_report_bytes, progress=progress)
    if result.results:
        if tty:
            print()  # end the redrawn progress line
        print(f"  stored {result.runs} CI runs, {result.results} test results")
    else:
        print(f"  {DEMO_REPO} already has {result.runs} runs; showing it")
    if result.token:
        print(f"  upload token for {DEMO_REPO} (shown once): {result.token}")
    print_status(DEMO_REPO, tenant_id=default_tenant().id)
    url = settings.public_url
    print(f"""
Look further:
  flakeguard status                      this summary, for every repository
  flakeguard test payment_webhook        one test: verdict, reason, history
  flakeguard preview alert|status|digest|home   the Slack messages as Block Kit JSON
  flakeguard serve                       then {url}/health/deep and {url}/api/v1/
Connect Slack and GitHub: see README.md ("Slack app setup", "GitHub App setup").""")
    return 0


def register(sub: Any) -> None:
    """Add the terminal sub-commands."""
    status = add_command(
        sub, "status", cmd_status, "flaky, broken and quarantined tests per repository"
    )
    status.add_argument("repo", nargs="?", metavar="OWNER/NAME", help="one repository")
    status.add_argument("--top", type=int, default=5, help="how many top flaky tests (5)")
    status.add_argument("--tenant", metavar="SLUG", help=TENANT_HELP)

    test = add_command(sub, "test", cmd_test, "one test: verdict, reason, history")
    test.add_argument("query", help="part of the test's name")
    test.add_argument("--repo", metavar="OWNER/NAME", help="only in this repository")
    test.add_argument("--tenant", metavar="SLUG", help=TENANT_HELP)
    add_command(sub, "analyze", cmd_analyze, "analyze runs still waiting")
    add_command(sub, "demo", cmd_demo, "create a demo repository with CI history")
    register_preview(sub)


BLOCK_KIT_BUILDER = "https://app.slack.com/block-kit-builder/#"
PREVIEW_KINDS = ("alert", "broken", "fixed", "status", "digest", "home")


def render_preview(
    kind: str, repo: str | None, *, tenant_id: int | None = None, owner: str | None = None
) -> dict[str, Any]:
    """The Block Kit payload of one message kind, for a repository's current data.

    ``tenant_id`` None: the only tenant (a one-workspace setup). ``owner``: the digest
    of that CODEOWNERS owner's channel instead of a repository's.
    """
    from bot.blocks.alerts import render_alert
    from bot.blocks.digest import render_digest
    from bot.blocks.home import render_home
    from bot.blocks.status import render_status
    from flakeguard.usecases import preview
    from flakeguard.usecases.tenancy import tenant_for_cli

    tenant = tenant_id if tenant_id is not None else tenant_for_cli(None).id
    if kind in ("alert", "broken", "fixed"):
        flavour = "flaky" if kind == "alert" else kind
        return render_alert(preview.alert(repo, flavour, tenant_id=tenant))
    if kind == "status":
        return render_status(preview.status(repo, tenant_id=tenant))
    if kind == "digest" and owner:
        return render_digest(preview.owner_digest(owner, tenant_id=tenant))
    if kind == "digest":
        return render_digest(preview.digest(repo, tenant_id=tenant))
    return render_home(preview.home(repo, tenant_id=tenant))


def builder_link(payload: dict[str, Any]) -> str:
    """A link that opens the payload in Slack's Block Kit Builder."""
    import json
    from urllib.parse import quote

    document: dict[str, Any] = {"blocks": payload.get("blocks", [])}
    if payload.get("type") == "home":
        document["type"] = "home"
    return BLOCK_KIT_BUILDER + quote(json.dumps(document, separators=(",", ":")), safe="")


def cmd_preview(args: argparse.Namespace) -> int:
    """Print a Slack message as Block Kit JSON, and a Block Kit Builder link to see it."""
    import json

    _quiet()
    open_configured()
    payload = render_preview(args.kind, args.repo, owner=args.owner)
    print(json.dumps(payload, indent=2, default=str))
    print(f"\nOpen in Slack's Block Kit Builder:\n{builder_link(payload)}", file=sys.stderr)
    return 0


def register_preview(sub: Any) -> None:
    """Add `flakeguard preview`."""
    preview = add_command(sub, "preview", cmd_preview, "print a Slack message as Block Kit JSON")
    preview.add_argument("kind", choices=PREVIEW_KINDS, help="which message")
    preview.add_argument("--repo", metavar="OWNER/NAME", help="repository (default: the first)")
    preview.add_argument(
        "--owner",
        metavar="@ORG/TEAM",
        help="digest: the weekly digest of that CODEOWNERS owner's routed channel",
    )
