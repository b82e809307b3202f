"""The quarantine gate: which tests of a repository are quarantined, and may a CI job pass.

``quarantined_tests`` is what ``GET /api/v1/repos/<owner>/<repo>/quarantine``
answers; ``decide_gate`` is the pure decision ``flakeguard upload --gate`` makes
from the failures in its reports and that list (or ``None`` when the server
could not be asked, in which case any failure fails, as without FlakeGuard). The
decision is the CI client's (``flakeguard_ci.gate``): one implementation for both.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flakeguard_ci.gate import GateDecision, decide_gate

from models import Quarantine, Repository, TestCase

__all__ = ["GateDecision", "QuarantinedTest", "decide_gate", "quarantined_tests"]

QUARANTINED = "quarantined"


@dataclass(frozen=True)
class QuarantinedTest:
    """One quarantined test: its key and what a person reads."""

    key: str
    name: str
    classname: str
    file: str | None
    since: datetime | None
    reason: str
    issue_url: str | None


def quarantined_tests(repo: Repository) -> list[QuarantinedTest]:
    """Tests of ``repo`` whose quarantine is in force, ordered by key."""
    rows = (
        Quarantine.select(Quarantine, TestCase)
        .join(TestCase)
        .where(Quarantine.repository == repo.id, Quarantine.state == QUARANTINED)
        .order_by(TestCase.key)
    )
    return [
        QuarantinedTest(
            key=row.test_case.key,
            name=row.test_case.name,
            classname=row.test_case.classname,
            file=row.test_case.file,
            since=row.quarantined_at,
            reason=row.reason,
            issue_url=row.github_issue_url,
        )
        for row in rows
    ]
