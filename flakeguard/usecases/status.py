"""Query-side summaries: repository status, top flaky tests, finding a test, test detail.

Used by ``/flakeguard status|top|test`` and by the terminal ``flakeguard status``.
Everything returned is plain frozen data; rendering is the caller's business.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from peewee import fn

from flakeguard.errors import NotFoundError
from flakeguard.usecases import outbox
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


def display_name(test: TestCase) -> str:
    """``classname.name`` (or just the name when there is no class)."""
    return f"{test.classname}.{test.name}" if test.classname else test.name


def resolve_repository(full_name: str) -> Repository:
    """The repository ``owner/name``, or NoMatchError listing near names."""
    full_name = full_name.strip().strip("<>")
    repo = Repository.get_or_none(fn.LOWER(Repository.full_name) == full_name.lower())
    if repo is not None:
        return repo
    names = [r for (r,) in Repository.select(Repository.full_name).tuples()]
    near = difflib.get_close_matches(full_name, names, n=NEAR_MATCHES, cutoff=0.5)
    tail = full_name.split("/")[-1].lower()
    near += [n for n in names if tail and tail in n.lower() and n not in near][:NEAR_MATCHES]
    raise NoMatchError(f"unknown repository {full_name}", near[:NEAR_MATCHES])


def subscribed_repositories(team_id: str, channel_id: str) -> list[Repository]:
    """Repositories the channel is subscribed to."""
    return list(
        Repository.select()
        .join(ChannelSubscription)
        .where(ChannelSubscription.team_id == team_id, ChannelSubscription.channel_id == channel_id)
        .order_by(Repository.full_name)
    )


def status_for(
    full_name: str | None = None,
    *,
    team_id: str = "",
    channel_id: str = "",
    top: int = TOP_DEFAULT,
    now: datetime | None = None,
) -> list[RepoStatus]:
    """Status of one repository, else of the channel's subscriptions, else of every known one."""
    if full_name:
        repos = [resolve_repository(full_name)]
    else:
        repos = subscribed_repositories(team_id, channel_id) if channel_id else []
        if not repos:
            repos = list(
                Repository.select()
                .where(Repository.active == True)  # noqa: E712
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


def top_flaky(full_name: str | None = None, n: int = TOP_DEFAULT) -> list[TopEntry]:
    """The ``n`` flakiest tests of one repository (or of all)."""
    n = max(1, min(n, TOP_MAX))
    repo = resolve_repository(full_name) if full_name else None
    return _top(repo, n)


def _top(repo: Repository | None, n: int) -> list[TopEntry]:
    # The ranking first (index on repository, state), then the few rows it names.
    ranked = (
        FlakeScore.select()
        .where(FlakeScore.state == "flaky")
        .order_by(FlakeScore.score.desc(), FlakeScore.id)
        .limit(n)
    )
    if repo is not None:
        ranked = ranked.where(FlakeScore.repository == repo.id)
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


def find_tests(query: str, *, repository: str | None = None, limit: int = 10) -> list[TestMatch]:
    """Tests whose name contains ``query``; NoMatchError with near names when none does."""
    query = query.strip()
    if not query:
        raise NoMatchError("give part of a test name", [])
    repo = resolve_repository(repository) if repository else None
    base = TestCase.select(TestCase, Repository.full_name).join(Repository)
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
        pattern = "%" + query.replace("\\", "\\\\").replace("%", "\\%") + "%"
        conditions.append((TestCase.name % pattern) | (TestCase.key % pattern))
        conditions.append(TestCase.name.contains(query))
    else:
        conditions.append(TestCase.name.contains(query) | TestCase.key.contains(query))
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


def find_test(query: str, *, repository: str | None = None) -> TestMatch:
    """The one test ``query`` names: an exact name wins, else the best partial match."""
    return find_tests(query, repository=repository, limit=10)[0]


def test_detail(test_case_id: int, *, history: int = HISTORY) -> TestDetail:
    """Verdict, recent history strip and quarantine of one test."""
    test = (
        TestCase.select(TestCase, Repository)
        .join(Repository)
        .where(TestCase.id == test_case_id)
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
