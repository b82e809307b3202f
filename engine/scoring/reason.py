"""The one-line reason a verdict gives, in words a person reads in Slack."""

from __future__ import annotations

from engine.scoring.config import ScoringConfig
from engine.scoring.state import TestState


def percent(fraction: float) -> str:
    """Format a rate as a percentage, with a second decimal below 0.1%."""
    return f"{fraction * 100:.1f}%" if fraction >= 0.001 else f"{fraction * 100:.2f}%"


def reason(
    state_name: str,
    state: TestState,
    score: float,
    recent_conflicts: int,
    config: ScoringConfig,
) -> str:
    """Return why a test is in ``state_name`` (what its verdict rests on)."""
    window = f"{config.conflict_window_days:g} days"
    if state_name == "broken":
        sha = (state.stretch_first_sha or "?")[:10]
        return (
            f"fails on every run of the default branch since commit {sha} "
            f"({state.stretch_commits} commits, {state.stretch_runs} runs), "
            "also on retry: broken, not flaky"
        )
    if state_name == "fixed":
        return (
            f"no longer fails at its quarantine rate of {percent(state.quarantine_rate)}: "
            f"{state.runs_since_quarantine} runs since quarantine pass a sequential test (SPRT)"
        )
    if state_name == "flaky":
        if recent_conflicts:
            times = "once" if recent_conflicts == 1 else f"{recent_conflicts} times"
            return f"passed and failed on the same commit {times} in {window}"
        return (
            f"fails about {percent(score)} of runs on good code "
            f"({state.failures_counted} failures counted)"
        )
    if state_name == "insufficient":
        return f"only {state.runs_seen} runs so far; not enough to judge"
    if state.infra_failures and not state.failures_counted:
        return f"passes on good code; {state.infra_failures} failures were infrastructure outages"
    if state.branch_failures and not state.failures_counted:
        return f"passes on good code; {state.branch_failures} failures were breakages on a branch"
    return f"no same-commit conflict in {window}; fails {percent(score)} of runs on good code"
