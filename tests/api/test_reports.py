"""POST /api/v1/reports on SQLite and PostgreSQL: storage, duplicates, every error path."""

from __future__ import annotations

import gzip
import io
from datetime import timedelta
from typing import Any

import pytest

from models import TestCase, TestRun, utcnow
from models.test_cases import CASE_IDS, LAST_SEEN_RESOLUTION
from tests.api import samples
from tests.api.conftest import LIMIT, snapshot
from tests.conftest import RepoToken
from tests.stored import stored_keys, stored_results

XML = {"Content-Type": "application/xml"}


def meta(**overrides: Any) -> dict[str, Any]:
    """Upload metadata for acme/shop, with overrides (None removes a field)."""
    values: dict[str, Any] = {
        "repo": "acme/shop",
        "sha": samples.SHA,
        "branch": "main",
        "run_id": "1001",
        "job": "test",
        "attempt": "1",
    }
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


def post_xml(client, acme: RepoToken, body: bytes, **overrides: Any):  # type: ignore[no-untyped-def]
    """POST a raw XML body with metadata in the query string."""
    headers = {**acme.headers, **XML}
    query = meta(**overrides)
    return client.post("/api/v1/reports", query_string=query, data=body, headers=headers)


def test_upload_stores_run_cases_and_results(client, acme, analyzed) -> None:  # type: ignore[no-untyped-def]
    """A raw XML upload answers 201 with the run id and totals and stores every result."""
    body = samples.report(
        [
            samples.case("test_ok"),
            samples.case("test_bad", samples.FAILED),
            samples.case("test_skip", "skipped"),
            samples.case("test_crash", "error"),
        ]
    )
    response = post_xml(client, acme, body, pr="17", started_at="2026-11-29T08:00:00+01:00")
    assert response.status_code == 201, response.get_json()
    data = response.get_json()
    assert data["duplicate"] is False
    assert data["totals"] == {
        "tests": 4,
        "passed": 1,
        "failures": 1,
        "errors": 1,
        "skipped": 1,
        "duration": 1.0,
    }
    run = TestRun.get_by_id(data["run_id"])
    assert (run.sha, run.branch, run.ci_run_id, run.job, run.attempt, run.pr) == (
        samples.SHA,
        "main",
        "1001",
        "test",
        1,
        17,
    )
    assert run.started_at.hour == 7  # stored as naive UTC
    assert run.analyzed_at is None
    statuses = {key: status for key, status, _ in stored_keys()}
    assert statuses == {
        samples.key("test_ok"): "passed",
        samples.key("test_bad"): "failed",
        samples.key("test_skip"): "skipped",
        samples.key("test_crash"): "error",
    }
    (failure,) = [r for r in stored_results() if r.status == "failed"]
    assert (failure.message, failure.failure_type) == ("assert 1 == 2", "AssertionError")


def test_retries_are_stored_one_row_per_attempt(client, acme, analyzed) -> None:  # type: ignore[no-untyped-def]
    """A test that failed twice then passed gives three rows with retry 0, 1, 2."""
    response = post_xml(client, acme, samples.report([samples.case("test_flaky", reruns=2)]))
    assert response.status_code == 201
    rows = stored_results()
    assert [(r.retry, r.status) for r in rows] == [(0, "failed"), (1, "failed"), (2, "passed")]
    assert rows[0].message == "boom 0"
    assert response.get_json()["totals"]["tests"] == 1


def test_analysis_is_enqueued_after_commit(client, acme, analyzed, db_url) -> None:  # type: ignore[no-untyped-def]
    """analyze_run is enqueued once with the run id, when its rows are already committed."""
    response = post_xml(client, acme, samples.simple(passed=5))
    assert analyzed == [(response.get_json()["run_id"], 5)]


def test_gzip_body_is_decompressed(client, acme, analyzed) -> None:  # type: ignore[no-untyped-def]
    """Content-Encoding: gzip is read as the decompressed report."""
    response = client.post(
        "/api/v1/reports",
        query_string=meta(),
        data=gzip.compress(samples.simple(passed=2, failed=1)),
        headers={**acme.headers, **XML, "Content-Encoding": "gzip"},
    )
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["totals"]["failures"] == 1
    assert len(stored_results()) == 3


def test_multipart_with_several_files_is_one_run(client, acme, analyzed) -> None:  # type: ignore[no-untyped-def]
    """Several files (plain and gzip) and form metadata make one run with summed totals."""
    data = {
        **meta(),
        "file": [
            (io.BytesIO(samples.simple(passed=2, prefix="a")), "a.xml"),
            (io.BytesIO(gzip.compress(samples.simple(passed=1, failed=1, prefix="b"))), "b.gz"),
        ],
    }
    response = client.post(
        "/api/v1/reports", data=data, headers=acme.headers, content_type="multipart/form-data"
    )
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["totals"]["tests"] == 4
    assert TestRun.select().count() == 1
    assert TestCase.select().count() == 4


def test_same_upload_twice_stores_once(client, acme, analyzed) -> None:  # type: ignore[no-untyped-def]
    """The same upload again answers 200 with the first run id and stores nothing more."""
    body = samples.simple(passed=3, failed=1)
    first = post_xml(client, acme, body)
    before = snapshot()
    again = client.post(
        "/api/v1/reports",
        query_string=meta(),
        data=gzip.compress(body),
        headers={**acme.headers, **XML, "Content-Encoding": "gzip"},
    )
    assert again.status_code == 200
    assert again.get_json() == {**first.get_json(), "duplicate": True}
    assert snapshot() == before
    assert len(analyzed) == 1


def test_the_same_bytes_for_another_commit_are_another_run(client, acme, analyzed) -> None:  # type: ignore[no-untyped-def]
    """Without a run id (curl, `flakeguard ingest`), the same report for another commit is a
    new run of that commit, not a duplicate of the first commit's run."""
    body = samples.simple(passed=3, failed=1)
    first = post_xml(client, acme, body, run_id=None, job=None)
    second = post_xml(client, acme, body, run_id=None, job=None, sha="b" * 40)
    assert (first.status_code, second.status_code) == (201, 201), second.get_json()
    assert second.get_json()["run_id"] != first.get_json()["run_id"]
    assert sorted(run.sha for run in TestRun.select()) == [samples.SHA, "b" * 40]
    again = post_xml(client, acme, body, run_id=None, job=None, sha="b" * 40)
    assert again.status_code == 200
    assert again.get_json()["run_id"] == second.get_json()["run_id"]
    assert len(analyzed) == 2


def test_another_attempt_is_another_run(client, acme, analyzed) -> None:  # type: ignore[no-untyped-def]
    """The same report under attempt 2 is a new run that reuses the test cases."""
    body = samples.simple(passed=2)
    first = post_xml(client, acme, body).get_json()
    second = post_xml(client, acme, body, attempt="2")
    assert second.status_code == 201
    assert second.get_json()["run_id"] != first["run_id"]
    assert TestCase.select().count() == 2
    assert len(stored_results()) == 4


def test_existing_cases_are_upserted_and_stale_last_seen_moves(client, acme, analyzed) -> None:  # type: ignore[no-untyped-def]
    """A later run keeps test case ids; last_seen older than the resolution is refreshed.

    A process refreshes a case at most once per resolution (it remembers which it
    did); the backdated row stands for a case last reported by another process,
    more than the resolution ago.
    """
    post_xml(client, acme, samples.simple(passed=2))
    first = {t.key: t for t in TestCase.select()}
    old = utcnow() - LAST_SEEN_RESOLUTION - timedelta(minutes=1)
    stale_key = samples.key("test_0")
    TestCase.update(last_seen=old).where(TestCase.key == stale_key).execute()
    CASE_IDS.clear()
    post_xml(client, acme, samples.simple(passed=2), run_id="1002")
    again = {t.key: t for t in TestCase.select()}
    assert {k: t.id for k, t in again.items()} == {k: t.id for k, t in first.items()}
    assert again[stale_key].last_seen > old
    assert again[stale_key].first_seen == first[stale_key].first_seen
    fresh_key = samples.key("test_1")
    assert again[fresh_key].last_seen == first[fresh_key].last_seen


def test_last_seen_moves_only_for_cases_in_the_upload(client, acme, analyzed) -> None:  # type: ignore[no-untyped-def]
    """A case missing from an upload keeps its old last_seen, even when others are refreshed."""
    post_xml(client, acme, samples.simple(passed=2))
    old = utcnow() - LAST_SEEN_RESOLUTION - timedelta(minutes=1)
    TestCase.update(last_seen=old).execute()
    CASE_IDS.clear()
    post_xml(client, acme, samples.report([samples.case("test_0")]), run_id="1003")
    seen = {t.key: t.last_seen for t in TestCase.select()}
    assert seen[samples.key("test_0")] > old
    assert seen[samples.key("test_1")] == old


def test_empty_report_is_a_run_with_no_tests(client, acme, analyzed) -> None:  # type: ignore[no-untyped-def]
    """A valid report without test cases is stored as a run with zero tests."""
    response = post_xml(client, acme, b"<testsuites/>")
    assert response.status_code == 201
    assert response.get_json()["totals"]["tests"] == 0


def bomb() -> bytes:
    """A gzip body far smaller than the limit that inflates far past it."""
    return gzip.compress(b"<testsuites>" + b" " * (LIMIT * 40) + b"</testsuites>")


def big_report() -> bytes:
    """A plain report just over the limit."""
    return samples.simple(passed=LIMIT // 60, prefix="x" * 20)


ERRORS: list[tuple[str, dict[str, Any], int, str]] = [
    ("no token", {"headers": {}}, 401, "unauthorized"),
    ("wrong token", {"headers": {"Authorization": "Bearer fgi_nope"}}, 401, "unauthorized"),
    ("basic auth", {"headers": {"Authorization": "Basic abc"}}, 401, "unauthorized"),
    ("token of another repository", {"token": "other"}, 403, "forbidden"),
    ("missing repo", {"query": {"repo": None}}, 400, "bad_request"),
    ("malformed repo", {"query": {"repo": "acme"}}, 400, "bad_request"),
    ("short sha", {"query": {"sha": "abc"}}, 400, "bad_request"),
    ("missing sha", {"query": {"sha": None}}, 400, "bad_request"),
    ("attempt not a number", {"query": {"attempt": "two"}}, 400, "bad_request"),
    ("attempt zero", {"query": {"attempt": "0"}}, 400, "bad_request"),
    ("pr not a number", {"query": {"pr": "#3"}}, 400, "bad_request"),
    ("bad started_at", {"query": {"started_at": "yesterday"}}, 400, "bad_request"),
    ("branch too long", {"query": {"branch": "b" * 300}}, 400, "bad_request"),
    ("malformed XML", {"body": b"<testsuites><testsuite>"}, 400, "bad_report"),
    ("not XML", {"body": b"hello"}, 400, "bad_report"),
    ("empty body", {"body": b""}, 400, "bad_report"),
    (
        "broken after some cases",
        {"body": samples.simple(passed=3)[:-20] + b"<oops"},
        400,
        "bad_report",
    ),
    ("malformed NUnit report", {"body": b'<test-run id="2"><test-case'}, 400, "bad_report"),
    ("DTD", {"body": b'<!DOCTYPE x [<!ENTITY a "b">]><testsuites/>'}, 400, "bad_report"),
    (
        "gzip header but not gzip",
        {"body": samples.simple(), "headers_extra": {"Content-Encoding": "gzip"}},
        400,
        "bad_report",
    ),
    ("too large", {"body": "big"}, 413, "too_large"),
    (
        "gzip bomb",
        {"body": "bomb", "headers_extra": {"Content-Encoding": "gzip"}},
        413,
        "too_large",
    ),
    (
        "JSON content type",
        {"headers_extra": {"Content-Type": "application/json"}},
        415,
        "unsupported_media_type",
    ),
    (
        "form-encoded content type",
        {"headers_extra": {"Content-Type": "application/x-www-form-urlencoded"}},
        415,
        "unsupported_media_type",
    ),
    (
        "brotli encoding",
        {"headers_extra": {"Content-Encoding": "br"}},
        415,
        "unsupported_media_type",
    ),
]


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [(spec, status, code) for _, spec, status, code in ERRORS],
    ids=[name for name, *_ in ERRORS],
)
def test_error_answers_status_and_changes_nothing(  # type: ignore[no-untyped-def]
    client, acme, other, analyzed, case, status, code
) -> None:
    """Each rejected upload answers its status as a JSON error and stores nothing."""
    body = case.get("body", samples.simple(passed=2, failed=1))
    if body == "big":
        body = big_report()
        assert len(body) > LIMIT
    elif body == "bomb":
        body = bomb()
        assert len(body) < LIMIT
    headers = {**XML, **case.get("headers", acme.headers), **case.get("headers_extra", {})}
    if case.get("token") == "other":
        headers.update(other.headers)
    before = snapshot()
    response = client.post(
        "/api/v1/reports", query_string=meta(**case.get("query", {})), data=body, headers=headers
    )
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["code"] == code
    assert error["message"]
    assert snapshot() == before
    assert analyzed == []


def test_report_error_says_what_and_where(client, acme, analyzed) -> None:  # type: ignore[no-untyped-def]
    """A malformed report's 400 carries the parser's message with the line."""
    response = post_xml(client, acme, b"<testsuites>\n<testsuite>\n<testcase name='a'>\n</x>")
    assert response.status_code == 400
    assert "line 4" in response.get_json()["error"]["message"]


def test_multipart_errors_change_nothing(client, acme, analyzed) -> None:  # type: ignore[no-untyped-def]
    """Multipart without a file (400), with one bad file (400) or too big (413) stores nothing."""
    before = snapshot()
    cases = [
        ({**meta()}, 400, "bad_request"),
        (
            {
                **meta(),
                "file": [
                    (io.BytesIO(samples.simple()), "good.xml"),
                    (io.BytesIO(b"<testsuites>"), "bad.xml"),
                ],
            },
            400,
            "bad_report",
        ),
        ({**meta(), "file": [(io.BytesIO(big_report()), "big.xml")]}, 413, "too_large"),
        ({**meta(), "file": [(io.BytesIO(bomb()), "bomb.xml.gz")]}, 413, "too_large"),
        ({**meta(sha="zz"), "file": [(io.BytesIO(samples.simple()), "a.xml")]}, 400, "bad_request"),
    ]
    for data, status, code in cases:
        response = client.post(
            "/api/v1/reports", data=data, headers=acme.headers, content_type="multipart/form-data"
        )
        assert response.status_code == status, response.get_data(as_text=True)
        assert response.get_json()["error"]["code"] == code
    assert snapshot() == before


def test_bad_report_names_the_file(client, acme, analyzed) -> None:  # type: ignore[no-untyped-def]
    """In a multipart upload the error message names the rejected file."""
    data = {**meta(), "file": [(io.BytesIO(b"<nope/>"), "results/junit.xml")]}
    response = client.post(
        "/api/v1/reports", data=data, headers=acme.headers, content_type="multipart/form-data"
    )
    assert response.status_code == 400
    assert response.get_json()["error"]["message"].startswith("junit.xml: ")


def test_conflicting_metadata_is_refused(client, acme, analyzed) -> None:  # type: ignore[no-untyped-def]
    """The same field in the query and the form with different values is a 400."""
    data = {**meta(), "file": [(io.BytesIO(samples.simple()), "a.xml")]}
    response = client.post(
        "/api/v1/reports?job=other",
        data=data,
        headers=acme.headers,
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert "job" in response.get_json()["error"]["message"]
