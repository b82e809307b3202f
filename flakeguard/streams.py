"""Bounded binary streams for reading reports: a byte budget, gzip on demand, hashing.

The upload API wraps the request body in these, and the ingest use case reads
every report through them, so a large or compressed-bomb upload stops with 413
while it streams and never more than the budget is decompressed.
"""

from __future__ import annotations

import io
import zlib
from typing import Any, BinaryIO

from flakeguard.errors import PayloadTooLargeError

GZIP_MAGIC = b"\x1f\x8b"
READ_CHUNK = 1 << 16


class Budget:
    """A byte allowance shared by every file of one upload; exceeding it is a 413."""

    def __init__(self, limit: int, *, what: str = "the reports") -> None:
        self.limit = limit
        self.used = 0
        self.what = what

    def spend(self, size: int) -> None:
        """Count ``size`` more bytes; raise PayloadTooLargeError past the limit."""
        self.used += size
        if self.used > self.limit:
            raise PayloadTooLargeError(
                f"{self.what} are larger than the limit of {self.limit} bytes"
            )


class BoundedReader(io.RawIOBase):
    """Read from ``source`` while spending a Budget and hashing what passes through."""

    def __init__(self, source: BinaryIO | Any, budget: Budget, *, hasher: Any = None) -> None:
        self._source = source
        self._budget = budget
        self._hasher = hasher

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._source.read(size if size and size > 0 else READ_CHUNK)
        if data:
            self._budget.spend(len(data))
            if self._hasher is not None:
                self._hasher.update(data)
        return bytes(data)


class GzipReader(io.RawIOBase):
    """Decompress a gzip stream on demand (never more than asked: bombs stay bounded)."""

    def __init__(self, source: BinaryIO | Any, *, first: bytes = b"") -> None:
        self._source = source
        self._buffer = first
        self._inflater: Any = None  # None between members
        self._members = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        size = size if size and size > 0 else READ_CHUNK
        while True:
            if not self._buffer:
                self._buffer = bytes(self._source.read(READ_CHUNK) or b"")
                if not self._buffer:
                    if self._inflater is not None:
                        raise ValueError("the gzip stream is truncated")
                    if not self._members:
                        raise ValueError("the gzip stream is empty")
                    return b""
            if self._inflater is None:
                # Between members: NUL padding is allowed, anything else must be gzip.
                data = self._buffer.lstrip(b"\0")
                if not data:
                    self._buffer = b""
                    continue
                if not data.startswith(GZIP_MAGIC[: len(data)]):
                    raise ValueError("not gzip data")
                self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
                self._members += 1
                self._buffer = data
            try:
                out = self._inflater.decompress(self._buffer, size)
            except zlib.error as exc:
                raise ValueError(f"bad gzip data: {exc}") from None
            if self._inflater.eof:
                self._buffer = self._inflater.unused_data
                self._inflater = None
            else:
                self._buffer = self._inflater.unconsumed_tail
            if out:
                return out


def open_report(source: bytes | BinaryIO | Any) -> Any:
    """A binary stream of the report, decompressed when it starts with the gzip magic."""
    if isinstance(source, bytes | bytearray | memoryview):
        source = io.BytesIO(bytes(source))
    first = bytes(source.read(2) or b"")
    if first == GZIP_MAGIC:
        return GzipReader(source, first=first)
    return _Prefixed(first, source)


class _Prefixed(io.RawIOBase):
    """A stream with some already-read bytes put back in front."""

    def __init__(self, first: bytes, source: Any) -> None:
        self._first = first
        self._source = source

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._first:
            data, self._first = self._first, b""
            return data
        return bytes(self._source.read(size if size and size > 0 else READ_CHUNK) or b"")
