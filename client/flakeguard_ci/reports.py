"""Read JUnit reports on the CI machine: how many tests, which failed, or why a file is unreadable.

The gate needs each report's failing tests before (and without) the server, so
this is a small reader of JUnit XML that gives the outcome the server's parser
(``engine.junit``) gives: the same keys, the worst result element deciding a
case's status (``error`` > ``failure`` > ``skipped``; a ``status``/``result``
attribute without one), Surefire's ``rerun*`` elements deciding the final
outcome, and a case repeated within one top-level suite after a failure (every
repeat in a pytest report) folded into one case whose last element is final.
A test holds it equal to the server's parser on every report of the corpus.
It keeps no message or output, only what the gate and the summary line need.
.NET reports (NUnit, xUnit.net, TRX) are turned into JUnit first, as the
server does (``flakeguard_ci.dotnet``). XML goes through expat with DTDs,
entity declarations and external references refused, elements nested at most
:data:`MAX_DEPTH` deep, and at most ``max_bytes`` read (after gzip).
"""

from __future__ import annotations

import glob
import gzip
import itertools
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO
from xml.parsers import expat

from flakeguard_ci import dotnet
from flakeguard_ci.keys import make_key

DEFAULT_MAX_BYTES = 50 * 2**20
MAX_DEPTH = 100
FAILED = ("failed", "error")
GZIP_MAGIC = b"\x1f\x8b"
READ_CHUNK = 1 << 16
SNIFF_BYTES = 4096  # enough to see a .NET report's root element
RESULT_RANK = {"error": 3, "failure": 2, "skipped": 1}
RESULT_STATUS = {"error": "error", "failure": "failed", "skipped": "skipped"}
RERUN_STATUS = {"rerunFailure": "failed", "rerunError": "error"}
RETRY_ELEMENTS = ("flakyFailure", "flakyError", "rerunFailure", "rerunError")
TEXT_ELEMENTS = ("system-out", "system-err")
STATUS_ATTRIBUTE = {
    **dict.fromkeys(
        ("disabled", "notrun", "not_run", "skip", "skipped", "suppressed", "ignored", "pending"),
        "skipped",
    ),
    **dict.fromkeys(("fail", "failed", "failure"), "failed"),
    **dict.fromkeys(("error", "errored"), "error"),
}
FOREIGN_ROOTS = {
    "test-run": "NUnit 3",
    "test-results": "NUnit 2",
    "test-suite": "NUnit",
    "assemblies": "xUnit.net",
    "assembly": "xUnit.net",
    "TestRun": "TRX (Visual Studio test results)",
}
XINCLUDE = "http://www.w3.org/2001/XInclude}"


class UnreadableReport(Exception):
    """The file is not a JUnit XML report we can read; the message says why."""


def expand_files(patterns: Sequence[str]) -> tuple[list[Path], list[str]]:
    """Files named or matched by the patterns (``**`` included), and patterns matching none."""
    found: dict[Path, None] = {}
    unmatched: list[str] = []
    for pattern in patterns:
        if glob.has_magic(pattern):
            matches = sorted(glob.glob(pattern, recursive=True))
            files = [Path(m) for m in matches if Path(m).is_file()]
        else:
            files = [Path(pattern)] if Path(pattern).is_file() else []
        if not files:
            unmatched.append(pattern)
        for path in files:
            found[path] = None
    return list(found), unmatched


@dataclass
class LocalReport:
    """One file read on the CI machine: its cases' outcome, or why it is unreadable."""

    path: Path
    tests: int = 0
    failures: int = 0
    errors: int = 0
    skipped: int = 0
    failing: list[str] = field(default_factory=list)
    problem: str | None = None

    def summary(self) -> str:
        """One line: the file and its counts, or why it is not uploaded."""
        if self.problem:
            return f"{self.path}: not uploaded: {self.problem}"
        parts = [f"{self.tests} tests", f"{self.failures} failed", f"{self.errors} errors"]
        parts.append(f"{self.skipped} skipped")
        return f"{self.path}: " + ", ".join(parts)


def read_local(path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> LocalReport:
    """Read one report file (plain or gzip) to know its outcome before uploading it."""
    report = LocalReport(path)
    try:
        with path.open("rb") as handle:
            cases = read_cases(handle, max_bytes=max_bytes)
    except OSError as exc:
        report.problem = exc.strerror or str(exc)
        return report
    except UnreadableReport as exc:
        report.problem = str(exc)
        return report
    for key, status in cases:
        report.tests += 1
        if status == "failed":
            report.failures += 1
        elif status == "error":
            report.errors += 1
        elif status == "skipped":
            report.skipped += 1
        if status in FAILED:
            report.failing.append(key)
    return report


def read_cases(source: BinaryIO, *, max_bytes: int = DEFAULT_MAX_BYTES) -> list[tuple[str, str]]:
    """(key, final status) of every case of a JUnit report, retries folded in."""
    chunks = _chunks(source, max_bytes)
    first = b""
    while len(first) < SNIFF_BYTES and (chunk := next(chunks, b"")):
        first += chunk
    if dotnet.native_format(first[:SNIFF_BYTES]) is not None:
        chunks = iter([_native_as_junit(first + b"".join(chunks))])
    else:
        chunks = itertools.chain([first], chunks)
    reader = _Reader()
    started = False
    for chunk in chunks:
        if not started:
            # As the server: a UTF-8 BOM and whitespace before the declaration are fine.
            chunk = chunk.removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n")
            if not chunk:
                continue
            started = True
        reader.feed(chunk, final=False)
    if not started:
        raise UnreadableReport("report is empty or holds only whitespace")
    reader.feed(b"", final=True)
    if not reader.root_seen:
        raise UnreadableReport("report holds no XML element")
    reader.flush()
    return reader.cases


def _native_as_junit(data: bytes) -> bytes:
    """A .NET report as JUnit (flakeguard_ci.dotnet), DTDs and entities refused first."""
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise UnreadableReport("a DTD or entity declaration is not allowed in a report")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        line, column = exc.position
        raise UnreadableReport(f"malformed XML at line {line}, column {column + 1}") from None
    return dotnet.to_junit(root)


def _chunks(source: BinaryIO, max_bytes: int) -> Iterator[bytes]:
    """The report's bytes (gunzipped when it starts with the gzip magic), at most max_bytes."""
    stream: BinaryIO = source
    first = source.read(2)
    if first == GZIP_MAGIC:
        source.seek(0)
        stream = gzip.GzipFile(fileobj=source, mode="rb")  # type: ignore[assignment]
        first = b""
    total = len(first)
    if first:
        yield first
    while True:
        try:
            chunk = stream.read(READ_CHUNK)
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            raise UnreadableReport(f"cannot decompress: {exc}") from None
        if not chunk:
            return
        total += len(chunk)
        if total > max_bytes:
            raise UnreadableReport(f"larger than the limit of {max_bytes} bytes")
        yield chunk


class _Case:
    __slots__ = ("attrs", "depth", "reruns", "results")

    def __init__(self, attrs: dict[str, str], depth: int) -> None:
        self.attrs = attrs
        self.depth = depth
        self.results: list[str] = []
        self.reruns: list[str] = []

    def status(self) -> str:
        if self.results:
            return RESULT_STATUS[max(self.results, key=RESULT_RANK.__getitem__)]
        if self.reruns:
            return RERUN_STATUS[self.reruns[-1]]
        for value in (self.attrs.get("result"), self.attrs.get("status")):
            if value:
                mapped = STATUS_ATTRIBUTE.get(value.strip().lower())
                if mapped is not None:
                    return mapped
        return "passed"


class _Reader:
    """Expat callbacks collecting (key, status) per case, retries merged per top-level suite."""

    def __init__(self) -> None:
        parser = expat.ParserCreate(namespace_separator="}")
        parser.StartElementHandler = self._start_root
        parser.EndElementHandler = self._end
        parser.StartDoctypeDeclHandler = self._refuse_dtd
        parser.EntityDeclHandler = self._refuse_entity
        parser.ExternalEntityRefHandler = self._refuse_external
        parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        self._parser = parser
        self.root_seen = False
        self.cases: list[tuple[str, str]] = []
        self._pytest = False
        self._depth = 0
        self._root_name = ""
        # Open suites as (index, name); indexes tell sibling suites of one name apart.
        self._open: list[tuple[int, str]] = []
        self._suites = 0
        self._case: _Case | None = None
        self._text_depth = 0
        # Cases of the open top-level suite: (suite index, name, key, status).
        self._pending: list[tuple[int, str, str, str]] = []

    def feed(self, data: bytes, *, final: bool) -> None:
        try:
            self._parser.Parse(data, final)
        except expat.ExpatError as exc:
            reason = expat.ErrorString(exc.code) if exc.code else str(exc)
            raise UnreadableReport(
                f"malformed XML at line {exc.lineno}, column {exc.offset + 1}: {reason}"
            ) from None
        except (LookupError, ValueError) as exc:
            raise UnreadableReport(f"cannot decode the report: {exc}") from None

    def _where(self) -> str:
        parser = self._parser
        return f"at line {parser.CurrentLineNumber}, column {parser.CurrentColumnNumber + 1}"

    def _refuse_dtd(self, *_: object) -> None:
        raise UnreadableReport(f"a DTD is not allowed in a report {self._where()}")

    def _refuse_entity(self, *_: object) -> None:
        raise UnreadableReport(f"an entity declaration is not allowed {self._where()}")

    def _refuse_external(self, *_: object) -> int:
        raise UnreadableReport(f"an external reference is not allowed {self._where()}")

    def _start_root(self, tag: str, attrs: dict[str, str]) -> None:
        self.root_seen = True
        local = tag.rpartition("}")[2]
        if local in FOREIGN_ROOTS:
            raise UnreadableReport(
                f"this is a {FOREIGN_ROOTS[local]} report, not JUnit XML; "
                "convert it to JUnit XML or upload the JUnit output of the test runner"
            )
        if local not in ("testsuites", "testsuite"):
            raise UnreadableReport(
                f"not a JUnit XML report: the root element is <{local}>, "
                "expected <testsuites> or <testsuite>"
            )
        if local == "testsuites":
            self._root_name = attrs.get("name") or ""
        self._parser.StartElementHandler = self._start
        self._start(tag, attrs)

    def _start(self, tag: str, attrs: dict[str, str]) -> None:
        depth = self._depth = self._depth + 1
        if depth > MAX_DEPTH:
            raise UnreadableReport(f"elements nested deeper than {MAX_DEPTH} levels")
        case = self._case
        if tag == "testcase" and case is None:
            self._case = _Case(attrs, depth)
            return
        if "}" in tag and tag.startswith(XINCLUDE):
            raise UnreadableReport(f"XInclude is not allowed in a report {self._where()}")
        if self._text_depth:
            return  # markup inside a result or output element
        if case is not None:
            if tag in RESULT_RANK:
                case.results.append(tag)
            elif tag in RETRY_ELEMENTS:
                if tag in RERUN_STATUS:
                    case.reruns.append(tag)
            elif tag in ("testcase", "testsuite"):
                raise UnreadableReport(f"<{tag}> inside a <testcase> {self._where()}")
            if tag in RESULT_RANK or tag in RETRY_ELEMENTS or tag in TEXT_ELEMENTS:
                self._text_depth = depth
        elif tag == "testsuite":
            self._suites += 1
            self._open.append((self._suites, attrs.get("name", "")))
            if attrs.get("name") == "pytest":
                self._pytest = True
        elif tag in RESULT_RANK:
            raise UnreadableReport(f"<{tag}> outside a <testcase> {self._where()}")

    def _end(self, tag: str) -> None:
        depth = self._depth
        self._depth = depth - 1
        case = self._case
        if case is not None:
            if depth == case.depth:
                self._case = None
                self._finish(case)
            elif depth == self._text_depth:
                self._text_depth = 0
            return
        if tag == "testsuite" and self._open:
            self._open.pop()
            if not self._open:
                self.flush()

    def _finish(self, case: _Case) -> None:
        get = case.attrs.get
        name = get("name") or ""
        index, suite = self._open[-1] if self._open else (0, self._root_name)
        key = make_key(
            get("classname") or get("class") or "",
            name,
            get("file") or get("filepath") or None,
            suite,
        )
        self._pending.append((index, name, key, case.status()))
        if not self._open:
            self.flush()  # a case outside any suite: nothing will close around it

    def flush(self) -> None:
        """Release the cases of the finished top-level suite, retries folded in."""
        chains: list[list[str]] = []  # per chain, the statuses, its key first
        open_chains: dict[tuple[int, str], list[str]] = {}
        for index, name, key, status in self._pending:
            if not name:
                chains.append([key, status])
                continue
            chain = open_chains.get((index, key))
            if chain is None:
                chain = open_chains[(index, key)] = [key]
                chains.append(chain)
            chain.append(status)
            if not self._pytest and status not in FAILED:
                del open_chains[(index, key)]
        self.cases.extend((chain[0], chain[-1]) for chain in chains)
        self._pending = []
