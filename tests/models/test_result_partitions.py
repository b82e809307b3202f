"""Migration 0044: test_result partitioned by month on PostgreSQL, data kept, and its rollback.

(Migration 0047 replaced ``test_result`` by the packed tables; their partitions are tested in
``test_packed_results.py``.)
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from peewee import Database
from playhouse.migrations import Runner

from models import utcnow
from models.migrate import HISTORY_TABLE, MIGRATIONS_DIR
from tests.models.conftest import migrated_to, partition_aware, upload_in_flight

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


def result_schema(database: Database) -> tuple[object, ...]:
    """test_result's columns (name, type, null) and indexes (name, columns, unique), the
    primary key aside (the partitioned table has none)."""
    with partition_aware(database):
        indexes = database.get_indexes("test_result")
    columns = {(c.name, c.data_type.lower(), c.null) for c in database.get_columns("test_result")}
    keyed = {(i.name, tuple(i.columns), i.unique) for i in indexes if not i.name.endswith("_pkey")}
    return tuple(sorted(columns)), tuple(sorted(keyed))


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
        runner = migrated_to(scratch, BEFORE)
        _seed(scratch, dates)
        before = _rows(scratch)
        assert len(before) == 3
        indexes = {i.name for i in scratch.get_indexes("test_result")}
        schema = result_schema(scratch)
        constraints = _constraints(scratch) if _postgres(scratch) else set()

        assert "test_result_failure" in indexes  # 0040's partial index of failures
        failure_index = _failure_index(scratch)

        runner.up(MIGRATION)
        assert _rows(scratch) == before
        assert result_schema(scratch) == schema
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
        assert result_schema(scratch) == schema
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
    with scratch.connection_context():
        runner = Runner(scratch, str(MIGRATIONS_DIR), table_name=HISTORY_TABLE)
        # every migration before 0044 first (0040 builds an index concurrently, which would
        # itself wait for the upload)
        runner.up(BEFORE)
        _seed(scratch, [])  # a repository, a test and a run; no results yet
        with upload_in_flight(
            scratch,
            "INSERT INTO test_result (run_id, test_case_id, status, duration, retry, "
            f"created_at) VALUES (1, 1, 'upload', 0.1, 0, {_stamp(utcnow())})",
        ):
            runner.up(MIGRATION)
        assert _relkind(scratch) == "p"
        assert [row[3] for row in _rows(scratch)] == ["upload"]
