"""The reads of stored results that decode blocks: a run's results, one test's history.

The use cases ask for results here (and for failures in ``models.failure_reads``)
and get plain tuples back; none of them reads ``ResultBlock`` bytes. Each read
names the repository (the distribution column: the key a distributed PostgreSQL
routes on) and, where it can, the dates of the rows (the partition key:
PostgreSQL then reads only those months).

- a run's results: the run's blocks (one row per 64 tests) and its attempt rows;
- one test's history, newest first: its block's rows with its slot filled, on
  the index ``(repository_id, block, created_at, run_id)``, read backwards and
  stopped at the LIMIT, then its attempt rows in those runs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from models.base import db, is_postgres
from models.failure_reads import Attempt, messages_by_id
from models.packing import (
    BLOCK,
    MAX_PACKED_RETRIES,
    STATUS_CODES,
    STATUSES,
    duration_at,
    milliseconds_of,
)
from models.test_cases import CASE_IDS

CHUNK = 500  # runs or tests per IN (...) list
_BLOCK_COLUMNS = "run_id, block, codes, durations"
_ATTEMPT_COLUMNS = (
    "run_id, test_case_id, status, retry, duration_ms, packed, message_id, created_at"
)
DECODED = [(STATUSES.get(code & 7, "error"), code >> 3) for code in range(256)]
_EMPTY_SLOT = b"\x00"
# The codes of a skipped final outcome, whatever its retries.
_SKIPPED_CODES = [
    bytes([STATUS_CODES["skipped"] | retries << 3]) for retries in range(MAX_PACKED_RETRIES + 1)
]
# The loader dates every result of a run with the run's started_at (else its received_at).
# A read of a run's results also bounds created_at to a window around that date, so that
# PostgreSQL prunes it to the one monthly partition holding them (two at a month's edge). A
# day either side also covers a started_at that came in with a time zone and was stored
# through the session's.
RUN_DATE_SLACK = timedelta(days=1)


def results_window(started_at: datetime | None, received_at: datetime) -> tuple[datetime, datetime]:
    """(earliest, latest) created_at of the results of a run with these dates."""
    dated = started_at or received_at
    if dated.tzinfo is not None:
        dated = dated.astimezone(UTC).replace(tzinfo=None)
    return dated - RUN_DATE_SLACK, dated + RUN_DATE_SLACK


class RunHistory(NamedTuple):
    """A test in one run: the run and the test's attempts there (by retry index)."""

    run_id: int
    at: datetime
    sha: str
    branch: str
    job: str
    ci_run_id: str
    source: str
    attempts: tuple[tuple[int, str, float], ...]  # (retry, status, duration)


class _Try(NamedTuple):
    retry: int
    status: str
    duration: float


# -- the statements of the hot reads (also EXPLAINed by the tests) ----------------------


def run_blocks_sql(
    repository_id: int, run_ids: Sequence[int], earliest: datetime, latest: datetime
) -> tuple[str, list[Any]]:
    """The blocks of some runs of a repository dated within [earliest, latest]."""
    return _run_rows_sql("result_block", _BLOCK_COLUMNS, repository_id, run_ids, earliest, latest)


def run_attempts_sql(
    repository_id: int, run_ids: Sequence[int], earliest: datetime, latest: datetime
) -> tuple[str, list[Any]]:
    """The attempt rows of some runs of a repository dated within [earliest, latest]."""
    return _run_rows_sql(
        "result_attempt", _ATTEMPT_COLUMNS, repository_id, run_ids, earliest, latest
    )


def _run_rows_sql(
    table: str,
    columns: str,
    repository_id: int,
    run_ids: Sequence[int],
    earliest: datetime,
    latest: datetime,
) -> tuple[str, list[Any]]:
    # Plain SQL: the analysis reads a run on every upload, and building the statement with
    # the ORM cost a millisecond of its few.
    p = "%s" if is_postgres() else "?"
    marks = ", ".join([p] * len(run_ids))
    sql = (
        f"SELECT {columns} FROM {table} WHERE repository_id = {p} AND run_id IN ({marks}) "
        f"AND created_at BETWEEN {p} AND {p}"
    )
    return sql, [repository_id, *run_ids, _value(earliest), _value(latest)]


def history_sql(
    repository_id: int, ordinal: int, runs: int, since: datetime | None = None
) -> tuple[str, list[Any]]:
    """The latest ``runs`` blocks holding the test of ``ordinal``, newest first: the codes up
    to its byte and its duration; from ``since`` on (the test's first_seen: the read of a test that
    ran seldom stops there instead of walking its block's whole history). (The slot is a
    number of ours, written into the statement.)"""
    block, slot = divmod(ordinal, BLOCK)
    p = "%s" if is_postgres() else "?"
    code = f"substr(codes, {int(slot) + 1}, 1)"
    bound, params = "", [repository_id, block, _EMPTY_SLOT]
    if since is not None:
        bound = f"AND created_at >= {p} "
        params.append(_value(_naive(since) - RUN_DATE_SLACK))
    # its duration: at its slot in a full block's; else all of them (a few), counted out
    duration = (
        f"CASE WHEN length(durations) = {4 * BLOCK} "
        f"THEN substr(durations, {4 * int(slot) + 1}, 4) ELSE durations END"
    )
    sql = (
        f"SELECT run_id, created_at, substr(codes, 1, {int(slot) + 1}), {duration} "
        f"FROM result_block WHERE repository_id = {p} AND block = {p} AND {code} <> {p} "
        f"{bound}ORDER BY created_at DESC, run_id DESC LIMIT {p}"
    )
    return sql, [*params, runs]


# -- one run --------------------------------------------------------------------------


def run_results(
    repository_id: int, run_id: int, window: tuple[datetime, datetime]
) -> list[tuple[int, str, int]]:
    """(test_case_id, status, retry) of every attempt in one run (``results_window`` of it):
    the analysis input, decoded straight from the blocks."""
    blocks = _fetch(*run_blocks_sql(repository_id, [run_id], *window))
    ids = _ids_of_blocks(repository_id, blocks)
    out: list[tuple[int, str, int]] = []
    append = out.append
    for _, block, codes, _ in blocks:
        base = block * BLOCK
        for slot, code in enumerate(bytes(codes)):
            if code and (test_id := ids.get(base + slot)) is not None:
                append((test_id, *DECODED[code]))
    capped = {}
    for _, test_id, code, retry, _, packed, _, _ in _fetch(
        *run_attempts_sql(repository_id, [run_id], *window)
    ):
        if not packed:
            append((test_id, STATUSES.get(code, "error"), retry))
        elif retry >= MAX_PACKED_RETRIES:  # more retries than a block's byte holds
            capped[(test_id, STATUSES.get(code, "error"))] = retry
    if capped:
        out = [
            (test_id, status, capped.pop((test_id, status), retry))
            if retry == MAX_PACKED_RETRIES
            else (test_id, status, retry)
            for test_id, status, retry in out
        ]
    return out


def run_attempts(
    repository_id: int, runs: dict[int, tuple[datetime, datetime]], *, messages: bool = False
) -> list[Attempt]:
    """Every attempt of every test in the given runs (run id -> ``results_window``), by run and
    retry; with their failure messages when ``messages``."""
    out: list[Attempt] = []
    run_ids = sorted(runs)
    for start in range(0, len(run_ids), CHUNK):
        chunk = run_ids[start : start + CHUNK]
        earliest = min(runs[run_id][0] for run_id in chunk)
        latest = max(runs[run_id][1] for run_id in chunk)
        blocks = _fetch(*run_blocks_sql(repository_id, chunk, earliest, latest))
        ids = _ids_of_blocks(repository_id, blocks)
        by_test: dict[tuple[int, int], list[tuple[Attempt, bool]]] = {}
        for run_id, block, codes, durations in blocks:
            base = block * BLOCK
            seconds = milliseconds_of(codes, durations)
            for slot, code in enumerate(bytes(codes)):
                if code and (test_id := ids.get(base + slot)) is not None:
                    status, retries = DECODED[code]
                    final = Attempt(run_id, test_id, status, retries, seconds[slot] / 1000)
                    by_test.setdefault((run_id, test_id), []).append((final, False))
        rows = _fetch(*run_attempts_sql(repository_id, chunk, earliest, latest))
        found = (
            messages_by_id(repository_id, [(r[6], _as_datetime(r[7])) for r in rows])
            if messages
            else {}
        )
        for run_id, test_id, code, retry, duration_ms, packed, message_id, _at in rows:
            text, failure_type = found.get(message_id, (None, None))
            status = STATUSES.get(code, "error")
            attempt = Attempt(
                run_id, test_id, status, retry, duration_ms / 1000, text, failure_type
            )
            if not (packed and _put_exact(by_test.get((run_id, test_id), []), attempt)):
                out.append(attempt)
        out += (attempt for outcomes in by_test.values() for attempt, _ in outcomes)
    out.sort(key=lambda a: (a.run_id, a.test_case_id, a.retry))
    return out


# -- one test -------------------------------------------------------------------------


def test_history(
    repository_id: int,
    test_case_id: int,
    ordinal: int,
    *,
    runs: int,
    first_seen: datetime | None = None,
) -> list[RunHistory]:
    """The test in its latest ``runs`` runs, newest first, with every attempt in each (read
    back to ``first_seen`` only, when given)."""
    rows = _fetch(*history_sql(repository_id, ordinal, runs, first_seen))
    if not rows:
        return []
    packed: dict[int, list[tuple[_Try, bool]]] = defaultdict(list)
    for run_id, _at, codes, duration in rows:
        codes, duration = bytes(codes), bytes(duration)
        status, retries = DECODED[codes[-1]]
        # 4 bytes: its own (a full block's at its slot, or a block holding it alone)
        seconds = duration_at(codes[-1:] if len(duration) == 4 else codes, duration)
        packed[run_id].append((_Try(retries, status, seconds), False))
    p = "%s" if is_postgres() else "?"
    others: dict[int, list[_Try]] = defaultdict(list)
    for run_id, code, retry, duration_ms, is_packed in _fetch(
        "SELECT run_id, status, retry, duration_ms, packed FROM result_attempt "
        f"WHERE repository_id = {p} AND test_case_id = {p} AND created_at BETWEEN {p} AND {p}",
        [repository_id, test_case_id, rows[-1][1], rows[0][1]],
    ):
        if run_id in packed:
            attempt = _Try(retry, STATUSES.get(code, "error"), duration_ms / 1000)
            if not (is_packed and _put_exact(packed[run_id], attempt)):
                others[run_id].append(attempt)
    marks = ", ".join([p] * len(packed))
    details = {
        run_id: rest
        for run_id, *rest in _fetch(
            f"SELECT id, sha, branch, job, ci_run_id, source FROM test_run WHERE id IN ({marks})",
            list(packed),
        )
    }
    out = []
    for run_id, at, _, _ in rows:
        run = details.pop(run_id, None)
        if run is None:
            continue
        attempts = sorted([t for t, _ in packed[run_id]] + others.pop(run_id, []))
        out.append(RunHistory(run_id, _as_datetime(at), *run, tuple(attempts)))
    return out


test_history.__test__ = False  # type: ignore[attr-defined]


# -- many tests -----------------------------------------------------------------------


def ran_on_other_commit(
    repository_id: int,
    ordinals: dict[int, int],
    sha: str,
    *,
    except_branches: Collection[str] = (),
    except_prs: Collection[int] = (),
    first_seen: dict[int, datetime] | None = None,
) -> set[int]:
    """Those of the tests (id -> ordinal) that ran (a result other than skipped) on a commit
    other than ``sha``, in a run not of ``except_prs`` nor (with no pull request) of
    ``except_branches``.

    One statement per ``CHUNK`` tests, an EXISTS per test: the search of its
    block's history stops at its first run on another commit, or at the test's
    ``first_seen`` (when given): a test that ran on no other commit, the usual
    answer for a new one, reads only its own days rather than its block's history.
    """
    p = "%s" if is_postgres() else "?"
    not_run = [_EMPTY_SLOT, *_SKIPPED_CODES]
    branches, prs = sorted(except_branches), sorted(except_prs)
    ours = []  # the change's own runs: of its pull requests, or (none) of its branches
    if prs:
        ours.append(f"(r.pr IS NOT NULL AND r.pr IN ({', '.join([p] * len(prs))}))")
    if branches:
        alone = " AND r.pr IS NULL" if prs else ""
        ours.append(f"(r.branch IN ({', '.join([p] * len(branches))}){alone})")
    not_ours = f"AND NOT ({' OR '.join(ours)}) " if ours else ""
    since = first_seen or {}
    tests = sorted(ordinals.items())
    found: set[int] = set()
    for start in range(0, len(tests), CHUNK // 4):  # four parameters a test
        chunk = tests[start : start + CHUNK // 4]
        values = ", ".join([f"({p}, {p}, {p}, {p})"] * len(chunk))
        params: list[Any] = []
        for test_id, ordinal in chunk:
            block, slot = divmod(ordinal, BLOCK)
            bound = since.get(test_id)
            earliest = _naive(bound) - RUN_DATE_SLACK if bound is not None else datetime.min
            params += [test_id, block, slot + 1, _value(earliest)]
        found.update(
            test_id
            for (test_id,) in _fetch(
                f"WITH wanted (test_id, block, position, since) AS (VALUES {values}) "
                "SELECT w.test_id FROM wanted w WHERE EXISTS (SELECT 1 FROM result_block b "
                "JOIN test_run r ON r.id = b.run_id AND r.repository_id = b.repository_id "
                f"WHERE b.repository_id = {p} AND b.block = w.block AND b.created_at >= w.since "
                f"AND substr(b.codes, w.position, 1) NOT IN ({', '.join([p] * len(not_run))}) "
                f"AND r.sha <> {p} {not_ours})",
                [*params, repository_id, *not_run, sha, *prs, *branches],
            )
        )
    return found


# -- helpers --------------------------------------------------------------------------


def _put_exact(outcomes: list[Any], exact: Any) -> bool:
    """Put an attempt row in place of the packed outcome it repeats (the same status, its
    retry index cut as in the block): the row has its message and exact retry index.

    ``outcomes`` holds what the blocks say, ``(outcome, replaced)`` pairs: normally one;
    more only when one run's results were stored in several calls.
    """
    for index, (outcome, replaced) in enumerate(outcomes):
        if (
            not replaced
            and outcome.status == exact.status
            and outcome.retry == min(exact.retry, MAX_PACKED_RETRIES)
        ):
            outcomes[index] = (exact, True)
            return True
    return False


def _ids_of_blocks(repository_id: int, blocks: Sequence[Any]) -> dict[int, int]:
    """ordinal -> test case id of (at least) the tests in these block rows (``block`` and
    ``codes`` second and third): the map this process keeps of the repository's tests
    (``models.test_cases``, checked with one index probe; read again when it lacks one of
    them), else read in ranges of consecutive blocks (a run's are)."""
    for _ in range(2):
        known = CASE_IDS.known(repository_id)
        if known is None:
            break
        ids = known.ids_by_ordinal()
        if all(
            block * BLOCK + slot in ids
            for _, block, codes, *_ in blocks
            for slot, code in enumerate(bytes(codes))
            if code
        ):
            return ids
        CASE_IDS.forget(repository_id)  # a test committed out of ordinal order
    ranges: list[list[int]] = []
    for block in sorted({row[1] for row in blocks}):
        if ranges and block == ranges[-1][1] + 1:
            ranges[-1][1] = block
        else:
            ranges.append([block, block])
    p = "%s" if is_postgres() else "?"
    out: dict[int, int] = {}
    for start in range(0, len(ranges), CHUNK):
        part = ranges[start : start + CHUNK]
        between = " OR ".join([f"ordinal BETWEEN {p} AND {p}"] * len(part))
        bounds = [bound for low, high in part for bound in (low * BLOCK, high * BLOCK + BLOCK - 1)]
        out.update(
            _fetch(
                f"SELECT ordinal, id FROM test_case WHERE repository_id = {p} AND ({between})",
                [repository_id, *bounds],
            )
        )
    return out


def _fetch(sql: str, params: Sequence[Any]) -> list[Any]:
    """Rows as the driver gives them (dates stay text on SQLite)."""
    return list(db.execute_sql(sql, params).fetchall())


def _naive(when: datetime) -> datetime:
    """UTC without a time zone, as created_at is stored."""
    return when.astimezone(UTC).replace(tzinfo=None) if when.tzinfo is not None else when


def _value(when: datetime) -> Any:
    # peewee's own text format for DateTimeField on SQLite
    return when if is_postgres() else when.isoformat(" ")


def _as_datetime(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)
