"""Each page runs a fixed number of SQL statements, however many tests and results it shows."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flakeguard.usecases.demo import DEMO_REPO
from flakeguard.usecases.quarantine import perform
from models import Repository, TestCase, db
from tests.bot import factories as f


@contextmanager
def counting() -> Iterator[list[str]]:
    """Every SQL statement run inside the block (peewee's query hooks)."""
    seen: list[str] = []
    hook = lambda event: seen.append(event.sql)  # noqa: E731
    db.obj.query_hooks.append(hook)
    try:
        yield seen
    finally:
        db.obj.query_hooks.remove(hook)


def statements(client, paths: list[str]) -> list[int]:  # type: ignore[no-untyped-def]
    counts = []
    for path in paths:
        with counting() as seen:
            assert client.get(path).status_code == 200, path
        counts.append(len(seen))
    return counts


def test_pages_do_not_grow_with_the_data(admin) -> None:  # type: ignore[no-untyped-def]
    """Overview, repository (flaky and all) and test page: the same count with 12 more flaky,
    proposed, failing tests in the repository."""
    flaky = TestCase.get(TestCase.name == "test_payment_webhook_timeout")
    paths = [
        "/",
        f"/repos/{DEMO_REPO}",
        f"/repos/{DEMO_REPO}?state=&sort=name",
        f"/tests/{flaky.id}",
        "/tokens",
    ]
    before = statements(admin, paths)
    repo = Repository.get(Repository.full_name == DEMO_REPO)
    for n in range(12):
        test = f.test_case(repo, f"test_more_{n}")
        f.score(test, state="flaky")
        f.results(test, "+x+x+")
        perform(test.id, "propose", tenant_id=None, actor="flakeguard", source="system")
    after = statements(admin, paths)
    print("SQL statements per page:", dict(zip(paths, after, strict=True)))
    assert after == before, dict(zip(paths, zip(before, after, strict=True), strict=True))
    assert max(after) < 40
