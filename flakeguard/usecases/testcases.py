"""Finding a test by (part of) its name, and what ``/flakeguard test`` shows about one.

Used by ``/flakeguard test|quarantine|unquarantine`` and by the terminal
``flakeguard test``. Every function takes the caller's tenant and filters by
it in SQL: another tenant's test is as unknown as one that does not exist.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import datetime

from peewee import fn

from flakeguard.errors import NotFoundError
from flakeguard.usecases import repo_files
from flakeguard.usecases.github import web_url
from flakeguard.usecases.status import (
    NEAR_MATCHES,
    NoMatchError,
    contains_text,
    display_name,
    resolve_repository,
)
from models import FlakeScore, Quarantine, Repository, TestCase, is_postgres, queries, result_reads

HISTORY = 20
CANDIDATES = 200
_TOKENS = re.compile(r"[A-Za-z0-9]+")


class AmbiguousTestError(NoMatchError):
    """A query that names several tests, none exactly; ``suggestions`` lists them."""


@dataclass(frozen=True)
class TestMatch:
    """A test found by part of its name."""

    __test__ = False

    test_case_id: int
    repository: str
    name: str


@dataclass(frozen=True)
class TestDetail:
    """Everything ``/flakeguard test`` shows about one test."""

    __test__ = False

    test_case_id: int
    repository: str
    name: str
    file: str | None
    state: str
    score: float
    low: float
    high: float
    reason: str
    state_since: datetime | None
    history: str  # oldest -> newest, one character per result
    quarantine_id: int | None
    quarantine_state: str | None
    assignee_slack: str | None
    assignee_github: str | None
    github_issue_url: str | None
    owners: tuple[str, ...] = ()  # CODEOWNERS owners of the test's file
    expires_at: datetime | None = None  # when its quarantine ends


def find_tests(
    query: str, *, tenant_id: int, repository: str | None = None, limit: int = 10
) -> list[TestMatch]:
    """The tenant's tests whose name contains ``query``; NoMatchError with near names if none."""
    query = query.strip()
    if not query:
        raise NoMatchError("give part of a test name", [])
    repo = resolve_repository(repository, tenant_id=tenant_id) if repository else None
    base = (
        TestCase.select(TestCase, Repository.full_name)
        .join(Repository)
        .where(Repository.tenant == tenant_id)
    )
    if repo is not None:
        base = base.where(TestCase.repository == repo.id)
    # Cheapest first: the exact name (indexed), then part of the name or key (one scan).
    conditions = [TestCase.name == query]
    if "." in query:
        classname, _, name = query.rpartition(".")
        conditions.append((TestCase.classname == classname) & (TestCase.name == name))
    if is_postgres():
        # LIKE (case-sensitive) is several times cheaper than ILIKE on PostgreSQL;
        # ILIKE only when the exact case found nothing. (SQLite's LIKE ignores case.)
        conditions.append(
            contains_text(TestCase.name, query, ignore_case=False)
            | contains_text(TestCase.key, query, ignore_case=False)
        )
        conditions.append(contains_text(TestCase.name, query))
    else:
        conditions.append(contains_text(TestCase.name, query) | contains_text(TestCase.key, query))
    with queries.prefer_indexes():  # trigram indexes on PostgreSQL
        for condition in conditions:
            found = list(
                base.where(condition).order_by(fn.LENGTH(TestCase.name), TestCase.id).limit(limit)
            )
            if found:
                return [TestMatch(t.id, t.repository.full_name, display_name(t)) for t in found]
        near = _near_tests(base, query)
    raise NoMatchError(f"no test matches {query!r}", near)


def _near_tests(base, query: str) -> list[str]:  # type: ignore[no-untyped-def]
    # A few hundred candidates sharing the query's longest words, then difflib on those:
    # bounded work however many tests there are.
    tokens = sorted(
        {t.lower() for t in _TOKENS.findall(query) if len(t) >= 3}, key=len, reverse=True
    )
    candidates: dict[str, str] = {}  # name (or dotted name) -> display name
    dotted = "." in query
    for token in tokens[:4]:
        rows = (
            base.select(TestCase.classname, TestCase.name)
            .where(TestCase.name.contains(token[:12]))
            .limit(CANDIDATES)
            .tuples()
        )
        for classname, name in rows:
            shown = f"{classname}.{name}" if classname else name
            candidates[shown if dotted else name] = shown
        if candidates:
            break  # the longest word that matches anything is the best clue
    near = difflib.get_close_matches(query, list(candidates), n=NEAR_MATCHES, cutoff=0.6)
    return [candidates[n] for n in near]


def find_test(query: str, *, tenant_id: int, repository: str | None = None) -> TestMatch:
    """The one test of the tenant ``query`` names, to act on; AmbiguousTestError when several do.

    One exact name (or ``classname.name``, or key) wins; else the query must
    match exactly one test. Acting on "the shortest of several" is refused.
    """
    matches = find_tests(query, tenant_id=tenant_id, repository=repository, limit=NEAR_MATCHES + 1)
    if len(matches) == 1:
        return matches[0]
    exact = [m for m in matches if query.strip() in (m.name, m.name.rpartition(".")[2])]
    if len(exact) == 1:
        return exact[0]
    names = [f"{m.name} ({m.repository})" for m in matches[:NEAR_MATCHES]]
    raise AmbiguousTestError(
        f"{query.strip()!r} matches several tests; give more of the name", names
    )


def test_detail(test_case_id: int, *, tenant_id: int, history: int = HISTORY) -> TestDetail:
    """Verdict, recent history strip and quarantine of one of the tenant's tests."""
    test = (
        TestCase.select(TestCase, Repository)
        .join(Repository)
        .where(TestCase.id == test_case_id, Repository.tenant == tenant_id)
        .first()
    )
    if test is None:
        raise NotFoundError(f"unknown test {test_case_id}")
    score = FlakeScore.get_or_none(FlakeScore.test_case == test.id)
    q = Quarantine.get_or_none(Quarantine.test_case == test.id)
    return TestDetail(
        test_case_id=test.id,
        repository=test.repository.full_name,
        name=display_name(test),
        file=test.file,
        state=score.state if score else "insufficient",
        score=score.score if score else 0.0,
        low=score.low if score else 0.0,
        high=score.high if score else 1.0,
        reason=score.reason if score else "not analyzed yet",
        state_since=score.state_since if score else None,
        history=history_strip(test, limit=history),
        quarantine_id=q.id if q else None,
        quarantine_state=q.state if q else None,
        assignee_slack=q.assignee_slack if q else None,
        assignee_github=q.assignee_github if q else None,
        github_issue_url=(
            q.github_issue_url
            or web_url(test.repository.full_name, "issues", q.github_issue_number)
            if q and q.github_issue_number
            else None
        ),
        owners=repo_files.owners_of_test(test),
        expires_at=q.expires_at if q and q.state == "quarantined" else None,
    )


STRIP = {"passed": "+", "failed": "x", "error": "x", "skipped": "-"}


def history_strip(test: TestCase, *, limit: int = HISTORY) -> str:
    """The last ``limit`` results, oldest first: ``+`` passed, ``x`` failed, ``-`` skipped."""
    runs = result_reads.test_history(
        test.repository_id, test.id, test.ordinal, runs=limit, first_seen=test.first_seen
    )
    statuses = [status for run in runs for _, status, _ in reversed(run.attempts)][:limit]
    return "".join(STRIP.get(status, "?") for status in reversed(statuses))
