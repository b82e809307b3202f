"""The bulk loader's locks: uploads to one repository at once wait for each other, no deadlock."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from models import Repository, TestCase, db, result_reads, utcnow
from models.bulk import ResultLoader
from models.tenancy import default_tenant
from models.test_cases import CASE_IDS, LAST_SEEN_RESOLUTION
from tests.models.test_packed_results import Case, _run
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


def test_uploads_adding_and_refreshing_tests_at_once_never_wait(
    database, watch, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """A repository too big for the kept ids (every batch looks its keys up): upload B adds a
    test, A and B both see a known test whose last_seen is stale, A adds another test, stores
    and commits while B is still open, then B does. No step waits for the other upload (no
    numbering lock held to the commit, no row locked before the end)."""
    monkeypatch.setattr(CASE_IDS, "per_repository", 0)  # no repository's ids are kept
    now = utcnow()
    repo = Repository.create(tenant=default_tenant(), full_name="acme/huge")
    old = now - 2 * LAST_SEEN_RESOLUTION
    TestCase.create(repository=repo, key="known", name="known", first_seen=old, last_seen=old)
    run_a, run_b = _run(repo, 1, now), _run(repo, 2, now + timedelta(seconds=1))
    a, b = _Session(), _Session()
    loader_a = ResultLoader(run_a.id, repo.id, now=now, dated=now)
    loader_b = ResultLoader(run_b.id, repo.id, now=now, dated=now)
    steps = [
        (b, lambda: loader_b.add([Case("new-b")])),
        (a, lambda: loader_a.add([Case("known")])),
        (b, lambda: loader_b.add([Case("known")])),
        (a, lambda: loader_a.add([Case("new-a", status="failed")])),
        (a, loader_a.finish),
        (a, None),  # commit
        (b, loader_b.finish),
        (b, None),
    ]
    try:
        a.begin()
        b.begin()
        for n, (session, step) in enumerate(steps):
            done = session.commit() if step is None else session.step(step)
            assert _settle(done, session.pid, watch), f"step {n} waited for the other upload"
    finally:
        a.close()
        b.close()
    ordinals = dict(TestCase.select(TestCase.key, TestCase.ordinal).tuples())
    assert ordinals == {"known": 0, "new-b": 1, "new-a": 2}
    assert len(stored_results(run_a.id)) == 2
    assert len(stored_results(run_b.id)) == 2
    last_seen = TestCase.get(TestCase.key == "known").last_seen
    assert last_seen == now  # refreshed once, at A's finish


def test_a_run_committed_after_a_later_numbered_one_reads_back_whole(database, watch) -> None:  # type: ignore[no-untyped-def]
    """A numbers its new test first, B numbers its own after and commits first; this process
    reads B's run (keeping the map of the repository's tests, whose highest ordinal is B's),
    then A commits: A's run still reads back with its new test, and so does a third upload."""
    now = utcnow()
    repo = Repository.create(tenant=default_tenant(), full_name="acme/shop")
    TestCase.create(repository=repo, key="known", name="known")
    run_a, run_b = _run(repo, 1, now), _run(repo, 2, now + timedelta(seconds=1))
    a, b = _Session(), _Session()
    loader_a = ResultLoader(run_a.id, repo.id, now=now, dated=now)
    loader_b = ResultLoader(run_b.id, repo.id, now=now, dated=now)
    try:
        a.begin()
        b.begin()
        a.step(lambda: loader_a.add([Case("known"), Case("new-a")])).result(30)
        b.step(lambda: loader_b.add([Case("known"), Case("new-b")])).result(30)
        b.step(loader_b.finish).result(30)
        b.commit().result(30)
        window = (now - timedelta(days=1), now + timedelta(days=1))
        assert len(result_reads.run_results(repo.id, run_b.id, window)) == 2
        a.step(loader_a.finish).result(30)
        a.commit().result(30)
    finally:
        a.close()
        b.close()
    keys = dict(TestCase.select(TestCase.id, TestCase.key).tuples())
    read = result_reads.run_results(repo.id, run_a.id, window)
    assert sorted(keys[test_id] for test_id, _, _ in read) == ["known", "new-a"]
    run_c = _run(repo, 3, now)
    with db.atomic():
        loader = ResultLoader(run_c.id, repo.id, now=now, dated=now)
        loader.add([Case("new-a"), Case("new-b")])
        loader.finish()
    assert TestCase.select().count() == 3  # A's test found, not added again
    read = result_reads.run_results(repo.id, run_c.id, window)
    assert sorted(keys[test_id] for test_id, _, _ in read) == ["new-a", "new-b"]
