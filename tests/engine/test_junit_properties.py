"""Property-based tests of engine.junit: round trips and hostile mutations."""

from __future__ import annotations

import io
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.junit import MAX_KEY_CHARS, ReportError, iter_cases, make_key, parse_report

STATUSES = ("passed", "failed", "error", "skipped")
ELEMENT = {"failed": "failure", "error": "error", "skipped": "skipped"}

# Characters XML 1.0 can carry (no C0 controls but tab/newline, no surrogates).
xml_text = st.text(
    st.sampled_from("\t\n")
    | st.characters(
        min_codepoint=0x20, blacklist_categories=("Cs",), blacklist_characters="\ufffe\uffff"
    ),
    max_size=30,
)


@dataclass(frozen=True)
class Case:
    classname: str
    name: str
    status: str
    time: float | None
    message: str


@st.composite
def suites(draw: st.DrawFn) -> list[list[Case]]:
    result = []
    for number in range(draw(st.integers(0, 4))):
        cases = []
        for index in range(draw(st.integers(0, 6))):
            cases.append(
                Case(
                    classname=draw(xml_text),
                    # A distinct prefix keeps keys apart: repeats would be retries.
                    name=f"t{number}.{index} {draw(xml_text)}",
                    status=draw(st.sampled_from(STATUSES)),
                    time=draw(
                        st.none() | st.floats(0, 1e6, allow_nan=False).map(lambda f: round(f, 3))
                    ),
                    message=draw(xml_text),
                )
            )
        result.append(cases)
    return result


def render(report: list[list[Case]], *, root: bool, comma: bool) -> bytes:
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n']
    if root:
        parts.append("<testsuites>\n")
    for number, cases in enumerate(report):
        parts.append(f'<testsuite name="suite{number}" tests="{len(cases)}">\n')
        for case in cases:
            attrs = f"classname={quoteattr(case.classname)} name={quoteattr(case.name)}"
            if case.time is not None:
                time = f"{case.time}".replace(".", ",") if comma else f"{case.time}"
                attrs += f' time="{time}"'
            if case.status == "passed":
                parts.append(f"  <testcase {attrs}/>\n")
            else:
                element = ELEMENT[case.status]
                parts.append(
                    f"  <testcase {attrs}><{element} message={quoteattr(case.message)}>"
                    f"{escape(case.message)}</{element}></testcase>\n"
                )
        parts.append("</testsuite>\n")
    if root:
        parts.append("</testsuites>\n")
    return "".join(parts).encode()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(report=suites(), root=st.booleans(), comma=st.booleans())
def test_generated_reports_round_trip_cases_and_counts(
    report: list[list[Case]], root: bool, comma: bool
) -> None:
    if not root and len(report) != 1:
        report = [[case for cases in report for case in cases]]
    data = render(report, root=root, comma=comma)
    parsed = parse_report(data)
    flat = [case for cases in report for case in cases]
    assert [(c.classname, c.name, c.status) for c in parsed.cases] == [
        (c.classname, c.name, c.status) for c in flat
    ]
    assert [c.duration for c in parsed.cases] == [c.time or 0.0 for c in flat]
    assert [c.message for c in parsed.cases if c.status != "passed"] == [
        c.message for c in flat if c.status != "passed"
    ]
    totals = parsed.totals
    assert totals.tests == len(flat)
    assert totals.failures == sum(c.status == "failed" for c in flat)
    assert totals.errors == sum(c.status == "error" for c in flat)
    assert totals.skipped == sum(c.status == "skipped" for c in flat)
    assert [s.totals.tests for s in parsed.suites] == [len(cases) for cases in report]
    assert list(iter_cases(io.BytesIO(data))) == parsed.cases


SEED = render(
    [
        [
            Case("pkg.A", "t1", "passed", 0.5, ""),
            Case("pkg.A", "t2", "failed", 1.0, "boom <&>"),
            Case("", "t3", "skipped", None, "later"),
        ],
        [Case("pkg.B", "t[1]", "error", 0.1, "crash")],
    ],
    root=True,
    comma=False,
).replace(
    b'time="0.5"/>',
    b'time="0.5"><flakyFailure message="x"><stackTrace>s</stackTrace></flakyFailure>'
    b'<system-out>o</system-out><properties><property name="p" value="v"/></properties>'
    b"</testcase>",
)

mutation = st.one_of(
    st.tuples(st.just("delete"), st.integers(0, len(SEED)), st.integers(1, 40)),
    st.tuples(st.just("insert"), st.integers(0, len(SEED)), st.binary(min_size=1, max_size=12)),
    st.tuples(
        st.just("insert"),
        st.integers(0, len(SEED)),
        st.sampled_from(
            [
                b"<",
                b">",
                b"&",
                b"&amp;",
                b"&#0;",
                b"]]>",
                b"<![CDATA[",
                b"<testcase>",
                b"</testsuite>",
                b"<testsuite>",
                b"<failure/>",
                b"<!DOCTYPE x>",
                b'<!ENTITY a "b">',
                b"&a;",
                b"\xef\xbb\xbf",
                b"\xff\xfe",
                b'<?xml version="1.0" encoding="UTF-16"?>',
                b"\x00",
                b'time="nan"',
                b' status="errored"',
            ]
        ),
    ),
    st.tuples(st.just("truncate"), st.integers(0, len(SEED)), st.just(0)),
    st.tuples(st.just("duplicate"), st.integers(0, len(SEED)), st.integers(1, 80)),
)


def mutate(data: bytes, op: tuple[str, int, object]) -> bytes:
    kind, at, arg = op
    at = min(at, len(data))
    if kind == "delete":
        assert isinstance(arg, int)
        return data[:at] + data[at + arg :]
    if kind == "insert":
        assert isinstance(arg, bytes)
        return data[:at] + arg + data[at:]
    if kind == "truncate":
        return data[:at]
    assert isinstance(arg, int)
    return data[:at] + data[at : at + arg] * 2 + data[at + arg :]


def test_seed_report_is_valid() -> None:
    report = parse_report(SEED)
    assert report.totals.tests == 4
    assert report.cases[0].attempts[0].status == "failed"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(mutation, min_size=1, max_size=4))
def test_mutated_reports_parse_or_raise_report_error_only(
    ops: list[tuple[str, int, object]],
) -> None:
    data = SEED
    for op in ops:
        data = mutate(data, op)
    try:
        report = parse_report(data)
    except ReportError as exc:
        assert str(exc)
        return
    assert report.totals.tests == len(report.cases)
    assert all(len(c.key) <= MAX_KEY_CHARS for c in report.cases)


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=200))
def test_arbitrary_bytes_parse_or_raise_report_error_only(data: bytes) -> None:
    try:
        report = parse_report(io.BytesIO(data))
    except ReportError:
        return
    assert report.totals.tests == len(report.cases)


@settings(max_examples=200, deadline=None)
@given(classname=st.text(max_size=700), name=st.text(max_size=700), other=st.text(max_size=700))
def test_keys_are_bounded_deterministic_and_keep_names_apart(
    classname: str, name: str, other: str
) -> None:
    key = make_key(classname, name)
    assert len(key) <= MAX_KEY_CHARS
    assert key == make_key(classname, name)
    if name.split() != other.split():
        assert key != make_key(classname, other)
