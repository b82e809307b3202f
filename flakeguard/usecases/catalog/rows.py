"""One test as a row of a list: its verdict, its quarantine, its links (shared by the lists)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from peewee import JOIN

from flakeguard.usecases.github import web_url
from models import (
    FlakeScore,
    Quarantine,
    TestCase,
)

FAILED = ("failed", "error")


@dataclass(frozen=True)
class TestRow:
    """One test in a repository's list."""

    __test__ = False

    test_case_id: int
    name: str
    file: str | None
    state: str  # flaky | broken | quarantined | healthy
    verdict: str  # the scoring's own state (insufficient when not analyzed yet)
    score: float
    low: float
    high: float
    reason: str
    since: datetime | None  # when the verdict took its state
    first_seen: datetime
    last_seen: datetime
    quarantine_id: int | None
    quarantine_state: str | None
    quarantine_version: int | None
    quarantined_at: datetime | None
    assignee_slack: str | None
    assignee_github: str | None
    issue_url: str | None
    first_failing_sha: str | None  # broken tests: the first commit it failed on
    first_failing_url: str | None


def row_query(*extra: Any) -> Any:
    """The select behind a TestRow (``to_row``): a test, its verdict, its quarantine; ``extra``
    columns come after the row's own."""
    return (
        TestCase.select(
            TestCase.id,
            TestCase.classname,
            TestCase.name,
            TestCase.file,
            TestCase.first_seen,
            TestCase.last_seen,
            FlakeScore.state,
            FlakeScore.score,
            FlakeScore.low,
            FlakeScore.high,
            FlakeScore.reason,
            FlakeScore.state_since,
            FlakeScore.evidence,
            Quarantine.id,
            Quarantine.state,
            Quarantine.version,
            Quarantine.quarantined_at,
            Quarantine.assignee_slack,
            Quarantine.assignee_github,
            Quarantine.github_issue_url,
            Quarantine.github_issue_number,
            *extra,
        )
        .join(FlakeScore, JOIN.LEFT_OUTER, on=(FlakeScore.test_case == TestCase.id))
        .join_from(TestCase, Quarantine, JOIN.LEFT_OUTER, on=(Quarantine.test_case == TestCase.id))
    )


ROW_COLUMNS = 21  # the columns of row_query before any extra ones


def to_row(full_name: str, row: tuple[Any, ...]) -> TestRow:
    """A TestRow of a repository from a tuple of ``row_query``."""
    (
        test_id,
        classname,
        name,
        file,
        first_seen,
        last_seen,
        verdict,
        score,
        low,
        high,
        reason,
        since,
        evidence,
        q_id,
        q_state,
        q_version,
        quarantined_at,
        assignee_slack,
        assignee_github,
        issue_url,
        issue_number,
    ) = row[:ROW_COLUMNS]
    verdict = verdict or "insufficient"
    state = "quarantined" if q_state == "quarantined" else _state_of(verdict)
    sha = (evidence or {}).get("first_failing_sha") if verdict == "broken" else None
    return TestRow(
        test_case_id=test_id,
        name=show_name(classname, name),
        file=file,
        state=state,
        verdict=verdict,
        score=score if score is not None else 0.0,
        low=low if low is not None else 0.0,
        high=high if high is not None else 1.0,
        reason=reason if reason is not None else "not analyzed yet",
        since=since,
        first_seen=first_seen,
        last_seen=last_seen,
        quarantine_id=q_id,
        quarantine_state=q_state,
        quarantine_version=q_version,
        quarantined_at=quarantined_at,
        assignee_slack=assignee_slack,
        assignee_github=assignee_github,
        issue_url=issue_link(full_name, issue_url, issue_number),
        first_failing_sha=sha,
        first_failing_url=web_url(full_name, "commit", sha) if sha else None,
    )


def _state_of(verdict: str) -> str:
    return verdict if verdict in ("flaky", "broken") else "healthy"


def issue_link(full_name: str, url: str | None, number: int | None) -> str | None:
    """The quarantine's GitHub issue page: the stored URL, else one built from its number."""
    if url:
        return url
    return web_url(full_name, "issues", number) if number else None


def run_url(full_name: str, ci_run_id: str, source: str) -> str | None:
    """The GitHub Actions page of a run, when its CI run id is a workflow run id."""
    if ci_run_id.isdigit() and source != "upload":
        return web_url(full_name, "actions", "runs", ci_run_id)
    return None


def show_name(classname: str, name: str) -> str:
    return f"{classname}.{name}" if classname else name
