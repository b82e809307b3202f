"""A demo repository with a few weeks of realistic CI history, through the real ingest path.

Every run is a JUnit XML report (pytest's dialect) stored by ``ingest_reports``
and scored by the analysis job, exactly as an upload from CI would be.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from xml.sax.saxutils import quoteattr

from flakeguard.usecases.ingest import RunMeta, ingest_reports
from flakeguard.usecases.repos import add_repository
from models import Repository, db

DEMO_REPO = "demo/webshop"
DAYS = 21
RUNS_PER_DAY = 4


@dataclass(frozen=True)
class DemoTest:
    """One test of the demo suite and how it behaves."""

    file: str
    name: str
    kind: str  # stable | flaky | broken | broken_then_fixed
    rate: float = 0.0
    message: str = "AssertionError"


SUITE: tuple[DemoTest, ...] = (
    *(DemoTest("tests/test_cart.py", f"test_cart_{n}", "stable") for n in range(8)),
    *(DemoTest("tests/test_orders.py", f"test_order_{n}", "stable") for n in range(8)),
    *(DemoTest("tests/test_users.py", f"test_user_{n}", "stable") for n in range(8)),
    DemoTest(
        "tests/test_checkout.py",
        "test_payment_webhook_timeout",
        "flaky",
        0.25,
        "TimeoutError: payment provider did not answer within 2s",
    ),
    DemoTest(
        "tests/test_search.py",
        "test_search_results_sorted",
        "flaky",
        0.12,
        "AssertionError: ['b', 'a'] != ['a', 'b'] (unordered set iteration)",
    ),
    DemoTest(
        "tests/test_email.py",
        "test_welcome_email_sent",
        "flaky",
        0.08,
        "ConnectionResetError: SMTP test server closed the connection",
    ),
    DemoTest(
        "tests/test_inventory.py",
        "test_stock_reservation_expires",
        "broken",
        0.0,
        "AssertionError: reservation still active after expiry",
    ),
    DemoTest(
        "tests/test_pricing.py",
        "test_discount_rounding",
        "broken_then_fixed",
        0.0,
        "AssertionError: 9.99 != 10.00",
    ),
)


@dataclass(frozen=True)
class DemoResult:
    """What the demo stored."""

    repository: str
    runs: int
    results: int
    token: str | None


def _xml(rows: list[tuple[DemoTest, str, float]]) -> bytes:
    failures = sum(1 for _, status, _ in rows if status == "failed")
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>',
        f'<testsuites><testsuite name="pytest" tests="{len(rows)}" failures="{failures}" '
        'errors="0" skipped="0">',
    ]
    for test, status, duration in rows:
        classname = test.file.removesuffix(".py").replace("/", ".")
        attrs = (
            f"classname={quoteattr(classname)} name={quoteattr(test.name)} "
            f'file={quoteattr(test.file)} time="{duration:.3f}"'
        )
        if status == "failed":
            parts.append(
                f"<testcase {attrs}><failure message={quoteattr(test.message)}>"
                f"{test.message}</failure></testcase>"
            )
        else:
            parts.append(f"<testcase {attrs}/>")
    parts.append("</testsuite></testsuites>")
    return "\n".join(parts).encode()


def _outcome(test: DemoTest, n: int, total: int, rng: random.Random) -> str:
    if test.kind == "flaky":
        return "failed" if rng.random() < test.rate else "passed"
    if test.kind == "broken":  # broke a few days ago, still broken
        return "failed" if n >= total - 10 else "passed"
    if test.kind == "broken_then_fixed":  # broke in week 1, fixed two days later
        return "failed" if total // 4 <= n < total // 4 + 8 else "passed"
    return "passed"


def create_demo(
    *,
    max_bytes: int,
    now: datetime | None = None,
    seed: int = 2026,
    progress: Callable[[int, int], None] | None = None,
) -> DemoResult:
    """Create the demo repository and its history; a second call adds nothing."""
    now = now or datetime.now(UTC)
    existing = Repository.get_or_none(Repository.full_name == DEMO_REPO)
    if existing is not None and existing.runs.count() > 0:
        return DemoResult(DEMO_REPO, existing.runs.count(), 0, None)
    if existing is None:
        repo, token = add_repository(DEMO_REPO)
    else:
        repo, token = existing, None
    rng = random.Random(seed)
    total = DAYS * RUNS_PER_DAY
    start = now - timedelta(days=DAYS)
    stored = 0
    for n in range(total):
        at = start + timedelta(hours=24 / RUNS_PER_DAY * n)
        sha = f"{rng.getrandbits(160):040x}"
        rows = [(t, _outcome(t, n, total, rng), rng.uniform(0.01, 1.5)) for t in SUITE]
        attempts = [rows]
        # CI retries a red job once on the same commit: same-commit evidence.
        if any(status == "failed" for _, status, _ in rows):
            attempts.append([(t, _outcome(t, n, total, rng), d) for t, _, d in rows])
        for attempt, attempt_rows in enumerate(attempts, start=1):
            meta = RunMeta(
                sha=sha,
                branch="main",
                ci_run_id=f"demo-{n}",
                job="pytest",
                attempt=attempt,
                started_at=(at + timedelta(minutes=20 * attempt)).replace(tzinfo=None),
                source="demo",
            )
            ingest_reports(repo, [("junit.xml", _xml(attempt_rows))], meta, max_bytes=max_bytes)
            stored += len(attempt_rows)
        if progress is not None:
            progress(n + 1, total)
    return DemoResult(DEMO_REPO, total, stored, token)


__all__ = ["DEMO_REPO", "SUITE", "DemoResult", "create_demo", "db"]
