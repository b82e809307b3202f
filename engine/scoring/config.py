"""The scoring's knobs and the result statuses it reads (docs/scoring.md)."""

from __future__ import annotations

from dataclasses import dataclass

PASSED = "passed"
FAILED = "failed"
ERROR = "error"
SKIPPED = "skipped"
FAILING = frozenset((FAILED, ERROR))
STATES = ("insufficient", "healthy", "flaky", "broken", "fixed", "recovered")

DAY_SECONDS = 86400.0


@dataclass(frozen=True)
class ScoringConfig:
    """Every knob of the scoring, with the reason for its default."""

    # Recency: a half-life of two weeks; a flake fixed a month ago weighs 1/4.
    half_life_days: float = 14.0
    # Prior Beta(0.5, 50): mean 1%, worth ~50 runs.  Most tests never flake,
    # so one early failure should not make a new test look 30% flaky.
    prior_fail: float = 0.5
    prior_pass: float = 50.0
    # Credible interval reported with the score (5%..95%).
    interval_mass: float = 0.90
    # Fewer effective first attempts than this and no conflict: 'insufficient'.
    min_samples: float = 8.0
    # Flag at a higher bar than clear (hysteresis).  Flagging needs both
    # evidence (decayed failures on good code >= flag_failures: one failure
    # from the last ~10 days) and a score >= flag_score; a flagged test clears
    # when the decayed failures fall below clear_failures (the last failure is
    # ~4 weeks old) or the score below clear_score.
    flag_failures: float = 0.6
    clear_failures: float = 0.25
    flag_score: float = 0.003
    clear_score: float = 0.002
    # ... or when it has not failed on good code for this long ("30 quiet
    # days"); decay alone would keep a stopped 20% flake flagged for three
    # months.  A 1% flake run 10 times a day stays quiet that long with
    # probability ~5%.
    quiet_days: float = 30.0
    # A same-commit conflict keeps a test flaky for this long.
    conflict_window_days: float = 21.0
    # Infra storm: we taint from 10% of a run failing (and at least 10 failing
    # tests in a run of 20+), because in practice a tenth of a run failing at
    # once is an outage, and 20-30% outages would otherwise leak hundreds of
    # false failures into stable tests.
    storm_fraction: float = 0.10
    storm_min_failures: int = 10
    storm_min_tests: int = 20
    # Broken: a failing stretch on the default branch over >= 2 SHAs with a
    # Bayes factor >= e**5 (~150) against the test's own recent rate.  A 40%
    # flake without retries needs 8 failures in a row to look broken.
    broken_min_shas: int = 2
    broken_log_bayes_factor: float = 5.0
    # Withhold the quarantine recommendation while an open stretch has a
    # Bayes factor >= e**2 for "new breakage" (one hard failure of a stable
    # test; not one failed run of a 30% flake).
    suspect_log_bayes_factor: float = 2.0
    # Caps that keep a state bounded (ring sizes).
    sha_ring: int = 32
    conflict_ring: int = 16
    # SPRT for fixed: alpha = P(call it fixed | still flaky), beta = P(keep it |
    # fixed); H1 is "a tenth of the quarantine rate".  5% -> 63 runs, 30% -> 9.
    sprt_alpha: float = 0.05
    sprt_beta: float = 0.10
    sprt_fixed_ratio: float = 0.1
    # Rates outside this range make the SPRT degenerate.
    sprt_min_rate: float = 0.001
    sprt_max_rate: float = 0.9
    # Recovery without quarantine: a flagged test that is not quarantined runs
    # the same SPRT (same errors) against the rate it was flagged at: the
    # posterior's median, re-read at each failure, which also sends the
    # statistic back to the floor (a recovery is a long enough clean stretch
    # after the last failure).  Lower quantiles keep fixed 10% flakes flagged
    # for 110+ clean runs; see docs/scoring.md, "Recovery", for the trade.
    recovery_quantile: float = 0.5
    # Each gap between failures is a fresh chance to look fixed: the upper
    # bound rises by this times log(1 + decayed failures), so a test that
    # failed 80 times lately needs a longer clean stretch than one that failed 5.
    recovery_look_penalty: float = 0.5
    # ... and no counted failure for at least this long: flakes bunch up in
    # time (load, time of day); a day without one covers a full cycle.
    recovery_min_days: float = 1.0
    # A new test of a known family (a new parametrisation) starts with this many
    # pseudo-runs at the rate its family shows: a cautious prior, worth as many
    # runs as it takes to judge a test (engine/scoring/family.py).
    family_prior_runs: float = 8.0
    # A recovered test reads 'recovered' (not 'healthy') for this long.
    recovered_days: float = 30.0


DEFAULT_CONFIG = ScoringConfig()
