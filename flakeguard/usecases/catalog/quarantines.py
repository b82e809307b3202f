"""The quarantines of one repository, newest first, keyset-paginated (what an API client acts on).

Each carries its ``version``: an action sent with ``expected_version`` is
refused as stale when the quarantine moved on since it was read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flakeguard.errors import BadRequestError
from flakeguard.usecases import cursor as cursors
from flakeguard.usecases.catalog.rows import issue_link, show_name
from flakeguard.usecases.status import resolve_repository
from models import Quarantine, TestCase

QUARANTINE_STATES = ("proposed", "quarantined", "dismissed", "lifted")
SORT = "id"  # the only order: newest quarantine first
PAGE_DEFAULT = 50
PAGE_MAX = 200


@dataclass(frozen=True)
class QuarantineRow:
    """One quarantine of a repository and the test it is about."""

    id: int
    test_case_id: int
    name: str
    state: str
    version: int
    reason: str
    proposed_at: datetime
    quarantined_at: datetime | None
    quarantined_by: str | None
    assignee_slack: str | None
    assignee_github: str | None
    issue_url: str | None
    updated_at: datetime


@dataclass(frozen=True)
class QuarantinePage:
    """One page of a repository's quarantines; ``next_cursor`` None on the last page."""

    repository: str
    state: str | None
    items: tuple[QuarantineRow, ...]
    next_cursor: str | None = None
    limit: int = PAGE_DEFAULT


def list_quarantines(
    full_name: str,
    *,
    tenant_id: int,
    state: str | None = None,
    cursor: str | None = None,
    limit: int = PAGE_DEFAULT,
) -> QuarantinePage:
    """One page of the quarantines of one of the tenant's repositories (``state``: one kind)."""
    if state is not None and state not in QUARANTINE_STATES:
        raise BadRequestError(f"state must be one of {', '.join(QUARANTINE_STATES)}")
    if not 1 <= limit <= PAGE_MAX:
        raise BadRequestError(f"limit must be between 1 and {PAGE_MAX}")
    after = cursors.decode(cursor, sort=SORT) if cursor is not None else None
    repo = resolve_repository(full_name, tenant_id=tenant_id)
    query = (
        Quarantine.select(Quarantine, TestCase.classname, TestCase.name)
        .join(TestCase, on=(Quarantine.test_case == TestCase.id))
        .where(Quarantine.repository == repo.id)
    )
    if state is not None:
        query = query.where(Quarantine.state == state)
    if after is not None:
        query = query.where(Quarantine.id < after.id)
    rows = list(query.order_by(Quarantine.id.desc()).limit(limit + 1))
    items = tuple(
        QuarantineRow(
            id=q.id,
            test_case_id=q.test_case_id,
            name=show_name(q.test_case.classname, q.test_case.name),
            state=q.state,
            version=q.version,
            reason=q.reason,
            proposed_at=q.proposed_at,
            quarantined_at=q.quarantined_at,
            quarantined_by=q.quarantined_by,
            assignee_slack=q.assignee_slack,
            assignee_github=q.assignee_github,
            issue_url=issue_link(repo.full_name, q.github_issue_url, q.github_issue_number),
            updated_at=q.updated_at,
        )
        for q in rows[:limit]
    )
    next_cursor = None
    if len(rows) > limit:
        next_cursor = cursors.encode(cursors.Cursor(SORT, "", items[-1].id))
    return QuarantinePage(
        repository=repo.full_name, state=state, items=items, next_cursor=next_cursor, limit=limit
    )
