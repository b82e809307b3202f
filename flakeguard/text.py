"""How FlakeGuard writes numbers for people, the same in Slack and in the terminal."""

from __future__ import annotations

import unicodedata

UNPRINTABLE = frozenset({"Cc", "Cf", "Zl", "Zp"})


def pct(rate: float) -> str:
    """A rate as a percentage with one decimal: 0.312 -> '31.2%'."""
    return f"{rate * 100:.1f}%"


def terminal_safe(text: str, limit: int | None = None) -> str:
    """Untrusted text (a failure message, a test name) fit to print on one terminal line.

    Control characters (ESC of an escape sequence, CR, BEL, C1 codes, bidi
    overrides, zero-width and separator characters: Unicode categories Cc, Cf,
    Zl, Zp) become a space, whitespace runs collapse to one space, and the
    result is cut to ``limit`` characters.
    """
    cleaned = "".join(" " if unicodedata.category(ch) in UNPRINTABLE else ch for ch in text)
    flat = " ".join(cleaned.split())
    return flat if limit is None else flat[:limit]
