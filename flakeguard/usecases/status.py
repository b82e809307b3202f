"""Query-side summaries: repository status, top flaky tests, and finding a repository by name.

Used by ``/flakeguard status|top`` and by the terminal ``flakeguard status``;
the names (``display_name``, ``resolve_repository``, ``contains_text``) by
every read that shows or looks up a test or a repository. Finding a test and
its detail are in ``testcases.py``.
Everything returned is plain frozen data; rendering is the caller's business.
Every function that reads takes the caller's tenant (``tenant_id``) and
filters by it in SQL: another tenant's repository is as unknown as one that
does not exist (same answer, same suggestions from the caller's own names).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from peewee import SQL, NodeList, Value, fn

from flakeguard.errors import NotFoundError
from flakeguard.usecases import outbox, repo_files
from models import (
    ChannelSubscription,
    FlakeScore,
    Quarantine,
    Repository,
    SlackMessage,
    TestCase,
    TestRun,
    is_postgres,
    utcnow,
)

TOP_DEFAULT = 5
TOP_MAX = 50
NEAR_MATCHES = 5
STATUS_REPOS_MAX = 10


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
    file_problems: list[str] = field(default_factory=list)  # CODEOWNERS, .flakeguard.yml


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
        file_problems=repo_files.problems(repo.id),
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
