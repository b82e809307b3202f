"""The packed results: what a run stores and reads back, one test's history, partitions."""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from peewee import fn

from flakeguard.usecases.retention import purge_results
from models import (
    FailureMessage,
    FlakeScore,
    Repository,
    ResultAttempt,
    ResultBlock,
    TestCase,
    TestRun,
    db,
    failure_reads,
    partitions,
    result_reads,
    utcnow,
)
from models.bulk import ResultLoader
from models.packing import BLOCK, MAX_PACKED_RETRIES, milliseconds
from models.tenancy import default_tenant
from models.test_cases import CASE_IDS
from tests.stored import EVER, stored_results


@dataclass(frozen=True)
class Try:
    status: str
    duration: float | None = 0.5
    message: str = ""
    failure_type: str = ""


@dataclass(frozen=True)
class Case:
    """Shaped like engine.junit.CaseResult, as far as the loader reads it."""

    key: str
    status: str = "passed"
    duration: float = 0.25
    message: str = ""
    failure_type: str = ""
    attempts: tuple[Try, ...] = field(default=())
    suite: str = ""
    classname: str = ""
    file: str | None = None
    line: int | None = None

    @property
    def name(self) -> str:
        return self.key


def _repo(name: str = "acme/shop") -> Repository:
    return Repository.create(tenant=default_tenant(), full_name=name)


def _run(repo: Repository, n: int, at: datetime) -> TestRun:
    return TestRun.create(
        repository=repo,
        sha=f"{n:040x}",
        ci_run_id=str(n),
        content_digest=f"{n:064x}",
        started_at=at,
        received_at=at,
    )


def _load(repo: Repository, run: TestRun, cases: list[Case], at: datetime) -> None:
    with db.atomic():
        loader = ResultLoader(run.id, repo.id, now=at, dated=at)
        for start in range(0, len(cases), 1000):
            loader.add(cases[start : start + 1000])
        loader.finish()


def _expected(cases: list[Case]) -> Counter[tuple[str, str, int, float, str | None]]:
    """(key, status, retry, duration, message) of every attempt, as they should read back."""
    out: Counter[tuple[str, str, int, float, str | None]] = Counter()
    for case in cases:
        for retry, attempt in enumerate((*case.attempts, case)):
            failing = attempt.status in ("failed", "error")
            message = (attempt.message or None) if failing else None
            seconds = milliseconds(attempt.duration) / 1000
            out[(case.key, attempt.status, retry, seconds, message)] += 1
    return out


def _read(run: TestRun) -> Counter[tuple[str, str, int, float, str | None]]:
    keys = dict(TestCase.select(TestCase.id, TestCase.key).tuples())
    return Counter(
        (keys[a.test_case_id], a.status, a.retry, a.duration, a.message)
        for a in stored_results(run.id)
    )


def test_a_run_reads_back_as_it_was_uploaded(database) -> None:  # type: ignore[no-untyped-def]
    """2,000 tests with failures, retries (more than a byte holds), a test reported twice and
    odd durations: every attempt reads back (durations in ms, messages of failures only), from
    32 block rows and one attempt row per failure, retry or occurrence of a repeated test."""
    repo = _repo()
    at = datetime(2027, 3, 10, 8, 30)
    cases = [Case(f"t{i}", duration=i / 7) for i in range(2000)]
    cases[3] = Case("t3", "failed", message="boom\tline\nnext \\N", failure_type="E")
    cases[4] = Case("t4", "error", duration=math.nan, failure_type="Crash")
    cases[5] = Case("t5", attempts=(Try("failed", None, "first"), Try("error", 1e6, "second")))
    many = tuple(Try("failed", message=f"try {n}") for n in range(MAX_PACKED_RETRIES + 4))
    cases[6] = Case("t6", "failed", message="last", attempts=many)
    cases[7] = Case("t7", "skipped", message="not on this platform")
    cases.append(Case("t8", "failed", message="boom\tline\nnext \\N", failure_type="E"))  # again
    run = _run(repo, 1, at)
    _load(repo, run, cases, at)
    assert _read(run) == _expected(cases)
    assert ResultBlock.select().count() == 2000 // BLOCK + 1
    # t3, t4, t5 (3 rows), t6 (36), t8 (both occurrences): the rest are packed only
    assert ResultAttempt.select().count() == 1 + 1 + 3 + 36 + 2
    messages = {m.message for m in FailureMessage.select()}
    assert messages == {"boom\tline\nnext \\N", None, "first", "second", "last"} | {
        f"try {n}" for n in range(MAX_PACKED_RETRIES + 4)
    }  # each once; t4's type has no message; the skip reason is not kept
    window = result_reads.results_window(run.started_at, run.received_at)
    assert sorted(result_reads.run_results(repo.id, run.id, window))[:3] == [
        (c.id, "passed", 0) for c in TestCase.select().order_by(TestCase.id).limit(3)
    ]


def test_a_run_holding_a_few_tests_of_a_block_stores_their_durations_only(database) -> None:  # type: ignore[no-untyped-def]
    """A shard's run (tests 3 and 40 of a block; test 9 alone in the next): four bytes of
    duration per test it holds; its results, the history of each and a full block's read
    back exactly."""
    repo = _repo()
    at = datetime(2027, 3, 10, 8, 30)
    full = _run(repo, 1, at)
    cases = [Case(f"t{i:03}", duration=i / 8) for i in range(128)]
    _load(repo, full, cases, at)
    shard = _run(repo, 2, at + timedelta(hours=1))
    few = [Case("t003", duration=3.5), Case("t040", "failed", 4.25), Case("t073", duration=7)]
    _load(repo, shard, few, at + timedelta(hours=1))
    sizes = dict(
        ResultBlock.select(ResultBlock.block, fn.length(ResultBlock.durations))
        .where(ResultBlock.run == shard.id)
        .tuples()
    )
    assert sizes == {0: 8, 1: 4}
    assert _read(shard) == _expected(few)
    assert _read(full) == _expected(cases)
    tests = {t.key: t for t in TestCase.select()}
    for key, seconds in (("t003", 3.5), ("t040", 4.25), ("t073", 7.0), ("t005", 5 / 8)):
        test = tests[key]
        history = result_reads.test_history(repo.id, test.id, test.ordinal, runs=2)
        assert history[0].attempts[0][2] == seconds, key
    [alone] = result_reads.test_history(repo.id, tests["t005"].id, tests["t005"].ordinal, runs=5)
    assert alone.run_id == full.id


def test_a_run_reads_the_same_with_the_kept_ids_or_without(database, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A repository too large for the kept map of test ids has its ordinals read per run: the
    same results."""
    repo = _repo()
    at = datetime(2027, 3, 10)
    cases = [Case(f"t{i}", "failed" if i % 7 == 0 else "passed") for i in range(300)]
    run = _run(repo, 1, at)
    _load(repo, run, cases, at)
    window = result_reads.results_window(at, at)
    kept = sorted(result_reads.run_results(repo.id, run.id, window))
    monkeypatch.setattr(CASE_IDS, "per_repository", 10)
    assert CASE_IDS.known(repo.id) is None
    assert sorted(result_reads.run_results(repo.id, run.id, window)) == kept
    assert len(kept) == 300


def test_ordinals_keep_blocks_full_whatever_the_ids(database) -> None:  # type: ignore[no-untyped-def]
    """Two repositories adding tests in turn (their ids interleave): each run of 128 tests is
    two full blocks of its own repository."""
    at = utcnow()
    repos = [_repo("acme/a"), _repo("acme/b")]
    for n in range(4):  # 32 new tests of each repository in turn
        for repo in repos:
            run = _run(repo, n * 2 + repo.id, at)
            cases = [Case(f"t{i}") for i in range(32 * (n + 1))]
            _load(repo, run, cases, at)
    ids = [c.id for c in TestCase.select().order_by(TestCase.id)]
    assert ids != sorted(ids, key=lambda i: TestCase.get_by_id(i).repository_id)  # interleaved
    for repo in repos:
        last = TestRun.select().where(TestRun.repository == repo).order_by(TestRun.id.desc()).get()
        blocks = ResultBlock.select().where(ResultBlock.run == last.id)
        assert sorted(b.block for b in blocks) == [0, 1]
        assert all(bytes(b.codes).count(0) == 0 for b in blocks)


def test_one_tests_history_is_newest_first_with_its_attempts(database) -> None:  # type: ignore[no-untyped-def]
    """A test in some runs only, retried in one: its latest runs, newest first, each with its
    attempts; runs without it are skipped; another repository's runs are not read."""
    repo, other = _repo(), _repo("rival/shop")
    start = datetime(2027, 1, 1)
    for n in range(10):
        at = start + timedelta(days=n)
        cases = [Case("neighbour")]
        if n % 3 == 0:
            attempts = (Try("failed", 1.0, "boom"),) if n == 6 else ()
            cases.append(Case("target", duration=n, attempts=attempts))
        _load(repo, _run(repo, n, at), cases, at)
        _load(other, _run(other, 100 + n, at), [Case("target")], at)
    test = TestCase.get(TestCase.repository == repo, TestCase.key == "target")
    history = result_reads.test_history(repo.id, test.id, test.ordinal, runs=3)
    assert [h.at.day for h in history] == [10, 7, 4]
    assert [h.attempts for h in history] == [
        ((0, "passed", 9.0),),
        ((0, "failed", 1.0), (1, "passed", 6.0)),
        ((0, "passed", 3.0),),
    ]
    assert history[0].sha == f"{9:040x}"
    failures = failure_reads.test_failures(repo.id, test.id, limit=5)
    assert [(f.at.day, f.retry, f.message) for f in failures] == [(7, 0, "boom")]


# -- PostgreSQL: partitions and plans -------------------------------------------------


def _postgres(db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("partitions and plans are PostgreSQL's")


def _seed_months(dates: list[datetime]) -> Repository:
    """A repository with one run per date, each with a passing and a failing test."""
    repo = _repo()
    for n, at in enumerate(dates):
        cases = [Case("ok"), Case("bad", "failed", message=f"boom {at:%m}")]
        _load(repo, _run(repo, n, at), cases, at)
    return repo


def _tables() -> dict[str, int]:
    return {
        "blocks": ResultBlock.select().count(),
        "attempts": ResultAttempt.select().count(),
        "messages": FailureMessage.select().count(),
    }


def test_ran_on_other_commit_batches_its_tests_and_stops_at_first_seen(database) -> None:  # type: ignore[no-untyped-def]
    """300 tests over five blocks (three statements): those that ran on another commit are
    found, the own branch excepted; each test's stored first_seen is its first run's date, so
    bounding by it drops none of them; a run dated before a first_seen (less the slack) is not
    read for that test."""
    repo = _repo()
    at = datetime(2027, 3, 10, 8, 30)
    early = _run(repo, 1, at - timedelta(days=10))
    TestRun.update(sha="a" * 40, branch="main").where(TestRun.id == early.id).execute()
    _load(repo, early, [Case(f"t{i:03}") for i in range(150)], at - timedelta(days=10))
    late = _run(repo, 2, at)
    TestRun.update(sha="b" * 40, branch="feature").where(TestRun.id == late.id).execute()
    _load(repo, late, [Case(f"t{i:03}") for i in range(300)], at)
    tests = {t.key: (t.id, t.ordinal) for t in TestCase.select()}
    ordinals = dict(tests.values())
    earlier = {tests[f"t{i:03}"][0] for i in range(150)}
    assert result_reads.ran_on_other_commit(repo.id, ordinals, "b" * 40) == earlier
    own = result_reads.ran_on_other_commit(repo.id, ordinals, "b" * 40, except_branches={"main"})
    assert own == set()
    stored = dict(TestCase.select(TestCase.id, TestCase.first_seen).tuples())
    found = result_reads.ran_on_other_commit(repo.id, ordinals, "b" * 40, first_seen=stored)
    assert found == earlier
    seen = dict(stored)
    seen[tests["t007"][0]] = at - timedelta(days=2)  # as if first seen after the early run
    bounded = result_reads.ran_on_other_commit(repo.id, ordinals, "b" * 40, first_seen=seen)
    assert bounded == earlier - {tests["t007"][0]}
    t7, ordinal = tests["t007"]
    assert len(result_reads.test_history(repo.id, t7, ordinal, runs=5)) == 2
    only = result_reads.test_history(repo.id, t7, ordinal, runs=5, first_seen=seen[t7])
    assert [run.run_id for run in only] == [late.id]


def _backfill(repo: Repository, n: int, cases: list[Case], dated: datetime) -> TestRun:
    """A run dated ``dated`` and uploaded now (``flakeguard ingest --started-at``, the demo)."""
    run = _run(repo, n, dated)
    TestRun.update(received_at=utcnow()).where(TestRun.id == run.id).execute()
    with db.atomic():
        loader = ResultLoader(run.id, repo.id, now=utcnow(), dated=dated)
        loader.add(cases)
        loader.finish()
    return run


def test_a_backfilled_history_shows_all_its_runs(database) -> None:  # type: ignore[no-untyped-def]
    """21 daily runs back-dated weeks, uploaded today oldest first (the demo's history): the
    tests are first seen at the first run's date and the strip shows the last 20 runs."""
    from flakeguard.usecases.testcases import HISTORY, history_strip

    repo = _repo()
    start = utcnow() - timedelta(days=21)
    for n in range(21):
        status = "failed" if n % 3 == 0 else "passed"
        _backfill(repo, n, [Case("steady"), Case("flaky", status)], start + timedelta(days=n))
    flaky = TestCase.get(TestCase.key == "flaky")
    assert flaky.first_seen == start
    assert HISTORY == 20
    assert history_strip(flaky) == "".join("x" if n % 3 == 0 else "+" for n in range(1, 21))


def test_a_test_backfilled_after_its_first_upload_is_not_new(database) -> None:  # type: ignore[no-untyped-def]
    """A test first uploaded today, then in a run back-dated ten days on another commit: its
    first_seen comes down to that run's date, so it ran on another commit (not "new")."""
    repo = _repo()
    today = _run(repo, 1, utcnow())
    _load(repo, today, [Case("t")], utcnow())
    old = _backfill(repo, 2, [Case("t"), Case("u")], utcnow() - timedelta(days=10))
    test = TestCase.get(TestCase.key == "t")
    assert test.first_seen == old.started_at
    seen = {test.id: test.first_seen}
    found = result_reads.ran_on_other_commit(
        repo.id, {test.id: test.ordinal}, today.sha, first_seen=seen
    )
    assert found == {test.id}
    other = TestCase.get(TestCase.key == "u")
    assert other.first_seen == old.started_at  # inserted by the back-dated run itself


def test_retention_drops_whole_months_of_every_result_table(database, db_url) -> None:  # type: ignore[no-untyped-def]
    """January and February go as partitions of all three tables, March before the cutoff in
    batches, the rest stays; a month's messages go with their month."""
    _postgres(db_url)
    partitions.ensure_partitions(datetime(2027, 1, 10), ahead=6)
    dates = [datetime(2027, 1, 5), datetime(2027, 2, 20), datetime(2027, 3, 2)]
    dates += [datetime(2027, 3, 25), datetime(2027, 6, 1), datetime(2020, 1, 1)]
    _seed_months(dates)
    report = purge_results(90, now=datetime(2027, 6, 15, 12), batch=1)
    assert report.complete
    for table in partitions.TABLES:
        assert f"{table}_2027_01" in report.partitions_dropped
        assert f"{table}_2027_02" in report.partitions_dropped
        assert f"{table}_2027_03" not in report.partitions_dropped
    left = sorted(a.message or "" for a in stored_results() if a.status == "failed")
    assert left == ["boom 03", "boom 06"]
    # March 2 and 2020 (the default partitions) in batches: 2 blocks, 2 attempts, 1 message
    assert report.deleted == 5
    assert _tables() == {"blocks": 2, "attempts": 2, "messages": 2}


def test_retention_skips_a_locked_month_and_deletes_the_others(database, db_url) -> None:  # type: ignore[no-untyped-def]
    """A month whose rows another transaction keeps locked is left for the next pass (the
    report says it is incomplete); the other months' rows are deleted."""
    _postgres(db_url)
    import psycopg

    partitions.ensure_partitions(datetime(2027, 1, 10), ahead=6)
    _seed_months([datetime(2027, 3, 2), datetime(2027, 6, 1), datetime(2020, 1, 1)])
    with psycopg.connect(db_url) as locker:
        locker.execute("LOCK TABLE result_block_2027_03 IN EXCLUSIVE MODE")
        report = purge_results(90, now=datetime(2027, 6, 15, 12), batch=1)
    assert not report.complete
    blocks = sorted(at for (at,) in ResultBlock.select(ResultBlock.created_at).tuples())
    assert blocks == [datetime(2027, 3, 2), datetime(2027, 6, 1)]  # 2020's went
    assert _tables() == {"blocks": 2, "attempts": 1, "messages": 2}
    assert purge_results(90, now=datetime(2027, 6, 15, 12), batch=1).complete
    assert _tables() == {"blocks": 1, "attempts": 1, "messages": 2}


def test_a_stray_row_in_the_default_partition_moves_into_its_new_month(database, db_url) -> None:  # type: ignore[no-untyped-def]
    """Rows dated beyond the ready months wait in the default partitions and move into their
    month's partitions when those are created, for every table."""
    _postgres(db_url)
    far = datetime(2040, 5, 3)
    _seed_months([far])
    where = "SELECT DISTINCT tableoid::regclass::text FROM {}"
    for table in partitions.TABLES:
        assert db.execute_sql(where.format(table)).fetchall() == [(f"{table}_default",)]
    created = partitions.ensure_partitions(far, ahead=0)
    assert created == [f"{table}_2040_05" for table in partitions.TABLES]
    for table in partitions.TABLES:
        assert db.execute_sql(where.format(table)).fetchall() == [(f"{table}_2040_05",)]
    assert partitions.ensure_partitions(far, ahead=0) == []  # once


def test_a_busy_month_waits_for_the_next_pass(database, db_url) -> None:  # type: ignore[no-untyped-def]
    """A month whose partition another transaction is reading is not waited for past the
    retries: none of that month's three partitions goes, the later months do, and the next
    pass drops it."""
    _postgres(db_url)
    import psycopg

    partitions.ensure_partitions(datetime(2027, 1, 10), ahead=1)
    _seed_months([datetime(2027, 1, 5), datetime(2027, 2, 5)])
    pauses: list[float] = []
    with psycopg.connect(db_url) as reader:
        reader.execute("SELECT count(*) FROM result_block_2027_01").fetchone()  # holds a lock
        busy = partitions.drop_partitions_before(
            datetime(2027, 3, 1), lock_timeout="50ms", retries=2, pause=pauses.append
        )
        assert pauses == [0.5, 1.0]  # backing off between the tries
        assert busy.partitions == [f"{table}_2027_02" for table in partitions.TABLES]
    later = partitions.drop_partitions_before(datetime(2027, 3, 1), lock_timeout="200ms")
    assert later.partitions == [f"{table}_2027_01" for table in partitions.TABLES]
    assert ResultBlock.select().count() == 0


def test_a_month_busy_for_a_moment_is_dropped_on_a_retry(database, db_url) -> None:  # type: ignore[no-untyped-def]
    """The reader of a month finishes while the drop backs off: the next try drops it."""
    _postgres(db_url)
    import psycopg

    partitions.ensure_partitions(datetime(2027, 1, 10), ahead=0)
    _seed_months([datetime(2027, 1, 5)])
    with psycopg.connect(db_url) as reader:
        reader.execute("SELECT count(*) FROM result_attempt_2027_01").fetchone()
        dropped = partitions.drop_partitions_before(
            datetime(2027, 2, 1), lock_timeout="50ms", pause=lambda _: reader.rollback()
        )
    assert dropped.partitions == [f"{table}_2027_01" for table in partitions.TABLES]


def _plan(sql: str, params: tuple[object, ...]) -> dict[str, object]:
    return db.execute_sql(f"EXPLAIN (FORMAT JSON) {sql}", params).fetchone()[0][0]["Plan"]  # type: ignore[no-any-return]


def _scans(plan: dict[str, object]) -> list[dict[str, object]]:
    """Every node of a plan that reads a table."""
    found = [plan] if "Relation Name" in plan else []
    for child in plan.get("Plans", []):  # type: ignore[attr-defined]
        found += _scans(child)
    return found


def _keyed(node: dict[str, object], column: str, value: int) -> bool:
    """The node reads by ``column = value`` (in its index condition or its filter; the value
    as a literal or a cast parameter, ``'1'::smallint``)."""
    text = f"{node.get('Index Cond', '')} {node.get('Filter', '')}"
    return re.search(rf"\({column} = '?{value}'?(::\w+)?\)", text) is not None


def test_the_hot_reads_stay_on_one_repository_and_their_months(database, db_url) -> None:  # type: ignore[no-untyped-def]
    """EXPLAIN of a run's results, one test's history and its failures, a repository's recent
    runs and its verdicts: every big table they read is read by the repository (the
    distribution column), a run's read in its month only, the history on its index newest
    first, stopping at its LIMIT."""
    _postgres(db_url)
    partitions.ensure_partitions(datetime(2027, 1, 10), ahead=6)
    repo = _seed_months([datetime(2027, m, 10) for m in range(1, 7)])
    db.execute_sql("ANALYZE")
    run = TestRun.select().where(TestRun.repository == repo).order_by(TestRun.id).first()
    test = TestCase.get(TestCase.key == "bad")
    lo, hi = result_reads.results_window(run.started_at, run.received_at)
    queries = {
        "run": result_reads.run_blocks_sql(repo.id, [run.id], lo, hi),
        "run attempts": result_reads.run_attempts_sql(repo.id, [run.id], lo, hi),
        "history": result_reads.history_sql(repo.id, test.ordinal, 50),
        "failures": failure_reads.failures_query(repo.id, test.id, 50).sql(),
        # the other big tables' hot reads: a repository's recent runs, its verdicts by state
        "recent runs": TestRun.select(TestRun.id, TestRun.sha)
        .where(TestRun.repository == repo.id)
        .order_by(TestRun.received_at.desc())
        .limit(20)
        .sql(),
        "verdicts": FlakeScore.select(FlakeScore.state, fn.COUNT(FlakeScore.id))
        .where(FlakeScore.repository == repo.id)
        .group_by(FlakeScore.state)
        .sql(),
    }
    with db.atomic():
        db.execute_sql("SET LOCAL enable_seqscan = off")  # tiny tables: the plans at size
        plans = {name: _plan(sql, tuple(params)) for name, (sql, params) in queries.items()}
    for name, plan in plans.items():
        scans = _scans(plan)
        assert scans, name
        assert all(_keyed(node, "repository_id", repo.id) for node in scans), (
            name,
            [(n.get("Index Cond"), n.get("Filter")) for n in scans],
        )
    assert {node["Relation Name"] for node in _scans(plans["run"])} == {"result_block_2027_01"}
    scanned = {node["Relation Name"] for node in _scans(plans["run attempts"])}
    assert scanned == {"result_attempt_2027_01"}
    history = _scans(plans["history"])
    assert {node["Node Type"] for node in history} == {"Index Scan"}
    assert {node["Scan Direction"] for node in history} == {"Backward"}
    assert plans["history"]["Node Type"] == "Limit"
    assert run_results_in_sqlite_too(repo, run)


def run_results_in_sqlite_too(repo: Repository, run: TestRun) -> bool:
    """The same read answers (the function is the one SQLite runs)."""
    window = result_reads.results_window(run.started_at, run.received_at)
    return sorted(s for _, s, _ in result_reads.run_results(repo.id, run.id, window)) == [
        "failed",
        "passed",
    ]


def test_a_run_read_from_outside_its_window_finds_nothing(database) -> None:  # type: ignore[no-untyped-def]
    """The window is part of the read: a run's results are only looked for at its date."""
    repo = _repo()
    at = datetime(2027, 3, 10)
    run = _run(repo, 1, at)
    _load(repo, run, [Case("a")], at)
    assert result_reads.run_results(repo.id, run.id, EVER) != []
    far = (at + timedelta(days=40), at + timedelta(days=41))
    assert result_reads.run_results(repo.id, run.id, far) == []


def test_a_busy_table_gets_its_new_month_on_a_later_pass(database, db_url) -> None:  # type: ignore[no-untyped-def]
    """Creating a month waits at most the lock timeout (per try) behind a reader of one of
    the tables, and then makes the month in none of them; the next pass makes it in all."""
    _postgres(db_url)
    import psycopg

    month = datetime(2031, 5, 1)
    with psycopg.connect(db_url) as reader:
        reader.execute("SELECT count(*) FROM result_attempt").fetchone()  # holds a lock
        created = partitions.ensure_partitions(month, ahead=0, lock_timeout="50ms", retries=0)
        assert created == []
    again = partitions.ensure_partitions(month, ahead=0, lock_timeout="200ms")
    assert again == [f"{table}_2031_05" for table in partitions.TABLES]
