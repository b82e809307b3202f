"""Ingest JUnit reports: read (bounded), store one run in one transaction, enqueue analysis.

``ingest_reports`` is the single storage path for every source (the upload API,
``flakeguard ingest``, GitHub Actions artifacts, the demo). It works in three steps:

1. Spool: every file is read (gzip or plain) within one byte budget of
   decompressed bytes (413 past it, so gzip bombs stop early) and hashed. The
   digest of the upload decides duplicates before any parsing: the same upload
   (same repository, CI run id, job, attempt and digest) returns the first run
   with ``duplicate=True`` and stores nothing. A gzip and a plain upload of the
   same report are the same upload.
2. Store, in one transaction: the TestRun, then the cases as the JUnit engine
   streams them. A helper thread parses while this thread writes, so the
   database works while Python parses. Ids of known TestCases come from a
   per-process map (``CASE_IDS``, checked against the repository's case count
   and highest id on every upload); new ones are inserted (ON CONFLICT on
   repository+key) and ``last_seen`` is refreshed when older than its
   resolution. TestResults are bulk-loaded, one row per attempt (``retry`` 0 =
   the first): on PostgreSQL through one COPY stream per upload, formatted here
   in COPY's text format (interrupted only to insert new cases); on SQLite with
   chunked ``executemany``. A report found broken halfway raises
   ReportRejectedError and the whole transaction rolls back: a rejected upload
   stores nothing.
3. ``analyze_run`` is enqueued after the commit. Until the analysis is done the
   run keeps ``analyzed_at`` NULL, so the reconcile job finds a lost job again.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import math
import queue
import re
import tempfile
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO

from peewee import IntegrityError

from engine.junit import CaseResult, ReportError, iter_cases, parse_report, sniff_format
from flakeguard import logs
from flakeguard.errors import BadRequestError, PayloadTooLargeError, ReportRejectedError
from flakeguard.jobs import Job
from flakeguard.usecases import outbox
from flakeguard.usecases.repos import check_repo_name
from models import Repository, TestCase, TestResult, TestRun, db, is_postgres, queries, utcnow

SHA = re.compile(r"^[0-9a-fA-F]{40}$")
GZIP_MAGIC = b"\x1f\x8b"
READ_CHUNK = 1 << 16
SQLITE_CHUNK = 2_000
MAX_ATTEMPT = 10_000
# Column widths of the models (longer values are cut, never refused).
TEXT_WIDTH = 512
FAILURE_TYPE_WIDTH = 255
FIELD_LIMITS = {"branch": 255, "run_id": 100, "job": 255}
SOURCES = ("upload", "cli", "github_actions")
# last_seen is a coarse "still reported" mark: refreshing it on every run would rewrite
# every TestCase row per upload; the exact history is in TestResult.
LAST_SEEN_RESOLUTION = timedelta(hours=1)
# The parser thread hands over cases in batches; a few batches may wait (bounded memory).
BATCH = 2_000
PIPELINE_DEPTH = 4
SPOOL_IN_MEMORY = 8 * 2**20
SNIFF_BYTES = 4096


@dataclass(frozen=True)
class RunMeta:
    """What the CI says about one run: commit, branch, CI ids, attempt."""

    sha: str
    branch: str
    ci_run_id: str
    job: str
    attempt: int = 1
    pr: int | None = None
    started_at: datetime | None = None
    source: str = "upload"


@dataclass(frozen=True)
class IngestResult:
    """The stored run (or the first one, for a duplicate) and its totals."""

    run_id: int
    totals: dict[str, Any]
    duplicate: bool


@dataclass
class _Parsed:
    """Every case of every file of one upload, read and checked, not stored yet."""

    cases: list[CaseResult] = field(default_factory=list)
    digests: list[str] = field(default_factory=list)
    formats: list[str] = field(default_factory=list)

    @property
    def digest(self) -> str:
        # Order-insensitive: the same files in another order are the same upload.
        return hashlib.sha256("".join(sorted(self.digests)).encode()).hexdigest()


# -- metadata ---------------------------------------------------------------------


def parse_run_meta(
    values: Mapping[str, str | None], *, source: str = "upload", require_sha: bool = True
) -> tuple[str, RunMeta]:
    """Validate raw metadata (repo, sha, branch, run_id, job, attempt, pr, started_at).

    Returns ``(owner/name, RunMeta)``; raises BadRequestError naming the field.
    """

    def text(name: str) -> str:
        value = (values.get(name) or "").strip()
        limit = FIELD_LIMITS.get(name)
        if limit is not None and len(value) > limit:
            raise BadRequestError(f"{name}: longer than {limit} characters")
        return value

    repo = text("repo")
    if not repo:
        raise BadRequestError("repo: required (owner/name)")
    try:
        repo = check_repo_name(repo)
    except BadRequestError as exc:
        raise BadRequestError(f"repo: {exc.message}") from None
    sha = text("sha")
    if sha and not SHA.match(sha):
        raise BadRequestError(f"sha: expected 40 hexadecimal characters, got {sha[:60]!r}")
    if require_sha and not sha:
        raise BadRequestError("sha: required (the 40-character commit SHA)")
    attempt = _int_field("attempt", text("attempt"), default=1, high=MAX_ATTEMPT)
    pr = _int_field("pr", text("pr"), default=None, high=2**31 - 1)
    started_raw = text("started_at")
    started_at = parse_timestamp(started_raw) if started_raw else None
    if source not in SOURCES:
        raise BadRequestError(f"source: expected one of {', '.join(SOURCES)}")
    meta = RunMeta(
        sha=sha.lower(),
        branch=text("branch"),
        ci_run_id=text("run_id"),
        job=text("job"),
        attempt=attempt or 1,
        pr=pr,
        started_at=started_at,
        source=source,
    )
    return repo, meta


def parse_timestamp(raw: str) -> datetime:
    """ISO 8601 to naive UTC (a value without offset is taken as UTC)."""
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise BadRequestError(
            f"started_at: not an ISO 8601 timestamp: {raw[:60]!r} (e.g. 2026-01-31T12:00:00Z)"
        ) from None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def _int_field(name: str, raw: str, *, default: int | None, high: int) -> int | None:
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequestError(f"{name}: expected a whole number, got {raw[:40]!r}") from None
    if not 1 <= value <= high:
        raise BadRequestError(f"{name}: {value} is out of range (1..{high})")
    return value


# -- bounded reading ----------------------------------------------------------------


class Budget:
    """A byte allowance shared by every file of one upload; exceeding it is a 413."""

    def __init__(self, limit: int, *, what: str = "the reports") -> None:
        self.limit = limit
        self.used = 0
        self.what = what

    def spend(self, size: int) -> None:
        self.used += size
        if self.used > self.limit:
            raise PayloadTooLargeError(
                f"{self.what} are larger than the limit of {self.limit} bytes"
            )


class BoundedReader(io.RawIOBase):
    """Read from ``source`` while spending a Budget and hashing what passes through."""

    def __init__(self, source: BinaryIO | Any, budget: Budget, *, hasher: Any = None) -> None:
        self._source = source
        self._budget = budget
        self._hasher = hasher

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._source.read(size if size and size > 0 else READ_CHUNK)
        if data:
            self._budget.spend(len(data))
            if self._hasher is not None:
                self._hasher.update(data)
        return bytes(data)


class GzipReader(io.RawIOBase):
    """Decompress a gzip stream on demand (never more than asked: bombs stay bounded)."""

    def __init__(self, source: BinaryIO | Any, *, first: bytes = b"") -> None:
        self._source = source
        self._buffer = first
        self._inflater: Any = None  # None between members
        self._members = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        size = size if size and size > 0 else READ_CHUNK
        while True:
            if not self._buffer:
                self._buffer = bytes(self._source.read(READ_CHUNK) or b"")
                if not self._buffer:
                    if self._inflater is not None:
                        raise ValueError("the gzip stream is truncated")
                    if not self._members:
                        raise ValueError("the gzip stream is empty")
                    return b""
            if self._inflater is None:
                # Between members: NUL padding is allowed, anything else must be gzip.
                data = self._buffer.lstrip(b"\0")
                if not data:
                    self._buffer = b""
                    continue
                if not data.startswith(GZIP_MAGIC[: len(data)]):
                    raise ValueError("not gzip data")
                self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
                self._members += 1
                self._buffer = data
            try:
                out = self._inflater.decompress(self._buffer, size)
            except zlib.error as exc:
                raise ValueError(f"bad gzip data: {exc}") from None
            if self._inflater.eof:
                self._buffer = self._inflater.unused_data
                self._inflater = None
            else:
                self._buffer = self._inflater.unconsumed_tail
            if out:
                return out


def open_report(source: bytes | BinaryIO | Any) -> Any:
    """A binary stream of the report, decompressed when it starts with the gzip magic."""
    if isinstance(source, bytes | bytearray | memoryview):
        source = io.BytesIO(bytes(source))
    first = bytes(source.read(2) or b"")
    if first == GZIP_MAGIC:
        return GzipReader(source, first=first)
    return _Prefixed(first, source)


class _Prefixed(io.RawIOBase):
    """A stream with some already-read bytes put back in front."""

    def __init__(self, first: bytes, source: Any) -> None:
        self._first = first
        self._source = source

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._first:
            data, self._first = self._first, b""
            return data
        return bytes(self._source.read(size if size and size > 0 else READ_CHUNK) or b"")


def read_reports(files: Sequence[tuple[str, bytes | BinaryIO]], *, max_bytes: int) -> _Parsed:
    """Parse every file (gzip or plain) within one decompressed byte budget."""
    if not files:
        raise BadRequestError("no report file in the upload")
    budget = Budget(max_bytes)
    parsed = _Parsed()
    for name, source in files:
        hasher = hashlib.sha256()
        label = f"{_basename(name)}: " if name else ""
        try:
            reader = BoundedReader(open_report(source), budget, hasher=hasher)
            # The budget trips first (413); the parser's own bound is only a backstop.
            report = parse_report(reader, max_bytes=max_bytes + 1)
        except (ReportError, ValueError, OSError) as exc:
            raise ReportRejectedError(f"{label}{exc}") from None
        parsed.cases.extend(report.cases)
        parsed.digests.append(hasher.hexdigest())
        parsed.formats.append(report.format)
    return parsed


def _basename(name: str) -> str:
    return name.replace("\\", "/").rsplit("/", 1)[-1]


# -- storage ------------------------------------------------------------------------


def ingest_reports(
    repo: Repository,
    files: Sequence[tuple[str, bytes | BinaryIO]],
    meta: RunMeta,
    *,
    max_bytes: int,
) -> IngestResult:
    """Store the reports of one CI job as one TestRun; enqueue its analysis."""
    spooled = spool_reports(files, max_bytes=max_bytes)
    try:
        existing = _find_run(repo, meta, spooled.digest)
        if existing is not None:
            return IngestResult(existing.id, run_totals(existing), True)
        received = utcnow()
        try:
            with db.atomic():
                run = TestRun.create(
                    repository=repo,
                    sha=meta.sha,
                    branch=meta.branch,
                    pr=meta.pr,
                    ci_run_id=meta.ci_run_id,
                    job=meta.job,
                    attempt=meta.attempt,
                    source=meta.source,
                    content_digest=spooled.digest,
                    report_format=_format_name(spooled.formats),
                    started_at=meta.started_at,
                    received_at=received,
                    correlation_id=logs.get_correlation_id(),
                )
                totals = _store_results(
                    run.id, repo.id, spooled, received, when=meta.started_at or received
                )
                TestRun.update(**totals).where(TestRun.id == run.id).execute()
                effects = outbox.record([outbox.want(Job.ANALYZE_RUN, run_id=run.id)])
        except IntegrityError:
            # A concurrent identical upload won the race on the unique run index.
            existing = _find_run(repo, meta, spooled.digest)
            if existing is None:
                raise
            return IngestResult(existing.id, run_totals(existing), True)
    finally:
        spooled.close()
    outbox.dispatch(effects)
    return IngestResult(run.id, totals, False)


@dataclass
class Spooled:
    """The decompressed reports of one upload, read within the budget, and their digest."""

    files: list[tuple[str, Any]] = field(default_factory=list)
    digests: list[str] = field(default_factory=list)
    formats: list[str] = field(default_factory=list)

    @property
    def digest(self) -> str:
        # Order-insensitive: the same files in another order are the same upload.
        return hashlib.sha256("".join(sorted(self.digests)).encode()).hexdigest()

    def close(self) -> None:
        for _, spool in self.files:
            spool.close()


def spool_reports(files: Sequence[tuple[str, bytes | BinaryIO]], *, max_bytes: int) -> Spooled:
    """Read every file (gzip or plain) within one byte budget, hashing the XML bytes."""
    if not files:
        raise BadRequestError("no report file in the upload")
    budget = Budget(max_bytes)
    spooled = Spooled()
    try:
        for name, source in files:
            label = f"{_basename(name)}: " if name else ""
            spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
            spooled.files.append((label, spool))
            hasher = hashlib.sha256()
            try:
                reader = BoundedReader(open_report(source), budget, hasher=hasher)
                while chunk := reader.read(READ_CHUNK):
                    spool.write(chunk)
            except (ValueError, OSError) as exc:
                raise ReportRejectedError(f"{label}could not read the report: {exc}") from None
            spool.seek(0)
            spooled.formats.append(sniff_format(spool.read(SNIFF_BYTES)) or "unknown")
            spool.seek(0)
            spooled.digests.append(hasher.hexdigest())
    except BaseException:
        spooled.close()
        raise
    return spooled


def _store_results(
    run_id: int, repository_id: int, spooled: Spooled, received: datetime, *, when: datetime
) -> dict[str, Any]:
    """Parse in a helper thread while this one writes: the database works meanwhile.

    Known test cases come from ``CASE_IDS`` (checked against the database first),
    so on PostgreSQL one COPY stream stays open for the whole upload and is only
    interrupted to insert test cases seen for the first time.
    """
    postgres = is_postgres()
    batches: queue.Queue[Any] = queue.Queue(maxsize=PIPELINE_DEPTH)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                batches.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def parse() -> None:
        try:
            for label, spool in spooled.files:
                batch: list[CaseResult] = []
                try:
                    for case in iter_cases(spool, max_bytes=spooled_size(spool) + 1):
                        batch.append(case)
                        if len(batch) >= BATCH:
                            if not put(batch):
                                return
                            batch = []
                except ReportError as exc:
                    put(ReportRejectedError(f"{label}{exc}"))
                    return
                if batch and not put(batch):
                    return
            put(None)
        except BaseException as exc:  # noqa: BLE001 - the request thread raises it
            put(exc)

    parser = threading.Thread(target=parse, name="ingest-parse", daemon=True)
    parser.start()
    counts = _Counts()
    if when.tzinfo is not None:
        when = when.astimezone(UTC).replace(tzinfo=None)
    when_text = when.isoformat(" ")  # what peewee stores in SQLite; PostgreSQL reads it too
    stream = _CopyStream() if postgres else None
    try:
        known = CASE_IDS.known(repository_id)
        # The kept map is shared: copied (once) only when this upload adds cases.
        ids: dict[str, int] = known.ids if known is not None else {}
        copied = known is None
        seen: set[int] = set()  # this upload's cases, for the last_seen refresh
        while (item := batches.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            counts.add(item)
            unknown = [case for case in item if case.key not in ids]
            if unknown:
                if stream is not None:
                    stream.close()  # the connection is needed for the inserts
                if not copied:
                    ids, copied = dict(ids), True
                ids.update(_upsert_cases(repository_id, unknown, received))
            if known is not None:
                seen.update([ids[case.key] for case in item])
            if stream is not None:
                stream.write(_copy_block(run_id, item, ids, when_text))
            else:
                _insert_results(_result_rows(run_id, item, ids, when_text))
        if stream is not None:
            stream.close()
        if known is not None:
            refresh = known.to_refresh(seen, received)
            if refresh:
                queries.touch_test_cases(refresh, received, received - LAST_SEEN_RESOLUTION)
    finally:
        stop.set()
        if stream is not None:
            stream.abort()
        parser.join()
    return counts.totals()


@dataclass
class _KnownCases:
    """The key -> id map of one repository's test cases, as of (count, highest id).

    ``touched`` holds the ids whose ``last_seen`` this process has brought within
    the resolution since ``window_start``; only the others need a refresh. (Ids
    are marked before their upload commits: one rolled back may leave a case's
    refresh to the next window.)
    """

    ids: dict[str, int]
    count: int
    max_id: int
    window_start: datetime = datetime.min
    touched: set[int] = field(default_factory=set)

    def to_refresh(self, test_case_ids: Iterable[int], now: datetime) -> list[int]:
        """The ids not refreshed in the current window (a new window every resolution)."""
        if now - self.window_start >= LAST_SEEN_RESOLUTION:
            self.window_start, self.touched = now, set()
        touched = self.touched
        fresh = [test_id for test_id in test_case_ids if test_id not in touched]
        touched.update(fresh)
        return fresh


class CaseIdCache:
    """Ids of known test cases per repository, kept between uploads in this process.

    Looking up every key of every upload costs as much as storing its results.
    A test case's id never changes and test cases are only deleted with their
    repository, so a map once read stays right; each upload checks it against
    the repository's case count and highest id (one index scan) and reads it
    again when they moved (cases added by any process). Repositories with more
    than ``per_repository`` cases, and any past ``total`` keys in all, are not
    kept: their uploads look their keys up batch by batch.
    """

    def __init__(self, *, per_repository: int = 100_000, total: int = 400_000) -> None:
        self.per_repository = per_repository
        self.total = total
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[int, int], _KnownCases] = OrderedDict()

    def clear(self) -> None:
        """Forget everything (tests that empty the tables call this)."""
        with self._lock:
            self._entries.clear()

    def known(self, repository_id: int) -> _KnownCases | None:
        """The checked map of ``repository_id``'s cases, or None when it is not kept."""
        table = TestCase._meta.table_name
        count, max_id = db.execute_sql(
            f'SELECT count(*), coalesce(max(id), 0) FROM "{table}" '
            f"WHERE repository_id = {db.param}",
            (repository_id,),
        ).fetchone()
        if count > self.per_repository:
            return None
        slot = (id(db.obj), repository_id)
        with self._lock:
            entry = self._entries.get(slot)
            if entry is not None and (entry.count, entry.max_id) == (count, max_id):
                self._entries.move_to_end(slot)
                return entry
        cursor = db.execute_sql(
            f'SELECT key, id FROM "{table}" WHERE repository_id = {db.param}', (repository_id,)
        )
        ids = dict(cursor.fetchall())
        if entry is None:
            entry = _KnownCases(ids, count, max_id)
        else:  # keep the refresh window: those rows did not change
            entry = _KnownCases(ids, count, max_id, entry.window_start, entry.touched)
        with self._lock:
            self._entries[slot] = entry
            self._entries.move_to_end(slot)
            held = sum(len(e.ids) for e in self._entries.values())
            while held > self.total and len(self._entries) > 1:
                _, dropped = self._entries.popitem(last=False)
                held -= len(dropped.ids)
        return entry


CASE_IDS = CaseIdCache()


class _CopyStream:
    """One COPY of test results into PostgreSQL, opened on first write, closed on demand."""

    def __init__(self) -> None:
        self._stack: contextlib.ExitStack | None = None
        self._write: Callable[[bytes], None] | None = None

    def write(self, block: bytes) -> None:
        """Send rows already in COPY's text format (see ``_copy_block``)."""
        write = self._write
        if write is None:
            stack = contextlib.ExitStack()
            cursor = stack.enter_context(db.connection().cursor())
            table = TestResult._meta.table_name
            copy = stack.enter_context(cursor.copy(f'COPY "{table}" ({RESULT_COLUMNS}) FROM STDIN'))
            self._stack, self._write = stack, copy.write
            write = copy.write
        write(block)

    def close(self) -> None:
        """Finish the COPY (the server has every row when this returns)."""
        stack, self._stack, self._write = self._stack, None, None
        if stack is not None:
            stack.close()

    def abort(self) -> None:
        """Leave an unfinished COPY on an error (the transaction rolls back anyway)."""
        stack, self._stack, self._write = self._stack, None, None
        if stack is not None:
            stack.__exit__(ReportRejectedError, ReportRejectedError("aborted"), None)


def spooled_size(spool: Any) -> int:
    """Bytes in a spool (it was bounded while written)."""
    position = spool.tell()
    size = spool.seek(0, io.SEEK_END)
    spool.seek(position)
    return int(size)


class _Counts:
    """Totals of final outcomes, added batch by batch."""

    def __init__(self) -> None:
        self.by_status = {"passed": 0, "failed": 0, "error": 0, "skipped": 0}
        self.duration = 0.0

    def add(self, cases: list[CaseResult]) -> None:
        by_status = self.by_status
        for case in cases:
            by_status[case.status] += 1
            self.duration += case.duration

    def totals(self) -> dict[str, Any]:
        by_status = self.by_status
        return {
            "tests": sum(by_status.values()),
            "passed": by_status["passed"],
            "failures": by_status["failed"],
            "errors": by_status["error"],
            "skipped": by_status["skipped"],
            "duration": round(self.duration, 3),
        }


def run_totals(run: TestRun) -> dict[str, Any]:
    """The totals of a stored run, as the API answers them."""
    return {
        "tests": run.tests,
        "passed": run.passed,
        "failures": run.failures,
        "errors": run.errors,
        "skipped": run.skipped,
        "duration": round(run.duration, 3),
    }


def _find_run(repo: Repository, meta: RunMeta, digest: str) -> TestRun | None:
    return TestRun.get_or_none(
        TestRun.repository == repo.id,
        TestRun.ci_run_id == meta.ci_run_id,
        TestRun.job == meta.job,
        TestRun.attempt == meta.attempt,
        TestRun.content_digest == digest,
    )


def _format_name(formats: list[str]) -> str | None:
    unique = sorted(set(formats))
    if not unique:
        return None
    return unique[0] if len(unique) == 1 else "mixed"


def _cut(value: str | None, width: int) -> str | None:
    if value is None:
        return None
    return value if len(value) <= width else value[:width]


def _identity(case: CaseResult) -> tuple[Any, ...]:
    """(suite, classname, name, file, line) cut to the columns."""
    line = case.line if case.line is None or -(2**31) <= case.line < 2**31 else None
    return (
        _cut(case.suite, TEXT_WIDTH),
        _cut(case.classname, TEXT_WIDTH),
        _cut(case.name, TEXT_WIDTH),
        _cut(case.file, TEXT_WIDTH),
        line,
    )


def _upsert_cases(repository_id: int, cases: list[CaseResult], now: datetime) -> dict[str, int]:
    """Ids of the cases' TestCases: known ones looked up (stale last_seen refreshed), new ones
    inserted with ON CONFLICT DO NOTHING (a concurrent upload may insert them first)."""
    first: dict[str, CaseResult] = {}
    for case in cases:
        first.setdefault(case.key, case)
    if not first:
        return {}
    postgres = is_postgres()
    lookup = _known_cases_pg if postgres else _known_cases_sqlite
    insert = _insert_cases_pg if postgres else _insert_cases_sqlite
    keys = list(first)
    stale = now - LAST_SEEN_RESOLUTION
    ids = lookup(repository_id, keys, now, stale)
    missing = [key for key in keys if key not in ids]
    if missing:
        insert(repository_id, [(key, *_identity(first[key])) for key in missing], now)
        ids.update(lookup(repository_id, missing, now, stale))
    return ids


def _known_cases_pg(
    repository_id: int, keys: list[str], now: datetime, stale: datetime
) -> dict[str, int]:
    table = TestCase._meta.table_name
    # Keys never hold a newline (the engine collapses whitespace), so one text parameter
    # split on the server is much cheaper to send than a text[] of thousands of elements.
    packed = not any("\n" in key for key in keys)
    keys_sql = "string_to_array(%(keys)s, E'\\n')" if packed else "%(keys)s::text[]"
    params = {
        "repo": repository_id,
        "keys": "\n".join(keys) if packed else keys,
        "now": now,
        "stale": stale,
    }
    with db.connection().cursor() as cursor:
        cursor.execute(
            f"WITH wanted AS (SELECT unnest({keys_sql}) AS key), "
            f'touched AS (UPDATE "{table}" t SET last_seen = %(now)s FROM wanted w '
            "WHERE t.repository_id = %(repo)s AND t.key = w.key AND t.last_seen < %(stale)s) "
            f'SELECT t.key, t.id FROM wanted w JOIN "{table}" t '
            "ON t.repository_id = %(repo)s AND t.key = w.key",
            params,
        )
        return dict(cursor.fetchall())


def _insert_cases_pg(repository_id: int, rows: list[tuple[Any, ...]], now: datetime) -> None:
    table = TestCase._meta.table_name
    columns = [list(column) for column in zip(*rows, strict=True)]
    with db.connection().cursor() as cursor:
        cursor.execute(
            f'INSERT INTO "{table}" (repository_id, key, suite, classname, name, file, line, '
            "first_seen, last_seen) "
            "SELECT %s, k, s, c, n, f, l, %s, %s FROM unnest("
            "%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::int[]"
            ") AS u(k, s, c, n, f, l) "
            "ON CONFLICT (repository_id, key) DO NOTHING",
            (repository_id, now, now, *columns),
        )


def _known_cases_sqlite(
    repository_id: int, keys: list[str], now: datetime, stale: datetime
) -> dict[str, int]:
    table = TestCase._meta.table_name
    connection = db.connection()
    ids: dict[str, int] = {}
    refresh: list[int] = []
    stale_text = stale.isoformat(" ")
    for start in range(0, len(keys), queries.CHUNK):
        chunk = keys[start : start + queries.CHUNK]
        marks = ", ".join("?" * len(chunk))
        cursor = connection.execute(
            f'SELECT key, id, last_seen < ? FROM "{table}" '
            f"WHERE repository_id = ? AND key IN ({marks})",
            (stale_text, repository_id, *chunk),
        )
        for key, test_id, is_stale in cursor:
            ids[key] = test_id
            if is_stale:
                refresh.append(test_id)
    for start in range(0, len(refresh), queries.CHUNK):
        chunk = refresh[start : start + queries.CHUNK]
        connection.execute(
            f'UPDATE "{table}" SET last_seen = ? WHERE id IN ({", ".join("?" * len(chunk))})',
            (now.isoformat(" "), *chunk),
        )
    return ids


def _insert_cases_sqlite(repository_id: int, rows: list[tuple[Any, ...]], now: datetime) -> None:
    table = TestCase._meta.table_name
    stamp = now.isoformat(" ")
    db.connection().executemany(
        f'INSERT INTO "{table}" (repository_id, key, suite, classname, name, file, line, '
        "first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (repository_id, key) DO NOTHING",
        [(repository_id, *row, stamp, stamp) for row in rows],
    )


def _result_rows(
    run_id: int, cases: list[CaseResult], ids: dict[str, int], when: datetime | str
) -> Iterable[tuple[Any, ...]]:
    """One row per attempt: (run, test case, status, duration, retry, message, type, at)."""
    for case in cases:
        test_id = ids[case.key]
        if not case.attempts and not case.message and not case.failure_type:
            yield (run_id, test_id, case.status, case.duration, 0, None, None, when)
            continue
        retry = 0
        for attempt in case.attempts:
            yield (
                run_id,
                test_id,
                attempt.status,
                attempt.duration or 0.0,
                retry,
                attempt.message or None,
                _cut(attempt.failure_type, FAILURE_TYPE_WIDTH) or None,
                when,
            )
            retry += 1
        yield (
            run_id,
            test_id,
            case.status,
            case.duration,
            retry,
            case.message or None,
            _cut(case.failure_type, FAILURE_TYPE_WIDTH) or None,
            when,
        )


# COPY text format: tab-separated columns, a backslash-N for NULL, these characters escaped.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_value(value: str | None) -> str:
    return "\\N" if value is None else value.translate(_COPY_ESCAPES)


def _copy_float(value: float) -> str:
    value = float(value)
    if math.isfinite(value):
        return repr(value)
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def _copy_block(run_id: int, cases: list[CaseResult], ids: dict[str, int], when: str) -> bytes:
    """The rows of ``_result_rows`` in COPY's text format, in one buffer.

    Cheaper than handing psycopg one tuple per row (its per-row call was a fifth
    of the upload's time in a profile); the common row (one attempt, no message
    or failure type) is one f-string.
    """
    lines: list[str] = []
    append = lines.append
    head = f"{run_id}\t"
    tail = f"\t{when}\n"
    for case in cases:
        test_id = ids[case.key]
        if not case.attempts and not case.message and not case.failure_type:
            append(
                f"{head}{test_id}\t{case.status}\t{_copy_float(case.duration)}\t0\t\\N\t\\N{tail}"
            )
            continue
        for _, _, status, duration, retry, message, kind, _ in _result_rows(
            run_id, [case], ids, when
        ):
            append(
                f"{head}{test_id}\t{status}\t{_copy_float(duration)}\t{retry}\t"
                f"{_copy_value(message)}\t{_copy_value(kind)}{tail}"
            )
    return "".join(lines).encode()


RESULT_COLUMNS = "run_id, test_case_id, status, duration, retry, message, failure_type, created_at"


def _insert_results(rows: Iterable[tuple[Any, ...]]) -> None:
    table = TestResult._meta.table_name
    sql = f'INSERT INTO "{table}" ({RESULT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'
    connection = db.connection()
    chunk: list[tuple[Any, ...]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= SQLITE_CHUNK:
            connection.executemany(sql, chunk)
            chunk = []
    if chunk:
        connection.executemany(sql, chunk)
