"""Judge a TestState: the hysteresis, the broken-stretch test, and the Verdict with its Evidence.

:func:`verdict_from_state` reads a state at any ``now`` (recency decay applied,
state unchanged); the fold calls :func:`flag_rule` after each change so that
hysteresis has a memory (``TestState.flagged``).  See docs/scoring.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from engine.scoring.config import DAY_SECONDS, DEFAULT_CONFIG, ScoringConfig
from engine.scoring.reason import reason
from engine.scoring.state import TestState
from engine.scoring.statistics import beta_ppf, new_segment_log_bayes_factor


@dataclass(frozen=True)
class Evidence:
    """What a verdict rests on, for people and for the app."""

    same_commit_conflicts: int
    recent_conflicts: int
    flip_rate: float
    infra_failures_excluded: int
    branch_failures_excluded: int
    failures_counted: int
    passes_counted: int
    effective_runs: float
    runs_seen: int
    first_failing_sha: str | None
    broken_since: datetime | None
    broken_commits: int
    broken_episodes: int
    last_failure_at: datetime | None
    quarantined_at: datetime | None
    sprt_llr: float | None
    runs_since_quarantine: int
    # What the reason's window and "last seen" rest on (docs/scoring.md, "Reasons").
    last_counted_failure_at: datetime | None = None
    last_conflict_at: datetime | None = None
    clean_runs: int = 0
    recovered_at: datetime | None = None
    recovered_from: float = 0.0

    def to_json(self, *, sparse: bool = False) -> dict[str, Any]:
        """Return a JSON-safe dict; ``sparse`` leaves out zeros and absent values.

        The app stores the sparse form (a reader takes a missing key as 0 or None).
        """
        if sparse:
            return {
                name: value.isoformat() if isinstance(value, datetime) else value
                for name, value in self.__dict__.items()
                if value
            }
        return {
            "same_commit_conflicts": self.same_commit_conflicts,
            "recent_conflicts": self.recent_conflicts,
            "flip_rate": self.flip_rate,
            "infra_failures_excluded": self.infra_failures_excluded,
            "branch_failures_excluded": self.branch_failures_excluded,
            "failures_counted": self.failures_counted,
            "passes_counted": self.passes_counted,
            "effective_runs": self.effective_runs,
            "runs_seen": self.runs_seen,
            "first_failing_sha": self.first_failing_sha,
            "broken_since": _iso(self.broken_since),
            "broken_commits": self.broken_commits,
            "broken_episodes": self.broken_episodes,
            "last_failure_at": _iso(self.last_failure_at),
            "quarantined_at": _iso(self.quarantined_at),
            "sprt_llr": self.sprt_llr,
            "runs_since_quarantine": self.runs_since_quarantine,
            "last_counted_failure_at": _iso(self.last_counted_failure_at),
            "last_conflict_at": _iso(self.last_conflict_at),
            "clean_runs": self.clean_runs,
            "recovered_at": _iso(self.recovered_at),
            "recovered_from": self.recovered_from,
        }


@dataclass(frozen=True)
class Verdict:
    """The current judgement on one test."""

    state: str
    score: float
    interval: tuple[float, float]
    quarantine: bool
    evidence: Evidence
    reason: str

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-safe dict."""
        return {
            "state": self.state,
            "score": self.score,
            "interval": [self.interval[0], self.interval[1]],
            "quarantine": self.quarantine,
            "evidence": self.evidence.to_json(),
            "reason": self.reason,
        }


def stretch_log_bayes_factor(state: TestState, weight: float, config: ScoringConfig) -> float:
    """Log Bayes factor: the open stretch is a new always-failing segment vs the test's rate.

    ``weight`` is the scaled weight of "now" (a count is a scaled weight / weight).
    """
    return new_segment_log_bayes_factor(
        state.stretch_failures,
        config.prior_fail + state.failure_weight / weight,
        config.prior_pass + state.pass_weight / weight,
    )


def stretch_is_broken(state: TestState, weight: float, config: ScoringConfig) -> bool:
    """Whether the open default-branch failing stretch is a breakage (spans enough commits)."""
    return (
        state.stretch_runs > 0
        and state.stretch_commits >= config.broken_min_shas
        and stretch_log_bayes_factor(state, weight, config) >= config.broken_log_bayes_factor
    )


def flag_rule(
    state: TestState, timestamp: float, config: ScoringConfig, scale: float | None = None
) -> bool:
    """Apply the hysteresis at ``timestamp``: flag at a higher bar than clear (cheapest first).

    ``scale`` is ``2 ** (epoch - timestamp / half_life)`` when the caller has it already.
    """
    conflict_times = state.conflict_times
    if (
        conflict_times
        and max(conflict_times) >= timestamp - config.conflict_window_days * DAY_SECONDS
    ):
        return True
    flagged = state.flagged
    if flagged and state.quarantined_at is not None and state.fixed_at is None:
        return True  # a quarantined test leaves 'flaky' through the SPRT only
    if not flagged and state.failure_weight == 0.0:
        return False
    if scale is None:
        scale = math.pow(2.0, state.epoch - timestamp / (DAY_SECONDS * config.half_life_days))
    failures = state.failure_weight * scale
    effective_runs = failures + state.pass_weight * scale
    score = (config.prior_fail + failures) / (
        config.prior_fail + config.prior_pass + effective_runs
    )
    last = state.last_counted_failure_at
    if last is None or timestamp - last >= config.quiet_days * DAY_SECONDS:
        return False  # quiet: cleared, and old evidence alone never flags again
    if flagged:
        return score >= config.clear_score and failures >= config.clear_failures
    # A young test that has both passed and failed on good code is judged at
    # once (an early verdict), not after min_samples runs: a counted failure is one.
    return (
        score >= config.flag_score
        and failures >= config.flag_failures
        and (
            effective_runs >= config.min_samples
            or (
                state.passes_counted > 0
                and state.passes_counted + state.failures_counted <= config.young_runs
            )
        )
    )


def _datetime(timestamp: float | None) -> datetime | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, tz=UTC)


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def verdict_from_state(
    state: TestState, now: datetime, config: ScoringConfig = DEFAULT_CONFIG
) -> Verdict:
    """Judge one test from its state as of ``now`` (recency decay applied, state unchanged)."""
    timestamp = now.timestamp()
    scale = 2.0 ** (state.epoch - timestamp / (DAY_SECONDS * config.half_life_days))
    if not state.eventful:
        return _quiet_verdict(state, timestamp, scale, config)
    failures = state.failure_weight * scale
    passes = state.pass_weight * scale
    score = (config.prior_fail + failures) / (
        config.prior_fail + config.prior_pass + failures + passes
    )
    conflict_times = state.conflict_times
    last_conflict = None
    if conflict_times:
        since = timestamp - config.conflict_window_days * DAY_SECONDS
        recent = sum(1 for at in conflict_times if at >= since)
        if recent:
            last_conflict = max(conflict_times)
    else:
        recent = 0
    a = config.prior_fail + failures
    b = config.prior_pass + passes
    tail = (1.0 - config.interval_mass) / 2.0
    interval = (beta_ppf(tail, a, b), beta_ppf(1.0 - tail, a, b))
    broken = suspect = False
    if state.stretch_runs > 0:
        broken = stretch_is_broken(state, 1.0 / scale, config)
        # An open failing stretch that already looks more like a new breakage
        # than like this test's usual failures may be a breakage still forming:
        # do not recommend quarantine until it resolves.
        suspect = (
            stretch_log_bayes_factor(state, 1.0 / scale, config) >= config.suspect_log_bayes_factor
        )
    flagged = flag_rule(state, timestamp, config, scale)
    fixed = state.quarantined_at is not None and state.fixed_at is not None
    recovered_at = state.recovered_at
    recovered = (
        recovered_at is not None and timestamp - recovered_at < config.recovered_days * DAY_SECONDS
    )
    effective_runs = failures + passes
    if broken:
        state_name = "broken"
    elif flagged:
        state_name = "flaky"
    elif fixed:
        state_name = "fixed"
    elif recovered:
        state_name = "recovered"
    elif effective_runs < config.min_samples:
        state_name = "insufficient"
    else:
        state_name = "healthy"
    flip_rate = min(1.0, state.flip_weight * scale / effective_runs) if effective_runs > 0 else 0.0
    evidence: Evidence = _frozen(
        Evidence,
        {
            "same_commit_conflicts": state.same_commit_conflicts,
            "recent_conflicts": recent,
            "flip_rate": flip_rate,
            "infra_failures_excluded": state.infra_failures,
            "branch_failures_excluded": state.branch_failures,
            "failures_counted": state.failures_counted,
            "passes_counted": state.passes_counted,
            "effective_runs": effective_runs,
            "runs_seen": state.runs_seen,
            "first_failing_sha": state.stretch_first_sha if broken else state.last_broken_sha,
            "broken_since": _datetime(state.stretch_started_at) if broken else None,
            "broken_commits": state.stretch_commits if broken else 0,
            "broken_episodes": state.broken_episodes,
            "last_failure_at": _datetime(state.last_failure_at),
            "quarantined_at": _datetime(state.quarantined_at),
            "sprt_llr": state.sprt_llr if state.quarantined_at is not None else None,
            "runs_since_quarantine": state.runs_since_quarantine,
            "last_counted_failure_at": _datetime(state.last_counted_failure_at),
            "last_conflict_at": _datetime(last_conflict),
            "clean_runs": state.clean_runs,
            "recovered_at": _datetime(recovered_at),
            "recovered_from": state.recovered_from,
        },
    )
    verdict: Verdict = _frozen(
        Verdict,
        {
            "state": state_name,
            "score": score,
            "interval": interval,
            "quarantine": state_name == "flaky" and not suspect,
            "evidence": evidence,
            "reason": reason(state_name, state, score, recent, last_conflict, timestamp, config),
        },
    )
    return verdict


# The evidence of a test that never failed outside an outage (most tests), but
# for the four figures _quiet_verdict fills in.
_QUIET_EVIDENCE: dict[str, Any] = {
    "same_commit_conflicts": 0,
    "recent_conflicts": 0,
    "flip_rate": 0.0,
    "infra_failures_excluded": 0,
    "branch_failures_excluded": 0,
    "failures_counted": 0,
    "passes_counted": 0,
    "effective_runs": 0.0,
    "runs_seen": 0,
    "first_failing_sha": None,
    "broken_since": None,
    "broken_commits": 0,
    "broken_episodes": 0,
    "last_failure_at": None,
    "quarantined_at": None,
    "sprt_llr": None,
    "runs_since_quarantine": 0,
    "last_counted_failure_at": None,
    "last_conflict_at": None,
    "clean_runs": 0,
    "recovered_at": None,
    "recovered_from": 0.0,
}


def _quiet_verdict(
    state: TestState, timestamp: float, scale: float, config: ScoringConfig
) -> Verdict:
    """The verdict of a state that holds nothing but passes and outages (``eventful`` unset).

    What :func:`verdict_from_state` would say with no failure, conflict, stretch,
    quarantine or recovery to weigh, at a fraction of its cost: most tests of
    a run are in this state (a property test holds the two equal).
    """
    passes = state.pass_weight * scale
    score = config.prior_fail / (config.prior_fail + config.prior_pass + passes)
    b = config.prior_pass + passes
    tail = (1.0 - config.interval_mass) / 2.0
    name = "insufficient" if passes < config.min_samples else "healthy"
    evidence = _QUIET_EVIDENCE.copy()
    evidence["infra_failures_excluded"] = state.infra_failures
    evidence["passes_counted"] = state.passes_counted
    evidence["effective_runs"] = passes
    evidence["runs_seen"] = state.runs_seen
    verdict: Verdict = _frozen(
        Verdict,
        {
            "state": name,
            "score": score,
            "interval": (
                beta_ppf(tail, config.prior_fail, b),
                beta_ppf(1.0 - tail, config.prior_fail, b),
            ),
            "quarantine": False,
            "evidence": _frozen(Evidence, evidence),
            "reason": reason(name, state, score, 0, None, timestamp, config),
        },
    )
    return verdict


def _frozen(cls: type, fields: dict[str, Any]) -> Any:
    """Build a frozen dataclass from all its fields, without its __init__.

    The generated __init__ sets each field through object.__setattr__, which is
    most of the cost of a verdict (one per test per run); this fills __dict__.
    """
    instance: Any = object.__new__(cls)
    instance.__dict__.update(fields)
    return instance
