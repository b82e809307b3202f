"""The distinct causes of one test's failures: its messages grouped by signature, with counts.

A failure's signature (``engine.signatures``) strips what varies between runs
(numbers, addresses, temporary paths, timestamps, UUIDs), so "timed out after
30.1s" and "timed out after 29.7s" are one cause. The read is bounded (the
latest ``FAILURES_READ`` failures) and scoped to the tenant in SQL: another
tenant's test is not found, like a missing one. ``flakeguard test`` shows it;
the dashboard's test page can use :func:`failure_causes` (or
:func:`group_failures` on failures it has read already).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from engine.signatures import Signature, signature
from flakeguard.errors import NotFoundError
from models import Repository, TestCase, failure_reads

FAILURES_READ = 500
FAILED = ("failed", "error")


@dataclass(frozen=True)
class FailureCause:
    """Failures of a test with one signature."""

    key: str  # the signature's key
    label: str  # "ConnectionResetError … redis"
    text: str  # the normalised message
    count: int
    first_at: datetime
    last_at: datetime
    example: str  # the newest message with this signature, as it was


@dataclass
class _Group:
    sig: Signature
    count: int
    first_at: datetime
    last_at: datetime
    example: str


def group_failures(
    failures: Iterable[tuple[str | None, str | None, datetime]],
) -> list[FailureCause]:
    """Group (message, failure type, at) by signature: the most frequent first, then the newest."""
    groups: dict[str, _Group] = {}
    for message, failure_type, at in failures:
        sig = signature(message, failure_type)
        group = groups.get(sig.key)
        if group is None:
            groups[sig.key] = _Group(sig, 1, at, at, message or "")
            continue
        group.count += 1
        group.first_at = min(group.first_at, at)
        if at >= group.last_at:
            group.last_at = at
            group.example = message or ""
    causes = [
        FailureCause(
            key=key,
            label=g.sig.label,
            text=g.sig.text,
            count=g.count,
            first_at=g.first_at,
            last_at=g.last_at,
            example=g.example,
        )
        for key, g in groups.items()
    ]
    causes.sort(key=lambda c: (-c.count, -c.last_at.timestamp(), c.key))
    return causes


def failure_causes(test_case_id: int, *, tenant_id: int) -> list[FailureCause]:
    """The distinct causes among one of the tenant's tests' latest failures."""
    repository_id = (
        TestCase.select(TestCase.repository)
        .join(Repository)
        .where(TestCase.id == test_case_id, Repository.tenant == tenant_id)
        .scalar()
    )
    if repository_id is None:
        raise NotFoundError(f"unknown test {test_case_id}")
    failures = failure_reads.test_failures(repository_id, test_case_id, limit=FAILURES_READ)
    return group_failures((f.message, f.failure_type, f.at) for f in failures)
