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
    # ... except an early verdict: a test within its first young_runs counted
    # runs that has both passed and failed on good code is judged at once.  An
    # older test with fewer effective runs (one that runs rarely, its history
    # decayed) waits for min_samples of them.
    young_runs: int = 16
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
    # Recovery without quarantine: from its flag, and again from each failure
    # outside an outage (on any branch, counted as a flake or not), a flagged
    # test that is not quarantined judges its clean stretch against the rate it
    # shows then (its posterior's median): each pass adds -ln(1 - rate) to the
    # log-likelihood ratio of "fixed" against "still flaky", which must reach
    # e**7 (a 10% flake: 67 clean runs), plus 0.75 times the log of (1 + decayed
    # failures): each gap between failures is one more chance to look fixed, so
    # a test that failed 80 times lately needs a longer stretch (a 10% flake:
    # ~100 runs) than one that failed 5.  docs/scoring.md, "Recovery", shows the
    # trade between delay and false recoveries.
    recovery_log_bayes_factor: float = 7.0
    recovery_look_penalty: float = 0.75
    # The posterior the rate comes from keeps the prior's 50 pseudo-passes: a
    # weaker prior judges a fixed 10% flake sooner (20: ~20 runs sooner) but
    # recovers flakes seen failing only a few times at 1-2% early (bench, seeds
    # 1-10: 30 false recoveries against 9).
    recovery_prior_pass: float = 50.0
    # ... and no failure (anywhere, outside an outage) for at least this long:
    # flakes bunch up in time (load, time of day); a day covers a full cycle.
    recovery_min_days: float = 1.0
    # A new test of a known family (a new parametrisation) starts with this many
    # pseudo-runs at the rate its family shows: a cautious prior, worth as many
    # runs as it takes to judge a test (engine/scoring/family.py).
    family_prior_runs: float = 8.0
    # A recovered test reads 'recovered' (not 'healthy') for this long.
    recovered_days: float = 30.0


DEFAULT_CONFIG = ScoringConfig()
