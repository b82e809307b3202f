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
NUnit 3 and 2, xUnit.net (v2, v1) and TRX reports are read too: the entry
points hand them to :mod:`engine.dotnet`, which turns them into the JUnit
that EnricoMi's publish-unit-test-result-action makes from them.

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
  (Gradle test-retry, gotestsum ``--rerun-fails``, pytest-rerunfailures
  >= 16.6.1): a repeat that follows a failed or errored element is a retry,
  so the chain's last element is final and the earlier ones are attempts. A
  repeat after a pass or skip is a separate invocation (TestNG data
  providers, jest tests with equal titles) and stays a separate case, as do
  nameless cases. pytest node ids are unique and pytest-rerunfailures writes
  its reruns as empty elements, so in a pytest report (a suite named
  ``pytest``) every repeat is a retry and an earlier attempt that looks
  passed is recorded as ``failed`` with :data:`RERUN_MESSAGE`.

Fields
------
``classname`` is ``""`` when absent, ``file`` and ``line`` are None;
``duration`` is 0.0 when ``time`` is missing, negative, not finite (``nan``,
``inf``, or too large for a double, such as ``1e400``) or unreadable (comma
decimals such as ``0,25`` are read); a readable duration is clamped to
[0, :data:`MAX_DURATION_SECONDS`] (a million seconds, ~11.6 days) and one
below :data:`MIN_DURATION_SECONDS` (a nanosecond) is 0.0, so every duration
is finite, JSON-safe and storable as a 4-byte float (PostgreSQL ``real``).
Earlier attempts' and suites' durations follow the same rules (None when
missing); ``suite`` is the innermost suite's name.
``message`` is the result element's ``message`` attribute, else the first
line of its text; ``details`` is its text (several result elements of the
same kind are joined). ``Report.format`` names the dialect when the report
says which (pytest, surefire, jest-junit, vitest, mocha, go, phpunit,
catch2, cargo-nextest), else ``junit``. A UTF-8 BOM and whitespace before
the XML declaration are accepted.

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
properties by :data:`MAX_PROPERTIES`, and a single tag (with its attributes),
comment or processing instruction by :data:`MAX_MARKUP_BYTES` (checked as the
report streams in; text and CDATA runs are not bounded here, expat reads them
in pieces). XML goes through defusedxml's expat
parser: a DTD, entity declaration or external reference stops the parse, and
XInclude elements are refused. Cases are buffered per top-level
``<testsuite>`` (to merge retries), so :func:`iter_cases` holds at most one
top-level suite at a time.
"""

from __future__ import annotations

import hashlib
import math
import re
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from operator import attrgetter
from pyexpat import ExpatError, XMLParserType
from typing import Any, BinaryIO, Final, Literal, Protocol

import msgspec
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from engine import dotnet

__all__ = [
    "DEFAULT_MAX_BYTES",
    "MAX_DETAILS_CHARS",
    "MAX_DURATION_SECONDS",
    "MAX_KEY_CHARS",
    "MAX_MARKUP_BYTES",
    "MAX_MESSAGE_CHARS",
    "MIN_DURATION_SECONDS",
    "Attempt",
    "CaseResult",
    "Report",
    "ReportError",
    "Status",
    "Suite",
    "Totals",
    "iter_cases",
    "make_key",
    "parse_report",
    "sniff_format",
]

Status = Literal["passed", "failed", "error", "skipped"]

DEFAULT_MAX_BYTES: Final = 50 * 2**20
MAX_MESSAGE_CHARS: Final = 4_000
MAX_DETAILS_CHARS: Final = 32_000
MAX_OUTPUT_CHARS: Final = 16_000
MAX_NAME_CHARS: Final = 4_000
MAX_KEY_CHARS: Final = 500
MAX_PROPERTIES: Final = 100
MAX_DEPTH: Final = 100
MAX_DURATION_SECONDS: Final = 1e6  # longer durations are clamped to this
MIN_DURATION_SECONDS: Final = 1e-9  # shorter ones are 0 (a real holds nothing below 1e-45)
# One tag (with its attributes), comment or processing instruction, in bytes:
# expat before 2.6.0 reparses an unfinished token from its start on every
# chunk (CVE-2023-52425), so one 48 MiB comment cost ~30 s of CPU.
MAX_MARKUP_BYTES: Final = 2**20
RERUN_MESSAGE: Final = "rerun by pytest-rerunfailures (no failure detail recorded)"

_CHUNK: Final = 1 << 16
_MAX_CACHED: Final = 10_000  # strings remembered by one parser (classnames, files, numbers)
_UNSEEN: Final[Any] = object()  # a cache miss (a cached value may be None)
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


class Attempt(msgspec.Struct, frozen=True):
    """One earlier attempt of a test case within the same report (see CaseResult)."""

    status: Status
    message: str = ""
    duration: float | None = None
    failure_type: str = ""
    details: str = ""


class CaseResult(msgspec.Struct, frozen=True):
    """The final outcome of one test case, with its earlier attempts.

    A frozen msgspec Struct rather than a dataclass: msgspec builds it in C,
    and a case whose fields hold only strings and numbers (no attempts, no
    properties: most cases) is not tracked by the cyclic garbage collector. A
    report holds up to hundreds of thousands of cases: as a slotted dataclass,
    building them and the collections they set off took a sixth of
    parse_report's time (bench/junit_bench.py). Equality, hashing and repr
    behave as for a frozen dataclass; use ``msgspec.structs.replace``,
    ``asdict`` and ``fields`` instead of the dataclasses functions. Assigning
    a field raises AttributeError; pickles are not compatible with the earlier
    dataclass (nothing stores them: cases go from the parser to the database).
    """

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
    """Parse a whole JUnit XML (or .NET) report; raise ReportError if it is not one."""
    source = _native(source, max_bytes)
    parser = _Parser(count_suites=True)
    cases: list[CaseResult] = []
    for batch in _run(parser, source, max_bytes):
        cases.extend(batch)
    counts = parser.count_cases(cases)
    return Report(
        cases=cases,
        suites=parser.build_suites(counts),
        totals=_totals(counts),
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
    source = _native(source, max_bytes)
    parser = _Parser(count_suites=False)
    for batch in _run(parser, source, max_bytes):
        yield from batch


def _native(source: bytes | BinaryIO, max_bytes: int) -> bytes | BinaryIO:
    """A .NET report as JUnit (engine.dotnet); any other report unchanged."""
    try:
        return dotnet.as_junit(source, max_bytes)
    except dotnet.NativeReportError as exc:
        raise ReportError(str(exc)) from None


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
    return _join_key(_scope(classname, file, suite), name)


def _scope(classname: str, file: str | None, suite: str) -> str:
    scope = " ".join(classname.split())
    if not scope and file:
        scope = " ".join(file.split()).replace("\\", "/")
        while scope.startswith("./"):
            scope = scope[2:]
    return scope or " ".join(suite.split())


def _join_key(scope: str, name: str) -> str:
    key = f"{scope}::{' '.join(name.split())}"
    return key if len(key) <= MAX_KEY_CHARS else _hashed_key(key)


def _hashed_key(key: str) -> str:
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{key[: MAX_KEY_CHARS - 17]}#{digest}"


def _key_prefix(scope: str) -> str:
    return f"{scope}::" if scope else ""


def _totals(counts: Counter[tuple[int, str]]) -> Totals:
    statuses: Counter[str] = Counter()
    for (_, status), number in counts.items():
        statuses[status] += number
    return Totals(
        sum(statuses.values()), statuses["failed"], statuses["error"], statuses["skipped"]
    )


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
    """Read a duration in seconds, clamped (see Fields); None for no finite, positive number."""
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        text = value.strip().removesuffix("s")
        if "," in text:
            text = text.replace(",", "") if "." in text else text.replace(",", ".")
        try:
            number = float(text)
        except ValueError:
            return None
    if not 0 <= number < math.inf:  # NaN fails both comparisons
        return None
    if number < MIN_DURATION_SECONDS:
        return 0.0  # also turns -0.0 into 0.0
    return min(number, MAX_DURATION_SECONDS)


def _integer(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
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


class _Result:
    __slots__ = ("duration", "failure_type", "kind", "message", "text")

    def __init__(self, kind: str, attrs: dict[str, str]) -> None:
        self.kind = kind
        self.message = attrs.get("message", "")
        self.failure_type = attrs.get("type", "")
        self.duration = _number(attrs.get("time"))
        self.text = _Text(MAX_DETAILS_CHARS)


class _SuiteState:
    __slots__ = ("attrs", "depth", "name", "parent", "properties")

    def __init__(self, attrs: dict[str, str], depth: int, parent: int) -> None:
        self.name = attrs.get("name", "")
        self.attrs = attrs
        self.depth = depth
        self.parent = parent
        self.properties: list[tuple[str, str]] = []


class _CaseState:
    """What a <testcase> holds besides its attributes; made on its first child."""

    __slots__ = ("properties", "results", "retries", "system_err", "system_out")

    def __init__(self) -> None:
        self.results: list[_Result] | None = None
        self.retries: list[_Result] | None = None
        self.system_out: _Text | None = None
        self.system_err: _Text | None = None
        self.properties: list[tuple[str, str]] | None = None


_status_of: Final[Callable[[CaseResult], str]] = attrgetter("status")


class _NoTarget:
    def close(self) -> None:
        return None


# Column of each status in suite totals: tests, failures, errors, skipped.
_COUNT_INDEX: Final[dict[str, int]] = {"passed": 0, "failed": 1, "error": 2, "skipped": 3}


class _Parser:
    """Expat callbacks that turn JUnit elements into cases, one chunk at a time."""

    def __init__(self, *, count_suites: bool) -> None:
        # defusedxml installs handlers that refuse DTDs, entity declarations and
        # external references. We keep those and replace only the element and
        # text handlers: building no ElementTree objects (defusedxml's iterparse
        # runs ElementTree's pure-Python parser) doubles the speed.
        defused = DefusedXMLParser(
            target=_NoTarget(), forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
        expat: XMLParserType = defused.parser
        expat.ordered_attributes = False
        expat.buffer_text = True
        expat.buffer_size = _CHUNK
        expat.StartElementHandler = self._start_root
        expat.EndElementHandler = self._end
        expat.CharacterDataHandler = None
        expat.DefaultHandlerExpand = None
        expat.CommentHandler = None
        expat.ProcessingInstructionHandler = None
        expat.StartNamespaceDeclHandler = None
        expat.EndNamespaceDeclHandler = None
        self._expat = expat
        self.format = "junit"
        self.root_name: str | None = None
        self.root_properties: list[tuple[str, str]] = []
        self._root_seen = False
        self._pytest = False
        self._depth = 0
        self._suites: list[_SuiteState] = []
        self._open: list[int] = []
        # The innermost open suite: its index in _suites (-1 for none) and the
        # name its cases get (the root's name outside any suite).
        self._suite_index = -1
        self._suite_name = ""
        self._suite_prefix = "::"
        # The open <testcase>: its attributes, depth and (once it has children) state.
        self._case_attrs: dict[str, str] | None = None
        self._case_depth = 0
        self._case: _CaseState | None = None
        self._text: _Text | None = None
        self._text_depth = 0
        self._muted = 0
        # Cases of the open top-level suite, and the index of each one's
        # innermost suite (-1 for none); released cases keep their index in
        # case_suites so that count_cases can count them.
        self._pending: list[CaseResult] = []
        self._pending_suites: list[int] = []
        self.case_suites: list[int] = []
        self._count_suites = count_suites
        self._seen: set[str] = set()
        self._repeats = False
        # Repeated classnames and files share one bounded string, and the key
        # prefix each gives is computed once: classname -> (classname, prefix),
        # file -> (file, prefix).
        self._scopes: dict[str, tuple[str, str]] = {"": ("", "")}
        self._files: dict[str, tuple[str, str]] = {}
        self._numbers: dict[str, float | None] = {}  # time -> duration
        self._lines: dict[str, int | None] = {}  # line -> line number
        self._ready: list[CaseResult] = []
        # Bytes given to expat, and the start and kind of the token it stopped at.
        self._fed = 0
        self._markup_at = -1
        self._markup_kind = "a tag, comment or processing instruction"

    # -- feeding ---------------------------------------------------------

    def feed(self, chunk: bytes) -> list[CaseResult]:
        start = self._fed
        self._fed += len(chunk)
        self._call(chunk, False)
        # Expat stops at the start of a token it cannot finish yet (its current
        # byte index stays there): what lies beyond is one unfinished token.
        at = self._expat.CurrentByteIndex
        if self._fed - at > MAX_MARKUP_BYTES:
            raise ReportError(
                f"report holds {self._markup_kind} longer than {MAX_MARKUP_BYTES} bytes "
                f"{self._where()}"
            )
        if start <= at < self._fed and at != self._markup_at:
            self._markup_at = at
            self._markup_kind = _markup_kind(chunk[at - start : at - start + 4])
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
            self._expat.Parse(chunk, final)
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
            self._enter_suite(-1)
            self.format = _ROOT_NAME_FORMATS.get(self.root_name or "", self.format)
        self._expat.StartElementHandler = self._start
        self._start(tag, attrs)

    def _start(self, tag: str, attrs: dict[str, str]) -> None:
        depth = self._depth = self._depth + 1
        if depth > MAX_DEPTH:
            raise ReportError(f"elements nested deeper than {MAX_DEPTH} levels {self._where()}")
        if tag == "testcase" and self._case_attrs is None:
            # The hot path: the case is built from its attributes when it ends.
            self._case_attrs = attrs
            self._case_depth = depth
            return
        if "}" in tag and tag.startswith(_XINCLUDE):
            raise ReportError(f"XInclude is not allowed in a report {self._where()}")
        if self._text is not None:
            # Markup inside a text element (e.g. <stackTrace> in <flakyFailure>)
            # adds its text to the enclosing one; output of a retry is left out.
            if tag in ("system-out", "system-err") and not self._muted:
                self._muted = depth
                self._expat.CharacterDataHandler = None
            return
        if self._case_attrs is not None:
            case = self._case
            if case is None:
                case = self._case = _CaseState()
            self._start_in_case(case, tag, attrs)
        elif tag == "testsuite":
            self._start_suite(attrs)
        elif tag == "property":
            self._add_property(attrs)
        elif tag in _RESULT_RANK:
            raise ReportError(f"<{tag}> outside a <testcase> {self._where()}")

    def _start_suite(self, attrs: dict[str, str]) -> None:
        suite = _SuiteState(attrs, len(self._open), self._suite_index)
        self._open.append(len(self._suites))
        self._suites.append(suite)
        self._enter_suite(self._open[-1])
        if suite.name == "pytest":
            self._pytest = True
        if self.format == "junit":
            self.format = _suite_format(suite.name, attrs)

    def _end_suite(self) -> None:
        self._open.pop()
        self._enter_suite(self._open[-1] if self._open else -1)
        if not self._open:
            self._flush()

    def _enter_suite(self, index: int) -> None:
        """Make the suite at index (-1 for none: the root) the one new cases belong to."""
        self._suite_index = index
        self._suite_name = self._suites[index].name if index >= 0 else (self.root_name or "")
        self._suite_prefix = _scope("", None, self._suite_name) + "::"

    def _start_in_case(self, case: _CaseState, tag: str, attrs: dict[str, str]) -> None:
        if tag in _RESULT_RANK:
            result = _Result(tag, attrs)
            if case.results is None:
                case.results = []
            case.results.append(result)
            self._capture(result.text)
        elif tag in _RETRY_STATUS:
            result = _Result(tag, attrs)
            if case.retries is None:
                case.retries = []
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
            if case.properties is None:
                case.properties = []
            if len(case.properties) < MAX_PROPERTIES:
                case.properties.append(_property(attrs))
        elif tag in ("testcase", "testsuite"):
            raise ReportError(f"<{tag}> inside a <testcase> {self._where()}")

    def _capture(self, text: _Text) -> None:
        self._text = text
        self._text_depth = self._depth
        self._expat.CharacterDataHandler = text.add

    def _add_property(self, attrs: dict[str, str]) -> None:
        index = self._suite_index
        target = self._suites[index].properties if index >= 0 else self.root_properties
        if len(target) < MAX_PROPERTIES:
            prop = _property(attrs)
            target.append(prop)
            if prop[0] == "go.version" and self.format == "junit":
                self.format = "go"

    def _end(self, tag: str) -> None:
        depth = self._depth
        self._depth = depth - 1
        case_attrs = self._case_attrs
        if case_attrs is not None:
            if depth == self._case_depth:
                # The hot path: a test case ends.
                case = self._case
                self._case_attrs = self._case = None
                self._finish_case(case_attrs, case)
                return
            text = self._text
            if text is not None:
                if depth == self._muted:
                    self._muted = 0
                    self._expat.CharacterDataHandler = text.add
                elif depth == self._text_depth:
                    self._text = None
                    self._expat.CharacterDataHandler = None
            return
        if tag == "testsuite" and self._open:
            self._end_suite()

    # -- building results ------------------------------------------------

    def _finish_case(self, attrs: dict[str, str], case: _CaseState | None) -> None:
        # The hot path: runs once per test case, so lookups are kept to a minimum.
        get = attrs.get
        classname = get("classname") or get("class") or ""
        name = get("name") or ""
        file = get("file") or get("filepath") or None
        # The key's scope is the classname, else the file, else the suite (see
        # _scope); repeated classnames and files share one bounded string and
        # their key prefix (empty for a blank scope) is computed once.
        known = self._scopes.get(classname)
        if known is None:
            known = self._remember_classname(classname)
        classname, prefix = known
        if file is not None:
            shared = self._files.get(file)
            if shared is None:
                shared = self._remember_file(file)
            file = shared[0]
            prefix = prefix or shared[1]
        key = (prefix or self._suite_prefix) + " ".join(name.split())
        if len(key) > MAX_KEY_CHARS:
            key = _hashed_key(key)
        if len(name) > MAX_NAME_CHARS:
            name = _bounded(name, MAX_NAME_CHARS)
        # Durations and line numbers repeat (pytest writes milliseconds): each
        # distinct string is converted once and its number object shared.
        time = get("time")
        duration = None
        if time is not None:
            duration = self._numbers.get(time, _UNSEEN)
            if duration is _UNSEEN:
                duration = self._remember_number(time)
        line = get("line")
        line_number = None
        if line is not None:
            line_number = self._lines.get(line, _UNSEEN)
            if line_number is _UNSEEN:
                line_number = self._remember_line(line)
        status: Status = "passed"
        message = failure_type = details = out = err = ""
        attempts: tuple[Attempt, ...] = ()
        properties: tuple[tuple[str, str], ...] = ()
        if case is None:
            if "status" in attrs or "result" in attrs:
                status = _status_attribute(get("result"), get("status"))
        else:
            if case.results is not None:
                status, message, failure_type, details = _outcome(case.results)
            elif "status" in attrs or "result" in attrs:
                status = _status_attribute(get("result"), get("status"))
            if case.retries is not None:
                status, message, failure_type, details, duration, attempts = _with_retries(
                    case.retries, status, message, failure_type, details, duration
                )
            if case.system_out is not None:
                out = case.system_out.text()
            if case.system_err is not None:
                err = case.system_err.text()
            if case.properties is not None:
                properties = tuple(case.properties)
        result = CaseResult(
            self._suite_name,
            classname,
            name,
            file,
            line_number,
            status,
            duration or 0.0,
            message,
            failure_type,
            details,
            attempts,
            key,
            out,
            err,
            properties,
        )
        self._pending.append(result)
        self._pending_suites.append(self._suite_index)
        seen = self._seen
        if key in seen:
            self._repeats = True
        else:
            seen.add(key)
        if self._suite_index < 0:
            # A <testcase> outside any <testsuite>: nothing will close around it.
            self._flush()

    # The caches of _finish_case; each miss first keeps them all bounded.

    def _remember_classname(self, classname: str) -> tuple[str, str]:
        self._bound_caches()
        known = self._scopes[classname] = (
            _bounded(classname, MAX_NAME_CHARS),
            _key_prefix(_scope(classname, None, "")),
        )
        return known

    def _remember_file(self, file: str) -> tuple[str, str]:
        self._bound_caches()
        shared = self._files[file] = (
            _bounded(file, MAX_NAME_CHARS),
            _key_prefix(_scope("", file, "")),
        )
        return shared

    def _remember_number(self, time: str) -> float | None:
        self._bound_caches()
        number = self._numbers[time] = _number(time)
        return number

    def _remember_line(self, line: str) -> int | None:
        self._bound_caches()
        number = self._lines[line] = _integer(line)
        return number

    def _bound_caches(self) -> None:
        sizes = len(self._scopes) + len(self._files) + len(self._numbers) + len(self._lines)
        if sizes > _MAX_CACHED:
            self._scopes.clear()
            self._files.clear()
            self._numbers.clear()
            self._lines.clear()
            self._scopes[""] = ("", "")

    def _flush(self) -> None:
        """Release the cases of the finished top-level suite, retries merged."""
        pending, self._pending = self._pending, []
        suites, self._pending_suites = self._pending_suites, []
        if self._repeats:
            pending, suites = _merge_retries(pending, suites, self._pytest)
        self._ready.extend(pending)
        if self._count_suites:
            self.case_suites.extend(suites)
        self._seen.clear()
        self._repeats = False

    def count_cases(self, cases: list[CaseResult]) -> Counter[tuple[int, str]]:
        """Count the given cases (all the parser released) by innermost suite and status."""
        return Counter(zip(self.case_suites, map(_status_of, cases), strict=True))

    def build_suites(self, counts: Counter[tuple[int, str]]) -> list[Suite]:
        """Describe every suite, with totals from count_cases."""
        totals = [[0, 0, 0, 0] for _ in self._suites]
        for (index, status), number in counts.items():
            if index >= 0:
                row = totals[index]
                row[0] += number
                if status != "passed":
                    row[_COUNT_INDEX[status]] += number
        # Children come after their parent: add each suite's totals to its parent's.
        for index in range(len(self._suites) - 1, -1, -1):
            parent = self._suites[index].parent
            if parent >= 0:
                for column in range(4):
                    totals[parent][column] += totals[index][column]
        return [
            Suite(
                name=state.name,
                depth=state.depth,
                totals=Totals(*row),
                declared=_declared(state.attrs),
                duration=_number(state.attrs.get("time")),
                timestamp=state.attrs.get("timestamp"),
                hostname=state.attrs.get("hostname"),
                properties=tuple(state.properties),
            )
            for state, row in zip(self._suites, totals, strict=True)
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


def _status_attribute(result: str | None, status: str | None) -> Status:
    for value in (result, status):
        if value:
            mapped = _STATUS_ATTRIBUTE.get(value.strip().lower())
            if mapped is not None:
                return mapped
    return "passed"


def _outcome(results: list[_Result]) -> tuple[Status, str, str, str]:
    if len(results) == 1:
        (result,) = results
        details = result.text.text().strip()
        return (
            _RESULT_STATUS[result.kind],
            _bounded(result.message or details.partition("\n")[0], MAX_MESSAGE_CHARS),
            _bounded(result.failure_type, MAX_NAME_CHARS),
            details,
        )
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


def _with_retries(
    retries: list[_Result],
    status: Status,
    message: str,
    failure_type: str,
    details: str,
    duration: float | None,
) -> tuple[Status, str, str, str, float | None, tuple[Attempt, ...]]:
    """Apply Surefire's flaky*/rerun* elements: earlier attempts, and the final outcome."""
    attempts = [_attempt(r) for r in retries if r.kind.startswith("flaky")]
    reruns = [r for r in retries if r.kind.startswith("rerun")]
    if reruns:
        attempts.append(Attempt(status, message, duration, failure_type, details))
        attempts.extend(_attempt(r) for r in reruns[:-1])
        last = _attempt(reruns[-1])
        status, message, failure_type = last.status, last.message, last.failure_type
        details, duration = last.details, last.duration
    return status, message, failure_type, details, duration, tuple(attempts)


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


def _merge_retries(
    cases: list[CaseResult], suites: list[int], pytest: bool
) -> tuple[list[CaseResult], list[int]]:
    """Fold a test case repeated within one suite into attempts of one case.

    A retry follows a failed attempt, so a repeat after a pass or skip is a
    separate invocation (TestNG data providers, duplicate titles). pytest node
    ids are unique, so in a pytest report every repeat is a rerun.
    """
    chains: list[list[CaseResult]] = []
    chain_suites: list[int] = []
    open_chains: dict[tuple[int, str], list[CaseResult]] = {}
    for case, index in zip(cases, suites, strict=True):
        if not case.name:
            chains.append([case])  # a nameless case has no identity to repeat
            chain_suites.append(index)
            continue
        scope = (index, case.key)
        chain = open_chains.get(scope)
        if chain is None:
            chain = open_chains[scope] = []
            chains.append(chain)
            chain_suites.append(index)
        chain.append(case)
        if not pytest and case.status not in ("failed", "error"):
            del open_chains[scope]
    merged = []
    for chain in chains:
        final = chain[-1]
        if len(chain) > 1:
            earlier: list[Attempt] = []
            for case in chain[:-1]:
                earlier.extend(case.attempts)
                earlier.append(_as_attempt(case, pytest))
            final = msgspec.structs.replace(final, attempts=(*earlier, *final.attempts))
        merged.append(final)
    return merged, chain_suites


def _as_attempt(case: CaseResult, pytest: bool) -> Attempt:
    if pytest and case.status == "passed":
        return Attempt("failed", RERUN_MESSAGE, case.duration)
    return Attempt(case.status, case.message, case.duration, case.failure_type, case.details)


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
        _bounded(attrs.get("value", ""), MAX_MESSAGE_CHARS),
    )


def _markup_kind(start: bytes) -> str:
    """Name the kind of XML token that begins with ``start`` (its first bytes)."""
    if start.startswith(b"<!--"):
        return "a comment"
    if start.startswith(b"<?"):
        return "a processing instruction"
    if start.startswith(b"<!"):
        return "a declaration"
    if start.startswith(b"</"):
        return "an end tag"
    if start.startswith(b"<"):
        return "a tag (with its attributes)"
    return "a token"


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
