"""Query-side summaries: repository status, top flaky tests, finding a test, test detail.

Used by ``/flakeguard status|top|test`` and by the terminal ``flakeguard status``.
Everything returned is plain frozen data; rendering is the caller's business.
Every function that reads takes the caller's tenant (``tenant_id``) and
filters by it in SQL: another tenant's repository is as unknown as one that
does not exist (same answer, same suggestions from the caller's own names).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from peewee import SQL, NodeList, Value, fn

from flakeguard.errors import NotFoundError
from flakeguard.usecases import outbox
from flakeguard.usecases import owners as owners_uc
from flakeguard.usecases.github import web_url
from models import (
    ChannelSubscription,
    FlakeScore,
    Quarantine,
    Repository,
    SlackMessage,
    TestCase,
    TestResult,
    TestRun,
    is_postgres,
    queries,
    utcnow,
)

TOP_DEFAULT = 5
TOP_MAX = 50
HISTORY = 20
NEAR_MATCHES = 5
CANDIDATES = 200
STATUS_REPOS_MAX = 10
_TOKENS = re.compile(r"[A-Za-z0-9]+")


class NoMatchError(NotFoundError):
    """Nothing matched a name; ``suggestions`` holds the nearest names."""

    def __init__(self, message: str, suggestions: list[str]) -> None:
        super().__init__(message)
        self.suggestions = suggestions


class AmbiguousTestError(NoMatchError):
    """A query that names several tests, none exactly; ``suggestions`` lists them."""


@dataclass(frozen=True)
class TopEntry:
    """One flaky test in a ranking."""

    test_case_id: int
    repository: str
    name: str
    score: float
    low: float
    high: float
    reason: str
    quarantine_state: str | None


@dataclass(frozen=True)
class RepoStatus:
    """The state of one repository at a glance."""

    repository: str
    flaky: int
    broken: int
    quarantined: int
    proposed: int
    new_this_week: int
    top: list[TopEntry]
    last_analysis_at: datetime | None
    slack_errors: list[str] = field(default_factory=list)
    runs_set_aside: int = 0  # runs whose analysis failed too often (outbox.MAX_ANALYSIS_FAILURES)
    file_problems: list[str] = field(default_factory=list)  # CODEOWNERS, .flakeguard.yml


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


def display_name(test: TestCase) -> str:
    """``classname.name`` (or just the name when there is no class)."""
    return f"{test.classname}.{test.name}" if test.classname else test.name


def contains_text(field, text: str, *, ignore_case: bool = True):  # type: ignore[no-untyped-def]
    """``field`` contains ``text`` literally: ``%``, ``_`` and ``\\`` are escaped (LIKE ... ESCAPE).

    peewee's ``contains`` passes them through as wildcards, so ``_`` would
    match any character. SQLite's LIKE ignores ASCII case; PostgreSQL's
    ILIKE does, its LIKE does not (and is cheaper with a trigram index).
    """
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    op = "ILIKE" if ignore_case and is_postgres() else "LIKE"
    return NodeList((field, SQL(op), Value("%" + escaped + "%"), SQL("ESCAPE"), Value("\\")))


def tenant_repositories(tenant_id: int):  # type: ignore[no-untyped-def]
    """A subquery: the ids of a tenant's repositories."""
    return Repository.select(Repository.id).where(Repository.tenant == tenant_id)


def resolve_repository(full_name: str, *, tenant_id: int) -> Repository:
    """The tenant's repository ``owner/name``, or NoMatchError listing near names of the tenant."""
    full_name = full_name.strip().strip("<>")
    repo = Repository.get_or_none(
        fn.LOWER(Repository.full_name) == full_name.lower(), Repository.tenant == tenant_id
    )
    if repo is not None:
        return repo
    names = [
        r
        for (r,) in Repository.select(Repository.full_name)
        .where(Repository.tenant == tenant_id)
        .tuples()
    ]
    near = difflib.get_close_matches(full_name, names, n=NEAR_MATCHES, cutoff=0.5)
    tail = full_name.split("/")[-1].lower()
    near += [n for n in names if tail and tail in n.lower() and n not in near][:NEAR_MATCHES]
    raise NoMatchError(f"unknown repository {full_name}", near[:NEAR_MATCHES])


def subscribed_repositories(team_id: str, channel_id: str, *, tenant_id: int) -> list[Repository]:
    """The tenant's repositories the channel is subscribed to."""
    return list(
        Repository.select()
        .join(ChannelSubscription)
        .where(
            ChannelSubscription.team_id == team_id,
            ChannelSubscription.channel_id == channel_id,
            Repository.tenant == tenant_id,
        )
        .order_by(Repository.full_name)
    )


def status_for(
    full_name: str | None = None,
    *,
    tenant_id: int,
    team_id: str = "",
    channel_id: str = "",
    top: int = TOP_DEFAULT,
    now: datetime | None = None,
) -> list[RepoStatus]:
    """Status of one of the tenant's repositories, else of the channel's, else of all of them."""
    if full_name:
        repos = [resolve_repository(full_name, tenant_id=tenant_id)]
    else:
        repos = (
            subscribed_repositories(team_id, channel_id, tenant_id=tenant_id) if channel_id else []
        )
        if not repos:
            repos = list(
                Repository.select()
                .where(Repository.active == True, Repository.tenant == tenant_id)  # noqa: E712
                .order_by(Repository.full_name)
                .limit(STATUS_REPOS_MAX)
            )
    return [repo_status(repo, top=top, now=now) for repo in repos]


def repo_status(
    repo: Repository, *, top: int = TOP_DEFAULT, now: datetime | None = None
) -> RepoStatus:
    """Counts, the top flaky tests and Slack delivery problems of one repository."""
    now = now or utcnow()
    states = dict(
        FlakeScore.select(FlakeScore.state, fn.COUNT(FlakeScore.id))
        .where(FlakeScore.repository == repo.id)
        .group_by(FlakeScore.state)
        .tuples()
    )
    quarantines = dict(
        Quarantine.select(Quarantine.state, fn.COUNT(Quarantine.id))
        .where(Quarantine.repository == repo.id)
        .group_by(Quarantine.state)
        .tuples()
    )
    new_this_week = (
        FlakeScore.select()
        .where(
            FlakeScore.repository == repo.id,
            FlakeScore.state == "flaky",
            FlakeScore.state_since >= now - timedelta(days=7),
        )
        .count()
    )
    last = TestRun.select(fn.MAX(TestRun.analyzed_at)).where(TestRun.repository == repo.id).scalar()
    return RepoStatus(
        repository=repo.full_name,
        flaky=states.get("flaky", 0),
        broken=states.get("broken", 0),
        quarantined=quarantines.get("quarantined", 0),
        proposed=quarantines.get("proposed", 0),
        new_this_week=new_this_week,
        top=_top(repo, top),
        last_analysis_at=last,
        slack_errors=slack_errors(repo),
        runs_set_aside=runs_set_aside(repo),
        file_problems=owners_uc.problems(repo.id),
    )


def runs_set_aside(repo: Repository) -> int:
    """How many of a repository's runs are set aside: their analysis failed too often."""
    ids = outbox.set_aside_runs()
    if not ids:
        return 0
    return TestRun.select().where(TestRun.repository == repo.id, TestRun.id.in_(ids)).count()


def slack_errors(repo: Repository) -> list[str]:
    """Slack delivery problems recorded for a repository's channels and messages."""
    errors = [
        f"<#{channel}>: {error}"
        for channel, error in ChannelSubscription.select(
            ChannelSubscription.channel_id, ChannelSubscription.last_error
        )
        .where(
            ChannelSubscription.repository == repo.id, ChannelSubscription.last_error.is_null(False)
        )
        .tuples()
    ]
    recent = (
        SlackMessage.select(SlackMessage.channel, SlackMessage.last_error)
        .where(SlackMessage.repository == repo.id, SlackMessage.last_error.is_null(False))
        .order_by(SlackMessage.updated_at.desc())
        .limit(5)
        .tuples()
    )
    for channel, error in recent:
        line = f"<#{channel}>: {error}"
        if line not in errors:
            errors.append(line)
    return errors


def top_flaky(
    full_name: str | None = None, n: int = TOP_DEFAULT, *, tenant_id: int
) -> list[TopEntry]:
    """The ``n`` flakiest tests of one of the tenant's repositories (or of all of them)."""
    n = max(1, min(n, TOP_MAX))
    repo = resolve_repository(full_name, tenant_id=tenant_id) if full_name else None
    return _top(repo, n, tenant_id=tenant_id)


def _top(repo: Repository | None, n: int, *, tenant_id: int | None = None) -> list[TopEntry]:
    # The ranking first (index on repository, state), then the few rows it names.
    ranked = (
        FlakeScore.select()
        .where(FlakeScore.state == "flaky")
        .order_by(FlakeScore.score.desc(), FlakeScore.id)
        .limit(n)
    )
    if repo is not None:
        ranked = ranked.where(FlakeScore.repository == repo.id)
    else:
        ranked = ranked.where(FlakeScore.repository.in_(tenant_repositories(tenant_id or 0)))
    scores = list(ranked)
    if not scores:
        return []
    test_ids = [s.test_case_id for s in scores]
    tests = {t.id: t for t in TestCase.select().where(TestCase.id.in_(test_ids))}
    repos = dict(
        Repository.select(Repository.id, Repository.full_name)
        .where(Repository.id.in_({s.repository_id for s in scores}))
        .tuples()
    )
    states = dict(
        Quarantine.select(Quarantine.test_case, Quarantine.state)
        .where(Quarantine.test_case.in_(test_ids))
        .tuples()
    )
    return [
        TopEntry(
            test_case_id=s.test_case_id,
            repository=repos[s.repository_id],
            name=display_name(tests[s.test_case_id]),
            score=s.score,
            low=s.low,
            high=s.high,
            reason=s.reason,
            quarantine_state=states.get(s.test_case_id),
        )
        for s in scores
    ]


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
        history=history_strip(test.id, limit=history),
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
        owners=owners_uc.owners_of_test(test),
        expires_at=q.expires_at if q and q.state == "quarantined" else None,
    )


STRIP = {"passed": "+", "failed": "x", "error": "x", "skipped": "-"}


def history_strip(test_case_id: int, *, limit: int = HISTORY) -> str:
    """The last ``limit`` results, oldest first: ``+`` passed, ``x`` failed, ``-`` skipped."""
    rows = list(
        TestResult.select(TestResult.status)
        .where(TestResult.test_case == test_case_id)
        .order_by(TestResult.created_at.desc(), TestResult.id.desc())
        .limit(limit)
        .tuples()
    )
    return "".join(STRIP.get(status, "?") for (status,) in reversed(rows))
