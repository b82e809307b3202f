"""New tests: the family each belongs to, and the prior it starts from (engine.scoring.family).

A test seen for the first time that is a new parametrisation (or a rename to
one) of a test the repository already scores starts from the rate of those
siblings. The analysis asks for the priors of a run's new tests; the check
run asks which family an added test belongs to and how that family fares.
"""

from __future__ import annotations

import logging
import struct
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from engine.scoring import ScoringConfig, TestState
from engine.scoring.family import FamilyPrior, family_key, family_prior
from models import queries

log = logging.getLogger(__name__)

# What decoding a stored state raises when its bytes or JSON are damaged or of another version.
UNDECODABLE = (ValueError, TypeError, KeyError, IndexError, struct.error)

# A run with more new families than this (a first import, a mass rename) is
# analysed without family priors: their lookup would cost more than it buys.
MAX_FAMILIES = 200


@dataclass(frozen=True)
class Family:
    """A new test's family as the repository knows it: its key, the prior it gives, and the
    ids of the siblings that prior pools."""

    key: str
    prior: FamilyPrior
    siblings: tuple[int, ...]


def families_of(
    repository_id: int,
    test_case_ids: Iterable[int],
    timestamp: float,
    config: ScoringConfig,
    *,
    keep: Callable[[set[int]], set[int]] | None = None,
) -> dict[int, Family]:
    """The family (and its prior at ``timestamp``) of each given test that has scored siblings.

    ``keep``, given the ids of all the siblings read, returns those to pool (the
    check run keeps those that ran before the change).
    """
    keys = queries.test_case_keys(repository_id, list(test_case_ids))
    wanted = {test_id: family_key(key) for test_id, key in keys.items()}
    if not wanted or len(set(wanted.values())) > MAX_FAMILIES:
        return {}
    members: dict[str, list[tuple[int, TestState]]] = defaultdict(list)
    for test_id, key, stored in queries.family_states(repository_id, set(wanted.values())):
        try:
            state = TestState.from_stored(stored)
        except UNDECODABLE as exc:  # one damaged sibling costs the prior a member, not the run
            log.warning("skipped the undecodable state of test case %s: %s", test_id, exc)
            continue
        members[family_key(key)].append((test_id, state))  # a prefix may be another family's
    if keep is not None:
        kept = keep({test_id for found in members.values() for test_id, _state in found})
        for family, found in members.items():
            members[family] = [(test_id, state) for test_id, state in found if test_id in kept]
    result: dict[int, Family] = {}
    for test_id, family in wanted.items():
        siblings = [(other, state) for other, state in members.get(family, ()) if other != test_id]
        prior = family_prior([s for _o, s in siblings], timestamp, config) if siblings else None
        if prior is not None:
            result[test_id] = Family(family, prior, tuple(other for other, _s in siblings))
    return result


def family_priors(
    repository_id: int, new: dict[str, int], timestamp: float, config: ScoringConfig
) -> dict[str, FamilyPrior]:
    """The engine priors of a run's new tests (engine key -> prior), for those with a family."""
    if not new:
        return {}
    families = families_of(repository_id, new.values(), timestamp, config)
    return {key: families[test_id].prior for key, test_id in new.items() if test_id in families}
