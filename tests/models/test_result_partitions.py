"""Migration 0044 and monthly partitions of test_result: data kept, rollback, retention by drop."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import pytest
from peewee import Database
from playhouse.migrations import Runner
from playhouse.schema_diff import diff_models

from flakeguard.usecases.retention import purge_results
from models import TestResult, TestRun, db, partitions, queries, utcnow
from models.migrate import HISTORY_TABLE, MIGRATIONS_DIR, apply_migrations
from tests.conftest import PG_ADMIN_URL
from tests.models.conftest import partition_aware
from tests.models.test_migrations import MIGRATION_ONLY_INDEXES

MIGRATION = "0044_partition_test_results"
BEFORE = "0042_ownership"  # the last migration before 0044


def _postgres(database: Database) -> bool:
    return "Postgres" in type(database).__name__


def _stamp(value: datetime) -> str:
    return f"'{value:%Y-%m-%d %H:%M:%S}'"


def _seed(database: Database, dates: list[datetime]) -> None:
    """A repository, a test, a run and one result per date (statuses tell them apart)."""
    true = "true" if _postgres(database) else "1"
    false = "false" if _postgres(database) else "0"
    now = _stamp(utcnow())
    database.execute_sql(
        "INSERT INTO repository (id, tenant_id, full_name, default_branch, settings, active, "
        f"created_at) VALUES (1, (SELECT min(id) FROM tenant), 'acme/shop', 'main', '{{}}', "
        f"{true}, {now})"
    )
    numbered = "ordinal" in {c.name for c in database.get_columns("test_case")}
    database.execute_sql(
        "INSERT INTO test_case (id, repository_id, key, suite, classname, name, first_seen, "
        f"last_seen{', ordinal' if numbered else ''}) "
        f"VALUES (1, 1, 'k', '', '', 'test_x', {now}, {now}{', 0' if numbered else ''})"
    )
    database.execute_sql(
        "INSERT INTO test_run (id, repository_id, sha, branch, ci_run_id, job, attempt, source, "
        "content_digest, tests, passed, failures, errors, skipped, duration, received_at, "
        f"tainted) VALUES (1, 1, '{'a' * 40}', 'main', '', '', 1, 'cli', '{'d' * 64}', "
        f"1, 1, 0, 0, 0, 0.5, {now}, {false})"
    )
    for i, when in enumerate(dates):
        database.execute_sql(
            "INSERT INTO test_result (run_id, test_case_id, status, duration, retry, message, "
            f"created_at) VALUES (1, 1, 's{i}', 0.5, 0, 'm{i}', {_stamp(when)})"
        )


def _rows(database: Database) -> list[tuple[object, ...]]:
    return [
        tuple(row)
        for row in database.execute_sql(
            "SELECT id, run_id, test_case_id, status, message, created_at FROM test_result "
            "ORDER BY id"
        ).fetchall()
    ]


def _relkind(database: Database) -> str | None:
    row = database.execute_sql(
        "SELECT relkind FROM pg_class WHERE oid = to_regclass('test_result')"
    ).fetchone()
    return row[0] if row else None


def _constraints(database: Database) -> set[tuple[str, str]]:
    return {
        (name, kind)
        for name, kind in database.execute_sql(
            "SELECT conname, contype FROM pg_constraint WHERE conrelid = 'test_result'::regclass"
        ).fetchall()
    }


def _where(database: Database) -> dict[str, str]:
    """status -> the partition holding that row."""
    return dict(
        database.execute_sql("SELECT status, tableoid::regclass::text FROM test_result").fetchall()
    )


def _schema_diff(database: Database) -> object:
    """``diff_models`` of TestResult, less the indexes only migrations make (checked apart)."""
    with partition_aware(database):
        diff = diff_models(database, [TestResult])
    return diff._replace(
        drop_indexes=[i for i in diff.drop_indexes if i.name not in MIGRATION_ONLY_INDEXES]
    )


def _failure_index(database: Database) -> str | None:
    """The definition of the partial index of failures (0040) on test_result, if there."""
    row = database.execute_sql(
        "SELECT pg_get_indexdef(to_regclass('test_result_failure'))"
        if _postgres(database)
        else "SELECT sql FROM sqlite_master WHERE name = 'test_result_failure'"
    ).fetchone()
    # PostgreSQL names a partitioned table's index "ON ONLY" the table: the same index
    return row[0].replace(" ON ONLY ", " ON ") if row and row[0] else None


def _unindexed_partitions(database: Database) -> dict[str, set[str]]:
    """partition -> the parent's indexes it has no index attached to (empty: all indexed)."""
    rows = database.execute_sql(
        """
        SELECT part.relname, parent_index.relname FROM pg_inherits p
        JOIN pg_class part ON part.oid = p.inhrelid
        JOIN pg_index pi ON pi.indrelid = p.inhparent
        JOIN pg_class parent_index ON parent_index.oid = pi.indexrelid
        WHERE p.inhparent = 'test_result'::regclass
        AND NOT EXISTS (
            SELECT 1 FROM pg_inherits ii JOIN pg_index ci ON ci.indexrelid = ii.inhrelid
            WHERE ii.inhparent = pi.indexrelid AND ci.indrelid = part.oid)
        """
    ).fetchall()
    out: dict[str, set[str]] = {}
    for part, index in rows:
        out.setdefault(part, set()).add(index)
    return out


def test_up_keeps_every_row_and_down_restores_the_plain_table(scratch: Database) -> None:
    """0044 keeps each row (id, values); PostgreSQL gets partitions, SQLite is unchanged; down
    puts the plain table back with the same rows, indexes and constraints."""
    now = utcnow()
    dates = [now - timedelta(days=150), now - timedelta(days=1), now + timedelta(days=62)]
    with scratch.connection_context():
        runner = Runner(scratch, str(MIGRATIONS_DIR), table_name=HISTORY_TABLE)
        runner.up(BEFORE)
        _seed(scratch, dates)
        before = _rows(scratch)
        assert len(before) == 3
        indexes = {i.name for i in scratch.get_indexes("test_result")}
        constraints = _constraints(scratch) if _postgres(scratch) else set()

        assert "test_result_failure" in indexes  # 0040's partial index of failures
        failure_index = _failure_index(scratch)

        runner.up(MIGRATION)
        assert _rows(scratch) == before
        assert not _schema_diff(scratch)
        assert _failure_index(scratch) == failure_index  # on the partitioned table itself
        if _postgres(scratch):
            assert _relkind(scratch) == "p"
            # every partition (legacy, each month, default) has every index of the parent
            assert _unindexed_partitions(scratch) == {}
            where = _where(scratch)
            # the past stays in the legacy partition; a row dated after the cut-over moved
            assert where["s0"] == where["s1"] == "test_result_legacy"
            future = dates[2]
            assert where["s2"] == f"test_result_{future:%Y_%m}"
            # new rows take ids from the same sequence, in the partition of their month
            scratch.execute_sql(
                "INSERT INTO test_result (run_id, test_case_id, status, duration, retry, "
                f"created_at) VALUES (1, 1, 'new', 0.1, 0, {_stamp(future)})"
            )
            assert _where(scratch)["new"] == f"test_result_{future:%Y_%m}"
            new_id = scratch.execute_sql(
                "SELECT id FROM test_result WHERE status = 'new'"
            ).fetchone()[0]
            assert new_id > before[-1][0]
            # a repository's deletion still cascades through the partitions
            with scratch.atomic() as txn:
                scratch.execute_sql("DELETE FROM test_run WHERE id = 1")
                assert _rows(scratch) == []
                txn.rollback()
            after_up = _rows(scratch)
        else:
            after_up = before

        runner.down(MIGRATION)
        assert _rows(scratch) == after_up
        assert {i.name for i in scratch.get_indexes("test_result")} == indexes
        assert _failure_index(scratch) == failure_index
        assert not _schema_diff(scratch)
        if _postgres(scratch):
            assert _relkind(scratch) == "r"
            assert _constraints(scratch) == constraints
            tables = {t for t in scratch.get_tables() if t.startswith("test_result")}
            assert tables == {"test_result"}
        runner.up(MIGRATION)  # and forward again
        assert _rows(scratch) == after_up


def test_up_keeps_the_rows_of_an_upload_committed_while_it_waits(scratch: Database) -> None:
    """An upload that inserted into the still empty table and commits while 0044 waits for
    it: its rows are in the partitioned table afterwards (not dropped with the old table)."""
    if not _postgres(scratch):
        pytest.skip("partitions are PostgreSQL's")
    import psycopg

    url = f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{scratch.database}"
    inserted = threading.Event()
    failures: list[BaseException] = []

    def upload() -> None:
        """Insert, wait until the migration is blocked behind this transaction, commit."""
        try:
            with psycopg.connect(url) as writer, psycopg.connect(url, autocommit=True) as watch:
                writer.execute(
                    "INSERT INTO test_result (run_id, test_case_id, status, duration, retry, "
                    f"created_at) VALUES (1, 1, 'upload', 0.1, 0, {_stamp(utcnow())})"
                )
                inserted.set()
                pid = writer.info.backend_pid
                deadline = time.monotonic() + 60
                blocked = "SELECT 1 FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))"
                while watch.execute(blocked, (pid,)).fetchone() is None:
                    if time.monotonic() > deadline:
                        raise AssertionError("the migration never waited for the upload")
                    time.sleep(0.01)  # polling for the other session's state, not timing
                writer.commit()
        except BaseException as exc:  # noqa: BLE001 - the test thread raises it
            failures.append(exc)
        finally:
            inserted.set()

    with scratch.connection_context():
        runner = Runner(scratch, str(MIGRATIONS_DIR), table_name=HISTORY_TABLE)
        # every migration before 0044 first (0040 builds an index concurrently, which would
        # itself wait for the upload)
        runner.up(BEFORE)
        _seed(scratch, [])  # a repository, a test and a run; no results yet
        thread = threading.Thread(target=upload)
        thread.start()
        try:
            assert inserted.wait(60)
            runner.up(MIGRATION)
        finally:
            thread.join(60)
        assert not failures, failures
        assert _relkind(scratch) == "p"
        assert [row[3] for row in _rows(scratch)] == ["upload"]


@contextmanager
def _bound(database: Database) -> Iterator[None]:
    """The models' proxy on ``database`` for the block, then back on what it was."""
    previous = db.obj
    db.initialize(database)
    try:
        with database.connection_context():
            yield
    finally:
        db.initialize(previous)


def test_retention_drops_expired_months_and_deletes_the_rest_in_batches(
    scratch: Database,
) -> None:
    """Months wholly past the cutoff go as partitions, the boundary month in batches; the rest
    stays. SQLite (no partitions) deletes the same rows in batches."""
    now = datetime(2027, 6, 15, 12, 0)
    with _bound(scratch):
        apply_migrations(scratch)
        if _postgres(scratch):
            # migrated empty: no legacy partition, months from the migration's on
            assert "test_result_legacy" not in {p.name for p in partitions.partitions()}
            partitions.ensure_partitions(datetime(2027, 1, 10), ahead=6)
            months = {f"test_result_2027_{m:02d}" for m in range(1, 8)}
            assert months <= {p.name for p in partitions.partitions()}
            assert _unindexed_partitions(scratch) == {}
        dates = [
            datetime(2027, 1, 5),  # January: dropped as a partition
            datetime(2027, 2, 20),  # February: dropped
            datetime(2027, 3, 2),  # March, before the cutoff (2027-03-17): deleted in a batch
            datetime(2027, 3, 25),  # after the cutoff: kept
            datetime(2027, 6, 1),  # kept
            datetime(2020, 1, 1),  # outside every partition (the default one): deleted
        ]
        _seed(scratch, dates)
        if _postgres(scratch):
            assert _where(scratch)["s5"] == "test_result_default"
        report = purge_results(90, now=now, batch=1)
        left = sorted(status for (status,) in db.execute_sql("SELECT status FROM test_result"))
        assert left == ["s3", "s4"]
        assert report.cutoff == datetime(2027, 3, 17, 12, 0)
        assert report.complete
        if _postgres(scratch):
            # January, February (and any older, empty month the migration made)
            assert report.partitions_dropped[-2:] == ("test_result_2027_01", "test_result_2027_02")
            assert (report.deleted, report.batches) == (2, 2)  # March's and the default's
            names = {p.name for p in partitions.partitions()}
            assert "test_result_2027_01" not in names and "test_result_2027_03" in names
            assert f"test_result_{now:%Y_%m}" in names  # the pass keeps months ready
            assert "test_result_2027_09" in names
            # the rollback once the legacy partition is gone: a new plain table, rows kept
            kept = _rows(scratch)
            Runner(scratch, str(MIGRATIONS_DIR), table_name=HISTORY_TABLE).down(MIGRATION)
            assert _relkind(scratch) == "r" and _rows(scratch) == kept
            assert {("test_result_pkey", "p"), ("test_result_run_id_fkey", "f")} <= _constraints(
                scratch
            )
            assert not _schema_diff(scratch)
            assert _failure_index(scratch) is not None
        else:
            assert report.partitions_dropped == ()
            assert (report.deleted, report.batches) == (4, 4)


def test_a_stray_row_in_the_default_partition_moves_into_its_new_month(
    scratch: Database,
) -> None:
    """A row dated beyond the ready months waits in the default partition and moves into its
    month's partition when that is created."""
    if not _postgres(scratch):
        pytest.skip("partitions are PostgreSQL's")
    with _bound(scratch):
        apply_migrations(scratch)
        far = utcnow() + timedelta(days=400)
        _seed(scratch, [far])
        assert _where(scratch)["s0"] == "test_result_default"
        created = partitions.ensure_partitions(far, ahead=0)
        assert created == [f"test_result_{far:%Y_%m}"]
        assert _where(scratch)["s0"] == f"test_result_{far:%Y_%m}"
        # made beside the table and attached: it has every index (the partial one too)
        assert _unindexed_partitions(scratch) == {}
        assert partitions.ensure_partitions(far, ahead=0) == []  # once


def test_a_busy_partition_waits_for_the_next_pass(scratch: Database) -> None:
    """A partition another transaction is reading is not waited for: it stays, the pass goes
    on, and the next pass drops it."""
    if not _postgres(scratch):
        pytest.skip("partitions are PostgreSQL's")
    import psycopg

    with _bound(scratch):
        apply_migrations(scratch)
        partitions.ensure_partitions(datetime(2027, 1, 10), ahead=1)
        _seed(scratch, [datetime(2027, 1, 5), datetime(2027, 2, 5)])
        url = f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{scratch.database}"
        with psycopg.connect(url) as reader:
            reader.execute("SELECT count(*) FROM test_result_2027_01").fetchone()  # holds a lock
            busy = partitions.drop_partitions_before(datetime(2027, 3, 1), lock_timeout="200ms")
            assert "test_result_2027_01" not in busy.partitions
            assert "test_result_2027_02" in busy.partitions
        later = partitions.drop_partitions_before(datetime(2027, 3, 1), lock_timeout="200ms")
        assert "test_result_2027_01" in later.partitions
        assert db.execute_sql("SELECT count(*) FROM test_result").fetchone()[0] == 0


def test_a_busy_table_gets_its_new_month_on_a_later_pass(scratch: Database) -> None:
    """Creating a month waits at most the lock timeout behind a reader of the table; the
    next pass creates it."""
    if not _postgres(scratch):
        pytest.skip("partitions are PostgreSQL's")
    import psycopg

    with _bound(scratch):
        apply_migrations(scratch)
        month = datetime(2031, 5, 1)
        url = f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{scratch.database}"
        with psycopg.connect(url) as reader:
            reader.execute("SELECT count(*) FROM test_result").fetchone()  # holds a lock
            assert partitions.ensure_partitions(month, ahead=0, lock_timeout="200ms") == []
        assert partitions.ensure_partitions(month, ahead=0, lock_timeout="200ms") == [
            "test_result_2031_05"
        ]


def _scanned(database: Database, sql: str, params: tuple[object, ...]) -> set[str]:
    """The tables (partitions) the plan of ``sql`` reads."""
    plan = database.execute_sql(f"EXPLAIN (FORMAT JSON) {sql}", params).fetchone()[0]
    found: set[str] = set()

    def walk(node: dict[str, object]) -> None:
        if "Relation Name" in node:
            found.add(str(node["Relation Name"]))
        for child in node.get("Plans", []):  # type: ignore[attr-defined]
            walk(child)

    walk(plan[0]["Plan"])
    return found


def test_a_runs_results_are_read_from_its_month_only(scratch: Database) -> None:
    """The analysis's read of one run names its date: PostgreSQL scans that month's partition
    only; on both databases it returns exactly the run's rows."""
    with _bound(scratch):
        apply_migrations(scratch)
        if _postgres(scratch):
            partitions.ensure_partitions(datetime(2027, 1, 10), ahead=6)
        started = datetime(2027, 3, 10, 8, 30)
        _seed(scratch, [started, started])
        scratch.execute_sql(f"UPDATE test_run SET started_at = {_stamp(started)} WHERE id = 1")
        run = TestRun.get_by_id(1)
        window = queries.results_window(run.started_at, run.received_at)
        assert sorted(status for _, status, _ in queries.run_results(1, window)) == ["s0", "s1"]
        if _postgres(scratch):
            sql, params = queries.run_results_sql(1, window)
            assert _scanned(scratch, sql, params) == {"test_result_2027_03"}
            # without the date every partition's run index is probed
            unbounded = "SELECT test_case_id, status, retry FROM test_result WHERE run_id = %s"
            assert len(_scanned(scratch, unbounded, (1,))) > 5
