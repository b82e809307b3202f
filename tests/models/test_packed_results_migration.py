"""Migration 0047: test_result's rows moved into the packed tables, and back on rollback."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import pytest
from peewee import Database
from playhouse.migrations import Runner

from models import FailureMessage, ResultBlock, TestCase, TestRun, db, result_reads
from models.migrate import HISTORY_TABLE, MIGRATIONS_DIR
from models.packing import BLOCK, MAX_DURATION_SECONDS, milliseconds_of
from tests.models.conftest import upload_in_flight
from tests.models.test_result_partitions import result_schema

BEFORE = "0046_test_case_ordinal"
THIS = "0047_packed_results"
JAN, MAR = datetime(2026, 1, 10, 8, 30), datetime(2026, 3, 2, 17, 5, 1)
# (run, test, status, duration, retry, message, failure type, date), in insertion order
ROWS = [
    (1, 1, "passed", 0.25, 0, None, None, JAN),
    (1, 2, "failed", 1.5, 0, "boom", "AssertionError", JAN),
    (1, 3, "failed", 0.1, 0, "timeout", "TimeoutError", JAN),  # failed, then passed
    (1, 3, "passed", 0.2, 1, None, None, JAN),
    (1, 4, "skipped", 0.0, 0, "not here", None, JAN),  # a skip reason: not kept
    (1, 1, "failed", 0.00004, 0, "boom", "AssertionError", JAN),  # test 1 again
    (2, 1, "passed", 2.0, 0, None, None, MAR),
    (2, 2, "error", 3.0, 0, "boom", "AssertionError", MAR),  # the same message, next month
    (3, 5, "passed", 1.0, 0, "", None, MAR),  # the other repository's ordinal 0
    (2, 4, "failed", 1e12, 0, "slow", "TimeoutError", MAR),  # a hostile time: clamped
]
TESTS = {1: (1, 0), 2: (1, 1), 3: (1, 2), 4: (1, 3), 5: (2, 0)}  # id -> (repository, ordinal)


def _postgres(database: Database) -> bool:
    return "Postgres" in type(database).__name__


def _seed(database: Database) -> None:
    run = database.execute_sql
    true = "true" if _postgres(database) else "1"
    run("INSERT INTO tenant (slug, name, created_at) VALUES ('t', 'T', CURRENT_TIMESTAMP)")
    for repo in (1, 2):
        run(
            "INSERT INTO repository (id, tenant_id, full_name, default_branch, settings, "
            f"active, created_at) VALUES ({repo}, 1, 'acme/r{repo}', 'main', '{{}}', {true}, "
            "CURRENT_TIMESTAMP)"
        )
    for test, (repo, ordinal) in TESTS.items():
        run(
            "INSERT INTO test_case (id, repository_id, key, suite, classname, name, ordinal, "
            f"first_seen, last_seen) VALUES ({test}, {repo}, 'k{test}', '', '', 't{test}', "
            f"{ordinal}, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
        )
    for run_id, repo in ((1, 1), (2, 1), (3, 2)):
        run(
            "INSERT INTO test_run (id, repository_id, sha, branch, ci_run_id, job, attempt, "
            "source, content_digest, tests, passed, failures, errors, skipped, duration, "
            f"received_at, tainted) VALUES ({run_id}, {repo}, '{run_id:040x}', 'main', "
            f"'{run_id}', '', 1, 'cli', '{run_id:064x}', 1, 1, 0, 0, 0, 0.5, "
            f"CURRENT_TIMESTAMP, {'false' if _postgres(database) else '0'})"
        )
    mark = "%s" if _postgres(database) else "?"
    for row in ROWS:
        run(
            "INSERT INTO test_result (run_id, test_case_id, status, duration, retry, message, "
            f"failure_type, created_at) VALUES ({', '.join([mark] * 8)})",
            (*row[:7], row[7].isoformat(" ") if not _postgres(database) else row[7]),
        )


@contextmanager
def _seeded(database: Database) -> Iterator[Runner]:
    """The models bound to ``database``, migrated up to ``BEFORE`` and seeded: its runner."""
    with database.connection_context(), _bound(database):
        runner = Runner(database, str(MIGRATIONS_DIR), table_name=HISTORY_TABLE)
        runner.up(BEFORE)
        _seed(database)
        yield runner


def _kept(row: tuple[object, ...]) -> tuple[object, ...]:
    """A row as the packed layout keeps it: whole milliseconds (at most MAX_DURATION_SECONDS),
    messages of failures only."""
    run, test, status, duration, retry, message, failure_type, at = row
    failing = status in ("failed", "error")
    seconds = round(min(duration, MAX_DURATION_SECONDS) * 1000) / 1000  # type: ignore[type-var]
    return (
        run,
        test,
        status,
        seconds,
        retry,
        message if failing else None,
        failure_type if failing else None,
        at,
    )


@contextmanager
def _bound(database: Database) -> Iterator[None]:
    """The models' proxy on ``database`` for the block."""
    previous = db.obj
    db.initialize(database)
    try:
        yield
    finally:
        db.initialize(previous)


def _test_result_rows(database: Database) -> Counter[tuple[object, ...]]:
    rows = database.execute_sql(
        "SELECT run_id, test_case_id, status, duration, retry, message, failure_type, created_at "
        "FROM test_result"
    ).fetchall()
    return Counter(
        (*row[:7], row[7] if isinstance(row[7], datetime) else datetime.fromisoformat(row[7]))
        for row in rows
    )


def test_up_packs_every_row_and_down_puts_them_back(scratch: Database) -> None:
    """Each attempt reads back from the packed tables (milliseconds, messages of failures,
    stored once per repository and month); test_result is gone. ``down`` gives the same rows
    back in test_result as 0044 left it (partitioned on PostgreSQL); up again works."""
    with _seeded(scratch) as runner:
        relkind, schema = _relkind(scratch), result_schema(scratch)
        constraints = _constraints(scratch)
        runner.up(THIS)
        assert "test_result" not in scratch.get_tables()
        read = Counter()
        for run in TestRun.select():
            window = (datetime(2000, 1, 1), datetime(2100, 1, 1))
            for a in result_reads.run_attempts(run.repository_id, {run.id: window}, messages=True):
                read[(a.run_id, a.test_case_id, a.status, a.duration, a.retry, a.message)] += 1
        assert read == Counter(_kept(row)[:6] for row in ROWS)
        messages = Counter((m.repository_id, m.month, m.message) for m in FailureMessage.select())
        assert messages == Counter(
            {
                (1, datetime(2026, 1, 1), "boom"): 1,  # two failures, one message
                (1, datetime(2026, 1, 1), "timeout"): 1,
                (1, datetime(2026, 3, 1), "boom"): 1,
                (1, datetime(2026, 3, 1), "slow"): 1,
            }
        )
        assert {b.created_at for b in ResultBlock.select()} == {JAN, MAR}
        test = TestCase.get_by_id(3)
        [history] = result_reads.test_history(1, 3, test.ordinal, runs=5)
        assert history.attempts == ((0, "failed", 0.1), (1, "passed", 0.2))

        runner.down(THIS)
        assert _test_result_rows(scratch) == Counter(_kept(row) for row in ROWS)
        assert _relkind(scratch) == relkind
        for table in ("result_block", "result_attempt", "failure_message"):
            assert table not in scratch.get_tables()
        assert result_schema(scratch) == schema
        assert _constraints(scratch) == constraints  # the foreign keys, by name
        runner.up(THIS)
        assert ResultBlock.select().count() == 3  # a block per run


def test_down_reads_a_block_with_every_duration_in_place(scratch: Database) -> None:
    """A block may hold all 64 durations (256 bytes, at their slots) though some slots are
    empty, as the readers allow: ``down`` reads each test's at its slot (a passing test after
    an empty slot: its duration is in the block only)."""
    late = (2, 6, "passed", 0.75, 0, None, None, MAR)  # slot 5 of run 2's block: 2 empty
    with _seeded(scratch) as runner:
        mark = "%s" if _postgres(scratch) else "?"
        scratch.execute_sql(
            "INSERT INTO test_case (id, repository_id, key, suite, classname, name, ordinal, "
            "first_seen, last_seen) VALUES (6, 1, 'k6', '', '', 't6', 5, CURRENT_TIMESTAMP, "
            "CURRENT_TIMESTAMP)"
        )
        scratch.execute_sql(
            "INSERT INTO test_result (run_id, test_case_id, status, duration, retry, message, "
            f"failure_type, created_at) VALUES ({', '.join([mark] * 8)})",
            (*late[:7], late[7] if _postgres(scratch) else late[7].isoformat(" ")),
        )
        runner.up(THIS)
        for block in ResultBlock.select():
            full = milliseconds_of(bytes(block.codes), bytes(block.durations))
            scratch.execute_sql(
                f"UPDATE result_block SET durations = {mark} WHERE run_id = {mark} "
                f"AND block = {mark}",
                (full.tobytes(), block.run_id, block.block),
            )
        assert {len(bytes(b.durations)) for b in ResultBlock.select()} == {4 * BLOCK}
        runner.down(THIS)
        assert _test_result_rows(scratch) == Counter(_kept(row) for row in [*ROWS, late])


def _relkind(database: Database) -> str | None:
    if not _postgres(database):
        return "table"
    row = database.execute_sql(
        "SELECT relkind FROM pg_class WHERE oid = to_regclass('test_result')"
    ).fetchone()
    return row[0] if row else None


def _constraints(database: Database) -> set[tuple[str, str]]:
    if not _postgres(database):
        return set()
    rows = database.execute_sql(
        "SELECT conname, contype FROM pg_constraint WHERE conrelid = 'test_result'::regclass"
    ).fetchall()
    return {(name, kind) for name, kind in rows}


def test_an_upload_that_made_its_run_before_up_started_is_waited_for(scratch: Database) -> None:
    """An upload holding its new test_run row when 0047 starts, its results not yet written:
    up waits for it before locking test_result (its new tables' keys need test_run), so the
    upload writes its results, commits, and they are packed (no deadlock)."""
    if not _postgres(scratch):
        pytest.skip("one writer at a time on SQLite")
    with _seeded(scratch) as runner:
        with upload_in_flight(
            scratch,
            "INSERT INTO test_run (id, repository_id, sha, branch, ci_run_id, job, attempt, "
            "source, content_digest, tests, passed, failures, errors, skipped, duration, "
            f"received_at, tainted) VALUES (4, 2, '{4:040x}', 'main', '4', '', 1, 'cli', "
            f"'{4:064x}', 1, 0, 1, 0, 0, 0.5, CURRENT_TIMESTAMP, false)",
            then=(
                "INSERT INTO test_result (run_id, test_case_id, status, duration, retry, "
                "message, failure_type, created_at) "
                "VALUES (4, 5, 'failed', 0.5, 0, 'in flight', 'E', %s)",
                (MAR,),
            ),
        ):
            runner.up(THIS)
        assert "in flight" in {m.message for m in FailureMessage.select()}
        assert ResultBlock.select().where(ResultBlock.run == 4).count() == 1


def test_an_upload_writing_while_up_starts_is_moved_not_dropped(scratch: Database) -> None:
    """An upload that inserted into test_result and commits while 0047 runs: up waits for it
    before it reads (a SHARE lock), so its row is packed rather than dropped with the table."""
    if not _postgres(scratch):
        pytest.skip("one writer at a time on SQLite")
    with _seeded(scratch) as runner:
        with upload_in_flight(
            scratch,
            "INSERT INTO test_result (run_id, test_case_id, status, duration, retry, "
            "message, failure_type, created_at) "
            "VALUES (3, 5, 'failed', 0.5, 0, 'late', 'E', %s)",
            (MAR,),
        ):
            runner.up(THIS)
        messages = {m.message for m in FailureMessage.select()}
        assert "late" in messages
