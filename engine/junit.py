"""Parse JUnit XML test reports into plain, bounded results.

``parse_report(source)`` reads a JUnit XML report (bytes or a binary stream,
possibly a decompressing one) and returns a :class:`Report`; ``iter_cases``
streams the same :class:`CaseResult` objects one top-level suite at a time.
:class:`ReportError` is the only exception either lets escape; its message
says what is wrong and, for XML errors, at which line and column.

Dialects
--------
Root ``<testsuites>`` or ``<testsuite>``, suites nested to any depth (PHPUnit,
Bazel, Jenkins), and the flavours written by pytest (with
pytest-rerunfailures), jest-junit, Vitest, Mocha, Cypress, Playwright, Maven
Surefire/Failsafe, Gradle, go-junit-report, gotestsum, PHPUnit, CTest, the
.NET JUnit logger, Catch2, cargo-nextest and Bazel ``test.xml``.
NUnit, xUnit.net and TRX files are refused with a ReportError naming the
format; they are never read as an empty JUnit report.

Status of a test case
---------------------
From its result elements, the worst wins: ``<error>`` > ``<failure>`` >
``<skipped>`` > none (passed). A skipped element next to a failure therefore
gives ``failed``. Without result elements a ``status``/``result`` attribute
decides (CTest, Bazel, googletest, tst): ``disabled``, ``notrun``,
``skipped``, ``ignored``, ``pending`` -> ``skipped``; ``fail``, ``failed``
-> ``failed``; ``error``, ``errored`` -> ``error``; ``run``, ``passed``,
``completed`` and anything else -> ``passed``. "Disabled" tests are
reported as ``skipped``: FlakeGuard only needs to know they did not run.

Attempts (retries inside one report)
------------------------------------
``CaseResult.attempts`` holds the earlier attempts, oldest first; the case
itself is the final attempt.

- Surefire/Failsafe ``<flakyFailure>``/``<flakyError>``: attempts that failed
  before the final outcome (usually ``passed``).
- Surefire ``<rerunFailure>``/``<rerunError>``: the case's ``<failure>`` or
  ``<error>`` is the first attempt, each rerun a later one; the last rerun
  is the final outcome.
- The same test case (same key) repeated within one ``<testsuite>``
  (Gradle test-retry, gotestsum, pytest-rerunfailures >= 16.6.1): the last
  element is final, the earlier ones are attempts. pytest-rerunfailures
  writes earlier attempts as empty elements although every rerun follows a
  failure, so in a pytest report (suite named ``pytest``) an earlier attempt
  that looks passed is recorded as ``failed`` with :data:`RERUN_MESSAGE`.

Identity key
------------
``key`` names the test the same way in every run: it does not depend on time,
order, attempts or results. It is ``<scope>::<name>`` where scope is the
classname if present, else the file, else the innermost suite name; each part
has surrounding whitespace stripped and inner whitespace runs collapsed to
one space, backslashes in files become ``/`` and a leading ``./`` is dropped.
Parameters stay in the name, so parametrized tests stay distinct. Keys longer
than :data:`MAX_KEY_CHARS` are cut and end in ``#`` plus 16 hex digits of the
SHA-256 of the full key. Examples::

    classname="tests.test_api.TestLogin" name="test_ok[admin-True]"
        -> "tests.test_api.TestLogin::test_ok[admin-True]"
    classname="" file=".\\spec\\cart.spec.ts" name="adds an item"
        -> "spec/cart.spec.ts::adds an item"
    (no classname, no file) suite="github.com/acme/shop/cart" name="TestAdd/empty"
        -> "github.com/acme/shop/cart::TestAdd/empty"

The suite is not part of the key when a classname or file exists, because
suite names often carry paths of the build machine. A report that runs the
same classname and name in two suites (Playwright projects) yields two cases
with one key.

Limits
------
Input is bounded while reading (``max_bytes``, after any decompression by
the caller's stream), element nesting by :data:`MAX_DEPTH`, messages by
:data:`MAX_MESSAGE_CHARS`, failure text by :data:`MAX_DETAILS_CHARS`, captured
output by :data:`MAX_OUTPUT_CHARS`, names by :data:`MAX_NAME_CHARS` and
properties by :data:`MAX_PROPERTIES`. XML goes through defusedxml's expat
parser: a DTD, entity declaration or external reference stops the parse.
Memory: cases are buffered per top-level ``<testsuite>`` (to merge retries),
so :func:`iter_cases` holds at most one top-level suite at a time.
"""

from __future__ import annotations

import hashlib
import math
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pyexpat import ExpatError, XMLParserType
from typing import BinaryIO, Final, Literal, Protocol

from defusedxml import DefusedXmlException  # type: ignore[import-untyped]
from defusedxml.ElementTree import DefusedXMLParser  # type: ignore[import-untyped]

Status = Literal["passed", "failed", "error", "skipped"]

DEFAULT_MAX_BYTES: Final = 50 * 2**20
MAX_MESSAGE_CHARS: Final = 4_000
MAX_DETAILS_CHARS: Final = 32_000
MAX_OUTPUT_CHARS: Final = 16_000
MAX_NAME_CHARS: Final = 4_000
MAX_KEY_CHARS: Final = 500
MAX_PROPERTIES: Final = 100
MAX_DEPTH: Final = 100
RERUN_MESSAGE: Final = "rerun by pytest-rerunfailures (no failure detail recorded)"

_CHUNK: Final = 1 << 16
_TRUNCATED: Final = "\n[... truncated {} chars]"
_RESULT_RANK: Final = {"error": 3, "failure": 2, "skipped": 1}
_RESULT_STATUS: Final[dict[str, Status]] = {
    "error": "error",
    "failure": "failed",
    "skipped": "skipped",
}
_RETRY_STATUS: Final[dict[str, Status]] = {
    "flakyFailure": "failed",
    "flakyError": "error",
    "rerunFailure": "failed",
    "rerunError": "error",
}
_STATUS_ATTRIBUTE: Final[dict[str, Status]] = {
    "disabled": "skipped",
    "notrun": "skipped",
    "not_run": "skipped",
    "skip": "skipped",
    "skipped": "skipped",
    "suppressed": "skipped",
    "ignored": "skipped",
    "pending": "skipped",
    "fail": "failed",
    "failed": "failed",
    "failure": "failed",
    "error": "error",
    "errored": "error",
}
_FOREIGN_ROOTS: Final = {
    "test-run": "NUnit 3",
    "test-results": "NUnit 2",
    "test-suite": "NUnit",
    "assemblies": "xUnit.net",
    "assembly": "xUnit.net",
    "TestRun": "TRX (Visual Studio test results)",
}
_ROOT_NAME_FORMATS: Final = {
    "jest tests": "jest-junit",
    "vitest tests": "vitest",
    "Mocha Tests": "mocha",
    "nextest-run": "cargo-nextest",
}
_XINCLUDE: Final = "http://www.w3.org/2001/XInclude}"
_WS_RUN: Final = re.compile(r"\s+")
_SNIFF_SKIP: Final = re.compile(rb"\s*(?:<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>]*>)", re.S)
_SNIFF_ROOT: Final = re.compile(rb"\s*<([A-Za-z_][\w:.-]*)")


class ReportError(Exception):
    """A report that is not readable JUnit XML; the message says what and where."""


@dataclass(frozen=True, slots=True)
class Totals:
    """Counts of final outcomes."""

    tests: int = 0
    failures: int = 0
    errors: int = 0
    skipped: int = 0

    @property
    def passed(self) -> int:
        """Return the number of tests that neither failed, errored nor skipped."""
        return self.tests - self.failures - self.errors - self.skipped


@dataclass(frozen=True, slots=True)
class Attempt:
    """One earlier attempt of a test case within the same report."""

    status: Status
    message: str = ""
    duration: float | None = None
    failure_type: str = ""
    details: str = ""


@dataclass(frozen=True, slots=True)
class CaseResult:
    """The final outcome of one test case, with its earlier attempts."""

    suite: str
    classname: str
    name: str
    file: str | None
    line: int | None
    status: Status
    duration: float
    message: str
    failure_type: str
    details: str
    attempts: tuple[Attempt, ...]
    key: str
    system_out: str = ""
    system_err: str = ""
    properties: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Suite:
    """One ``<testsuite>`` element: its attributes and what it contained.

    ``totals`` counts the final cases inside it (nested suites included);
    ``declared`` is what its attributes claim, when they claim anything.
    """

    name: str
    depth: int
    totals: Totals
    declared: Totals | None
    duration: float | None
    timestamp: str | None
    hostname: str | None
    properties: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Report:
    """A parsed JUnit report."""

    cases: list[CaseResult]
    suites: list[Suite]
    totals: Totals
    format: str
    name: str | None = None
    properties: tuple[tuple[str, str], ...] = ()


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


def parse_report(source: bytes | BinaryIO, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Report:
    """Parse a whole JUnit XML report; raise ReportError if it is not one."""
    parser = _Parser()
    cases: list[CaseResult] = []
    for batch in _run(parser, source, max_bytes):
        cases.extend(batch)
    return Report(
        cases=cases,
        suites=parser.build_suites(),
        totals=_count(cases),
        format=parser.format,
        name=parser.root_name,
        properties=tuple(parser.root_properties),
    )


def iter_cases(
    source: bytes | BinaryIO, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> Iterator[CaseResult]:
    """Yield the cases of a report as each top-level suite ends.

    A ReportError may come after some cases were yielded: callers that store
    cases must do so in a transaction they can roll back.
    """
    parser = _Parser()
    for batch in _run(parser, source, max_bytes):
        yield from batch


def sniff_format(first_bytes: bytes) -> str | None:
    """Guess the report format from its first bytes: junit, nunit, xunit.net, trx or None."""
    data = first_bytes.removeprefix(b"\xef\xbb\xbf")
    pos = 0
    while match := _SNIFF_SKIP.match(data, pos):
        if match.end() == pos:
            break
        pos = match.end()
    root = _SNIFF_ROOT.match(data, pos)
    if root is None:
        return None
    name = root.group(1).decode("ascii", "replace").rpartition(":")[2]
    if name in ("testsuites", "testsuite"):
        return "junit"
    foreign = _FOREIGN_ROOTS.get(name)
    if foreign is None:
        return None
    return foreign.split()[0].lower()


def make_key(classname: str, name: str, file: str | None = None, suite: str = "") -> str:
    """Return the stable identity of a test (see the module docstring)."""
    scope = _squash(classname)
    if not scope and file:
        scope = _normalise_path(file)
    if not scope:
        scope = _squash(suite)
    key = f"{scope}::{_squash(name)}"
    if len(key) <= MAX_KEY_CHARS:
        return key
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{key[: MAX_KEY_CHARS - 17]}#{digest}"


def _squash(text: str) -> str:
    return _WS_RUN.sub(" ", text).strip()


def _normalise_path(path: str) -> str:
    path = _squash(path).replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    return path


def _count(cases: list[CaseResult]) -> Totals:
    failures = errors = skipped = 0
    for case in cases:
        if case.status == "failed":
            failures += 1
        elif case.status == "error":
            errors += 1
        elif case.status == "skipped":
            skipped += 1
    return Totals(len(cases), failures, errors, skipped)


def _run(parser: _Parser, source: bytes | BinaryIO, max_bytes: int) -> Iterator[list[CaseResult]]:
    total = 0
    started = False
    for chunk in _chunks(source, max_bytes):
        total += len(chunk)
        if not started:
            chunk = chunk.removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n")
            if not chunk:
                continue
            started = True
        yield parser.feed(chunk)
    if not started:
        raise ReportError("report is empty" if total == 0 else "report holds only whitespace")
    yield parser.close()


def _chunks(source: bytes | BinaryIO, max_bytes: int) -> Iterator[bytes]:
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        if len(data) > max_bytes:
            raise ReportError(f"report is larger than the limit of {max_bytes} bytes")
        for start in range(0, len(data), 16 * _CHUNK):
            yield data[start : start + 16 * _CHUNK]
        return
    reader: _Readable = source
    total = 0
    while True:
        try:
            chunk = reader.read(_CHUNK)
        except (OSError, EOFError, ValueError, zlib.error) as exc:
            raise ReportError(f"could not read the report: {exc}") from None
        if not chunk:
            return
        if not isinstance(chunk, bytes | bytearray):
            raise ReportError("the report must be read as bytes, not text")
        total += len(chunk)
        if total > max_bytes:
            raise ReportError(f"report is larger than the limit of {max_bytes} bytes")
        yield bytes(chunk)


def _number(value: str | None) -> float | None:
    if not value:
        return None
    text = value.strip().removesuffix("s")
    if "," in text:
        text = text.replace(",", "") if "." in text else text.replace(",", ".")
    try:
        number = float(text)
    except ValueError:
        return None
    if math.isnan(number) or math.isinf(number) or number < 0:
        return None
    return number


def _integer(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


def _bounded(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + _TRUNCATED.format(len(text) - limit)


def _local(name: str) -> str:
    # defusedxml's expat parser reports namespaced names as "uri}local".
    return name.rpartition("}")[2]


class _Text:
    """A bounded accumulator for character data."""

    __slots__ = ("chunks", "dropped", "limit", "size")

    def __init__(self, limit: int) -> None:
        self.chunks: list[str] = []
        self.size = 0
        self.dropped = 0
        self.limit = limit

    def add(self, data: str) -> None:
        room = self.limit - self.size
        if room <= 0:
            self.dropped += len(data)
            return
        if len(data) > room:
            self.dropped += len(data) - room
            data = data[:room]
        self.chunks.append(data)
        self.size += len(data)

    def text(self) -> str:
        text = "".join(self.chunks)
        if self.dropped:
            text += _TRUNCATED.format(self.dropped)
        return text


@dataclass(slots=True)
class _Result:
    kind: str
    message: str
    failure_type: str
    duration: float | None
    text: _Text


@dataclass(slots=True)
class _SuiteState:
    name: str
    depth: int
    attrs: dict[str, str]
    chain: tuple[int, ...]
    properties: list[tuple[str, str]] = field(default_factory=list)
    tests: int = 0
    failures: int = 0
    errors: int = 0
    skipped: int = 0


@dataclass(slots=True)
class _CaseState:
    attrs: dict[str, str]
    suite: int | None
    depth: int
    results: list[_Result] = field(default_factory=list)
    retries: list[_Result] = field(default_factory=list)
    system_out: _Text | None = None
    system_err: _Text | None = None
    properties: list[tuple[str, str]] = field(default_factory=list)


@dataclass(slots=True)
class _Pending:
    """A finished case waiting for its top-level suite to end."""

    case: CaseResult
    chain: tuple[int, ...]
    pytest: bool


class _NoTarget:
    def close(self) -> None:
        return None


class _Parser:
    """Expat callbacks that turn JUnit elements into cases, one chunk at a time."""

    def __init__(self) -> None:
        # defusedxml installs handlers that refuse DTDs, entity declarations and
        # external references. We keep those and replace only the element and
        # text handlers: building no ElementTree objects doubles the speed.
        defused = DefusedXMLParser(
            target=_NoTarget(), forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
        expat: XMLParserType = defused.parser
        expat.ordered_attributes = False
        expat.buffer_text = True
        expat.buffer_size = _CHUNK
        expat.StartElementHandler = self._start
        expat.EndElementHandler = self._end
        expat.CharacterDataHandler = self._data
        expat.DefaultHandlerExpand = None
        expat.CommentHandler = None
        expat.ProcessingInstructionHandler = None
        expat.StartNamespaceDeclHandler = None
        expat.EndNamespaceDeclHandler = None
        self._parse: Callable[[bytes, bool], int] = expat.Parse
        self._expat = expat
        self.format = "junit"
        self.root_name: str | None = None
        self.root_properties: list[tuple[str, str]] = []
        self._depth = 0
        self._root_seen = False
        self._suites: list[_SuiteState] = []
        self._open: list[int] = []
        self._case: _CaseState | None = None
        self._text: _Text | None = None
        self._text_depth = 0
        self._muted = 0
        self._pending: list[_Pending] = []
        self._ready: list[CaseResult] = []

    # -- feeding ---------------------------------------------------------

    def feed(self, chunk: bytes) -> list[CaseResult]:
        self._call(chunk, False)
        ready, self._ready = self._ready, []
        return ready

    def close(self) -> list[CaseResult]:
        self._call(b"", True)
        if not self._root_seen:
            raise ReportError("report holds no XML element")
        self._flush()
        ready, self._ready = self._ready, []
        return ready

    def _call(self, chunk: bytes, final: bool) -> None:
        try:
            self._parse(chunk, final)
        except ExpatError as exc:
            raise ReportError(
                f"malformed XML at line {exc.lineno}, column {exc.offset + 1}: {_expat_reason(exc)}"
            ) from None
        except DefusedXmlException as exc:
            raise ReportError(f"{_defused_reason(exc)} {self._where()}") from None
        except (LookupError, ValueError) as exc:
            # An unknown or unsupported encoding declaration.
            raise ReportError(f"cannot decode the report: {exc}") from None
        except RecursionError:
            raise ReportError(f"report is nested too deeply {self._where()}") from None

    def _where(self) -> str:
        expat = self._expat
        return f"at line {expat.CurrentLineNumber}, column {expat.CurrentColumnNumber + 1}"

    # -- expat handlers --------------------------------------------------

    def _start(self, tag: str, attrs: dict[str, str]) -> None:
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise ReportError(f"elements nested deeper than {MAX_DEPTH} levels {self._where()}")
        if not self._root_seen:
            self._start_root(tag, attrs)
        if "}" in tag and tag.startswith(_XINCLUDE):
            raise ReportError(f"XInclude is not allowed in a report {self._where()}")
        if self._text is not None:
            # Markup inside a text element (e.g. <stackTrace> in <flakyFailure>)
            # adds its text to the enclosing one; output of a retry is left out.
            if tag in ("system-out", "system-err") and not self._muted:
                self._muted = self._depth
            return
        case = self._case
        if case is not None:
            self._start_in_case(case, tag, attrs)
        elif tag == "testcase":
            suite = self._open[-1] if self._open else None
            self._case = _CaseState(attrs, suite, self._depth)
        elif tag == "testsuite":
            self._start_suite(attrs)
        elif tag == "property":
            self._add_property(attrs)
        elif tag in _RESULT_RANK:
            raise ReportError(f"<{tag}> outside a <testcase> {self._where()}")
        elif tag in ("system-out", "system-err", "properties", "testsuites"):
            pass

    def _start_root(self, tag: str, attrs: dict[str, str]) -> None:
        self._root_seen = True
        local = _local(tag)
        if local in _FOREIGN_ROOTS:
            raise ReportError(
                f"this is a {_FOREIGN_ROOTS[local]} report, not JUnit XML; "
                "convert it to JUnit XML or upload the JUnit output of the test runner"
            )
        if local not in ("testsuites", "testsuite"):
            raise ReportError(
                f"not a JUnit XML report: the root element is <{local}>, "
                "expected <testsuites> or <testsuite>"
            )
        if local == "testsuites":
            self.root_name = attrs.get("name")
            self.format = _ROOT_NAME_FORMATS.get(self.root_name or "", self.format)

    def _start_suite(self, attrs: dict[str, str]) -> None:
        name = attrs.get("name", "")
        index = len(self._suites)
        parent_chain = self._suites[self._open[-1]].chain if self._open else ()
        self._suites.append(_SuiteState(name, len(self._open), attrs, (*parent_chain, index)))
        self._open.append(index)
        if self.format == "junit":
            self.format = _suite_format(name, attrs)

    def _start_in_case(self, case: _CaseState, tag: str, attrs: dict[str, str]) -> None:
        if tag in _RESULT_RANK:
            result = _Result(
                tag,
                attrs.get("message", ""),
                attrs.get("type", ""),
                None,
                _Text(MAX_DETAILS_CHARS),
            )
            case.results.append(result)
            self._capture(result.text)
        elif tag in _RETRY_STATUS:
            result = _Result(
                tag,
                attrs.get("message", ""),
                attrs.get("type", ""),
                _number(attrs.get("time")),
                _Text(MAX_DETAILS_CHARS),
            )
            case.retries.append(result)
            if self.format == "junit":
                self.format = "surefire"
            self._capture(result.text)
        elif tag == "system-out":
            case.system_out = case.system_out or _Text(MAX_OUTPUT_CHARS)
            self._capture(case.system_out)
        elif tag == "system-err":
            case.system_err = case.system_err or _Text(MAX_OUTPUT_CHARS)
            self._capture(case.system_err)
        elif tag == "property":
            if len(case.properties) < MAX_PROPERTIES:
                case.properties.append(_property(attrs))
        elif tag in ("testcase", "testsuite"):
            raise ReportError(f"<{tag}> inside a <testcase> {self._where()}")

    def _capture(self, text: _Text) -> None:
        self._text = text
        self._text_depth = self._depth

    def _add_property(self, attrs: dict[str, str]) -> None:
        target = self._suites[self._open[-1]].properties if self._open else self.root_properties
        if len(target) < MAX_PROPERTIES:
            prop = _property(attrs)
            target.append(prop)
            if prop[0] == "go.version" and self.format == "junit":
                self.format = "go"

    def _data(self, data: str) -> None:
        if self._text is not None and not self._muted:
            self._text.add(data)

    def _end(self, tag: str) -> None:
        depth = self._depth
        self._depth = depth - 1
        if self._text is not None:
            if depth == self._muted:
                self._muted = 0
            elif depth == self._text_depth:
                self._text = None
            return
        case = self._case
        if case is not None:
            if depth == case.depth:
                self._case = None
                self._finish_case(case)
            return
        if tag == "testsuite" and self._open:
            self._open.pop()
            if not self._open:
                self._flush()

    # -- building results ------------------------------------------------

    def _finish_case(self, case: _CaseState) -> None:
        attrs = case.attrs
        suite = self._suites[case.suite] if case.suite is not None else None
        suite_name = suite.name if suite is not None else (self.root_name or "")
        raw_classname = attrs.get("classname") or attrs.get("class") or ""
        raw_name = attrs.get("name", "")
        file = attrs.get("file") or attrs.get("filepath") or None
        status, message, failure_type, details = _outcome(case.results, attrs)
        duration = _number(attrs.get("time"))
        attempts: list[Attempt] = []
        if case.retries:
            flaky = [r for r in case.retries if r.kind.startswith("flaky")]
            reruns = [r for r in case.retries if r.kind.startswith("rerun")]
            attempts.extend(_attempt(r) for r in flaky)
            if reruns:
                attempts.append(Attempt(status, message, duration, failure_type, details))
                attempts.extend(_attempt(r) for r in reruns[:-1])
                last = reruns[-1]
                status = _RETRY_STATUS[last.kind]
                message = _bounded(last.message, MAX_MESSAGE_CHARS)
                failure_type = _bounded(last.failure_type, MAX_NAME_CHARS)
                details = last.text.text()
                duration = last.duration
        result = CaseResult(
            suite=_bounded(suite_name, MAX_NAME_CHARS),
            classname=_bounded(raw_classname, MAX_NAME_CHARS),
            name=_bounded(raw_name, MAX_NAME_CHARS),
            file=_bounded(file, MAX_NAME_CHARS) if file is not None else None,
            line=_integer(attrs.get("line")),
            status=status,
            duration=duration or 0.0,
            message=message,
            failure_type=failure_type,
            details=details,
            attempts=tuple(attempts),
            key=make_key(raw_classname, raw_name, file, suite_name),
            system_out=case.system_out.text() if case.system_out else "",
            system_err=case.system_err.text() if case.system_err else "",
            properties=tuple(case.properties),
        )
        chain = suite.chain if suite is not None else ()
        pending = _Pending(result, chain, self.format == "pytest")
        if self._open:
            self._pending.append(pending)
        else:
            # A <testcase> outside any <testsuite>: nothing will close around it.
            self._pending.append(pending)
            self._flush()

    def _flush(self) -> None:
        """Merge the retries of the finished top-level suite and release its cases."""
        pending, self._pending = self._pending, []
        chains: list[list[_Pending]] = []
        open_chains: dict[tuple[int, str], list[_Pending]] = {}
        for item in pending:
            if not item.case.name:
                chains.append([item])  # a nameless case has no identity to repeat
                continue
            scope = (item.chain[-1] if item.chain else -1, item.case.key)
            chain = open_chains.get(scope)
            if chain is None:
                chain = []
                chains.append(chain)
                open_chains[scope] = chain
            chain.append(item)
            # A retry follows a failed attempt; pytest node ids are unique, so
            # in a pytest report every repetition is a rerun.
            if not item.pytest and item.case.status not in ("failed", "error"):
                del open_chains[scope]
        for chain in chains:
            final = chain[-1]
            case = final.case
            if len(chain) > 1:
                earlier: list[Attempt] = []
                for item in chain[:-1]:
                    earlier.extend(item.case.attempts)
                    earlier.append(_as_attempt(item.case, item.pytest))
                case = _replace_attempts(case, (*earlier, *case.attempts))
            for index in final.chain:
                _tally(self._suites[index], case.status)
            self._ready.append(case)

    def build_suites(self) -> list[Suite]:
        return [
            Suite(
                name=state.name,
                depth=state.depth,
                totals=Totals(state.tests, state.failures, state.errors, state.skipped),
                declared=_declared(state.attrs),
                duration=_number(state.attrs.get("time")),
                timestamp=state.attrs.get("timestamp"),
                hostname=state.attrs.get("hostname"),
                properties=tuple(state.properties),
            )
            for state in self._suites
        ]


def _suite_format(name: str, attrs: dict[str, str]) -> str:
    if name == "pytest":
        return "pytest"
    for attr, value in attrs.items():
        if attr.endswith("noNamespaceSchemaLocation") and "surefire" in value:
            return "surefire"
    if "file" in attrs and "assertions" in attrs:
        return "phpunit"
    if attrs.get("hostname") == "tbd":
        return "catch2"
    return "junit"


def _outcome(results: list[_Result], attrs: dict[str, str]) -> tuple[Status, str, str, str]:
    if not results:
        for attr in ("result", "status"):
            status = _STATUS_ATTRIBUTE.get(attrs.get(attr, "").strip().lower())
            if status is not None:
                return status, "", "", ""
        return "passed", "", "", ""
    worst = max(results, key=lambda r: _RESULT_RANK[r.kind])
    same = [r for r in results if r.kind == worst.kind]
    texts = [r.text.text().strip() for r in same]
    details = "\n\n".join(t for t in texts if t)
    if len(texts) > 1:
        details = _bounded(details, MAX_DETAILS_CHARS)
    message = worst.message or next((t.partition("\n")[0] for t in texts if t), "")
    return (
        _RESULT_STATUS[worst.kind],
        _bounded(message, MAX_MESSAGE_CHARS),
        _bounded(worst.failure_type, MAX_NAME_CHARS),
        details,
    )


def _attempt(result: _Result) -> Attempt:
    text = result.text.text().strip()
    message = result.message or text.partition("\n")[0]
    return Attempt(
        status=_RETRY_STATUS[result.kind],
        message=_bounded(message, MAX_MESSAGE_CHARS),
        duration=result.duration,
        failure_type=_bounded(result.failure_type, MAX_NAME_CHARS),
        details=text,
    )


def _as_attempt(case: CaseResult, pytest: bool) -> Attempt:
    if pytest and case.status == "passed":
        return Attempt("failed", RERUN_MESSAGE, case.duration)
    return Attempt(case.status, case.message, case.duration, case.failure_type, case.details)


def _replace_attempts(case: CaseResult, attempts: tuple[Attempt, ...]) -> CaseResult:
    return CaseResult(
        suite=case.suite,
        classname=case.classname,
        name=case.name,
        file=case.file,
        line=case.line,
        status=case.status,
        duration=case.duration,
        message=case.message,
        failure_type=case.failure_type,
        details=case.details,
        attempts=attempts,
        key=case.key,
        system_out=case.system_out,
        system_err=case.system_err,
        properties=case.properties,
    )


def _tally(state: _SuiteState, status: Status) -> None:
    state.tests += 1
    if status == "failed":
        state.failures += 1
    elif status == "error":
        state.errors += 1
    elif status == "skipped":
        state.skipped += 1


def _declared(attrs: dict[str, str]) -> Totals | None:
    values = [_integer(attrs.get(k)) for k in ("tests", "failures", "errors", "skipped")]
    if all(v is None for v in values):
        return None
    if values[3] is None:
        values[3] = _integer(attrs.get("disabled"))
    tests, failures, errors, skipped = (v or 0 for v in values)
    return Totals(tests, failures, errors, skipped)


def _property(attrs: dict[str, str]) -> tuple[str, str]:
    return (
        _bounded(attrs.get("name", ""), MAX_NAME_CHARS),
        _bounded(attrs.get("value", ""), MAX_OUTPUT_CHARS),
    )


def _expat_reason(exc: ExpatError) -> str:
    text = str(exc)
    return text.split(":", 1)[0] if ": line" in text else text


def _defused_reason(exc: DefusedXmlException) -> str:
    name = type(exc).__name__
    if name == "DTDForbidden":
        return "a DTD (<!DOCTYPE>) is not allowed in a report"
    if name == "EntitiesForbidden":
        return "entity declarations are not allowed in a report"
    if name == "ExternalReferenceForbidden":
        return "external references are not allowed in a report"
    return f"unsafe XML refused ({name})"
