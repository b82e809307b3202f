"""The quarantine gate: may a CI job pass, given its failing tests and the quarantine list.

``None`` for the list means FlakeGuard could not be asked: then any failure
fails, as it would without FlakeGuard.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class GateDecision:
    """Pass or fail, and why: failures that block and failures forgiven by a quarantine."""

    passed: bool
    blocking: tuple[str, ...]
    forgiven: tuple[str, ...]
    fallback: bool

    def summary(self) -> str:
        """One line saying what was decided."""
        if self.fallback:
            if self.passed:
                return "gate: passed (FlakeGuard unreachable; no failures in the reports)"
            return (
                f"gate: failed: {len(self.blocking)} failing test(s) and FlakeGuard is "
                "unreachable, so quarantines cannot be checked"
            )
        if self.blocking:
            return f"gate: failed: {len(self.blocking)} failing test(s) not quarantined"
        if self.forgiven:
            return f"gate: passed: every failure ({len(self.forgiven)}) is a quarantined test"
        return "gate: passed: no failures"


def decide_gate(failures: Iterable[str], quarantined: Collection[str] | None) -> GateDecision:
    """Fail when any failing key is not quarantined; with no list (server down) any failure."""
    failing = tuple(dict.fromkeys(failures))
    if quarantined is None:
        return GateDecision(not failing, failing, (), True)
    blocking = tuple(key for key in failing if key not in quarantined)
    forgiven = tuple(key for key in failing if key in quarantined)
    return GateDecision(not blocking, blocking, forgiven, False)
