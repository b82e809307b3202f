"""Ingest JUnit reports: spool (bounded), dedupe, store one run in one transaction, enqueue.

``ingest_reports`` is the single storage path for every source (the upload API,
``flakeguard ingest``, GitHub Actions artifacts, the demo). It works in four steps:

1. Spool: every file is read (gzip or plain, through ``flakeguard.streams``)
   within one byte budget of decompressed bytes (413 past it, so gzip bombs
   stop early) and hashed.
2. Dedupe: the digest of the upload decides duplicates before any parsing:
   the same upload (same repository, commit, CI run id, job, attempt and
   digest) returns the first run with ``duplicate=True`` and stores nothing.
   The same bytes for another commit are another run. A gzip and a plain
   upload of the same report are the same upload.
3. Store, in one transaction: the TestRun, then the cases as the JUnit engine
   streams them, through the bulk loader (``models.bulk``: new test cases as
   they come, the packed results at the end). A helper thread parses while
   this thread packs.
   A report found broken halfway raises ReportRejectedError and the whole
   transaction rolls back: a rejected upload stores nothing.
4. ``analyze_run`` is enqueued after the commit. Until the analysis is done the
   run keeps ``analyzed_at`` NULL, so the reconcile job finds a lost job again.

``read_reports`` reads local files the same way (spool, then the engine's
stream of cases) for a caller that wants their outcome without storing them.
"""

from __future__ import annotations

import hashlib
import io
import logging
import queue
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, BinaryIO

from peewee import DatabaseError, DataError, IntegrityError

from engine.junit import CaseResult, ReportError, iter_cases, sniff_format
from flakeguard import logs
from flakeguard.errors import BadRequestError, ReportRejectedError
from flakeguard.jobs import Job
from flakeguard.streams import READ_CHUNK, BoundedReader, Budget, open_report
from flakeguard.usecases import outbox
from flakeguard.usecases.run_meta import (
    RunMeta,
    check_run_meta,
    parse_run_meta,
    parse_timestamp,
)
from models import Repository, TestRun, db, utcnow
from models.bulk import ResultLoader

__all__ = [
    "IngestResult",
    "RunMeta",
    "Spooled",
    "ingest_reports",
    "parse_run_meta",
    "parse_timestamp",
    "read_reports",
    "run_totals",
    "spool_reports",
]

log = logging.getLogger(__name__)

# The parser thread hands over cases in batches; a few batches may wait (bounded memory).
BATCH = 2_000
PIPELINE_DEPTH = 4
SPOOL_IN_MEMORY = 8 * 2**20
SNIFF_BYTES = 4096
# Two uploads adding the same new tests in different batch orders can deadlock (each
# waits on a test row the other inserted); the database aborts one, stored again from
# its spooled reports.
STORE_TRIES = 3
DEADLOCK_DETECTED = "40P01"  # PostgreSQL's SQLSTATE


@dataclass(frozen=True)
class IngestResult:
    """The stored run (or the first one, for a duplicate) and its totals."""

    run_id: int
    totals: dict[str, Any]
    duplicate: bool


def ingest_reports(
    repo: Repository,
    files: Sequence[tuple[str, bytes | BinaryIO]],
    meta: RunMeta,
    *,
    max_bytes: int,
) -> IngestResult:
    """Store the reports of one CI job as one TestRun; enqueue its analysis.

    Raises BadRequestError (bad metadata, a report that is not JUnit, a value
    the database cannot hold) or PayloadTooLargeError; then nothing is stored.
    """
    check_run_meta(meta)
    spooled = spool_reports(files, max_bytes=max_bytes)
    try:
        existing = _find_run(repo, meta, spooled.digest)
        if existing is not None:
            return IngestResult(existing.id, run_totals(existing), True)
        received = utcnow()
        try:
            run, totals, effects = _store_run(repo, meta, spooled, received)
        except IntegrityError:
            # A concurrent identical upload won the race on the unique run index.
            existing = _find_run(repo, meta, spooled.digest)
            if existing is None:
                raise
            return IngestResult(existing.id, run_totals(existing), True)
        except DataError as exc:
            # A value the checks let through but a column cannot hold (a number out of
            # the column's range, say): the transaction rolled back; the client learns
            # what kind of problem it is, the log gets the database's words.
            log.warning("upload refused by the database: %s", str(exc).splitlines()[0][:300])
            raise ReportRejectedError(
                "the report holds a value FlakeGuard cannot store (a number or text out of range)"
            ) from None
    finally:
        spooled.close()
    outbox.dispatch(effects)
    return IngestResult(run.id, totals, False)


# -- spool ----------------------------------------------------------------------------


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

    def cases(self) -> Iterator[CaseResult]:
        """Every case of every file, as the engine streams them (ReportRejectedError names
        the file)."""
        for label, spool in self.files:
            spool.seek(0)
            try:
                yield from iter_cases(spool, max_bytes=_spooled_size(spool) + 1)
            except ReportError as exc:
                raise ReportRejectedError(f"{label}{exc}") from None

    def close(self) -> None:
        """Drop the spooled files (temporary files on disk past ``SPOOL_IN_MEMORY``)."""
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


@dataclass(frozen=True)
class ReadReports:
    """Every case of the files read by ``read_reports``, and the upload's digest."""

    cases: list[CaseResult]
    digest: str
    formats: list[str]


def read_reports(files: Sequence[tuple[str, bytes | BinaryIO]], *, max_bytes: int) -> ReadReports:
    """Parse every file (gzip or plain) within one decompressed byte budget, storing nothing."""
    spooled = spool_reports(files, max_bytes=max_bytes)
    try:
        return ReadReports(list(spooled.cases()), spooled.digest, spooled.formats)
    finally:
        spooled.close()


def _spooled_size(spool: Any) -> int:
    """Bytes in a spool (it was bounded while written)."""
    position = spool.tell()
    size = spool.seek(0, io.SEEK_END)
    spool.seek(position)
    return int(size)


def _basename(name: str) -> str:
    return name.replace("\\", "/").rsplit("/", 1)[-1]


# -- store ----------------------------------------------------------------------------


def _store_run(
    repo: Repository, meta: RunMeta, spooled: Spooled, received: datetime
) -> tuple[TestRun, dict[str, Any], list[outbox.Wanted]]:
    """Store the run in one transaction, again (up to ``STORE_TRIES``) when the database
    aborted it to break a deadlock; not when called inside a transaction of the caller's,
    whose locks would stay held."""
    retry = not db.in_transaction()
    for attempt in range(1, STORE_TRIES + 1):
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
                    spooled, run.id, repo.id, received, dated=meta.started_at or received
                )
                TestRun.update(**totals).where(TestRun.id == run.id).execute()
                effects = outbox.record([outbox.want(Job.ANALYZE_RUN, run_id=run.id)])
            return run, totals, effects
        except DatabaseError as exc:
            if not retry or attempt == STORE_TRIES or not _deadlocked(exc):
                raise
            log.info("upload aborted in a deadlock with another; storing it again")
    raise AssertionError("unreachable: the last try returns or raises")


def _deadlocked(exc: BaseException) -> bool:
    """Whether the driver's error under peewee's (its cause) is a detected deadlock."""
    seen: BaseException | None = exc
    while seen is not None:
        if getattr(seen, "sqlstate", None) == DEADLOCK_DETECTED:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _store_results(
    spooled: Spooled, run_id: int, repository_id: int, received: datetime, *, dated: datetime
) -> dict[str, Any]:
    """Parse in a helper thread while this one writes: the database works meanwhile."""
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
            batch: list[CaseResult] = []
            for case in spooled.cases():
                batch.append(case)
                if len(batch) >= BATCH:
                    if not put(batch):
                        return
                    batch = []
            if batch and not put(batch):
                return
            put(None)
        except BaseException as exc:  # noqa: BLE001 - the request thread raises it
            put(exc)

    parser = threading.Thread(target=parse, name="ingest-parse", daemon=True)
    parser.start()
    counts = _Counts()
    try:
        loader = ResultLoader(run_id, repository_id, now=received, dated=dated)
        while (item := batches.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            counts.add(item)
            loader.add(item)
        loader.finish()
    finally:
        stop.set()
        parser.join()
    return counts.totals()


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
        TestRun.sha == meta.sha,
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
