"""Read .NET test reports (NUnit 3 and 2, xUnit.net, TRX) as JUnit, for ``engine.junit``.

``as_junit(source, max_bytes)`` looks at the start of a report: a .NET report
is read whole (at most ``max_bytes``) through defusedxml (no DTD, entities or
external references) and returned as the JUnit XML that EnricoMi's
publish-unit-test-result-action makes from it; anything else comes back
unchanged (a stream with the bytes it looked at put back). The mapping itself
is ``flakeguard_ci.dotnet`` (the CI client's), shared so that the client's
gate and the server read a .NET report the same way; its docstring says what
becomes what.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import BinaryIO, Final, cast

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from flakeguard_ci.dotnet import native_format, to_junit

__all__ = ["NativeReportError", "as_junit"]

SNIFF_BYTES: Final = 4096


class NativeReportError(ValueError):
    """A .NET report that cannot be read; the message says why."""


def as_junit(source: bytes | BinaryIO, max_bytes: int) -> bytes | BinaryIO:
    """The JUnit XML of a .NET report; any other report unchanged (see the module docstring)."""
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        if native_format(data[:SNIFF_BYTES]) is None:
            return source
        return _convert(data, max_bytes)
    head = _read_up_to(source, SNIFF_BYTES)
    if native_format(head) is None:
        return cast(BinaryIO, _Prefixed(head, source))
    rest = _read_up_to(source, max_bytes + 1 - len(head))
    return _convert(head + rest, max_bytes)


def _read_up_to(source: BinaryIO, size: int) -> bytes:
    parts: list[bytes] = []
    left = size
    while left > 0:
        try:
            chunk = source.read(min(left, 1 << 16))
        except (OSError, EOFError, ValueError) as exc:
            raise NativeReportError(f"could not read the report: {exc}") from None
        if not chunk:
            break
        if not isinstance(chunk, bytes | bytearray):
            raise NativeReportError("the report must be read as bytes, not text")
        parts.append(bytes(chunk))
        left -= len(chunk)
    return b"".join(parts)


class _Prefixed:
    """A stream with the bytes already read put back in front."""

    def __init__(self, head: bytes, source: BinaryIO) -> None:
        self._head = head
        self._source = source

    def read(self, size: int = -1) -> bytes:
        if self._head:
            data, self._head = self._head, b""
            return data
        return bytes(self._source.read(size) or b"")


def _convert(data: bytes, max_bytes: int) -> bytes:
    if len(data) > max_bytes:
        raise NativeReportError(f"report is larger than the limit of {max_bytes} bytes")
    try:
        root = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except ET.ParseError as exc:
        line, column = exc.position
        raise NativeReportError(f"malformed XML at line {line}, column {column + 1}") from None
    except DefusedXmlException as exc:
        raise NativeReportError(f"refused: {type(exc).__name__}") from None
    return to_junit(root)
