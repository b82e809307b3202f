"""Opaque keyset cursors: where the next page of a sorted list starts.

A cursor holds the sort it belongs to and the last row's sort value and id,
as URL-safe base64 of compact JSON. It is not signed: every query it feeds is
scoped to the caller's tenant in SQL, so a forged cursor can only move the
start of the caller's own list. Anything that does not decode to the expected
shape is a ``BadCursorError`` (400), never a crash.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass
from datetime import datetime

from flakeguard.errors import BadRequestError

MAX_TEXT = 512  # a text sort value: a test's name, 512 characters at most
# A cursor is a few dozen characters; the longest carries a 512-character name
# of escaped (6-character) non-ASCII letters. A longer one is not ours.
MAX_LENGTH = 6000
MAX_ID = 2**31 - 1  # ids are 32-bit integers: a larger one is no row's, and no database's


class BadCursorError(BadRequestError, code="bad_cursor"):
    """A cursor that is not one of ours, or belongs to another sort."""


@dataclass(frozen=True)
class Cursor:
    """The last row of a page: its sort, its sort value and its id."""

    sort: str
    value: float | str | datetime
    id: int


def encode(cursor: Cursor) -> str:
    """The opaque text of a cursor."""
    value = cursor.value
    kind = "t" if isinstance(value, datetime) else "f" if isinstance(value, float) else "s"
    shown = value.isoformat() if isinstance(value, datetime) else value
    raw = json.dumps([cursor.sort, kind, shown, cursor.id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(text: str, *, sort: str) -> Cursor:
    """The cursor ``text`` stands for, or BadCursorError when it is not one of ``sort``."""
    if not text or len(text) > MAX_LENGTH:
        raise BadCursorError("the cursor is not one this server gave out")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        sort_of, kind, value, row_id = json.loads(raw)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise BadCursorError("the cursor is not one this server gave out") from None
    if sort_of != sort:
        raise BadCursorError(f"the cursor belongs to sort {sort_of!r}, not {sort!r}")
    if not isinstance(row_id, int) or isinstance(row_id, bool) or not 0 <= row_id <= MAX_ID:
        raise BadCursorError("the cursor is not one this server gave out")
    try:
        if kind == "t" and isinstance(value, str):
            return Cursor(sort, datetime.fromisoformat(value).replace(tzinfo=None), row_id)
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if kind == "f" and number and math.isfinite(value):
            return Cursor(sort, float(value), row_id)
        # PostgreSQL text holds no NUL; a longer name than a test can have is not a row's.
        text = isinstance(value, str) and len(value) <= MAX_TEXT and "\x00" not in value
        if kind == "s" and text:
            return Cursor(sort, value, row_id)
    except ValueError:
        pass
    raise BadCursorError("the cursor is not one this server gave out")
