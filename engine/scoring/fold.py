"""Fold runs into TestStates, one run at a time in time order: the step and its batch forms.

:func:`apply_run` is the one step; :func:`update` runs it on copies of a run's
tests and returns their verdicts, :func:`fold` and :func:`analyze` run it over a
whole history, so incremental == batch by construction.  The evidence each
result gives (same-commit conflicts, infra storms, failing stretches, branch
failures) is described in docs/scoring.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.scoring.config import (
    DAY_SECONDS,
    DEFAULT_CONFIG,
    FAILING,
    PASSED,
    SKIPPED,
    ScoringConfig,
)
from engine.scoring.family import FamilyPrior, family_key, family_priors, seed
from engine.scoring.fixed import recovery_step, restart_clean_stretch, sprt_step
from engine.scoring.state import KEY_BYTES, TestState, ring_add, ring_has, sha_key
from engine.scoring.verdict import (
    Verdict,
    flag_rule,
    stretch_is_broken,
    stretch_log_bayes_factor,
    verdict_from_state,
)

EPOCH_HALF_LIVES = 64  # scaled weights stay below 2**64 before a state is rebased


@dataclass(frozen=True)
class Result:
    """One attempt of one test in one run."""

    test: str
    status: str
    retry: int = 0


@dataclass(frozen=True)
class Run:
    """One CI run (a report or job) with its results."""

    id: str
    sha: str
    branch: str
    default_branch: bool
    at: datetime
    results: Sequence[Result]


@dataclass(frozen=True)
class RunSummary:
    """What folding one run did."""

    run_id: str
    sha: str
    tests: int
    failed: int
    storm: bool
    infra_failures_excluded: int
    conflicts: int
    new_tests: int

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-safe dict."""
        return {
            "run_id": self.run_id,
            "sha": self.sha,
            "tests": self.tests,
            "failed": self.failed,
            "storm": self.storm,
            "infra_failures_excluded": self.infra_failures_excluded,
            "conflicts": self.conflicts,
            "new_tests": self.new_tests,
        }


def _clock(at: datetime, config: ScoringConfig) -> tuple[float, int, float]:
    """Return (timestamp, epoch, weight) of a run: weight = 2**(t/half_life - epoch)."""
    if at.tzinfo is None:
        raise ValueError("run times must be timezone-aware")
    timestamp = at.timestamp()
    level = timestamp / (DAY_SECONDS * config.half_life_days)
    epoch = int(level // EPOCH_HALF_LIVES) * EPOCH_HALF_LIVES
    return timestamp, epoch, 2.0 ** (level - epoch)


def _rebase(state: TestState, epoch: int) -> None:
    factor = 2.0 ** (state.epoch - epoch)
    state.pass_weight *= factor
    state.failure_weight *= factor
    state.flip_weight *= factor
    state.stretch_weight *= factor
    state.seed_failure_weight *= factor
    state.seed_pass_weight *= factor
    state.epoch = epoch


def is_storm(tests: int, failed: int, config: ScoringConfig = DEFAULT_CONFIG) -> bool:
    """Decide whether a run with this many tests and first-attempt failures is an infra storm."""
    return (
        tests >= config.storm_min_tests
        and failed >= config.storm_min_failures
        and failed >= config.storm_fraction * tests
    )


def _first_attempt_failures(
    results: Sequence[Result],
) -> tuple[dict[str, tuple[int, bool]], int, int]:
    """Return the tests whose first attempt failed, and the counts of retries and skipped firsts.

    Each failing test maps to (attempts that failed, whether a retry passed).
    Only results that are not a first attempt that passed are looked at here.
    """
    attempts_of: dict[str, list[tuple[int, str]]] = {}
    skipped_first = 0
    for result in results:
        if result.retry or result.status != PASSED:
            if result.status == SKIPPED:
                if not result.retry:
                    skipped_first += 1
                continue
            entry = attempts_of.get(result.test)
            if entry is None:
                attempts_of[result.test] = [(result.retry, result.status)]
            else:
                entry.append((result.retry, result.status))
    failing: dict[str, tuple[int, bool]] = {}
    retries = 0
    for key, attempts in attempts_of.items():
        retries += sum(1 for attempt in attempts if attempt[0])
        first = min(attempts)
        if first[0] != 0 or first[1] not in FAILING:
            continue  # first attempt passed (retries after a pass are ignored)
        attempts.sort()
        failed_attempts = sum(1 for attempt in attempts if attempt[1] in FAILING)
        passed_later = any(attempt[1] == PASSED for attempt in attempts)
        failing[key] = (failed_attempts, passed_later)
    return failing, retries, skipped_first


def apply_run(
    states: dict[str, TestState],
    run: Run,
    config: ScoringConfig = DEFAULT_CONFIG,
    priors: Mapping[str, FamilyPrior] | None = None,
) -> RunSummary:
    """Fold one run into ``states`` in place (the step behind update and analyze).

    A test seen for the first time that has an entry in ``priors`` starts from
    its family's rate (``engine.scoring.family``).
    """
    timestamp, epoch, weight = _clock(run.at, config)
    sha = run.sha
    key_of_sha = sha_key(sha)
    default = run.default_branch
    results = run.results
    failing, retries, skipped_first = _first_attempt_failures(results)
    tests_run = len(results) - retries - skipped_first
    storm = is_storm(tests_run, len(failing), config)
    get = states.get
    new_tests = 0
    conflicts = 0
    ring = config.sha_ring
    # A pass can complete a flag (verdict.flag_rule) only for a young test, or
    # by bringing an unflagged test's effective runs up to min_samples (their
    # scaled weight below that count plus this pass).
    young = config.young_runs
    few_runs = (config.min_samples + 1.0) * weight

    for key, (failed_attempts, passed_later) in failing.items():
        state = get(key)
        if state is None:
            state = states[key] = _born(key, timestamp, epoch, weight, priors, config)
            new_tests += 1
        if state.epoch != epoch:
            _rebase(state, epoch)
        state.runs_seen += 1
        state.last_at = timestamp
        if storm:
            state.infra_failures += 1
            continue
        state.eventful = True
        state.last_failure_at = timestamp
        if passed_later or ring_has(state.passed_shas, key_of_sha):
            conflicts += 1
            _conflict(state, key_of_sha, timestamp, config)
            if default or state.stretch_last_sha == key_of_sha:
                # A MIXED commit ends the failing stretch; if the stretch
                # already held this commit it cannot have been a breakage.
                _resolve_stretch(
                    state, weight, config, conflict=state.stretch_last_sha == key_of_sha
                )
            _count_failure(state, weight, config)
        elif default:
            if state.stretch_runs == 0:
                state.stretch_first_sha = sha
                state.stretch_started_at = timestamp
            if state.stretch_last_sha != key_of_sha:
                state.stretch_commits += 1
                state.stretch_last_sha = key_of_sha
            state.stretch_runs += 1
            state.stretch_failures += failed_attempts
            state.stretch_weight += weight
        else:
            state.branch_failures += 1
        state.failed_shas = ring_add(state.failed_shas, key_of_sha, ring)
        _reflag(state, timestamp, config)
        restart_clean_stretch(state, timestamp, config)

    if storm:  # a tainted run: its passes are seen, not counted
        for result in results:
            if result.retry or result.status != PASSED:
                continue
            state = get(result.test)
            if state is None:
                state = states[result.test] = _born(
                    result.test, timestamp, epoch, weight, priors, config
                )
                new_tests += 1
            state.runs_seen += 1
            state.last_at = timestamp
        results = ()
    full, half = ring * KEY_BYTES, ring // 2 * KEY_BYTES  # the pass ring's cap and trim, in bytes
    # The hot path: one first attempt that passed.  Keep it tiny.
    for result in results:
        if result.retry or result.status != PASSED:
            continue
        key = result.test
        state = get(key)
        if state is None:
            state = states[key] = _born(key, timestamp, epoch, weight, priors, config)
            new_tests += 1
        elif state.epoch != epoch:
            _rebase(state, epoch)
        state.runs_seen += 1
        state.last_at = timestamp
        state.pass_weight += weight
        state.passes_counted += 1
        passed_shas = state.passed_shas
        if passed_shas[-KEY_BYTES:] != key_of_sha:
            passed_shas += key_of_sha
            # amortised: the ring keeps the last 16..32 SHAs
            state.passed_shas = passed_shas[half:] if len(passed_shas) > full else passed_shas
        if state.eventful:
            changed = (
                state.flagged
                or state.passes_counted + state.failures_counted <= young
                or state.failure_weight + state.pass_weight <= few_runs
            )
            if ring_has(state.failed_shas, key_of_sha) and not ring_has(
                state.conflict_shas, key_of_sha
            ):
                conflicts += 1
                changed = True
                _conflict(state, key_of_sha, timestamp, config)
                if state.stretch_runs and state.stretch_last_sha == key_of_sha:
                    _resolve_stretch(state, weight, config, conflict=True)
                elif not default and state.branch_failures > 0:
                    state.branch_failures -= 1  # that branch failure was a flake after all
                    _count_failure(state, weight, config)
            if default and state.stretch_runs:
                changed = True
                _resolve_stretch(state, weight, config)
            if state.last_failed:
                state.flip_weight += weight
                state.last_failed = False
            state.clean_runs += 1
            if state.quarantined_at is not None:
                if state.fixed_at is None:
                    changed = True
                    sprt_step(state, timestamp, 1, 0, config)
            elif state.flagged:
                recovery_step(state, timestamp, 1, config)
            if changed:  # a plain pass cannot raise an unflagged test past the bar
                _reflag(state, timestamp, config)

    return RunSummary(
        run_id=run.id,
        sha=sha,
        tests=tests_run,
        failed=len(failing),
        storm=storm,
        infra_failures_excluded=len(failing) if storm else 0,
        conflicts=conflicts,
        new_tests=new_tests,
    )


def _born(
    key: str,
    timestamp: float,
    epoch: int,
    weight: float,
    priors: Mapping[str, FamilyPrior] | None,
    config: ScoringConfig,
) -> TestState:
    """The state of a test seen for the first time (from its family's prior, if it has one)."""
    state = TestState(timestamp, epoch)
    if priors:
        prior = priors.get(key)
        if prior is not None:
            seed(state, prior, weight, config)
            # what of its weights is the prior, not its own runs (TestState)
            state.seed_failure_weight = state.failure_weight
            state.seed_pass_weight = state.pass_weight
    return state


def _reflag(state: TestState, timestamp: float, config: ScoringConfig) -> None:
    """Apply the hysteresis; a test that turns flaky again is no longer recovered."""
    flagged = flag_rule(state, timestamp, config)
    if flagged != state.flagged:
        state.flagged = flagged
        # Either way the recovery SPRT starts afresh at the next flag.
        state.recovery_rate = 0.0
        state.recovery_llr = 0.0
        if flagged:
            state.recovered_at = None


def _conflict(state: TestState, key_of_sha: bytes, timestamp: float, config: ScoringConfig) -> None:
    if ring_has(state.conflict_shas, key_of_sha):
        return
    state.same_commit_conflicts += 1
    state.conflict_shas += key_of_sha
    state.conflict_times.append(timestamp)
    if len(state.conflict_shas) > config.conflict_ring * KEY_BYTES:
        state.conflict_shas = state.conflict_shas[KEY_BYTES:]
        del state.conflict_times[0]


def _count_failure(state: TestState, weight: float, config: ScoringConfig) -> None:
    state.failure_weight += weight
    state.failures_counted += 1
    state.last_counted_failure_at = state.last_at
    if not state.last_failed:
        state.flip_weight += weight
        state.last_failed = True
    if state.quarantined_at is not None and state.fixed_at is None:
        sprt_step(state, state.last_at, 0, 1, config)


def _resolve_stretch(
    state: TestState, weight: float, config: ScoringConfig, *, conflict: bool = False
) -> None:
    """Close the open default-branch failing stretch: drop it as broken or count it."""
    if not state.stretch_runs:
        return
    if not conflict and (
        stretch_is_broken(state, weight, config)
        or (  # one commit that failed again on retry or re-run, far beyond the test's rate
            state.stretch_failures >= 2
            and stretch_log_bayes_factor(state, weight, config) >= config.broken_log_bayes_factor
        )
    ):
        state.broken_episodes += 1
        state.last_broken_sha = state.stretch_first_sha
    else:
        state.failure_weight += state.stretch_weight
        state.failures_counted += state.stretch_runs
        state.last_counted_failure_at = state.last_failure_at
        if not state.last_failed:
            state.flip_weight += weight
        state.last_failed = True
        if state.quarantined_at is not None and state.fixed_at is None:
            sprt_step(state, state.last_at, 0, state.stretch_runs, config)
    # Broken or flaky, the stretch failed: a clean stretch starts after it (a
    # broken-then-fixed test is not 'recovered' by its first pass), judged
    # against the rate the test shows now that the stretch is weighed.
    restart_clean_stretch(state, state.last_at, config)
    state.stretch_runs = 0
    state.stretch_failures = 0
    state.stretch_commits = 0
    state.stretch_weight = 0.0
    state.stretch_last_sha = None
    state.stretch_first_sha = None
    state.stretch_started_at = None


def update(
    states: Mapping[str, TestState],
    run: Run,
    *,
    now: datetime,
    config: ScoringConfig = DEFAULT_CONFIG,
    copy: bool = True,
    priors: Mapping[str, FamilyPrior] | None = None,
) -> tuple[dict[str, TestState], dict[str, Verdict], RunSummary]:
    """Fold one run into copies of the states of its tests; return them, their verdicts, a summary.

    Only tests with a non-skipped result in ``run`` are read, copied and returned;
    ``states`` is not modified.  With ``copy=False`` the run's states are folded
    in place instead (for a caller that owns them, such as one just decoded).
    ``priors`` are the family priors of the run's new tests (:func:`apply_run`).
    """
    keys = {result.test for result in run.results if result.status != SKIPPED}
    if copy:
        work = {key: states[key].copy() for key in keys if key in states}
    else:
        work = {key: states[key] for key in keys if key in states}
    summary = apply_run(work, run, config, priors)
    verdicts = {key: verdict_from_state(state, now, config) for key, state in work.items()}
    return work, verdicts, summary


def fold(
    runs: Iterable[Run],
    config: ScoringConfig = DEFAULT_CONFIG,
    states: dict[str, TestState] | None = None,
    *,
    families: bool = False,
) -> dict[str, TestState]:
    """Fold runs (sorted by time, stable) into states; the batch half of analyze().

    With ``families`` a new test starts from its family's prior, its family
    found from the keys (``engine.scoring.family``; the app, whose keys are
    ids, looks siblings up by name and passes ``priors`` to :func:`update`).
    """
    states = {} if states is None else states
    members: dict[str, list[str]] = {}
    if families:
        for key in states:
            members.setdefault(family_key(key), []).append(key)
    for run in sorted(runs, key=lambda run: run.at):
        if not families:
            apply_run(states, run, config)
            continue
        keys = {result.test for result in run.results if result.status != SKIPPED}
        new = [key for key in keys if key not in states]
        priors = family_priors(states, members, new, run.at.timestamp(), config)
        apply_run(states, run, config, priors)
        for key in new:
            members.setdefault(family_key(key), []).append(key)
    return states


def analyze(
    runs: Iterable[Run],
    *,
    now: datetime,
    config: ScoringConfig = DEFAULT_CONFIG,
    families: bool = False,
) -> dict[str, Verdict]:
    """Score every test in a history: a fold of :func:`apply_run`, then verdicts at ``now``."""
    states = fold(runs, config, families=families)
    return {key: verdict_from_state(state, now, config) for key, state in states.items()}
