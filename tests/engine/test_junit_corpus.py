"""Conformance of engine.junit with the third-party corpus and its hostile XML.

The corpus lives in ``shared/corpus`` beside the repository (override with
``FLAKEGUARD_CORPUS``). Without it these tests skip, unless
``FLAKEGUARD_REQUIRE_SERVICES=1`` says it must be there.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.junit import Report, ReportError, parse_report

CORPUS = Path(
    os.environ.get("FLAKEGUARD_CORPUS") or Path(__file__).resolve().parents[3] / "shared" / "corpus"
)
JUNIT = CORPUS / "junit"
ATTACKS = CORPUS / "xml-attacks"


def _load(name: str) -> dict[str, Any]:
    path = JUNIT / name
    if not path.is_file():
        return {}
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


INDEX = _load("index.json")
EXPECTED = _load("expected.json")
ATTACK_FILES = (
    sorted(
        str(p.relative_to(ATTACKS))
        for p in ATTACKS.rglob("*")
        if p.is_file() and p.name != "README.md"
    )
    if ATTACKS.is_dir()
    else []
)
MISSING = [pytest.param(None, id="corpus-missing")]


def require_corpus(name: str | None) -> str:
    """Skip (or fail, when the corpus is required) if the corpus is not there."""
    if name is None:
        message = f"JUnit corpus not found at {CORPUS} (set FLAKEGUARD_CORPUS)"
        if os.environ.get("FLAKEGUARD_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return name


# .NET formats are read natively (engine.dotnet): each of EnricoMi's files must
# give, test by test, what his converter's JUnit next to it gives (check_native).

# Files where our result differs from the source's on purpose, and why. The
# test checks that we still differ in exactly the documented way.
DEVIATIONS: dict[str, str] = {
    "codecov-test-results-parser/tests/vitest-junit.xml": (
        "codecov keeps '&gt;' in names verbatim; in XML it is the escape of '>', "
        "so the test's name is 'first test file > ...'"
    ),
    "codecov-test-results-parser/tests/warnings-junit.xml": (
        "codecov drops the 2 cases whose classname/name exceed its 1000-char limit; "
        "we keep them (names bounded, key hashed to 500 chars) so no result is lost"
    ),
    "codecov-test-results-parser/tests/windows.junit.xml": (
        "the file is not XML at all; codecov returns an empty report, we raise "
        "ReportError so a wrong upload is never mistaken for 'no tests ran'"
    ),
    "publish-unit-test-result-action/python/test/files/junit-xml/no-attributes.xml": (
        "the action drops nameless <testcase>s; we keep them so the totals agree with "
        "the suite's own counts (4 tests, 1 failure, 1 error, 1 skipped)"
    ),
}

# Same cases, another order: the action lists the cases of a nested suite before
# the cases its parent holds directly; we keep document order.
ORDER_DIFFERS = {
    "publish-unit-test-result-action/python/test/files/nunit/nunit3/jenkins/NUnit-correct2.junit-xml",
    "publish-unit-test-result-action/python/test/files/nunit/nunit3/jenkins/NUnit-issue50162.junit-xml",
}


def _foreign(rel: str) -> str | None:
    fmt = INDEX.get(rel, {}).get("format", "").lower()
    if "not xml" in fmt:
        return "plain"
    if "not junit" not in fmt:
        return None
    if "nunit" in fmt:
        return "NUnit"
    if "xunit" in fmt:
        return "xUnit.net"
    if "trx" in fmt:
        return "TRX"
    return "plain"


def _read(rel: str) -> bytes:
    return (JUNIT / rel).read_bytes()


def _rows(report: Report) -> list[list[str]]:
    return [[c.classname, c.name, c.status] for c in report.cases]


def _expected_rows(expected: dict[str, Any]) -> list[list[str]]:
    # Sources write a missing classname as None or ""; ours is always "".
    # "disabled" (tst, CTest) is reported as skipped: the test did not run.
    return [
        [classname or "", name, "skipped" if status == "disabled" else status]
        for classname, name, status in expected["cases"]
    ]


def _counts(report: Report) -> dict[str, int]:
    t = report.totals
    return {"tests": t.tests, "failures": t.failures, "errors": t.errors, "skipped": t.skipped}


def _expected_counts(expected: dict[str, Any]) -> dict[str, int]:
    return {
        "tests": expected["tests"],
        "failures": expected["failures"],
        "errors": expected["errors"],
        "skipped": expected["skipped"] + expected.get("disabled", 0),
    }


@pytest.mark.parametrize("rel", sorted(EXPECTED) or MISSING)
def test_corpus_expectation(rel: str | None) -> None:
    """Each file meets its source's expectation, or a documented deviation."""
    rel = require_corpus(rel)
    expected = EXPECTED[rel]
    completeness = expected["completeness"]
    foreign = _foreign(rel)
    if rel in DEVIATIONS:
        check_deviation(rel, expected)
        return
    if completeness == "error":
        with pytest.raises(ReportError):
            parse_report(_read(rel))
        return
    if foreign is not None and completeness == "full":
        check_native(rel, expected)
        return
    report = parse_report(_read(rel))
    if completeness == "full" and rel in ORDER_DIFFERS:
        assert _rows(report) != _expected_rows(expected)
        assert sorted(_rows(report)) == sorted(_expected_rows(expected))
        assert _counts(report) == _expected_counts(expected)
    elif completeness == "full":
        assert _rows(report) == _expected_rows(expected)
        assert _counts(report) == _expected_counts(expected)
    elif completeness == "full-dorny-semantics":
        t = report.totals
        assert (t.tests, t.skipped, t.passed, t.failures + t.errors) == (
            expected["tests"],
            expected["skipped"],
            expected["passed"],
            expected["failures_plus_errors"],
        )
    elif completeness == "partial-verdict":
        assert (report.totals.failures + report.totals.errors > 0) is expected["has_failures"]
    else:
        # "stale": the source no longer asserts these results (converted XXE
        # samples); they must still read as JUnit without any entity expanded.
        assert completeness == "stale"
        assert report.totals.tests == len(report.cases) > 0
        assert all("root:" not in c.details for c in report.cases)


def check_native(rel: str, expected: dict[str, Any]) -> None:
    """A .NET report reads as EnricoMi's conversion of it: same cases, statuses, counts."""
    converted = (JUNIT / rel).with_suffix(".junit-xml")
    report = parse_report(_read(rel))
    theirs = parse_report(converted.read_bytes())
    rows = sorted((c.suite, c.classname, c.name, c.status) for c in report.cases)
    assert rows == sorted((c.suite, c.classname, c.name, c.status) for c in theirs.cases)
    assert report.totals == theirs.totals
    assert sorted(_rows(report)) == sorted(_expected_rows(expected))


def check_deviation(rel: str, expected: dict[str, Any]) -> None:
    name = rel.rsplit("/", 1)[1]
    if name == "windows.junit.xml":
        assert expected["tests"] == 0
        with pytest.raises(ReportError, match="line 1, column 1"):
            parse_report(_read(rel))
    elif name == "vitest-junit.xml":
        report = parse_report(_read(rel))
        unescaped = [
            [row[0] or "", row[1].replace("&gt;", ">"), row[2]] for row in expected["cases"]
        ]
        assert _rows(report) == unescaped != _expected_rows(expected)
        assert _counts(report) == _expected_counts(expected)
    elif name == "warnings-junit.xml":
        report = parse_report(_read(rel))
        assert expected["tests"] == 0
        assert report.totals.tests == 2
        assert [len(c.key) for c in report.cases] == [500, 500]
        assert max(len(c.classname) for c in report.cases) > 1000
    elif name == "no-attributes.xml":
        report = parse_report(_read(rel))
        assert expected["tests"] == 0
        assert _counts(report) == {"tests": 4, "failures": 1, "errors": 1, "skipped": 1}
        suite = expected["source_suite_totals"]
        assert (suite["suite_tests"], suite["suite_failures"], suite["suite_errors"]) == (4, 1, 1)
        assert [c.name for c in report.cases] == ["", "", "", ""]
    else:
        pytest.fail(f"deviation for {rel} is documented but not checked")


def test_every_deviation_names_a_file_with_an_expectation() -> None:
    require_corpus("index" if INDEX else None)
    assert set(DEVIATIONS) <= set(EXPECTED)


@pytest.mark.parametrize("rel", sorted(INDEX) or MISSING)
def test_every_corpus_file_is_read_or_refused_with_report_error(rel: str | None) -> None:
    """Also the files no source asserts anything about: JUnit and .NET read, the rest is refused."""
    rel = require_corpus(rel)
    foreign = _foreign(rel)
    failing = EXPECTED.get(rel, {}).get("completeness") == "error"
    if foreign == "plain" or failing or rel.endswith("/windows.junit.xml"):
        with pytest.raises(ReportError):
            parse_report(_read(rel))
        return
    report = parse_report(_read(rel))
    assert report.totals.tests == len(report.cases)
    assert {c.status for c in report.cases} <= {"passed", "failed", "error", "skipped"}
    assert all(len(c.key) <= 500 for c in report.cases)


# --- hostile XML ------------------------------------------------------------

_SENSITIVE_EVENTS = ("open", "socket.", "urllib.", "http.", "os.listdir", "os.scandir")
_recorded: list[str] | None = None


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _recorded is not None and event.startswith(_SENSITIVE_EVENTS):
        _recorded.append(f"{event}{args!r:.200}")


sys.addaudithook(_audit)


class _Recorder:
    """Record file and network access made while active (via sys.audit)."""

    def __enter__(self) -> list[str]:
        global _recorded
        _recorded = []
        return _recorded

    def __exit__(self, *exc: object) -> None:
        global _recorded
        _recorded = None


def _attack_ids() -> Iterator[Any]:
    if not ATTACK_FILES:
        yield from MISSING
    yield from ATTACK_FILES


def test_audit_recorder_sees_file_access() -> None:
    """The recorder used below would notice an open()."""
    with _Recorder() as events:
        Path(__file__).read_bytes()
    assert any(e.startswith("open") for e in events)


@pytest.mark.parametrize("rel", list(_attack_ids()))
def test_hostile_xml_is_refused_without_file_or_network_access(rel: str | None) -> None:
    rel = require_corpus(rel)
    data = (ATTACKS / rel).read_bytes()
    with _Recorder() as events, pytest.raises(ReportError) as caught:
        parse_report(data)
    assert events == []
    message = str(caught.value)
    assert "root:" not in message
    assert "/etc/passwd" not in message


def test_every_file_the_attack_readme_names_is_tested() -> None:
    require_corpus("attacks" if ATTACK_FILES else None)
    readme = (ATTACKS / "README.md").read_text(encoding="utf-8")
    named = {
        token
        for token in readme.split("`")[1::2]
        if "/" in token and token.endswith((".xml", ".xsl")) and "://" not in token
    }
    assert len(named) >= 20
    assert named <= set(ATTACK_FILES)
