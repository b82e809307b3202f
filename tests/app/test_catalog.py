"""The read use cases of the dashboard and the API: counts, series, lists, one test, tenancy."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, time, timedelta

import pytest

from flakeguard.errors import BadRequestError, NotFoundError
from flakeguard.usecases import catalog
from flakeguard.usecases.cursor import BadCursorError
from models import (
    DomainEvent,
    InfraEvent,
    Repository,
    SlackMessage,
    Tenant,
    TestCase,
    TestRun,
    db,
    default_tenant,
    utcnow,
)
from tests.bot import factories as f
from tests.stored import add_result


def own() -> int:
    return default_tenant().id


@contextmanager
def counting() -> Iterator[list[str]]:
    """Every SQL statement the database runs inside the block (peewee's query hooks)."""
    seen: list[str] = []
    hooks = db.obj.query_hooks
    hook = lambda event: seen.append(event.sql)  # noqa: E731
    hooks.append(hook)
    try:
        yield seen
    finally:
        hooks.remove(hook)


def run(repo: Repository, *, hours_ago: float = 1, duration: float = 60.0, n: list[int] = [0]):  # noqa: B006
    """A run of ``repo`` received ``hours_ago`` (hours_ago < 0: minutes after today's midnight)."""
    n[0] += 1
    if hours_ago < 0:
        at = datetime.combine(utcnow().date(), time()) + timedelta(minutes=-hours_ago)
    else:
        at = utcnow() - timedelta(hours=hours_ago)
    return TestRun.create(
        repository=repo,
        sha=f"{n[0]:040x}",
        ci_run_id=str(5000 + n[0]),
        job="pytest",
        source="github",
        content_digest=f"{n[0]:064x}",
        duration=duration,
        received_at=at,
        analyzed_at=at,
    )


def result(test: TestCase, test_run: TestRun, status: str, *, retry: int = 0, message=None):  # type: ignore[no-untyped-def]
    add_result(
        test_run,
        test,
        status,
        retry=retry,
        duration=1.5 + retry,
        message=message,
        failure_type="AssertionError" if message else None,
        created_at=test_run.received_at + timedelta(seconds=retry),
    )


@pytest.fixture
def shop(database):  # type: ignore[no-untyped-def]
    """acme/shop: a flaky test (quarantined), a flaky one (proposed), a broken one, two healthy."""
    repo = f.repo("acme/shop")
    flaky_q = f.test_case(repo, "test_checkout")
    flaky = f.test_case(repo, "test_cart")
    broken = f.test_case(repo, "test_login")
    healthy = f.test_case(repo, "test_search")
    f.test_case(repo, "test_never_analyzed")
    f.score(flaky_q, value=0.3, days_ago=2)
    f.score(flaky, value=0.2, days_ago=10)
    f.score(broken, state="broken", value=1.0, days_ago=1)
    f.score(healthy, state="healthy", value=0.0, days_ago=20)
    f.propose(flaky.id)
    f.act(flaky_q.id, "approve", actor="U1", source="slack")
    f.event(flaky_q, "flaky", score=0.3, interval=[0.1, 0.5], reason="flips")
    f.event(broken, "broken")
    # Two runs today: one turned red by the flaky test (one red run of 120 s), one green.
    red = run(repo, hours_ago=-2, duration=120.0)
    result(flaky_q, red, "failed", message="AssertionError: boom\nat line 3")
    result(flaky_q, red, "passed", retry=1)
    green = run(repo, hours_ago=-1)
    result(flaky_q, green, "passed")
    result(broken, green, "failed", message="KeyError: 'user'")  # broken: not a flake
    return repo


def test_overview_counts_each_test_in_one_state(shop):
    """Quarantined, flaky, broken and healthy partition the tests; proposed is counted apart."""
    [summary] = catalog.overview(tenant_id=own()).repos
    assert summary.full_name == "acme/shop"
    c = summary.counts
    assert (c.tests, c.quarantined, c.flaky, c.broken, c.healthy, c.proposed) == (5, 1, 1, 1, 2, 1)


def test_overview_series_flake_rate_and_time_lost(shop):
    """Today: two runs, one turned red by a flake: rate 0.5, its 120 s lost; 30 days shown."""
    [summary] = catalog.overview(tenant_id=own()).repos
    assert len(summary.series) == catalog.WINDOW_DAYS
    today = summary.series[-1]
    assert today.day == utcnow().date()
    assert (today.runs, today.red_runs, today.seconds_lost) == (2, 1, 120.0)
    assert today.flake_rate == 0.5
    assert summary.series[0].runs == 0
    assert summary.flake_rate == 0.5 and summary.seconds_lost == 120.0


def test_overview_week_changes(shop):
    """The week: one newly flaky, one newly broken, one quarantined; the list is newest first."""
    view = catalog.overview(tenant_id=own())
    week = view.repos[0].week
    assert (week.newly_flaky, week.newly_broken, week.fixed, week.quarantined) == (1, 1, 0, 1)
    kinds = sorted(change.kind for change in view.changes)
    assert kinds == ["broken", "flaky", "quarantined"]
    assert all(change.repository == "acme/shop" for change in view.changes)
    assert {c.name for c in view.changes} >= {"tests.test_api.test_checkout"}


def test_another_tenant_sees_nothing(shop):
    """A second tenant's overview is empty; the repository and its tests are unknown to it."""
    other = Tenant.create(slug="globex", name="Globex")
    assert catalog.overview(tenant_id=other.id).repos == ()
    assert catalog.overview(tenant_id=other.id).changes == ()
    with pytest.raises(NotFoundError):
        catalog.list_tests("acme/shop", tenant_id=other.id)
    with pytest.raises(NotFoundError):
        catalog.repository_detail("acme/shop", tenant_id=other.id)
    test = TestCase.get(TestCase.name == "test_checkout")
    with pytest.raises(NotFoundError) as info:
        catalog.test_view(test.id, tenant_id=other.id)
    with pytest.raises(NotFoundError) as missing:
        catalog.test_view(10**9, tenant_id=other.id)
    assert str(info.value).replace(str(test.id), "N") == str(missing.value).replace(str(10**9), "N")


def test_list_tests_by_state(shop):
    """Each state filter lists exactly the tests counted in it."""

    def names(state: str | None) -> list[str]:
        page = catalog.list_tests("acme/shop", tenant_id=own(), state=state, sort="name")
        return [row.name.rpartition(".")[2] for row in page.items]

    assert names("quarantined") == ["test_checkout"]
    assert names("flaky") == ["test_cart"]
    assert names("broken") == ["test_login"]
    assert names("healthy") == ["test_never_analyzed", "test_search"]
    assert len(names(None)) == 5


def test_list_rows_carry_score_quarantine_and_first_failing_commit(shop):
    """A row has the score and interval, the quarantine's state and version, a broken test's sha."""
    page = catalog.list_tests("acme/shop", tenant_id=own())
    rows = {row.name.rpartition(".")[2]: row for row in page.items}
    assert [r.name.rpartition(".")[2] for r in page.items][:2] == ["test_login", "test_checkout"]
    q = rows["test_checkout"]
    assert (q.state, q.quarantine_state, q.quarantine_version) == ("quarantined", "quarantined", 1)
    assert (q.score, q.low, q.high) == (0.3, 0.05, 0.25)
    assert rows["test_cart"].quarantine_state == "proposed"
    assert rows["test_login"].first_failing_sha == "deadbeef" * 5
    assert rows["test_login"].first_failing_url.endswith("/acme/shop/commit/" + "deadbeef" * 5)
    assert rows["test_never_analyzed"].verdict == "insufficient"
    assert rows["test_cart"].first_failing_sha is None


def test_search_is_literal_and_case_insensitive(shop):
    """Search matches part of the name; ``_`` is a character, not a wildcard."""
    found = catalog.list_tests("acme/shop", tenant_id=own(), query="CHECK")
    assert [r.name for r in found.items] == ["tests.test_api.test_checkout"]
    assert catalog.list_tests("acme/shop", tenant_id=own(), query="test%cart").items == ()


@pytest.mark.parametrize("sort", catalog.SORTS)
def test_cursor_walks_every_test_once(database, sort):
    """Pages of 3 over 10 tests (ties included) give each test once, in the sort's order."""
    repo = f.repo("acme/many")
    for i in range(10):
        test = f.test_case(repo, f"test_{i % 4}_{i}")
        f.score(test, value=[0.1, 0.2][i % 2], days_ago=i % 3)
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        page = catalog.list_tests("acme/many", tenant_id=own(), sort=sort, cursor=cursor, limit=3)
        seen += [row.test_case_id for row in page.items]
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert pages == 4 and len(seen) == 10 and len(set(seen)) == 10
    whole = catalog.list_tests("acme/many", tenant_id=own(), sort=sort, limit=50)
    assert [row.test_case_id for row in whole.items] == seen


def test_bad_list_arguments_are_refused(shop):
    """Unknown state or sort, a limit out of range and foreign cursors are 400s."""
    for kwargs in ({"state": "sad"}, {"sort": "colour"}, {"limit": 0}, {"limit": 201}):
        with pytest.raises(BadRequestError):
            catalog.list_tests("acme/shop", tenant_id=own(), **kwargs)
    page = catalog.list_tests("acme/shop", tenant_id=own(), sort="name", limit=1)
    assert page.next_cursor
    for cursor, sort in (("not-a-cursor", "name"), ("", "name"), (page.next_cursor, "score")):
        with pytest.raises(BadCursorError):
            catalog.list_tests("acme/shop", tenant_id=own(), sort=sort, cursor=cursor)
    with pytest.raises(NotFoundError):
        catalog.list_tests("acme/nope", tenant_id=own())


def test_test_view(shop):
    """One test: outcomes per run (passed on retry), failures grouped, timeline, links."""
    test = TestCase.get(TestCase.name == "test_checkout")
    q = test.quarantine.get()
    SlackMessage.create(
        team_id="T1", channel="C1", ts="1700000000.000100", kind="flaky", quarantine=q.id
    )
    view = catalog.test_view(test.id, tenant_id=own())
    assert view.row.state == "quarantined" and view.repository == "acme/shop"
    assert [h.outcome for h in view.history] == ["passed", "passed_on_retry"]
    assert view.history[-1].attempts == 2 and view.history[-1].run_url.endswith(
        "/acme/shop/actions/runs/" + view.history[-1].run_url.rsplit("/", 1)[1]
    )
    [group] = view.failures
    assert (group.message, group.count, group.failure_type) == (
        "AssertionError: boom",
        1,
        "AssertionError",
    )
    assert group.sample.startswith("AssertionError: boom\nat line 3")
    assert [e.action for e in view.timeline] == ["approve"]
    assert view.timeline[0].to_state == "quarantined" and view.timeline[0].source == "slack"
    [verdict] = view.verdicts
    assert (verdict.kind, verdict.score, verdict.low, verdict.high) == ("flaky", 0.3, 0.1, 0.5)
    [link] = view.slack
    assert link.url == "https://slack.com/archives/C1/p1700000000000100"
    assert view.durations.count == 3 and view.durations.max == 2.5


def test_repository_detail_lists_storms(shop):
    """The repository page's header: the summary, the week's changes and infra storms."""
    storm = run(shop, hours_ago=3)
    InfraEvent.create(run=storm, failed=40, total=50)
    detail = catalog.repository_detail("ACME/shop", tenant_id=own())
    assert detail.summary.full_name == "acme/shop"
    [s] = detail.storms
    assert (s.run_id, s.failed, s.total) == (storm.id, 40, 50)
    assert len(detail.changes) == 3


def grow(repo: Repository, tests: int) -> None:
    """``tests`` more flaky tests of ``repo``: quarantines, runs with retries, events, failures."""
    for i in range(tests):
        test = f.test_case(repo, f"test_grown_{TestCase.select().count()}_{i}")
        f.score(test, value=0.1 + i / 1000)
        f.act(test.id, "approve", actor="U1", source="slack")
        f.event(test, "flaky")
        r = run(repo, hours_ago=5 + i)
        result(test, r, "failed", message=f"boom {i}")
        result(test, r, "passed", retry=1)
        DomainEvent.create(repository=repo, test_case=test, kind="fixed")


def test_query_count_is_constant_as_rows_grow(shop):
    """Each read runs the same number of SQL statements with 5 tests or with 25."""

    def counts() -> list[int]:
        test = TestCase.get(TestCase.name == "test_checkout")
        out = []
        for call in (
            lambda: catalog.overview(tenant_id=own()),
            lambda: catalog.repository_detail("acme/shop", tenant_id=own()),
            lambda: catalog.list_tests("acme/shop", tenant_id=own(), limit=100),
            lambda: catalog.list_tests("acme/shop", tenant_id=own(), query="grown"),
            lambda: catalog.test_view(test.id, tenant_id=own()),
        ):
            with counting() as seen:
                call()
            out.append(len(seen))
        return out

    f.repo("acme/second")
    before = counts()
    grow(shop, 10)
    grow(Repository.get(Repository.full_name == "acme/second"), 10)
    test = TestCase.get(TestCase.name == "test_checkout")
    for i in range(10):
        r = run(shop, hours_ago=30 + i)
        result(test, r, "failed", message=f"other {i}")
    after = counts()
    assert before == after
    assert max(after) <= 12, after
