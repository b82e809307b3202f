"""The bulk loader's locks: uploads to one repository at once wait for each other, no deadlock."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest

from models import Repository, TestCase, TestRun, db, utcnow
from models.bulk import ResultLoader
from models.tenancy import default_tenant
from models.test_cases import CASE_IDS, LAST_SEEN_RESOLUTION
from tests.models.test_packed_results import Case
from tests.stored import stored_results


class _Session:
    """A database session in a thread of its own, running the steps of one upload in order."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(1)
        self.pid = self.step(self._open).result(30)
        self._transaction: Any = None

    @staticmethod
    def _open() -> int:
        db.connect(reuse_if_open=True)
        return int(db.execute_sql("SELECT pg_backend_pid()").fetchone()[0])

    def step(self, function: Callable[[], Any]) -> Future[Any]:
        return self._pool.submit(function)

    def begin(self) -> None:
        def begin() -> None:
            self._transaction = db.atomic()
            self._transaction.__enter__()

        self.step(begin).result(30)

    def commit(self) -> Future[Any]:
        def commit() -> None:
            transaction, self._transaction = self._transaction, None
            transaction.__exit__(None, None, None)

        return self.step(commit)

    def close(self) -> None:
        def close() -> None:
            if self._transaction is not None:  # a failed test: roll back
                self._transaction.__exit__(RuntimeError, RuntimeError(), None)
            db.close()

        self.step(close).result(30)
        self._pool.shutdown()


@pytest.fixture
def watch(db_url: str) -> Iterator[psycopg.Connection[Any]]:
    """A connection of its own that watches the others (PostgreSQL only)."""
    if not db_url.startswith("postgresql"):
        pytest.skip("one writer at a time on SQLite: nothing to interleave")
    with psycopg.connect(db_url, autocommit=True) as connection:
        yield connection


def _settle(future: Future[Any], pid: int, watch: psycopg.Connection[Any]) -> bool:
    """Wait until ``future`` is done (True; its error raised) or its session waits for a lock
    (False). Polls the other session's state: no timing involved."""
    deadline = time.monotonic() + 60
    waiting = "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = %s"
    while not future.done():
        row = watch.execute(waiting, (pid,)).fetchone()
        if row is not None and row[0]:
            return False
        if time.monotonic() > deadline:
            raise AssertionError("the step neither finished nor waited for a lock")
        time.sleep(0.01)
    future.result()
    return True


def _run(repo: Repository, n: int, at: datetime) -> TestRun:
    return TestRun.create(
        repository=repo,
        sha=f"{n:040x}",
        ci_run_id=str(n),
        content_digest=f"{n:064x}",
        started_at=at,
        received_at=at,
    )


def test_uploads_adding_and_refreshing_tests_at_once_do_not_deadlock(
    database, watch, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """A repository too big for the kept ids (every batch looks its keys up): upload B numbers a
    new test, A sees a known test whose last_seen is stale, B sees it too, A then numbers a new
    test. A waits for B's numbering, and nothing of A's holds B up: both store their run."""
    monkeypatch.setattr(CASE_IDS, "per_repository", 0)  # no repository's ids are kept
    now = utcnow()
    repo = Repository.create(tenant=default_tenant(), full_name="acme/huge")
    old = now - 2 * LAST_SEEN_RESOLUTION
    TestCase.create(repository=repo, key="known", name="known", first_seen=old, last_seen=old)
    run_a, run_b = _run(repo, 1, now), _run(repo, 2, now + timedelta(seconds=1))
    a, b = _Session(), _Session()
    try:
        a.begin()
        b.begin()
        loader_a = ResultLoader(run_a.id, repo.id, now=now, dated=now)
        loader_b = ResultLoader(run_b.id, repo.id, now=now, dated=now)
        _settle(b.step(lambda: loader_b.add([Case("new-b")])), b.pid, watch)
        assert _settle(a.step(lambda: loader_a.add([Case("known")])), a.pid, watch)
        b_added = b.step(lambda: loader_b.add([Case("known")]))
        b_free = _settle(b_added, b.pid, watch)
        a_added = a.step(lambda: loader_a.add([Case("new-a", status="failed")]))
        assert not _settle(a_added, a.pid, watch)  # behind B's numbering
        assert b_free, "B waited for a row A locked before A's numbering"
        b.step(loader_b.finish).result(60)
        b.commit().result(60)
        a_added.result(60)
        a.step(loader_a.finish).result(60)
        a.commit().result(60)
    finally:
        a.close()
        b.close()
    ordinals = dict(TestCase.select(TestCase.key, TestCase.ordinal).tuples())
    assert ordinals == {"known": 0, "new-b": 1, "new-a": 2}
    assert len(stored_results(run_a.id)) == 2
    assert len(stored_results(run_b.id)) == 2
    last_seen = TestCase.get(TestCase.key == "known").last_seen
    assert last_seen == now  # refreshed once, at finish
