"""Repositories of a tenant: counts, what changed this week, 30 days of flake rate and cost."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from peewee import JOIN, SQL, Case, fn

from flakeguard.usecases.catalog.rows import run_url, show_name
from flakeguard.usecases.status import resolve_repository
from models import (
    DomainEvent,
    FlakeScore,
    InfraEvent,
    Quarantine,
    Repository,
    TestCase,
    TestRun,
    failure_reads,
    queries,
    utcnow,
)
from models.repos import OwnerAndName

WINDOW_DAYS = 30
WEEK = timedelta(days=7)
CHANGES_MAX = 20
STORMS_MAX = 20
CHANGE_KINDS = ("flaky", "broken", "fixed")


@dataclass(frozen=True)
class DayPoint:
    """One day of a repository's last 30: runs, runs turned red by flakes, their CI time."""

    day: date
    runs: int = 0
    red_runs: int = 0
    seconds_lost: float = 0.0

    @property
    def flake_rate(self) -> float:
        """The share of the day's runs a flaky or quarantined test turned red."""
        return self.red_runs / self.runs if self.runs else 0.0


@dataclass(frozen=True)
class Counts:
    """How many tests of a repository are in each state (the four add up to ``tests``)."""

    tests: int = 0
    flaky: int = 0
    broken: int = 0
    quarantined: int = 0
    healthy: int = 0
    proposed: int = 0  # quarantines waiting for a person (flaky tests, counted there too)


@dataclass(frozen=True)
class WeekChanges:
    """What changed in a repository in the last seven days (tests, not events)."""

    newly_flaky: int = 0
    newly_broken: int = 0
    fixed: int = 0
    quarantined: int = 0


@dataclass(frozen=True)
class Change:
    """One change of the week: a test turned flaky, broken or fixed, or was quarantined."""

    kind: str  # flaky | broken | fixed | quarantined
    test_case_id: int
    repository: str
    name: str
    at: datetime


@dataclass(frozen=True)
class RepoSummary(OwnerAndName):
    """One repository at a glance: counts, the week's changes, 30 days of flake rate and cost."""

    id: int
    full_name: str
    default_branch: str
    counts: Counts
    week: WeekChanges
    series: tuple[DayPoint, ...]  # oldest day first, WINDOW_DAYS of them

    @property
    def runs(self) -> int:
        return sum(p.runs for p in self.series)

    @property
    def flake_rate(self) -> float:
        """The flake rate over the whole window."""
        runs = self.runs
        return sum(p.red_runs for p in self.series) / runs if runs else 0.0

    @property
    def seconds_lost(self) -> float:
        return sum(p.seconds_lost for p in self.series)


@dataclass(frozen=True)
class Overview:
    """Every repository of a tenant and the tenant's latest changes of the week."""

    repos: tuple[RepoSummary, ...]
    changes: tuple[Change, ...]  # newest first, at most CHANGES_MAX
    window_start: date


@dataclass(frozen=True)
class Storm:
    """A run whose failures were set aside as an infrastructure storm."""

    run_id: int
    sha: str
    failed: int
    total: int
    at: datetime
    run_url: str | None


@dataclass(frozen=True)
class RepoDetail:
    """The repository page's header: its summary, its week's changes and its storms."""

    summary: RepoSummary
    changes: tuple[Change, ...]
    storms: tuple[Storm, ...]


# -- repositories --------------------------------------------------------------------------


def overview(*, tenant_id: int, now: datetime | None = None) -> Overview:
    """Every repository of the tenant (by name) with counts, week changes and daily series."""
    now = now or utcnow()
    repos = list(
        Repository.select(Repository.id, Repository.full_name, Repository.default_branch)
        .where(Repository.tenant == tenant_id)
        .order_by(Repository.full_name)
    )
    summaries = _summaries(repos, now)
    return Overview(
        repos=tuple(summaries),
        changes=tuple(_changes(repos, now)),
        window_start=window_start(now),
    )


def repository_detail(full_name: str, *, tenant_id: int, now: datetime | None = None) -> RepoDetail:
    """One repository of the tenant: summary, week changes, recent storms; NotFoundError."""
    now = now or utcnow()
    repo = resolve_repository(full_name, tenant_id=tenant_id)
    [summary] = _summaries([repo], now)
    return RepoDetail(
        summary=summary, changes=tuple(_changes([repo], now)), storms=tuple(_storms(repo, now))
    )


def window_start(now: datetime) -> date:
    """The first day of the series: WINDOW_DAYS days up to and including today (UTC)."""
    return now.date() - timedelta(days=WINDOW_DAYS - 1)


def _summaries(repos: Sequence[Repository], now: datetime) -> list[RepoSummary]:
    if not repos:
        return []
    ids = [r.id for r in repos]
    start_day = window_start(now)
    start = datetime.combine(start_day, datetime.min.time())
    week = now - WEEK

    tests = dict(
        # COUNT(*), not COUNT(id): an index-only scan of (repository_id, key), not of the table.
        TestCase.select(TestCase.repository, fn.COUNT(SQL("*")))
        .where(TestCase.repository.in_(ids))
        .group_by(TestCase.repository)
        .tuples()
    )
    verdicts: dict[int, dict[str, int]] = {}
    for repo_id, state, q_state, n in (
        FlakeScore.select(
            FlakeScore.repository, FlakeScore.state, Quarantine.state, fn.COUNT(FlakeScore.id)
        )
        .join(Quarantine, JOIN.LEFT_OUTER, on=(Quarantine.test_case == FlakeScore.test_case))
        .where(FlakeScore.repository.in_(ids), FlakeScore.state.in_(("flaky", "broken")))
        .group_by(FlakeScore.repository, FlakeScore.state, Quarantine.state)
        .tuples()
    ):
        if q_state != "quarantined":
            bucket = verdicts.setdefault(repo_id, {})
            bucket[state] = bucket.get(state, 0) + n
    in_force: dict[int, dict[str, int]] = {}
    newly_quarantined: dict[int, int] = {}
    for repo_id, q_state, n, recent in (
        Quarantine.select(
            Quarantine.repository,
            Quarantine.state,
            fn.COUNT(Quarantine.id),
            fn.SUM(Case(None, [(Quarantine.quarantined_at >= week, 1)], 0)),
        )
        .where(Quarantine.repository.in_(ids))
        .group_by(Quarantine.repository, Quarantine.state)
        .tuples()
    ):
        in_force.setdefault(repo_id, {})[q_state] = n
        if q_state == "quarantined":
            newly_quarantined[repo_id] = int(recent or 0)
    events: dict[int, dict[str, int]] = {}
    for repo_id, kind, n in (
        DomainEvent.select(
            DomainEvent.repository, DomainEvent.kind, fn.COUNT(fn.DISTINCT(DomainEvent.test_case))
        )
        .where(
            DomainEvent.repository.in_(ids),
            DomainEvent.created_at >= week,
            DomainEvent.kind.in_(CHANGE_KINDS),
        )
        .group_by(DomainEvent.repository, DomainEvent.kind)
        .tuples()
    ):
        events.setdefault(repo_id, {})[kind] = n
    with queries.custom_plans():
        series = _series(ids, start)

    out = []
    for repo in repos:
        v = verdicts.get(repo.id, {})
        q = in_force.get(repo.id, {})
        total = tests.get(repo.id, 0)
        flaky, broken, quarantined = v.get("flaky", 0), v.get("broken", 0), q.get("quarantined", 0)
        e = events.get(repo.id, {})
        days = series.get(repo.id, {})
        out.append(
            RepoSummary(
                id=repo.id,
                full_name=repo.full_name,
                default_branch=repo.default_branch,
                counts=Counts(
                    tests=total,
                    flaky=flaky,
                    broken=broken,
                    quarantined=quarantined,
                    healthy=max(0, total - flaky - broken - quarantined),
                    proposed=q.get("proposed", 0),
                ),
                week=WeekChanges(
                    newly_flaky=e.get("flaky", 0),
                    newly_broken=e.get("broken", 0),
                    fixed=e.get("fixed", 0),
                    quarantined=newly_quarantined.get(repo.id, 0),
                ),
                series=tuple(
                    days.get(day, DayPoint(day))
                    for day in (start_day + timedelta(days=i) for i in range(WINDOW_DAYS))
                ),
            )
        )
    return out


def _series(ids: list[int], start: datetime) -> dict[int, dict[date, DayPoint]]:
    """Per repository and day since ``start``: runs, runs a flake turned red, their duration."""
    day = fn.date(TestRun.received_at).coerce(False)
    runs: dict[tuple[int, date], int] = {}
    for repo_id, when, n in (
        TestRun.select(TestRun.repository, day, fn.COUNT(TestRun.id))
        .where(TestRun.repository.in_(ids), TestRun.received_at >= start)
        .group_by(TestRun.repository, day)
        .tuples()
    ):
        runs[(repo_id, _as_date(when))] = n
    # The tests whose failures count: flaky verdicts and quarantines in force (one id list).
    flakes = (
        FlakeScore.select(FlakeScore.test_case)
        .where(FlakeScore.repository.in_(ids), FlakeScore.state == "flaky")
        .union(
            Quarantine.select(Quarantine.test_case).where(
                Quarantine.repository.in_(ids), Quarantine.state == "quarantined"
            )
        )
    )
    red = failure_reads.failing_runs_query(ids, flakes, start)
    out: dict[int, dict[date, DayPoint]] = {}
    for repo_id, when, n, seconds in (
        TestRun.select(TestRun.repository, day, fn.COUNT(TestRun.id), fn.SUM(TestRun.duration))
        .where(TestRun.repository.in_(ids), TestRun.received_at >= start, TestRun.id.in_(red))
        .group_by(TestRun.repository, day)
        .tuples()
    ):
        d = _as_date(when)
        out.setdefault(repo_id, {})[d] = DayPoint(
            d, runs.pop((repo_id, d), n), n, float(seconds or 0.0)
        )
    for (repo_id, d), n in runs.items():
        out.setdefault(repo_id, {})[d] = DayPoint(d, n)
    return out


def _as_date(value: Any) -> date:
    # SQLite's date() is text, PostgreSQL's a date.
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _changes(repos: Sequence[Repository], now: datetime) -> list[Change]:
    """The newest changes of the week in ``repos``: verdict events and quarantines."""
    if not repos:
        return []
    names = {r.id: r.full_name for r in repos}
    ids = list(names)
    week = now - WEEK
    changes = [
        Change(kind, test_id, names[repo_id], show_name(classname, name), at)
        for kind, test_id, repo_id, classname, name, at in (
            DomainEvent.select(
                DomainEvent.kind,
                DomainEvent.test_case,
                DomainEvent.repository,
                TestCase.classname,
                TestCase.name,
                DomainEvent.created_at,
            )
            .join(TestCase, on=(DomainEvent.test_case == TestCase.id))
            .where(
                DomainEvent.repository.in_(ids),
                DomainEvent.created_at >= week,
                DomainEvent.kind.in_(CHANGE_KINDS),
            )
            .order_by(DomainEvent.created_at.desc(), DomainEvent.id.desc())
            .limit(CHANGES_MAX)
            .tuples()
        )
    ]
    changes += [
        Change("quarantined", test_id, names[repo_id], show_name(classname, name), at)
        for test_id, repo_id, classname, name, at in (
            Quarantine.select(
                Quarantine.test_case,
                Quarantine.repository,
                TestCase.classname,
                TestCase.name,
                Quarantine.quarantined_at,
            )
            .join(TestCase, on=(Quarantine.test_case == TestCase.id))
            .where(
                Quarantine.repository.in_(ids),
                Quarantine.state == "quarantined",
                Quarantine.quarantined_at >= week,
            )
            .order_by(Quarantine.quarantined_at.desc(), Quarantine.id.desc())
            .limit(CHANGES_MAX)
            .tuples()
        )
    ]
    changes.sort(key=lambda c: (c.at, c.test_case_id), reverse=True)
    return changes[:CHANGES_MAX]


def _storms(repo: Repository, now: datetime) -> list[Storm]:
    rows = (
        InfraEvent.select(
            InfraEvent.run,
            TestRun.sha,
            TestRun.ci_run_id,
            TestRun.source,
            InfraEvent.failed,
            InfraEvent.total,
            InfraEvent.created_at,
        )
        .join(TestRun, on=(InfraEvent.run == TestRun.id))
        .where(TestRun.repository == repo.id, InfraEvent.created_at >= now - timedelta(WINDOW_DAYS))
        .order_by(InfraEvent.created_at.desc(), InfraEvent.id.desc())
        .limit(STORMS_MAX)
        .tuples()
    )
    return [
        Storm(run_id, sha, failed, total, at, run_url(repo.full_name, ci_run_id, source))
        for run_id, sha, ci_run_id, source, failed, total, at in rows
    ]
