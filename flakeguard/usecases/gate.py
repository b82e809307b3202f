"""The quarantine gate: which tests of a repository are quarantined, and may a CI job pass.

``quarantined_tests`` is what ``GET /api/v1/repos/<owner>/<repo>/quarantine``
answers; ``decide_gate`` is the pure decision ``flakeguard upload --gate`` makes
from the failures in its reports and that list (or ``None`` when the server
could not be asked, in which case any failure fails, as without FlakeGuard).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime

from models import Quarantine, Repository, TestCase

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


@dataclass(frozen=True)
class GateDecision:
    """Pass or fail, and why: failures that block and failures forgiven by a quarantine."""

    passed: bool
    blocking: tuple[str, ...]
    forgiven: tuple[str, ...]
    fallback: bool

    def summary(self) -> str:
        """One line saying what was decided."""
        if self.fallback:
            if self.passed:
                return "gate: passed (FlakeGuard unreachable; no failures in the reports)"
            return (
                f"gate: failed: {len(self.blocking)} failing test(s) and FlakeGuard is "
                "unreachable, so quarantines cannot be checked"
            )
        if self.blocking:
            return f"gate: failed: {len(self.blocking)} failing test(s) not quarantined"
        if self.forgiven:
            return f"gate: passed: every failure ({len(self.forgiven)}) is a quarantined test"
        return "gate: passed: no failures"


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
        )
        for row in rows
    ]


def decide_gate(failures: Iterable[str], quarantined: Collection[str] | None) -> GateDecision:
    """Fail when any failing key is not quarantined; with no list (server down) any failure."""
    failing = tuple(dict.fromkeys(failures))
    if quarantined is None:
        return GateDecision(not failing, failing, (), True)
    blocking = tuple(key for key in failing if key not in quarantined)
    forgiven = tuple(key for key in failing if key in quarantined)
    return GateDecision(not blocking, blocking, forgiven, False)
