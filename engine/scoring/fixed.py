"""Fixed detection: quarantine tracking on a TestState and the sequential SPRT step.

Once the app marks a test quarantined (with its rate then) every counted first
attempt feeds Wald's SPRT; reaching the upper bound calls the test fixed
(docs/scoring.md, "Quarantine release").
"""

from __future__ import annotations

import math
from datetime import datetime

from engine.scoring.config import DAY_SECONDS, DEFAULT_CONFIG, ScoringConfig
from engine.scoring.state import TestState
from engine.scoring.statistics import beta_ppf, sprt_bounds, sprt_steps


def sprt_step(
    state: TestState, timestamp: float, passes: int, failures: int, config: ScoringConfig
) -> None:
    """Feed ``passes`` and ``failures`` since quarantine into the state's SPRT, in place."""
    lower, upper = sprt_bounds(config)
    on_pass, on_failure = sprt_steps(state.quarantine_rate, config)
    state.runs_since_quarantine += passes + failures
    # A failure that reaches the 'still flaky' bound holds the statistic there
    # (a CUSUM-style floor) rather than restarting at 0: restarting after every
    # failure would give a 5% flake dozens of fresh 5% chances to look fixed.
    llr = state.sprt_llr + passes * on_pass + failures * on_failure
    if llr <= lower:
        # Still flaky, and we know more than at quarantine time: raise p0 to
        # the posterior's lower bound now.  Quarantine happens right after the
        # first evidence, when that bound is tiny; without this a stopped 5%
        # flake quarantined at an estimated 0.2% would need ~1,400 clean runs.
        scale = math.pow(2.0, state.epoch - timestamp / (DAY_SECONDS * config.half_life_days))
        low = beta_ppf(
            (1.0 - config.interval_mass) / 2.0,
            config.prior_fail + state.failure_weight * scale,
            config.prior_pass + state.pass_weight * scale,
        )
        state.quarantine_rate = min(max(state.quarantine_rate, low), config.sprt_max_rate)
        llr = lower
    state.sprt_llr = llr
    if state.sprt_llr >= upper:
        state.fixed_at = timestamp
        # The code changed: history before the fix no longer describes it.
        state.failure_weight = 0.0
        state.stretch_weight = 0.0
        state.flagged = False
        state.conflict_times = [0.0 for _ in state.conflict_times]


def mark_quarantined(
    state: TestState, at: datetime, rate: float, config: ScoringConfig = DEFAULT_CONFIG
) -> TestState:
    """Return a copy of ``state`` that tracks fixed-detection from quarantine at ``rate``.

    Pass the verdict's ``interval[0]`` as ``rate``: with the posterior mean a
    0.7% flake quarantined at an estimated 2.5% soon looks "fixed".
    """
    new = state.copy()
    new.quarantined_at = at.timestamp()
    new.quarantine_rate = min(max(rate, config.sprt_min_rate), config.sprt_max_rate)
    new.sprt_llr = 0.0
    new.runs_since_quarantine = 0
    new.fixed_at = None
    new.eventful = True
    return new


def mark_unquarantined(state: TestState) -> TestState:
    """Return a copy of ``state`` without quarantine tracking."""
    new = state.copy()
    new.quarantined_at = None
    new.quarantine_rate = 0.0
    new.sprt_llr = 0.0
    new.runs_since_quarantine = 0
    new.fixed_at = None
    return new
