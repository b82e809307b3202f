"""A routed owner's weekly digest: the flaky tests and proposals it owns, in its channel.

The owner is a CODEOWNERS owner with a route (``owner_routes.routed_owners``); its
digest covers the tenant's repositories routed to that channel. A test is the owner's
when the owner is among the CODEOWNERS owners of its file. The proposals are ranked by
cost across the repositories exactly as a repository's digest ranks its own: each
repository's plan (``plan.quarantine_plan``) merged by ``engine.plan.rank_key``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from engine.plan import rank_key
from flakeguard.usecases.plan import PLAN_MAX, PlanItem, quarantine_plan
from flakeguard.usecases.repo_files import RepoFiles, files_of, owners_of_test
from models import FlakeScore, Quarantine, Repository, TestCase


@dataclass(frozen=True)
class OwnedPlan:
    """What an owner owns in some repositories: counts, and its ranked proposals."""

    flaky: int
    quarantined: int
    items: list[PlanItem]
    total: int
    places: dict[int, str]  # quarantine id -> the full name of its repository
    repositories: tuple[str, ...]


class _Ownership:
    """Whether ``owner`` owns a test, by the CODEOWNERS of the test's repository."""

    def __init__(self, owner: str, repository_ids: Iterable[int]) -> None:
        self.owner = owner.lower()
        self.files: dict[int, RepoFiles] = {rid: files_of(rid) for rid in repository_ids}

    def owns(self, test: TestCase) -> bool:
        files = self.files.get(test.repository_id)
        if files is None:
            return False
        return self.owner in (owner.lower() for owner in owners_of_test(test, files))


def _proposals(ownership: _Ownership, *, among: Sequence[int] | None = None) -> dict[int, int]:
    """The owner's proposals (or, ``among`` given, which of those quarantines it owns,
    whatever their state): quarantine id -> repository id."""
    if not ownership.files:
        return {}
    rows = (
        Quarantine.select(Quarantine.id, Quarantine.repository, TestCase)
        .join(TestCase)
        .where(Quarantine.repository.in_(list(ownership.files)))
    )
    if among is None:
        rows = rows.where(Quarantine.state == "proposed")
    else:
        rows = rows.where(Quarantine.id.in_(list(among)))
    return {q.id: q.repository_id for q in rows if ownership.owns(q.test_case)}


def owned_proposals(owner: str, repository_ids: Sequence[int]) -> dict[int, int]:
    """The owner's proposed quarantines in those repositories: quarantine id -> repository id."""
    return _proposals(_Ownership(owner, repository_ids))


def owned_among(
    owner: str, repository_ids: Sequence[int], quarantine_ids: Sequence[int]
) -> dict[int, int]:
    """Which of ``quarantine_ids`` the owner owns in those repositories (any state):
    quarantine id -> repository id."""
    return _proposals(_Ownership(owner, repository_ids), among=quarantine_ids)


def _count_owned(ownership: _Ownership, tests: Iterable[TestCase]) -> int:
    return sum(1 for test in tests if ownership.owns(test))


def owned_plan(
    owner: str,
    repository_ids: Sequence[int],
    *,
    limit: int = PLAN_MAX,
    now: datetime | None = None,
) -> OwnedPlan:
    """The owner's flaky and quarantined tests, and its proposals ranked by cost."""
    ownership = _Ownership(owner, repository_ids)
    ids = list(ownership.files)
    names = {
        repo.id: repo.full_name
        for repo in Repository.select(Repository.id, Repository.full_name).where(
            Repository.id.in_(ids)
        )
    }
    flaky = _count_owned(
        ownership,
        TestCase.select(TestCase)
        .join(FlakeScore, on=(FlakeScore.test_case == TestCase.id))
        .where(FlakeScore.repository.in_(ids), FlakeScore.state == "flaky"),
    )
    quarantined = _count_owned(
        ownership,
        TestCase.select(TestCase)
        .join(Quarantine, on=(Quarantine.test_case == TestCase.id))
        .where(Quarantine.repository.in_(ids), Quarantine.state == "quarantined"),
    )
    proposals = _proposals(ownership)
    items: list[PlanItem] = []
    for repository_id in sorted(set(proposals.values())):
        plan, _ = quarantine_plan(repository_id, limit=None, now=now)
        items += [item for item in plan if item.quarantine_id in proposals]
    # Ties broken by the test's key, as each repository's own plan breaks them.
    keys = dict(
        TestCase.select(TestCase.id, TestCase.key)
        .where(TestCase.id.in_([item.test_case_id for item in items]))
        .tuples()
    )
    items.sort(key=lambda item: rank_key(item.impact, item.score, keys[item.test_case_id]))
    shown = items[:limit]
    return OwnedPlan(
        flaky=flaky,
        quarantined=quarantined,
        items=shown,
        total=len(items),
        places={item.quarantine_id: names[proposals[item.quarantine_id]] for item in shown},
        repositories=tuple(sorted(names.values())),
    )
