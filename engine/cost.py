"""What a flaky test costs: CI time lost, runs turned red, people blocked, how long it lasted.

Pure: the caller reads one row per (test, run) in which the test failed and
gets a :class:`FlakeCost` per test. A run the test *turned red* is one where it
failed and never passed (a retry that passed still cost the retry's time).
CI time lost is the time of the attempts that failed plus, for a red run, the
run's whole duration (it has to be re-run). People blocked are the distinct
pull requests (or, without one, branches other than the default) among the
red runs. Ranked like the quarantine plan (``engine.plan``): minutes lost plus
``RED_RUN_MINUTES`` per red run, most costly first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from engine.plan import RED_RUN_MINUTES


@dataclass(frozen=True)
class FailedRun:
    """One run in which a test failed at least once."""

    test: str
    run: str
    red: bool  # failed and never passed in this run
    failed_seconds: float  # duration of its failing attempts
    run_seconds: float  # the run's duration
    blocked: str | None  # "pr 42", "branch feature-x"; None on the default branch


@dataclass(frozen=True)
class FlakeCost:
    """The cost of one test over the rows given."""

    test: str
    red_runs: int
    failed_runs: int
    seconds_lost: float
    blocked: tuple[str, ...]  # distinct pull requests or branches it turned red
    flagged_at: datetime | None = None
    fixed_at: datetime | None = None  # when it recovered or was fixed

    @property
    def minutes(self) -> float:
        """Minutes lost plus the attention each red run costs."""
        return self.seconds_lost / 60.0 + RED_RUN_MINUTES * self.red_runs

    def since_flagged(self, now: datetime) -> float | None:
        """Seconds since it was first flagged."""
        if self.flagged_at is None:
            return None
        return max(0.0, (now - self.flagged_at).total_seconds())

    def time_to_fix(self) -> float | None:
        """Seconds from its first flag to its fix (None while not fixed)."""
        if self.flagged_at is None or self.fixed_at is None:
            return None
        return max(0.0, (self.fixed_at - self.flagged_at).total_seconds())


@dataclass
class _Tally:
    red: int = 0
    failed: int = 0
    seconds: float = 0.0
    blocked: set[str] = field(default_factory=set)


def costs(
    rows: Iterable[FailedRun],
    *,
    flagged_at: dict[str, datetime] | None = None,
    fixed_at: dict[str, datetime] | None = None,
) -> list[FlakeCost]:
    """One FlakeCost per test in ``rows``; the most costly first (then by name)."""
    tallies: dict[str, _Tally] = {}
    seen: set[tuple[str, str]] = set()
    for row in rows:
        if (row.test, row.run) in seen:
            continue  # one row per (test, run): a repeated one is not counted twice
        seen.add((row.test, row.run))
        tally = tallies.setdefault(row.test, _Tally())
        tally.failed += 1
        tally.seconds += row.failed_seconds
        if row.red:
            tally.red += 1
            tally.seconds += row.run_seconds
            if row.blocked is not None:
                tally.blocked.add(row.blocked)
    flagged_at = flagged_at or {}
    fixed_at = fixed_at or {}
    out = [
        FlakeCost(
            test=test,
            red_runs=t.red,
            failed_runs=t.failed,
            seconds_lost=t.seconds,
            blocked=tuple(sorted(t.blocked)),
            flagged_at=flagged_at.get(test),
            fixed_at=fixed_at.get(test),
        )
        for test, t in tallies.items()
    ]
    out.sort(key=lambda c: (-c.minutes, c.test))
    return out
