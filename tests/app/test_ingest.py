"""The ingest use case on both databases: bounded reading, keys, duplicates, the gate decision."""

from __future__ import annotations

import gzip
import io
from datetime import datetime
from xml.sax.saxutils import quoteattr

import pytest

from engine.junit import parse_report
from flakeguard.errors import BadRequestError, PayloadTooLargeError, ReportRejectedError
from flakeguard.streams import GzipReader
from flakeguard.usecases.gate import decide_gate
from flakeguard.usecases.ingest import (
    RunMeta,
    ingest_reports,
    parse_run_meta,
    read_reports,
)
from flakeguard.usecases.repos import add_repository
from models import ResultBlock, TestCase, TestRun
from models.packing import MAX_DURATION_SECONDS, milliseconds
from tests.api import samples
from tests.stored import stored_keys, stored_results

META = RunMeta(sha=samples.SHA, branch="main", ci_run_id="7", job="unit")


@pytest.fixture
def repo(database):  # type: ignore[no-untyped-def]
    """A repository to ingest into."""
    return add_repository("acme/shop")[0]


def test_keys_are_the_parser_keys(repo) -> None:  # type: ignore[no-untyped-def]
    """TestCase.key is exactly the key the JUnit engine gives each case."""
    body = samples.report(
        [samples.case("test_a[x  y]", classname=" pkg.Mod "), samples.case("test_b")]
    )
    ingest_reports(repo, [("r.xml", body)], META, max_bytes=2**20)
    stored = {t.key for t in TestCase.select()}
    assert stored == {case.key for case in parse_report(body).cases}


def test_same_key_twice_in_one_report_is_one_case(repo) -> None:  # type: ignore[no-untyped-def]
    """A key repeated across suites is one TestCase with a result per occurrence."""
    body = (
        b"<testsuites>"
        b'<testsuite name="chromium"><testcase classname="c" name="t"/></testsuite>'
        b'<testsuite name="firefox"><testcase classname="c" name="t"/></testsuite>'
        b"</testsuites>"
    )
    result = ingest_reports(repo, [("r.xml", body)], META, max_bytes=2**20)
    assert TestCase.select().count() == 1
    assert [status for _, status, _ in stored_keys()] == ["passed", "passed"]
    assert result.totals["tests"] == 2


def test_files_in_another_order_are_a_duplicate(repo) -> None:  # type: ignore[no-untyped-def]
    """The digest ignores the order of the files of one upload."""
    a, b = samples.simple(prefix="a"), samples.simple(prefix="b")
    first = ingest_reports(repo, [("a", a), ("b", b)], META, max_bytes=2**20)
    second = ingest_reports(repo, [("b", b), ("a", gzip.compress(a))], META, max_bytes=2**20)
    assert (second.run_id, second.duplicate) == (first.run_id, True)
    assert TestRun.select().count() == 1


def test_budget_covers_all_files_together(repo) -> None:  # type: ignore[no-untyped-def]
    """Two files each under the limit but over it together are refused with 413."""
    body = samples.simple(passed=40)
    with pytest.raises(PayloadTooLargeError):
        ingest_reports(repo, [("a", body), ("b", body)], META, max_bytes=len(body) + 10)
    assert TestRun.select().count() == 0


def test_long_names_are_cut_to_the_columns(repo) -> None:  # type: ignore[no-untyped-def]
    """Names and failure types longer than their columns are cut, never refused."""
    long = "n" * 1500
    body = (
        f'<testsuite name="s"><testcase classname="c" name="{long}">'
        f'<failure type="{"T" * 600}" message="m"/></testcase></testsuite>'
    ).encode()
    ingest_reports(repo, [("r.xml", body)], META, max_bytes=2**20)
    case = TestCase.get()
    assert len(case.name) == 512
    assert len(case.key) <= 500
    (failure,) = stored_results()
    assert failure.failure_type is not None and len(failure.failure_type) == 255


def test_started_at_dates_the_results(repo) -> None:  # type: ignore[no-untyped-def]
    """Results of an imported run are dated by the run's start, when given."""
    meta = RunMeta(samples.SHA, "main", "8", "unit", started_at=datetime(2026, 1, 2, 3, 4, 5))
    ingest_reports(repo, [("r.xml", samples.simple(passed=1))], meta, max_bytes=2**20)
    assert [b.created_at for b in ResultBlock.select()] == [datetime(2026, 1, 2, 3, 4, 5)]


def test_parse_run_meta_defaults_and_normalises() -> None:
    """Metadata strings become a RunMeta: attempt defaults to 1, SHA lower-cased, UTC."""
    repo, meta = parse_run_meta(
        {"repo": "acme/shop", "sha": "A" * 40, "started_at": "2026-05-01T10:00:00-02:00"}
    )
    assert repo == "acme/shop"
    assert (meta.sha, meta.attempt, meta.pr, meta.branch) == ("a" * 40, 1, None, "")
    assert meta.started_at == datetime(2026, 5, 1, 12, 0)


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"sha": "A" * 40}, "repo"),
        ({"repo": "acme/shop"}, "sha"),
        ({"repo": "acme/shop", "sha": "g" * 40}, "sha"),
        ({"repo": "acme/shop", "sha": "a" * 40, "attempt": "-1"}, "attempt"),
        ({"repo": "acme/shop", "sha": "a" * 40, "pr": "x"}, "pr"),
    ],
)
def test_parse_run_meta_names_the_bad_field(values, field) -> None:  # type: ignore[no-untyped-def]
    """Each invalid metadata value is a BadRequestError naming the field."""
    with pytest.raises(BadRequestError, match=f"^{field}: "):
        parse_run_meta(values)


def test_gzip_reader_reads_concatenated_members() -> None:
    """Two concatenated gzip members read as one stream, in small pieces."""
    data = gzip.compress(b"<testsuites>") + gzip.compress(b"</testsuites>")
    reader = GzipReader(io.BytesIO(data))
    pieces = []
    while chunk := reader.read(3):
        pieces.append(chunk)
    assert b"".join(pieces) == b"<testsuites></testsuites>"


def test_truncated_gzip_is_a_bad_report() -> None:
    """A gzip file cut short is a ReportRejectedError naming the file."""
    data = gzip.compress(samples.simple(passed=50))[:-30]
    with pytest.raises(ReportRejectedError, match=r"^cut\.xml\.gz: "):
        read_reports([("dir/cut.xml.gz", data)], max_bytes=2**20)


def test_gate_without_failures_passes() -> None:
    """No failures: the gate passes, whatever is quarantined."""
    decision = decide_gate([], {"a::b"})
    assert decision.passed and not decision.blocking


def test_gate_forgives_only_quarantined_failures() -> None:
    """Failures that are all quarantined pass and are listed as forgiven."""
    decision = decide_gate(["m::t1", "m::t2", "m::t1"], {"m::t1", "m::t2", "m::t3"})
    assert decision.passed
    assert decision.forgiven == ("m::t1", "m::t2")


def test_gate_fails_on_one_unquarantined_failure() -> None:
    """One failure outside the quarantine list fails the gate and is named."""
    decision = decide_gate(["m::t1", "m::new"], {"m::t1"})
    assert not decision.passed
    assert decision.blocking == ("m::new",)


def test_gate_falls_back_to_the_reports_when_server_is_down() -> None:
    """Without a quarantine list any failure fails, and no failure passes."""
    assert not decide_gate(["m::t1"], None).passed
    assert decide_gate(["m::t1"], None).fallback
    assert decide_gate([], None).passed


def test_error_after_stored_batches_rolls_everything_back(repo) -> None:  # type: ignore[no-untyped-def]
    """A report broken after several batches were written stores nothing at all."""
    from flakeguard.usecases.ingest import BATCH

    good = samples.report([samples.case(f"test_{i}") for i in range(BATCH * 3)])
    broken = good.replace(b"</testsuite></testsuites>", b"<testcase name='x'></oops>")
    with pytest.raises(ReportRejectedError, match="mismatched tag"):
        ingest_reports(repo, [("big.xml", broken)], META, max_bytes=2**24)
    assert (TestRun.select().count(), TestCase.select().count()) == (0, 0)
    assert stored_results() == []


def test_large_report_is_stored_in_batches(repo) -> None:  # type: ignore[no-untyped-def]
    """A report of several batches stores every result once, with correct totals."""
    from flakeguard.usecases.ingest import BATCH

    count = BATCH * 2 + 7
    cases = [
        samples.case(f"test_{i}", samples.FAILED if i % 10 == 0 else "passed") for i in range(count)
    ]
    result = ingest_reports(repo, [("big.xml", samples.report(cases))], META, max_bytes=2**24)
    assert result.totals["tests"] == count
    assert result.totals["failures"] == (count + 9) // 10
    assert len(stored_results()) == count
    assert TestCase.select().count() == count


def test_concurrent_identical_uploads_store_once(repo) -> None:  # type: ignore[no-untyped-def]
    """Two threads uploading the same report at once make one run; both get its id."""
    import threading

    from models import db

    body = samples.simple(passed=30, failed=2)
    barrier = threading.Barrier(2)
    results: list[object] = []

    def upload() -> None:
        with db.connection_context():
            barrier.wait()
            results.append(ingest_reports(repo, [("r.xml", body)], META, max_bytes=2**20))

    threads = [threading.Thread(target=upload) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 2
    assert len({r.run_id for r in results}) == 1  # type: ignore[attr-defined]
    assert sorted(r.duplicate for r in results) == [False, True]  # type: ignore[attr-defined]
    assert TestRun.select().count() == 1
    assert len(stored_results()) == 32


def test_results_keep_every_character_of_messages(repo) -> None:  # type: ignore[no-untyped-def]
    """Tabs, newlines, backslashes and the text of a NULL marker survive storage unchanged.

    (An empty message is stored as NULL; durations in whole milliseconds.)
    """
    tricky = "tab\there\nnew line\r\nback\\slash \\N \\t ünïcødé ✓"
    body = (
        "<testsuite><testcase classname='c' name='t' time='0.25'>"
        f"<flakyFailure message={quoteattr(tricky)} type='T\\x'/></testcase>"
        f"<testcase classname='c' name='u' time='1e-5'><failure message={quoteattr(tricky)}"
        " type='E\tR'/></testcase></testsuite>"
    ).encode()
    ingest_reports(repo, [("r.xml", body)], META, max_bytes=2**20)
    expected = []
    for case in parse_report(body).cases:
        for retry, attempt in enumerate(case.attempts):
            expected.append(
                (
                    case.key,
                    retry,
                    attempt.status,
                    milliseconds(attempt.duration) / 1000,
                    attempt.message or None,
                    attempt.failure_type or None,
                )
            )
        expected.append(
            (
                case.key,
                len(case.attempts),
                case.status,
                milliseconds(case.duration) / 1000,
                case.message or None,
                case.failure_type or None,
            )
        )
    keys = dict(TestCase.select(TestCase.id, TestCase.key).tuples())
    stored = [
        (keys[r.test_case_id], r.retry, r.status, r.duration, r.message, r.failure_type)
        for r in stored_results()
    ]
    assert sorted(stored) == sorted(expected)
    assert len(stored) == 3
    assert any(row[4] and "\t" in row[4] and "\\N" in row[4] and "✓" in row[4] for row in stored)


def test_a_hostile_duration_is_clamped_not_refused(repo) -> None:  # type: ignore[no-untyped-def]
    """time="1e12" on a failed and on a passed test: the upload is stored, each duration
    clamped to MAX_DURATION_SECONDS (the failure's attempt row is an int4 of milliseconds)."""
    body = (
        b"<testsuite><testcase classname='c' name='slow' time='1e12'><failure message='m'/>"
        b"</testcase><testcase classname='c' name='fast' time='1e12'/></testsuite>"
    )
    ingest_reports(repo, [("r.xml", body)], META, max_bytes=2**20)
    durations = sorted((r.status, r.duration) for r in stored_results())
    assert durations == [("failed", MAX_DURATION_SECONDS), ("passed", MAX_DURATION_SECONDS)]


def test_cases_added_elsewhere_are_found(repo) -> None:  # type: ignore[no-untyped-def]
    """Kept case ids are checked per upload: cases added elsewhere are used, not duplicated."""
    from models.bulk import CASE_IDS

    ingest_reports(repo, [("r.xml", samples.simple(passed=3))], META, max_bytes=2**20)
    assert CASE_IDS.known(repo.id) is not None  # kept now
    # Another process stores a case this one has not seen.
    TestCase.create(repository=repo, key=samples.key("test_9"), suite="", classname="", name="t9")
    meta = RunMeta(samples.SHA, "main", "8", "unit")
    body = samples.report([samples.case("test_0"), samples.case("test_9")])
    ingest_reports(repo, [("r.xml", body)], meta, max_bytes=2**20)
    assert TestCase.select().where(TestCase.key == samples.key("test_9")).count() == 1
    assert TestCase.select().count() == 4
    run = TestRun.get(TestRun.ci_run_id == "8")
    keys = {key for key, _, _ in stored_keys(run.id)}
    assert keys == {samples.key("test_0"), samples.key("test_9")}


def test_ids_of_a_rejected_upload_are_not_kept(repo) -> None:  # type: ignore[no-untyped-def]
    """Cases inserted by an upload that then fails are rolled back and never used later."""
    from flakeguard.usecases.ingest import BATCH

    good = samples.report([samples.case(f"test_{i}") for i in range(BATCH + 5)])
    broken = good.replace(b"</testsuite></testsuites>", b"<testcase name='x'></oops>")
    with pytest.raises(ReportRejectedError):
        ingest_reports(repo, [("big.xml", broken)], META, max_bytes=2**24)
    assert TestCase.select().count() == 0
    ingest_reports(repo, [("good.xml", good)], META, max_bytes=2**24)
    stored = {t.id for t in TestCase.select()}
    used = {r.test_case_id for r in stored_results()}
    assert used == stored and len(stored) == BATCH + 5


def test_uploads_adding_the_same_tests_in_other_orders_both_store(  # type: ignore[no-untyped-def]
    repo, db_url, monkeypatch
) -> None:
    """Two uploads add the same new tests, batches in opposite orders, each its first batch
    before either its second: each then waits on rows the other inserted, PostgreSQL aborts
    one, and it is stored again from its spooled report."""
    import threading

    from models import db
    from models.bulk import ResultLoader

    if not db_url.startswith("postgresql"):
        pytest.skip("one writer at a time on SQLite: nothing to interleave")
    monkeypatch.setattr("flakeguard.usecases.ingest.BATCH", 2)
    barrier = threading.Barrier(2)
    first = threading.local()
    add = ResultLoader.add

    def add_then_wait(loader: ResultLoader, cases: list[object]) -> None:
        add(loader, cases)
        if not getattr(first, "done", False):  # each upload's first batch only, once
            first.done = True
            barrier.wait(30)

    monkeypatch.setattr(ResultLoader, "add", add_then_wait)
    front = [samples.case(name) for name in ("a1", "a2")]
    back = [samples.case(name) for name in ("b1", "b2")]
    bodies = {"1": samples.report(front + back), "2": samples.report(back + front)}
    results: dict[str, object] = {}

    def upload(ci_run_id: str) -> None:
        meta = RunMeta(sha=samples.SHA, branch="main", ci_run_id=ci_run_id, job="unit")
        with db.connection_context():
            try:
                results[ci_run_id] = ingest_reports(
                    repo, [("r.xml", bodies[ci_run_id])], meta, max_bytes=2**20
                )
            except Exception as exc:  # noqa: BLE001 - the assertion names it
                results[ci_run_id] = exc

    threads = [threading.Thread(target=upload, args=(name,)) for name in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(type(r).__name__ for r in results.values()) == ["IngestResult"] * 2, results
    assert TestRun.select().count() == 2
    assert TestCase.select().count() == 4
    assert len(stored_results()) == 8
