"""The reads of failures: a test's, a run's, many tests' since a date (``ResultAttempt``).

Every failing attempt is a ``ResultAttempt`` row, with the other attempts of its
test in that run (``models.packing``), so these reads never decode a block:
failures are a few percent of all results. Each names the repository (the
distribution column) and reads on the index ``(repository_id, test_case_id,
created_at)``; their messages come from ``FailureMessage`` by id, within the
months of the attempts (the partitions holding them).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from peewee import Select, fn

from models.base import db
from models.packing import FAILING_CODES, STATUSES
from models.results import FailureMessage, ResultAttempt, TestRun

CHUNK = 500  # tests or messages per IN (...) list
# what attempts_since takes of each attempt, before what it takes of the attempt's run
_OF_RUN = (
    ResultAttempt.test_case,
    ResultAttempt.run,
    ResultAttempt.created_at,
    ResultAttempt.status,
    ResultAttempt.duration_ms,
)
# what the reads of failures take of each failing attempt, after its run or its test
_FAILURE_COLUMNS = (
    ResultAttempt.status,
    ResultAttempt.retry,
    ResultAttempt.duration_ms,
    ResultAttempt.message_id,
    ResultAttempt.created_at,
)


class Attempt(NamedTuple):
    """One attempt of a test in a run."""

    run_id: int
    test_case_id: int
    status: str
    retry: int
    duration: float  # seconds
    message: str | None = None
    failure_type: str | None = None


class Failure(NamedTuple):
    """One failing attempt of a test."""

    run_id: int
    at: datetime
    status: str
    retry: int
    message: str | None
    failure_type: str | None


class StoredAttempt(NamedTuple):
    """An attempt stored on its own (``ResultAttempt``), with what the cost reads of its run."""

    test_case_id: int
    run_id: int
    at: datetime
    status: str
    duration: float
    run_duration: float
    pr: int | None
    branch: str


def failures_query(repository_id: int, test_case_id: int, limit: int) -> Any:
    """A test's latest ``limit`` failing attempts, newest first."""
    return (
        ResultAttempt.select(ResultAttempt.run, *_FAILURE_COLUMNS)
        .where(
            ResultAttempt.repository == repository_id,
            ResultAttempt.test_case == test_case_id,
            ResultAttempt.status.in_(FAILING_CODES),
        )
        .order_by(
            ResultAttempt.created_at.desc(), ResultAttempt.run.desc(), ResultAttempt.retry.desc()
        )
        .limit(limit)
    )


def run_failures(
    repository_id: int,
    run_id: int,
    window: tuple[datetime, datetime],
    test_case_ids: Collection[int],
) -> list[Attempt]:
    """The failing attempts of some tests in one run, with their messages, by retry."""
    rows = []
    ids = list(test_case_ids)
    for start in range(0, len(ids), CHUNK):
        rows += list(
            ResultAttempt.select(ResultAttempt.test_case, *_FAILURE_COLUMNS)
            .where(
                ResultAttempt.repository == repository_id,
                ResultAttempt.run == run_id,
                ResultAttempt.created_at.between(*window),
                ResultAttempt.test_case.in_(ids[start : start + CHUNK]),
                ResultAttempt.status.in_(FAILING_CODES),
            )
            .tuples()
        )
    found = messages_by_id(repository_id, [(r[4], r[5]) for r in rows])
    out = [
        Attempt(
            run_id, test_id, STATUSES[code], retry, ms / 1000, *found.get(message_id, (None, None))
        )
        for test_id, code, retry, ms, message_id, _at in rows
    ]
    out.sort(key=lambda a: (a.test_case_id, a.retry))
    return out


def test_failures(
    repository_id: int, test_case_id: int, *, limit: int, messages: bool = True
) -> list[Failure]:
    """The test's latest ``limit`` failing attempts, newest first (with their messages)."""
    rows = list(failures_query(repository_id, test_case_id, limit).tuples())
    found = messages_by_id(repository_id, [(r[4], r[5]) for r in rows]) if messages else {}
    return [
        Failure(run_id, at, STATUSES[code], retry, *found.get(message_id, (None, None)))
        for run_id, code, retry, _ms, message_id, at in rows
    ]


test_failures.__test__ = False  # type: ignore[attr-defined]


def attempts_since(
    repository_id: int, test_case_ids: Sequence[int], since: datetime, *, limit: int | None = None
) -> list[StoredAttempt]:
    """The stored attempts of these tests since ``since``, newest first: every failing attempt
    and the other attempts of the test in the same run (``models.packing``)."""
    out: list[StoredAttempt] = []
    for start in range(0, len(test_case_ids), CHUNK):
        query = (
            _with_runs(
                ResultAttempt.select(*_OF_RUN, TestRun.duration, TestRun.pr, TestRun.branch),
                repository_id,
                test_case_ids[start : start + CHUNK],
            )
            .where(ResultAttempt.created_at >= since)
            .order_by(ResultAttempt.created_at.desc())
        )
        if limit is not None:
            query = query.limit(limit)
        out += [
            StoredAttempt(
                test_id,
                run_id,
                at,
                STATUSES.get(code, "error"),
                ms / 1000,
                run_seconds or 0.0,
                pr,
                branch,
            )
            for test_id, run_id, at, code, ms, run_seconds, pr, branch in query.tuples()
        ]
    out.sort(key=lambda a: a.at, reverse=True)
    return out if limit is None else out[:limit]


def branch_failures(
    repository_id: int,
    branch: str,
    test_case_ids: Sequence[int],
    since: datetime,
    *,
    except_runs: Collection[int] = (),
    per_test: int,
) -> dict[int, list[tuple[str | None, str | None]]]:
    """(message, failure type) of each test's newest ``per_test`` failures on ``branch`` since
    ``since``, outside ``except_runs`` (a window function, on PostgreSQL and SQLite alike: a
    test failing often does not crowd the others' failures out of the read)."""
    seen: dict[int, list[tuple[str | None, str | None]]] = defaultdict(list)
    rank = fn.ROW_NUMBER().over(
        partition_by=[ResultAttempt.test_case],
        order_by=[
            ResultAttempt.created_at.desc(),
            ResultAttempt.run.desc(),
            ResultAttempt.retry.desc(),
        ],
    )
    for start in range(0, len(test_case_ids), CHUNK):
        recent = (
            _with_runs(
                ResultAttempt.select(
                    ResultAttempt.test_case,
                    ResultAttempt.message_id,
                    ResultAttempt.created_at,
                    rank.alias("nth"),
                ),
                repository_id,
                test_case_ids[start : start + CHUNK],
            )
            .where(
                ResultAttempt.status.in_(FAILING_CODES),
                ResultAttempt.created_at >= since,
                TestRun.repository == repository_id,
                TestRun.branch == branch,
                TestRun.id.not_in(list(except_runs)),
            )
            .alias("recent")
        )
        rows = list(
            Select([recent], [recent.c.test_case_id, recent.c.message_id, recent.c.created_at])
            .where(recent.c.nth <= per_test)
            .bind(db)
            .tuples()
        )
        found = messages_by_id(
            repository_id, [(message_id, _as_datetime(at)) for _, message_id, at in rows]
        )
        for test_id, message_id, _at in rows:
            seen[test_id].append(found.get(message_id, (None, None)))
    return seen


def failing_runs_query(
    repository_ids: Sequence[int], test_case_ids: Any, since: datetime
) -> Select:
    """A subquery: the runs in which any of ``test_case_ids`` (ids or a subquery) failed since
    ``since``."""
    return ResultAttempt.select(ResultAttempt.run).where(
        ResultAttempt.repository.in_(list(repository_ids)),
        ResultAttempt.test_case.in_(test_case_ids),
        ResultAttempt.status.in_(FAILING_CODES),
        ResultAttempt.created_at >= since,
    )


def messages_by_id(
    repository_id: int, references: Iterable[tuple[int | None, datetime]]
) -> dict[int, tuple[str | None, str | None]]:
    """message id -> (message, failure type), for (message id, date of the attempt) pairs."""
    ids: set[int] = set()
    months: set[datetime] = set()
    for message_id, at in references:
        if message_id is not None:
            ids.add(message_id)
            months.add(datetime(at.year, at.month, 1))
    if not ids:
        return {}
    out: dict[int, tuple[str | None, str | None]] = {}
    wanted = sorted(ids)
    for start in range(0, len(wanted), CHUNK):
        out.update(
            (message_id, (message, failure_type))
            for message_id, message, failure_type in FailureMessage.select(
                FailureMessage.id, FailureMessage.message, FailureMessage.failure_type
            )
            .where(
                FailureMessage.repository == repository_id,
                FailureMessage.month.between(min(months), max(months)),
                FailureMessage.id.in_(wanted[start : start + CHUNK]),
            )
            .tuples()
        )
    return out


def _as_datetime(value: Any) -> datetime:
    # a subquery's column comes back as text on SQLite
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _with_runs(query: Select, repository_id: int, test_case_ids: Sequence[int]) -> Select:
    """``query`` over these tests' attempts in the repository, joined to each attempt's run
    (matched on the repository as well as the run id)."""
    return query.join(
        TestRun,
        on=(ResultAttempt.run == TestRun.id) & (TestRun.repository == ResultAttempt.repository),
    ).where(
        ResultAttempt.repository == repository_id,
        ResultAttempt.test_case.in_(test_case_ids),
    )
