"""Verdict listings for the terminal: the tests of a repository in a given state."""

from __future__ import annotations

from dataclasses import dataclass

from flakeguard.usecases.status import display_name, resolve_repository
from models import FlakeScore, TestCase


@dataclass(frozen=True)
class StateEntry:
    """One test and its verdict."""

    name: str
    state: str
    score: float
    low: float
    high: float
    reason: str
    first_failing_sha: str | None


def tests_in_state(
    full_name: str, state: str, *, tenant_id: int, limit: int = 10
) -> tuple[list[StateEntry], int]:
    """Up to ``limit`` tests of a tenant's repository in ``state`` (highest first), and how many."""
    repo = resolve_repository(full_name, tenant_id=tenant_id)
    query = (
        FlakeScore.select(FlakeScore, TestCase)
        .join(TestCase)
        .where(FlakeScore.repository == repo.id, FlakeScore.state == state)
    )
    entries = [
        StateEntry(
            name=display_name(row.test_case),
            state=row.state,
            score=row.score,
            low=row.low,
            high=row.high,
            reason=row.reason,
            first_failing_sha=(row.evidence or {}).get("first_failing_sha"),
        )
        for row in query.order_by(FlakeScore.score.desc(), TestCase.name).limit(limit)
    ]
    return entries, query.count()
