"""The one-line reason a verdict gives, in words a person reads in Slack.

Every reason names the window it looked at (the conflict window, or the
history the state has seen when that is shorter) and when it last saw the
evidence it rests on; every number in it comes from the state.
"""

from __future__ import annotations

from datetime import UTC, datetime

from engine.scoring.config import DAY_SECONDS, ScoringConfig
from engine.scoring.state import TestState

HOUR_SECONDS = 3600.0


def percent(fraction: float) -> str:
    """Format a rate as a percentage, with a second decimal below 0.1%."""
    return f"{fraction * 100:.1f}%" if fraction >= 0.001 else f"{fraction * 100:.2f}%"


def span(seconds: float) -> str:
    """Format a duration: whole minutes below an hour, hours below two days, else days."""
    seconds = max(0.0, seconds)
    if seconds < HOUR_SECONDS:
        count, unit = int(seconds // 60), "minute"
    elif seconds < 2 * DAY_SECONDS:
        count, unit = int(seconds // HOUR_SECONDS), "hour"
    else:
        count, unit = int(seconds // DAY_SECONDS), "day"
    return f"{count} {unit}" if count == 1 else f"{count} {unit}s"


def ago(seconds: float) -> str:
    """Format how long ago something happened."""
    return "just now" if seconds < 60 else f"{span(seconds)} ago"


def window(state: TestState, now: float, days: float) -> str:
    """The window a count covers: the last ``days`` days, or the history if it is shorter."""
    history = now - state.first_at
    if history < days * DAY_SECONDS:
        return f"in the {span(history)} of history"
    return f"in the last {days:g} days"


def history(state: TestState, now: float) -> str:
    """The whole history the state has seen."""
    return f"in the {span(now - state.first_at)} of history"


def day(timestamp: float) -> str:
    """A date, for "since ..."."""
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d")


def times(count: int) -> str:
    """'once', '2 times', ..."""
    return "once" if count == 1 else f"{count} times"


def runs(count: int) -> str:
    """'1 run', '2 runs', ..."""
    return "1 run" if count == 1 else f"{count} runs"


def family_prior(state: TestState) -> str:
    """What a new test's family prior adds to its score, if it still weighs (else '').

    The score of a test seeded from its family counts the family's rate as
    pseudo-runs: a reason that quotes the score says so, so that the family's
    failures are never read as the test's own.
    """
    seed_failures = state.seed_failure_weight
    if seed_failures <= 0.0:
        return ""
    rate = seed_failures / (seed_failures + state.seed_pass_weight)
    return f"; its family's rate, {percent(rate)}, is its prior"


def reason(
    state_name: str,
    state: TestState,
    score: float,
    recent_conflicts: int,
    last_conflict: float | None,
    now: float,
    config: ScoringConfig,
) -> str:
    """Return why a test is in ``state_name`` at ``now`` (what its verdict rests on)."""
    last_failure = state.last_counted_failure_at
    if state_name == "broken":
        sha = (state.stretch_first_sha or "?")[:10]
        started = state.stretch_started_at
        since = f", {ago(now - started)}" if started is not None else ""
        return (
            f"fails on every run of the default branch since commit {sha}{since} "
            f"({state.stretch_commits} commits, {state.stretch_runs} runs), "
            "also on retry: broken, not flaky"
        )
    if state_name == "fixed":
        return (
            f"no longer fails at its quarantine rate of {percent(state.quarantine_rate)}: "
            f"{state.runs_since_quarantine} runs since quarantine pass a sequential test (SPRT)"
        )
    if state_name == "recovered":
        last_any = state.last_failure_at  # the clean stretch starts after any failure
        if last_any is None:
            clean = f"no failure in {state.clean_runs} runs"
        else:
            clean = (
                f"no failure in {state.clean_runs} runs over "
                f"{span(state.last_at - last_any)} since {day(last_any)}"
            )
        return f"{clean}; was {percent(state.recovered_from)}"
    if state_name == "flaky":
        if recent_conflicts and last_conflict is not None:
            return (
                f"passed and failed on the same commit {times(recent_conflicts)}, "
                f"last {ago(now - last_conflict)}, "
                f"{window(state, now, config.conflict_window_days)}"
            )
        last = f", last {ago(now - last_failure)}" if last_failure is not None else ""
        return (
            f"fails about {percent(score)} of runs on good code "
            f"({state.failures_counted} failures counted {history(state, now)}{last})"
            f"{family_prior(state)}"
        )
    if state_name == "insufficient":
        return f"only {state.runs_seen} runs {history(state, now)}; not enough to judge"
    if state.infra_failures and not state.failures_counted:
        return (
            f"passes on good code; {state.infra_failures} failures {history(state, now)} "
            "were infrastructure outages"
        )
    if state.branch_failures and not state.failures_counted:
        return (
            f"passes on good code; {state.branch_failures} failures {history(state, now)} "
            "were breakages on a branch"
        )
    if not state.failures_counted:  # the score is the prior's: no failure of its own
        rate = f"no failure on good code in {runs(state.passes_counted)}"
    else:
        last = f", last failure {ago(now - last_failure)}" if last_failure is not None else ""
        rate = f"fails {percent(score)} of runs on good code{last}"
    return (
        f"no same-commit conflict {window(state, now, config.conflict_window_days)}; "
        f"{rate}{family_prior(state)}"
    )
