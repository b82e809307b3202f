"""Migration 0046 and the numbering of new tests: dense ordinals per repository."""

from __future__ import annotations

import threading

import pytest
from peewee import Database, IntegrityError
from playhouse.migrations import Runner

from models import Repository, TestCase, db, utcnow
from models.bulk import upsert_cases
from models.migrate import HISTORY_TABLE, MIGRATIONS_DIR
from models.tenancy import default_tenant
from tests.models.conftest import migrated_to, seed_repositories

BEFORE = "0045_web_session_generation"
THIS = "0046_test_case_ordinal"
COUNTER = "0048_ordinal_counter"


def test_up_numbers_each_repositorys_tests_in_creation_order(scratch: Database) -> None:
    """Tests of two repositories created interleaved get 0, 1, 2... per repository, in id
    order; the pair is unique; down drops the column and keeps the tests."""
    with scratch.connection_context():
        runner = Runner(scratch, str(MIGRATIONS_DIR), table_name=HISTORY_TABLE)
        runner.up(BEFORE)
        run = scratch.execute_sql
        seed_repositories(scratch, "acme/a", "acme/b")
        for n, repo in enumerate((1, 2, 1, 1, 2)):
            run(
                "INSERT INTO test_case (repository_id, key, suite, classname, name, first_seen, "
                f"last_seen) VALUES ({repo}, 'k{n}', '', '', 't{n}', CURRENT_TIMESTAMP, "
                "CURRENT_TIMESTAMP)"
            )
        runner.up(THIS)
        rows = run("SELECT repository_id, key, ordinal FROM test_case ORDER BY id").fetchall()
        assert [tuple(r) for r in rows] == [
            (1, "k0", 0),
            (2, "k1", 0),
            (1, "k2", 1),
            (1, "k3", 2),
            (2, "k4", 1),
        ]
        with pytest.raises(IntegrityError), scratch.atomic():
            run("UPDATE test_case SET ordinal = 0 WHERE key = 'k2'")
        # the code from before 0046 (a rolling upgrade) inserts without an ordinal, one row or
        # several in one statement: each takes its repository's next
        for keys in (("old1",), ("old2", "old3")):
            run(
                "INSERT INTO test_case (repository_id, key, suite, classname, name, first_seen, "
                "last_seen) VALUES "
                + ", ".join(
                    f"(1, '{key}', '', '', '{key}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                    for key in keys
                )
            )
        old = "key IN ('old1', 'old2', 'old3')"
        rows = run(f"SELECT key, ordinal FROM test_case WHERE {old} ORDER BY id").fetchall()
        assert [tuple(r) for r in rows] == [("old1", 3), ("old2", 4), ("old3", 5)]
        run(f"DELETE FROM test_case WHERE {old}")
        runner.down(THIS)
        assert "ordinal" not in {c.name for c in scratch.get_columns("test_case")}
        assert run("SELECT count(*) FROM test_case").fetchone()[0] == 5


def test_new_tests_continue_their_repositorys_numbering(database) -> None:  # type: ignore[no-untyped-def]
    """A test made by the ORM and the tests an upload adds take the next ordinals of their
    repository, whatever another repository holds."""
    tenant = default_tenant()
    one = Repository.create(tenant=tenant, full_name="acme/one")
    two = Repository.create(tenant=tenant, full_name="acme/two")
    assert TestCase.create(repository=one, key="a", name="a").ordinal == 0
    assert TestCase.create(repository=two, key="x", name="x").ordinal == 0
    with db.atomic():
        ids = upsert_cases(one.id, [_Case("b"), _Case("a"), _Case("c")], utcnow())
    assert {key: ordinal for key, (_, ordinal) in ids.items()} == {"a": 0, "b": 1, "c": 2}
    ordinals = dict(TestCase.select(TestCase.key, TestCase.ordinal).tuples())
    assert {k: v for k, v in ordinals.items() if k in "abc"} == {"a": 0, "b": 1, "c": 2}
    assert TestCase.create(repository=one, key="d", name="d").ordinal == 3
    TestCase.create(repository=one, key="e", name="e", ordinal=10)  # numbered by its maker
    with db.atomic():
        ids = upsert_cases(one.id, [_Case("f")], utcnow())
    assert ids["f"][1] == 11  # past it, not into it


class _Case:
    """Shaped like engine.junit.CaseResult, as far as the case upsert reads it."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.suite = self.classname = ""
        self.name = key
        self.file = None
        self.line = None


def test_concurrent_uploads_number_their_new_tests_one_after_the_other(database, db_url) -> None:  # type: ignore[no-untyped-def]
    """Two transactions adding different tests to one repository at once: no ordinal twice,
    none skipped (PostgreSQL; SQLite has one writer)."""
    if not db_url.startswith("postgresql"):
        pytest.skip("one writer at a time on SQLite")
    repo = Repository.create(tenant=default_tenant(), full_name="acme/busy")
    barrier = threading.Barrier(2)
    failures: list[BaseException] = []

    def upload(prefix: str) -> None:
        try:
            with db.connection_context(), db.atomic():
                barrier.wait(30)
                upsert_cases(repo.id, [_Case(f"{prefix}{n}") for n in range(50)], utcnow())
        except BaseException as exc:  # noqa: BLE001 - the test thread raises it
            failures.append(exc)

    threads = [threading.Thread(target=upload, args=(p,)) for p in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failures, failures
    ordinals = sorted(
        o for (o,) in TestCase.select(TestCase.ordinal).where(TestCase.repository == repo).tuples()
    )
    assert ordinals == list(range(100))


def test_the_counter_starts_past_each_repositorys_tests_and_numbers_old_inserts(
    scratch: Database,
) -> None:
    """0048 (PostgreSQL) starts each repository's counter past its highest ordinal; a test
    inserted without an ordinal (code older than 0046) takes the counter's next; ``down``
    drops the counter and the trigger numbers from the highest ordinal again."""
    if "Postgres" not in type(scratch).__name__:
        pytest.skip("the counter is PostgreSQL's")
    with scratch.connection_context():
        runner = migrated_to(scratch, BEFORE)
        run = scratch.execute_sql
        seed_repositories(scratch, "acme/a")
        insert = (
            "INSERT INTO test_case (repository_id, key, suite, classname, name, first_seen, "
            "last_seen) VALUES (1, '{0}', '', '', '{0}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
        )
        run(insert.format("a"))
        run(insert.format("b"))
        runner.up(COUNTER)
        assert run("SELECT next_ordinal FROM ordinal_counter").fetchall() == [(2,)]
        run("UPDATE ordinal_counter SET next_ordinal = 5")  # as after a rolled-back upload
        run(insert.format("c"))
        ordinal = "SELECT ordinal FROM test_case WHERE key = %s"
        assert run(ordinal, ("c",)).fetchone() == (5,)
        runner.down(COUNTER)
        assert "ordinal_counter" not in scratch.get_tables()
        run(insert.format("d"))
        assert run(ordinal, ("d",)).fetchone() == (6,)
