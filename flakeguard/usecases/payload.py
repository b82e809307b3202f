"""Reading webhook payloads: optional parts are missing in real payloads; never KeyError."""

from __future__ import annotations

from typing import Any


def dig(payload: Any, *path: str) -> Any:
    """The value at ``path`` in nested dicts, or None where any step is missing."""
    value: Any = payload
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def int_at(payload: Any, *path: str) -> int | None:
    """The integer at ``path`` (booleans are not integers here), or None."""
    value = dig(payload, *path)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def str_at(payload: Any, *path: str) -> str | None:
    """The non-empty string at ``path``, or None."""
    value = dig(payload, *path)
    return value if isinstance(value, str) and value else None
