"""Score tests for flakiness from CI history: pure, incremental, bounded.

A test is flaky when it both passes and fails on the same code.  The engine
folds runs, one at a time and in time order, into a small :class:`TestState`
per test; :func:`analyze` is a fold of the same step :func:`update` uses, so
incremental == batch by construction.  docs/scoring.md describes the model:
the evidence, the statistics, the verdicts and their reasons, decay and
quarantine release.

Modules, by concern:

- :mod:`~engine.scoring.config`: :class:`ScoringConfig`, every knob and why;
- :mod:`~engine.scoring.state`: :class:`TestState` and its byte and JSON forms;
- :mod:`~engine.scoring.statistics`: Beta quantiles, the changepoint Bayes
  factor, Wald's SPRT;
- :mod:`~engine.scoring.fold`: :func:`apply_run` (the one step), :func:`update`,
  :func:`fold`, :func:`analyze`;
- :mod:`~engine.scoring.fixed`: quarantine tracking and the sequential SPRT step;
- :mod:`~engine.scoring.verdict` and :mod:`~engine.scoring.reason`: the
  hysteresis, :class:`Verdict` with its :class:`Evidence`, and its reason text.

Runs must be folded in time order (ties: arrival order); the app keeps the
states in the database (as :meth:`TestState.to_bytes`) and calls :func:`update`
once per new run.
"""

from engine.scoring.config import (
    DEFAULT_CONFIG,
    ERROR,
    FAILED,
    PASSED,
    SKIPPED,
    STATES,
    ScoringConfig,
)
from engine.scoring.fixed import mark_quarantined, mark_unquarantined
from engine.scoring.fold import Result, Run, RunSummary, analyze, apply_run, fold, is_storm, update
from engine.scoring.state import SHA_KEY_BYTES, STATE_VERSION, TestState
from engine.scoring.statistics import SprtDecision, beta_ppf, beta_ppf_exact, sprt_fixed
from engine.scoring.verdict import Evidence, Verdict, verdict_from_state

__all__ = [
    "DEFAULT_CONFIG",
    "ERROR",
    "FAILED",
    "PASSED",
    "SHA_KEY_BYTES",
    "SKIPPED",
    "STATES",
    "STATE_VERSION",
    "Evidence",
    "Result",
    "Run",
    "RunSummary",
    "ScoringConfig",
    "SprtDecision",
    "TestState",
    "Verdict",
    "analyze",
    "apply_run",
    "beta_ppf",
    "beta_ppf_exact",
    "fold",
    "is_storm",
    "mark_quarantined",
    "mark_unquarantined",
    "sprt_fixed",
    "update",
    "verdict_from_state",
]
