"""The client's report reader gives the outcome the server's parser gives, and keys match.

The gate reads reports on the CI machine without the server's parser; these
tests hold it to ``engine.junit`` on every file of the third-party corpus and
on hostile XML, and hold its key function to ``engine.junit.make_key``.
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pytest
from flakeguard_ci import keys
from flakeguard_ci.reports import UnreadableReport, read_cases, read_local
from hypothesis import given
from hypothesis import strategies as st

from engine.junit import ReportError, make_key, parse_report
from tests.engine.test_junit_corpus import ATTACKS, JUNIT, require_corpus

CORPUS_FILES = (
    sorted(str(p.relative_to(JUNIT)) for p in JUNIT.rglob("*") if p.suffix in (".xml", ".trx"))
    if JUNIT.is_dir()
    else []
)
ATTACK_FILES = (
    sorted(str(p.relative_to(ATTACKS)) for p in ATTACKS.rglob("*.xml")) if ATTACKS.is_dir() else []
)


def engine_outcome(data: bytes) -> list[tuple[str, str]] | None:
    """(key, status) per case as the server reads them; None when it refuses the file."""
    try:
        report = parse_report(data)
    except ReportError:
        return None
    return [(case.key, case.status) for case in report.cases]


def client_outcome(data: bytes) -> list[tuple[str, str]] | None:
    try:
        return read_cases(io.BytesIO(data))
    except UnreadableReport:
        return None


@pytest.mark.parametrize("name", CORPUS_FILES or [None])
def test_reader_agrees_with_the_server_parser_on_the_corpus(name: str | None) -> None:
    """Same cases, keys, final statuses (retries folded) and the same refusals as engine.junit."""
    data = (JUNIT / require_corpus(name)).read_bytes()
    assert client_outcome(data) == engine_outcome(data)


@pytest.mark.parametrize("name", ATTACK_FILES or [None])
def test_reader_refuses_hostile_xml(name: str | None) -> None:
    """Entity bombs, external entities, DTDs and deep nesting are refused, never expanded."""
    data = (ATTACKS / require_corpus(name)).read_bytes()
    assert client_outcome(data) is None


def test_reader_folds_a_pytest_rerun_into_its_final_pass(tmp_path: Path) -> None:
    """A pytest-rerunfailures rerun that passed is not a failure for the gate."""
    report = (
        b'<testsuites><testsuite name="pytest">'
        b'<testcase classname="t.m" name="test_a"><failure message="x"/></testcase>'
        b'<testcase classname="t.m" name="test_a"/>'
        b'<testcase classname="t.m" name="test_b"><error message="y"/></testcase>'
        b"</testsuite></testsuites>"
    )
    path = tmp_path / "junit.xml.gz"
    path.write_bytes(gzip.compress(report))
    local = read_local(path)
    assert (local.tests, local.failures, local.errors, local.failing) == (2, 0, 1, ["t.m::test_b"])
    assert client_outcome(report) == engine_outcome(report)


def test_reader_refuses_a_report_over_the_limit(tmp_path: Path) -> None:
    """More than max_bytes after decompression is refused, saying so."""
    path = tmp_path / "big.xml.gz"
    path.write_bytes(gzip.compress(b"<testsuite>" + b" " * 5000 + b"</testsuite>"))
    assert read_local(path, max_bytes=1000).problem == "larger than the limit of 1000 bytes"


text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=600)


@given(classname=text, name=text, file=st.none() | text, suite=text)
def test_client_keys_equal_the_server_keys(
    classname: str, name: str, file: str | None, suite: str
) -> None:
    """flakeguard_ci.keys.make_key is engine.junit.make_key (whitespace, paths, long keys)."""
    assert keys.make_key(classname, name, file, suite) == make_key(classname, name, file, suite)
