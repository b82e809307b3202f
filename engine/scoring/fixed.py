"""Fixed and recovered: quarantine tracking on a TestState and the sequential SPRT steps.

Once the app marks a test quarantined (with its rate then) every counted first
attempt feeds Wald's SPRT; reaching the upper bound calls the test fixed
(docs/scoring.md, "Quarantine release").  A flagged test that is not
quarantined weighs each clean stretch against the rate it showed at its last
failure; enough evidence (a quiet day after its last failure) calls it recovered
(docs/scoring.md, "Recovery").
"""

from __future__ import annotations

import math
from datetime import datetime

from engine.scoring.config import DAY_SECONDS, DEFAULT_CONFIG, ScoringConfig
from engine.scoring.state import TestState
from engine.scoring.statistics import beta_ppf, sprt_bounds, sprt_steps


def _estimate(
    state: TestState, timestamp: float, q: float, config: ScoringConfig, prior_pass: float
) -> float:
    """The ``q``-quantile of the failure rate's posterior at ``timestamp``."""
    scale = math.pow(2.0, state.epoch - timestamp / (DAY_SECONDS * config.half_life_days))
    return beta_ppf(
        q,
        config.prior_fail + state.failure_weight * scale,
        prior_pass + state.pass_weight * scale,
    )


def _recovery_rate(state: TestState, timestamp: float, config: ScoringConfig) -> float:
    """The rate a flagged test's clean stretch is judged against: its posterior's median.

    Its prior's passes are ``recovery_prior_pass`` (the config says why they
    are the global prior's).
    """
    rate = _estimate(state, timestamp, 0.5, config, config.recovery_prior_pass)
    return _clamped(rate, config)


def _advance(
    llr: float, rate: float, passes: int, failures: int, config: ScoringConfig
) -> tuple[float, bool]:
    """Advance an SPRT statistic; return it and whether it reached the 'still flaky' floor.

    A failure that reaches the 'still flaky' bound holds the statistic there
    (a CUSUM-style floor) rather than restarting at 0: restarting after every
    failure would give a 5% flake dozens of fresh 5% chances to look fixed.
    """
    lower, _upper = sprt_bounds(config)
    on_pass, on_failure = sprt_steps(rate, config)
    llr += passes * on_pass + failures * on_failure
    return (lower, True) if llr <= lower else (llr, False)


def sprt_step(
    state: TestState, timestamp: float, passes: int, failures: int, config: ScoringConfig
) -> None:
    """Feed ``passes`` and ``failures`` since quarantine into the state's SPRT, in place."""
    _lower, upper = sprt_bounds(config)
    state.runs_since_quarantine += passes + failures
    llr, floor = _advance(state.sprt_llr, state.quarantine_rate, passes, failures, config)
    if floor:
        # Still flaky, and we know more than at quarantine time: raise p0 to
        # the posterior's lower bound now.  Quarantine happens right after the
        # first evidence, when that bound is tiny; without this a stopped 5%
        # flake quarantined at an estimated 0.2% would need ~1,400 clean runs.
        low = _estimate(
            state, timestamp, (1.0 - config.interval_mass) / 2.0, config, config.prior_pass
        )
        state.quarantine_rate = min(max(state.quarantine_rate, low), config.sprt_max_rate)
    state.sprt_llr = llr
    if state.sprt_llr >= upper:
        state.fixed_at = timestamp
        # The code changed: history before the fix no longer describes it (the
        # commits it failed on are kept, as for a recovery: recovery_step).
        state.failure_weight = state.seed_failure_weight = 0.0
        state.stretch_weight = 0.0
        state.flagged = False
        state.conflict_times = [0.0 for _ in state.conflict_times]


def restart_clean_stretch(state: TestState, timestamp: float, config: ScoringConfig) -> None:
    """Start the clean stretch over after a failure (any failure outside an outage), in place.

    Counted or not (a branch failure, a failing stretch on the default branch
    judged broken or not yet judged), a failure is a reason to doubt a fix: a
    flagged, unquarantined test judges its next clean stretch against the rate
    it shows now (the median of its posterior).
    """
    state.clean_runs = 0
    state.recovery_llr = 0.0
    if state.flagged and state.quarantined_at is None:
        state.recovery_rate = _recovery_rate(state, timestamp, config)


def recovery_step(state: TestState, timestamp: float, passes: int, config: ScoringConfig) -> bool:
    """Feed counted first attempts that passed into a flagged, unquarantined test's recovery test.

    Return whether the test recovered (then its failures before are dropped
    and it is no longer flagged).  The flag and every failure start the clean
    stretch over (:func:`restart_clean_stretch`), judged against the rate the
    test shows then: each pass adds ``-ln(1 - rate)`` to the log-likelihood
    ratio of "fixed" against "still flaky at that rate", and the test recovers
    when that ratio reaches ``recovery_log_bayes_factor`` plus
    ``recovery_look_penalty`` times the log of 1 + its decayed failures (each
    gap between failures is one more chance to look fixed), with no open
    failing stretch and its last failure (anywhere) a quiet day old.  Passes
    are one addition unless they reach the first bound.
    """
    if state.recovery_rate == 0.0:  # just flagged: the stretch starts here
        # Flagged again after a recovery without a failure since (a pass on a
        # commit that failed before it): its posterior holds only the runs since,
        # which would hold it flagged for ~1,000 clean runs; judge this stretch
        # against at least the rate it recovered from.  A failure (a restart)
        # is new evidence and is judged on its own.
        floor = _clamped(state.recovered_from, config) if state.recovered_from else 0.0
        state.recovery_rate = max(_recovery_rate(state, timestamp, config), floor)
        state.recovery_llr = 0.0
    llr = state.recovery_llr - passes * math.log1p(-state.recovery_rate)
    bound = config.recovery_log_bayes_factor
    if llr < bound:
        state.recovery_llr = llr
        return False
    scale = math.pow(2.0, state.epoch - timestamp / (DAY_SECONDS * config.half_life_days))
    failures_now = state.failure_weight * scale
    bound += config.recovery_look_penalty * math.log1p(failures_now)
    # Held at the bound: waiting out the quiet day earns no credit.
    state.recovery_llr = min(llr, bound)
    last = state.last_failure_at
    if (
        llr < bound
        or state.stretch_runs
        or (last is not None and timestamp - last < config.recovery_min_days * DAY_SECONDS)
    ):
        return False
    state.recovered_from = (config.prior_fail + failures_now) / (
        config.prior_fail + config.prior_pass + failures_now + state.pass_weight * scale
    )
    state.recovered_at = timestamp
    state.recovery_rate = 0.0
    state.recovery_llr = 0.0
    # The code changed: history before the fix no longer describes it.  The
    # commits it failed on are kept: a recovery is a judgement from the runs,
    # not knowledge of the fix, and a later pass on one of them still proves
    # that code flaky (a same-commit conflict flags it again).
    state.failure_weight = state.seed_failure_weight = 0.0
    state.flagged = False
    state.conflict_times = [0.0 for _ in state.conflict_times]
    return True


def _clamped(rate: float, config: ScoringConfig) -> float:
    return min(max(rate, config.sprt_min_rate), config.sprt_max_rate)


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
    new.recovery_rate = 0.0  # the quarantine's SPRT decides while it lasts
    new.recovery_llr = 0.0
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
