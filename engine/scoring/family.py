"""New tests: a test seen for the first time starts from its family's flake rate.

A test's family is its key without a trailing parametrisation
(``mod::test_pay[visa-3]`` belongs to ``mod::test_pay``): a new parameter, or a
test renamed to a new parametrisation, runs the same code under a new name.
Such a test's first state is seeded with pseudo-runs at the rate its family
shows (``family_prior_runs`` of them, or fewer when the family itself has
fewer decayed runs; in its weights, so they fade with the same half-life as
real evidence; its counts stay its own): a cautious prior.
It never flags a test by itself, since flagging needs a failure of its own,
but a family that flakes makes the first failures of a new member look like
the family's, not like a breakage, and a family that does not makes them
look less usual.  A test with no known sibling starts from the global prior
alone (docs/scoring.md, "New tests").
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from engine.junit import MAX_KEY_CHARS
from engine.scoring.config import DAY_SECONDS, ScoringConfig
from engine.scoring.state import TestState


@dataclass(frozen=True)
class FamilyPrior:
    """What a new test takes from its family: its failure rate, its decayed runs, its size."""

    rate: float
    siblings: int
    runs: float  # the pooled siblings' decayed counted runs: the prior never outweighs them


# A key cut to its length limit ends in "#" and 16 hex digits of the whole key.
_CUT_KEY = re.compile(r"#[0-9a-f]{16}\Z")


def family_key(key: str) -> str:
    """Return the key of a test's family: its key without its trailing ``[...]`` parametrisation.

    The parametrisation is the bracket group that closes the key, nested
    brackets included (``test_pay[a[0]-b]``, ``test(int[])[1]``), even when it
    holds ``::``.  A key without one is its own family, and so is a key whose
    brackets do not balance, or whose name (the part after the last ``::``
    before the group) is empty or only brackets (``mod::[odd]``): no code name
    to share.  A key cut to its length limit keeps its family when the name's
    first ``[`` survived the cut.
    """
    if key.endswith("]"):
        depth = 0
        for at in range(len(key) - 1, -1, -1):
            char = key[at]
            if char == "]":
                depth += 1
            elif char == "[":
                depth -= 1
                if depth == 0:
                    return _before_parametrisation(key, at)
        return key  # unbalanced: no parametrisation we can trust
    if len(key) == MAX_KEY_CHARS and _CUT_KEY.search(key):
        scope_at = key.find("::")
        bracket = key.find("[", scope_at + 2 if scope_at >= 0 else 0)
        if bracket >= 0:
            return _before_parametrisation(key, bracket)
    return key


def _before_parametrisation(key: str, bracket: int) -> str:
    """``key`` up to the ``[`` at ``bracket``, if a name stands before it; else ``key``."""
    name_at = key.rfind("::", 0, bracket)
    name = key[name_at + 2 if name_at >= 0 else 0 : bracket]
    return key[:bracket] if name and not name.startswith("[") else key


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
        pooled.append((state.failure_weight * scale, state.pass_weight * scale))
    if not pooled:
        return None
    # fsum: the same sums in any order (the app reads siblings in the database's order)
    failures = math.fsum(failure for failure, _pass in pooled)
    passes = math.fsum(passed for _failure, passed in pooled)
    if failures + passes <= 0.0:
        return None
    rate = failures / (failures + passes)
    return FamilyPrior(rate=rate, siblings=len(pooled), runs=failures + passes)


def seed(state: TestState, prior: FamilyPrior, weight: float, config: ScoringConfig) -> None:
    """Give a state just created its family's prior: pseudo-runs at the family's rate, in place.

    ``weight`` is the scaled weight of the run that creates it.  The pseudo-runs
    are ``family_prior_runs``, or the family's own decayed runs when fewer: a
    family seen twice lends the weight of two runs, not of eight.
    """
    runs = min(config.family_prior_runs, prior.runs) * weight
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
