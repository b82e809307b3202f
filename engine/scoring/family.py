"""New tests: a test seen for the first time starts from its family's flake rate.

A test's family is its key without a trailing parametrisation
(``mod::test_pay[visa-3]`` belongs to ``mod::test_pay``): a new parameter, or a
test renamed to a new parametrisation, runs the same code under a new name.
Such a test's first state is seeded with pseudo-runs at the rate its family
shows (``family_prior_runs`` of them, in its weights, so they fade with the
same half-life as real evidence; its counts stay its own): a cautious prior.
It never flags a test by itself, since flagging needs a failure of its own,
but a family that flakes makes the first failures of a new member look like
the family's, not like a breakage, and a family that does not makes them
look less usual.  A test with no known sibling starts from the global prior
alone (docs/scoring.md, "New tests").
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from engine.scoring.config import DAY_SECONDS, ScoringConfig
from engine.scoring.state import TestState


@dataclass(frozen=True)
class FamilyPrior:
    """What a new test takes from its family: the family's failure rate, and how many siblings."""

    rate: float
    siblings: int


def family_key(key: str) -> str:
    """Return the key of a test's family: its key without a trailing ``[...]`` parametrisation.

    A key without one is its own family.  Only the part after the last ``::``
    (the test's name) is looked at: a class or file name with brackets is kept.
    """
    if not key.endswith("]"):
        return key
    name_at = key.rfind("::") + 2 if "::" in key else 0
    bracket = key.find("[", name_at)
    return key[:bracket] if bracket > name_at else key


def family_prior(
    siblings: Iterable[TestState], timestamp: float, config: ScoringConfig
) -> FamilyPrior | None:
    """Return the prior a new member takes from its siblings' states at ``timestamp``, if any.

    The rate is what the pooled siblings show: their decayed failures on good
    code over their decayed counted runs (the global prior is the new test's
    own already; applying it to the family too would count it twice).
    """
    pooled = []
    for state in siblings:
        scale = math.pow(2.0, state.epoch - timestamp / (DAY_SECONDS * config.half_life_days))
        # a sibling's own runs only: its own family prior is the family's runs again
        failures = max(0.0, state.failure_weight - state.seed_failure_weight)
        passes = max(0.0, state.pass_weight - state.seed_pass_weight)
        pooled.append((failures * scale, passes * scale))
    if not pooled:
        return None
    # fsum: the same sums in any order (the app reads siblings in the database's order)
    failures = math.fsum(failure for failure, _pass in pooled)
    passes = math.fsum(passed for _failure, passed in pooled)
    if failures + passes <= 0.0:
        return None
    rate = failures / (failures + passes)
    return FamilyPrior(rate=rate, siblings=len(pooled))


def seed(state: TestState, prior: FamilyPrior, weight: float, config: ScoringConfig) -> None:
    """Give a state just created its family's prior: pseudo-runs at the family's rate, in place.

    ``weight`` is the scaled weight of the run that creates it.
    """
    runs = config.family_prior_runs * weight
    state.failure_weight = prior.rate * runs
    state.pass_weight = (1.0 - prior.rate) * runs
    state.eventful = state.failure_weight > 0.0  # the quiet verdict assumes no failure weight


def family_priors(
    states: Mapping[str, TestState],
    members: Mapping[str, Sequence[str]],
    keys: Iterable[str],
    timestamp: float,
    config: ScoringConfig,
) -> dict[str, FamilyPrior]:
    """The priors of those ``keys`` that have no state yet but a sibling that has one.

    ``members`` maps a family key to the keys of its members seen so far.
    """
    priors: dict[str, FamilyPrior] = {}
    for key in keys:
        if key in states:
            continue
        family = family_key(key)
        siblings = [states[k] for k in members.get(family, ()) if k != key and k in states]
        prior = family_prior(siblings, timestamp, config) if siblings else None
        if prior is not None:
            priors[key] = prior
    return priors
