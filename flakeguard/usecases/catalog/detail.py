"""One test in full: verdict, recent runs, failure messages grouped, durations, quarantine story.

A fixed number of queries whatever the history: the test with its verdict and
quarantine, its latest runs with their attempts (``models.result_reads``: the
packed outcomes, the attempts beside them, the runs), its latest failures and
their messages, the quarantine's events, its verdict changes and the Slack
messages about it. The reads are bounded (``HISTORY_RUNS`` runs,
``FAILURES_READ`` failures, ...), so a test with a million results costs what
one with a hundred does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from peewee import JOIN

from flakeguard.errors import NotFoundError
from flakeguard.usecases.catalog.rows import FAILED, TestRow, row_query, run_url, to_row
from flakeguard.usecases.github import web_url
from models import (
    DomainEvent,
    QuarantineEvent,
    Repository,
    SlackMessage,
    TestCase,
    failure_reads,
    result_reads,
)

HISTORY_RUNS = 50
HISTORY_MAX = 200
FAILURES_READ = 500
FAILURE_GROUPS = 10
MESSAGE_LINE = 300  # a group is named by the first line of its message, cut here
SAMPLE_WIDTH = 2000
TIMELINE_MAX = 200
VERDICTS_MAX = 100
SLACK_MAX = 5
# What one run of the test came to, from its attempts.
PASSED, FAILED_RUN, PASSED_ON_RETRY, SKIPPED = "passed", "failed", "passed_on_retry", "skipped"


@dataclass(frozen=True)
class RunOutcome:
    """The test in one run: the outcome of its attempts, with the run's commit and links."""

    run_id: int
    sha: str
    branch: str
    job: str
    at: datetime
    outcome: str  # passed | failed | passed_on_retry | skipped
    attempts: int
    duration: float  # seconds, of the last attempt
    run_url: str | None
    commit_url: str


@dataclass(frozen=True)
class FailureGroup:
    """Failures sharing their first message line (and failure type)."""

    message: str
    failure_type: str | None
    count: int
    first_at: datetime
    last_at: datetime
    last_run_id: int
    sample: str  # the newest full message, cut at SAMPLE_WIDTH


@dataclass(frozen=True)
class Durations:
    """Durations (seconds) of the non-skipped attempts in the history read."""

    count: int = 0
    median: float = 0.0
    p95: float = 0.0
    max: float = 0.0


@dataclass(frozen=True)
class TimelineEntry:
    """One quarantine event: who did what, from where."""

    at: datetime
    action: str
    actor: str
    source: str
    from_state: str | None
    to_state: str | None
    reason: str


@dataclass(frozen=True)
class VerdictChange:
    """The verdict turned flaky, broken or fixed: the score then (score over time)."""

    at: datetime
    kind: str
    score: float | None
    low: float | None
    high: float | None
    reason: str


@dataclass(frozen=True)
class SlackLink:
    """A Slack message about the test (its alert), with a link that opens it."""

    team_id: str
    channel: str
    ts: str
    kind: str
    url: str


@dataclass(frozen=True)
class TestView:
    """Everything the test page and ``GET /api/v1/tests/{id}`` show."""

    __test__ = False

    row: TestRow  # state, score and interval, reason, since, quarantine, issue link
    repository: str
    key: str
    classname: str
    line: int | None
    evidence: dict[str, Any]
    history: tuple[RunOutcome, ...]  # oldest first
    failures: tuple[FailureGroup, ...]  # most frequent first
    failures_read: int  # how many failures the groups were made from (FAILURES_READ at most)
    durations: Durations
    timeline: tuple[TimelineEntry, ...]  # oldest first
    verdicts: tuple[VerdictChange, ...]  # oldest first
    slack: tuple[SlackLink, ...]  # newest first


def test_view(test_case_id: int, *, tenant_id: int, history: int = HISTORY_RUNS) -> TestView:
    """One of the tenant's tests in full, or NotFoundError (another tenant's is unknown too)."""
    history = max(1, min(history, HISTORY_MAX))
    found = (
        row_query(
            Repository.full_name, TestCase.key, TestCase.line, TestCase.repository, TestCase.ordinal
        )
        .join_from(TestCase, Repository, on=(TestCase.repository == Repository.id))
        .where(TestCase.id == test_case_id, Repository.tenant == tenant_id)
        .tuples()
        .first()
    )
    if found is None:
        raise NotFoundError(f"unknown test {test_case_id}")
    full_name, key, line, repository_id, ordinal = found[-5:]
    row = to_row(full_name, found)
    evidence = dict(found[12] or {})
    runs, durations = _history(repository_id, test_case_id, ordinal, full_name, history)
    failures, read = _failures(repository_id, test_case_id)
    return TestView(
        row=row,
        repository=full_name,
        key=key,
        classname=found[1],
        line=line,
        evidence=evidence,
        history=runs,
        failures=failures,
        failures_read=read,
        durations=durations,
        timeline=_timeline(row.quarantine_id),
        verdicts=_verdicts(test_case_id),
        slack=_slack(test_case_id, row.quarantine_id),
    )


test_view.__test__ = False  # type: ignore[attr-defined]


def _history(
    repository_id: int, test_case_id: int, ordinal: int, full_name: str, runs: int
) -> tuple[tuple[RunOutcome, ...], Durations]:
    found = result_reads.test_history(repository_id, test_case_id, ordinal, runs=runs)
    out = []
    for run in reversed(found):
        out.append(
            RunOutcome(
                run_id=run.run_id,
                sha=run.sha,
                branch=run.branch,
                job=run.job,
                at=run.at,
                outcome=_outcome([status for _, status, _ in run.attempts]),
                attempts=len(run.attempts),
                duration=run.attempts[-1][2],
                run_url=run_url(full_name, run.ci_run_id, run.source),
                commit_url=web_url(full_name, "commit", run.sha),
            )
        )
    timed = sorted(
        duration for run in found for _, status, duration in run.attempts if status != "skipped"
    )
    return tuple(out), _durations(timed)


def _outcome(statuses: list[str]) -> str:
    """Attempts (by retry index) -> the run's outcome for this test."""
    ran = [s for s in statuses if s != "skipped"]
    if not ran:
        return SKIPPED
    if ran[-1] == "passed":
        return PASSED_ON_RETRY if any(s in FAILED for s in ran) else PASSED
    return FAILED_RUN


def _durations(values: list[float]) -> Durations:
    if not values:
        return Durations()
    n = len(values)
    return Durations(
        count=n,
        median=values[(n - 1) // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2,
        p95=values[min(n - 1, int(0.95 * n))],
        max=values[-1],
    )


def _failures(repository_id: int, test_case_id: int) -> tuple[tuple[FailureGroup, ...], int]:
    rows = [
        (f.message, f.failure_type, f.at, f.run_id)
        for f in failure_reads.test_failures(repository_id, test_case_id, limit=FAILURES_READ)
    ]
    groups: dict[tuple[str, str | None], dict[str, Any]] = {}
    for message, failure_type, at, run_id in rows:  # newest first
        line = first_line(message)
        group = groups.get((line, failure_type))
        if group is None:
            groups[(line, failure_type)] = {
                "count": 1,
                "first_at": at,
                "last_at": at,
                "last_run_id": run_id,
                "sample": (message or "")[:SAMPLE_WIDTH],
            }
        else:
            group["count"] += 1
            group["first_at"] = at
    ranked = sorted(groups.items(), key=lambda item: (-item[1]["count"], -item[1]["last_run_id"]))
    return (
        tuple(
            FailureGroup(message=line, failure_type=failure_type, **group)
            for (line, failure_type), group in ranked[:FAILURE_GROUPS]
        ),
        len(rows),
    )


def first_line(message: str | None) -> str:
    """The first non-blank line of a failure message, cut at MESSAGE_LINE characters."""
    for line in (message or "").splitlines():
        if line.strip():
            return line.strip()[:MESSAGE_LINE]
    return ""


def _timeline(quarantine_id: int | None) -> tuple[TimelineEntry, ...]:
    if quarantine_id is None:
        return ()
    rows = (
        QuarantineEvent.select(
            QuarantineEvent.at,
            QuarantineEvent.action,
            QuarantineEvent.actor,
            QuarantineEvent.source,
            QuarantineEvent.data,
        )
        .where(QuarantineEvent.quarantine == quarantine_id)
        .order_by(QuarantineEvent.at.desc(), QuarantineEvent.id.desc())
        .limit(TIMELINE_MAX)
        .tuples()
    )
    entries = [
        TimelineEntry(
            at=at,
            action=action,
            actor=actor,
            source=source,
            from_state=(data or {}).get("from"),
            to_state=(data or {}).get("to"),
            reason=str((data or {}).get("reason", "")),
        )
        for at, action, actor, source, data in rows
    ]
    return tuple(reversed(entries))


def _verdicts(test_case_id: int) -> tuple[VerdictChange, ...]:
    rows = (
        DomainEvent.select(DomainEvent.created_at, DomainEvent.kind, DomainEvent.data)
        .where(DomainEvent.test_case == test_case_id)
        .order_by(DomainEvent.created_at.desc(), DomainEvent.id.desc())
        .limit(VERDICTS_MAX)
        .tuples()
    )
    out = []
    for at, kind, data in rows:
        data = data or {}
        interval = data.get("interval") or [None, None]
        out.append(
            VerdictChange(
                at=at,
                kind=kind,
                score=_number(data.get("score")),
                low=_number(interval[0]) if len(interval) > 1 else None,
                high=_number(interval[1]) if len(interval) > 1 else None,
                reason=str(data.get("reason") or ""),
            )
        )
    return tuple(reversed(out))


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _slack(test_case_id: int, quarantine_id: int | None) -> tuple[SlackLink, ...]:
    about = DomainEvent.test_case == test_case_id
    if quarantine_id is not None:
        about |= SlackMessage.quarantine == quarantine_id
    rows = (
        SlackMessage.select(
            SlackMessage.team_id, SlackMessage.channel, SlackMessage.ts, SlackMessage.kind
        )
        .join(DomainEvent, JOIN.LEFT_OUTER, on=(SlackMessage.event == DomainEvent.id))
        .where(about, SlackMessage.ts.is_null(False))
        .order_by(SlackMessage.created_at.desc(), SlackMessage.id.desc())
        .limit(SLACK_MAX)
        .tuples()
    )
    return tuple(
        SlackLink(team, channel, ts, kind, slack_link(channel, ts))
        for team, channel, ts, kind in rows
    )


def slack_link(channel: str, ts: str) -> str:
    """A link that opens a message in Slack: ``/archives/<channel>/p<ts without the dot>``.

    The workspace's own domain (``acme.slack.com``) is not stored; slack.com
    sends a signed-in person from this form to the message in their workspace.
    """
    return f"https://slack.com/archives/{channel}/p{ts.replace('.', '')}"
