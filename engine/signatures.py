"""Failure signatures: the same cause gives the same signature, whatever varies between runs.

A failure's message and stack trace carry run-specific noise: numbers, memory
addresses, temporary paths, timestamps, UUIDs, ports, line numbers that move
with every edit. :func:`signature` strips that noise and keeps what names the
cause: the exception type, the message's words, and the frames that matter
(the innermost frame, where the error was raised, and the innermost frames of
the project's own code; frames of test runners and of the language's
machinery say nothing about the cause). :func:`cluster` groups the failures of
one run by signature, so tests that fail together for one reason are one
cluster. Pure functions of strings.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

MAX_TEXT = 200  # characters of normalised message kept in a signature
PROJECT_FRAMES = 3  # innermost project frames kept

# Noise, in the order it is replaced (longest and most specific shapes first).
_NOISE: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I),
        "<uuid>",
    ),
    (
        re.compile(
            r"\b\d{4}-\d{2}-\d{2}"
            r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?\b"
        ),
        "<time>",
    ),
    (re.compile(r"\b\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?\b"), "<time>"),
    (re.compile(r"\b0x[0-9a-f]+\b", re.I), "<addr>"),
    (
        re.compile(
            r"(?:/private)?/(?:tmp|var/folders|var/tmp)/[^\s'\":,)\]]*"
            r"|[A-Za-z]:\\[^\s'\":,)\]]*\\(?:Temp|tmp)\\[^\s'\":,)\]]*"
            r"|\S*pytest-of-[^\s'\":,)\]]*",
            re.I,
        ),
        "<tmp>",
    ),
    (re.compile(r"\b[0-9a-f]{12,}\b", re.I), "<hex>"),
    # Numbers, but not digits inside a name ("test_c12", "python3", "v2").
    (re.compile(r"(?<![A-Za-z_\d])\d+(?:\.\d+)*"), "<n>"),
)
_SPACE = re.compile(r"\s+")

# "SomeError: message" or "pkg.mod.SomeError: message" at the start of a line.
_EXCEPTION = re.compile(
    r"^(?:E\s+)?((?:[A-Za-z_][\w$]*\.)*[A-Za-z_][\w$]*"
    r"(?:Error|Exception|Failure|Failed|Exit|Interrupt|Timeout|Fault|Warning|Panic))\b:?\s*(.*)$"
)
# Frames: Python, JVM, JavaScript/TypeScript, Go, .NET.
_PY_FRAME = re.compile(r'^\s*File "([^"]+)", line \d+, in (\S+)')
_JVM_FRAME = re.compile(r"^\s*at (?:[\w.$-]+/)?((?:[\w$]+\.)+[\w$<>]+)\(([^)]*)\)")
_JS_FRAME = re.compile(r"^\s*at (?:(\S+) \()?([^()\s]+?)(?::\d+){1,2}\)?\s*$")
_GO_FRAME = re.compile(r"^\s*((?:[\w.-]+/)*[\w.-]+\.[\w.()*]+)\(.*\)\s*$")
_NET_FRAME = re.compile(r"^\s*at ([\w.`<>]+)\(.*\)(?: in .*)?$")

# Frames of runners and language machinery: never the cause.
_MACHINERY = re.compile(
    r"(?:^|[/\\.])(?:_pytest|pytest|pluggy|unittest|site-packages|dist-packages|"
    r"node_modules|jest-|mocha|junit|surefire|testng|java\.lang\.reflect|jdk\.internal|"
    r"sun\.reflect|java\.base|runtime/|testing/|System\.RuntimeMethodHandle|NUnit|xunit|"
    r"Microsoft\.VisualStudio|lib/python\d|<frozen)"
    r"|^(?:java|javax|sun|jdk|kotlin|scala|org\.junit|org\.gradle|org\.apache\.maven)\.",
    re.I,
)
_RUNTIME = re.compile(r"(?:java|javax|sun|jdk)\.")  # a JVM runtime frame: a poor label
# Frames of the tests themselves: the same cause reached from two tests differs only there.
_TEST_FRAME = re.compile(
    r"(?:^|/)(?:tests?|spec|specs|__tests__)/|(?:^|/)test_[^/]*$|_test\.\w+$"
    r"|\.(?:test|spec)\.\w+$|(?:Test|Tests|IT|Spec)(?:\.\w+)?\.[\w$<>]+$"
)
# Exceptions that a test's own assertion raises: without a frame outside the
# tests they name no shared cause ("assert 3 == 4" in two tests is two bugs).
ASSERTIONS = frozenset(
    (
        "",
        "AssertionError",
        "AssertionFailedError",
        "ComparisonFailure",
        "AssertError",
        "ExpectationFailed",
        "MultipleFailuresError",
    )
)


@dataclass(frozen=True)
class Signature:
    """A failure's cause, without what varies between runs."""

    key: str  # a short digest of the fields below: equal keys, same cause
    exception: str  # the exception type ("" when none is named)
    text: str  # the normalised message
    frames: tuple[str, ...]  # the frames that matter, innermost first

    @property
    def shared(self) -> bool:
        """Whether tests failing with this signature can share one cause (not a bare assertion)."""
        if self.exception.rsplit(".", 1)[-1] not in ASSERTIONS:
            return True
        return any(not _TEST_FRAME.search(frame.split(":", 1)[0]) for frame in self.frames)

    @property
    def label(self) -> str:
        """A short name for people: the exception and where it came from."""
        head = self.exception.rsplit(".", 1)[-1] or self.text[:60] or "failure"
        frames = [f for f in self.frames if not _RUNTIME.match(f)] or list(self.frames)
        where = _package(frames[0]) if frames else _hint(self.text)
        return f"{head} … {where}" if where and where not in head else head


_SCHEME = re.compile(r"\b([a-z][\w+.-]*)://", re.I)
_HOST_PORT = re.compile(r"\b([a-z][\w-]*)(?:\.[\w-]+)*:<n>", re.I)


def _hint(text: str) -> str:
    """Where a message without a trace points: a URL's scheme or a host ("redis://...")."""
    match = _SCHEME.search(text) or _HOST_PORT.search(text)
    return match[1].lower() if match else ""


def normalise(text: str) -> str:
    """Replace the run-specific parts of a text by placeholders; collapse whitespace."""
    for pattern, placeholder in _NOISE:
        text = pattern.sub(placeholder, text)
    return _SPACE.sub(" ", text).strip()


def _frame(line: str) -> tuple[str, str] | None:
    """(where, function) of a stack-trace line, or None when it is not a frame."""
    match = _PY_FRAME.match(line)
    if match:
        return match[1].replace("\\", "/"), match[2]
    match = _JVM_FRAME.match(line) or _NET_FRAME.match(line)
    if match:
        return match[1], match[1].rsplit(".", 1)[-1]
    match = _JS_FRAME.match(line)
    if match and ("/" in match[2] or "." in match[2]):
        return match[2].replace("\\", "/"), match[1] or "<anonymous>"
    match = _GO_FRAME.match(line)
    if match and "/" in match[1]:
        return match[1], match[1].rsplit(".", 1)[-1]
    return None


def _short(where: str, function: str) -> str:
    """A frame without its directories' noise: the last two path parts and the function."""
    if "/" in where:
        parts = [p for p in where.split("/") if p]
        tail = "/".join(parts[-2:])
        return f"{normalise_path(tail)}:{function}"
    return where  # a JVM or .NET frame is its qualified method already


def normalise_path(path: str) -> str:
    """A path part without version numbers (``foo-1.2.3`` -> ``foo-<n>``)."""
    return re.sub(r"\d+(?:\.\d+)*", "<n>", path)


def _package(frame: str) -> str:
    """The package or module of a frame, for a label ("redis", "com.acme.db")."""
    head = frame.split(":", 1)[0]
    if "/" in head:
        first = head.split("/")[0]
        return first.removesuffix(".py")
    parts = head.split(".")
    return ".".join(parts[:-2]) if len(parts) > 2 else parts[0]


def frames_of(trace: str) -> tuple[str, ...]:
    """The frames that matter in a stack trace, innermost first.

    The innermost frame (where the error was raised, even in a library) and up
    to :data:`PROJECT_FRAMES` innermost frames of the project's own code.
    Python prints the innermost frame last, the JVM, .NET, JavaScript and Go
    first; both are read innermost first.
    """
    found: list[tuple[str, str, bool]] = []
    python = False
    for line in trace.splitlines():
        frame = _frame(line)
        if frame is None:
            continue
        python = python or line.lstrip().startswith('File "')
        where, function = frame
        found.append((_short(where, function), where, bool(_MACHINERY.search(where))))
    if python:
        found.reverse()
    if not found:
        return ()
    innermost, where, machinery = found[0]
    if machinery:
        # A library's frame: keep its package (the label's "... redis"), not
        # its directories (a virtualenv's path varies).
        innermost = _library_frame(where, innermost)
    kept = [innermost]
    # Frames of the tests are kept only when the error was raised in a test
    # (its own assertion); otherwise they would split one cause by test.
    in_test = bool(_TEST_FRAME.search(where))
    for short, frame_where, frame_machinery in found[1:]:
        if len(kept) > PROJECT_FRAMES:
            break
        if frame_machinery or short in kept:
            continue
        if _TEST_FRAME.search(frame_where) and not in_test:
            continue
        kept.append(short)
    return tuple(kept)


def _library_frame(where: str, short: str) -> str:
    for marker in ("site-packages/", "dist-packages/", "node_modules/"):
        if marker in where:
            rest = where.split(marker, 1)[1]
            return f"{normalise_path(rest)}:{short.rsplit(':', 1)[-1]}"
    return short


def _exception(lines: Sequence[str], failure_type: str | None) -> tuple[str, str]:
    """(exception type, its message) from the failure type or the text's exception line."""
    found_type, found_text = "", ""
    for line in lines:
        match = _EXCEPTION.match(line.strip())
        if match:
            found_type, found_text = match[1], match[2]  # the last one is the one raised
    if failure_type:
        kind = failure_type.strip()
        if found_type and kind.rsplit(".", 1)[-1] == found_type.rsplit(".", 1)[-1]:
            kind = found_type
        return kind, found_text
    return found_type, found_text


def signature(
    message: str | None, failure_type: str | None = None, details: str | None = None
) -> Signature:
    """The signature of one failure: its message, its failure type, its details (a trace)."""
    text = (message or "").strip()
    trace = details or ""
    lines = [*text.splitlines(), *trace.splitlines()]
    exception, raised = _exception(lines, failure_type)
    exception = exception.rsplit(".", 1)[-1] if exception.count(".") > 3 else exception
    body = raised or (text.splitlines()[0] if text else "")
    if exception and body.startswith(exception):
        body = body[len(exception) :].lstrip(": ")
    normalised = normalise(body)[:MAX_TEXT]
    frames = frames_of(f"{text}\n{trace}")
    digest = hashlib.blake2b(
        "\x1f".join((exception, normalised, *frames)).encode(), digest_size=8
    ).hexdigest()
    return Signature(key=digest, exception=exception, text=normalised, frames=frames)


@dataclass(frozen=True)
class Cluster:
    """Failures with one signature: the tests that failed for one cause."""

    signature: Signature
    tests: tuple[str, ...]  # sorted, distinct

    @property
    def size(self) -> int:
        return len(self.tests)


def cluster(failures: Iterable[tuple[str, Signature]]) -> list[Cluster]:
    """Group (test, signature) pairs by signature; biggest cluster first, then by label."""
    by_key: dict[str, tuple[Signature, set[str]]] = {}
    for test, sig in failures:
        entry = by_key.get(sig.key)
        if entry is None:
            by_key[sig.key] = (sig, {test})
        else:
            entry[1].add(test)
    clusters = [Cluster(sig, tuple(sorted(tests))) for sig, tests in by_key.values()]
    clusters.sort(key=lambda c: (-c.size, c.signature.label, c.signature.key))
    return clusters


def message_counts(
    failures: Iterable[tuple[str | None, str | None]],
) -> list[tuple[Signature, int, str]]:
    """Distinct causes among (message, failure type) pairs: (signature, count, an example message).

    The most frequent first; the example is the latest message with that signature.
    """
    signatures: dict[str, Signature] = {}
    counts: dict[str, int] = {}
    examples: dict[str, str] = {}
    for message, failure_type in failures:
        sig = signature(message, failure_type)
        signatures.setdefault(sig.key, sig)
        counts[sig.key] = counts.get(sig.key, 0) + 1
        examples[sig.key] = message or ""
    rows = [(signatures[key], n, examples[key]) for key, n in counts.items()]
    rows.sort(key=lambda row: (-row[1], row[0].label))
    return rows
