"""How FlakeGuard writes numbers for people, the same in Slack and in the terminal."""

from __future__ import annotations


def pct(rate: float) -> str:
    """A rate as a percentage with one decimal: 0.312 -> '31.2%'."""
    return f"{rate * 100:.1f}%"
