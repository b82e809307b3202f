"""The quarantine state machine, every state against every action, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.quarantine import (
    ACTIONS,
    ASSIGNABLE,
    LIFECYCLE,
    STATES,
    Action,
    Change,
    Current,
    Evidence,
    NoOp,
    Refusal,
    decide,
)

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
MOVES = tuple(a for a in ACTIONS if a != "assign" and a not in LIFECYCLE)  # lifecycle: own tests

# (state before, action) -> state after; "noop" and "refused" where nothing changes.
EXPECTED: dict[tuple[str | None, str], str] = {
    (None, "propose"): "proposed",
    (None, "approve"): "quarantined",
    (None, "undo"): "refused",
    (None, "dismiss"): "dismissed",
    (None, "lift"): "refused",
    ("proposed", "propose"): "noop",
    ("proposed", "approve"): "quarantined",
    ("proposed", "undo"): "noop",
    ("proposed", "dismiss"): "dismissed",
    ("proposed", "lift"): "refused",
    ("quarantined", "propose"): "noop",
    ("quarantined", "approve"): "noop",
    ("quarantined", "undo"): "proposed",
    ("quarantined", "dismiss"): "refused",
    ("quarantined", "lift"): "lifted",
    ("dismissed", "propose"): "proposed",
    ("dismissed", "approve"): "quarantined",
    ("dismissed", "undo"): "refused",
    ("dismissed", "dismiss"): "noop",
    ("dismissed", "lift"): "refused",
    ("lifted", "propose"): "proposed",
    ("lifted", "approve"): "quarantined",
    ("lifted", "undo"): "refused",
    ("lifted", "dismiss"): "refused",
    ("lifted", "lift"): "noop",
    # Only the system withdraws a proposal (a recovered test): a person is refused.
    **{
        (state, "withdraw"): "refused"
        for state in (None, "proposed", "quarantined", "dismissed", "lifted")
    },
}


def current(
    state: str | None, *, assignee_slack: str | None = None, dismissed_conflicts: int = 0
) -> Current | None:
    """A quarantine at version 3 in ``state``; None is no quarantine yet."""
    if state is None:
        return None
    return Current(state, 3, assignee_slack, dismissed_conflicts)


def outcome(decision: object) -> str:
    """The state a decision leaves, or what kind of nothing it is."""
    if isinstance(decision, Change):
        return decision.after
    return "noop" if isinstance(decision, NoOp) else "refused"


def test_the_table_covers_every_state_and_action() -> None:
    """Each state (and no quarantine) meets each action that moves state exactly once."""
    assert set(EXPECTED) == {(s, a) for s in (None, *STATES) for a in MOVES}


@pytest.mark.parametrize(("state", "action"), sorted(EXPECTED, key=str))
def test_a_person_acting_moves_the_state_as_the_table_says(state: str | None, action: str) -> None:
    """A person's action leaves the quarantine in the state the table names, or changes nothing."""
    decision = decide(current(state), Action(action, "U1"), now=NOW)
    assert outcome(decision) == EXPECTED[(state, action)]
    if isinstance(decision, Change):
        assert decision.before == state
        assert decision.fields["state"] == decision.after


def test_the_system_withdraws_only_a_proposal() -> None:
    """A recovered test's proposal is lifted; any other quarantine is left as it is."""
    withdraw = Action("withdraw", "flakeguard", automatic=True, reason="recovered")
    decision = decide(current("proposed"), withdraw, now=NOW)
    assert isinstance(decision, Change)
    assert (decision.before, decision.after) == ("proposed", "lifted")
    assert decision.fields["state"] == "lifted" and decision.fields["reason"] == "recovered"
    for state in (None, "quarantined", "dismissed", "lifted"):
        assert isinstance(decide(current(state), withdraw, now=NOW), NoOp), state


def test_approving_records_who_when_and_the_rate_the_flake_surely_had() -> None:
    """Quarantining stores the actor, the time and the verdict's lower bound."""
    decision = decide(
        current("proposed"),
        Action("approve", "U0ALICE"),
        evidence=Evidence(same_commit_conflicts=2, rate_low=0.05),
        now=NOW,
    )
    assert isinstance(decision, Change)
    assert decision.fields == {
        "state": "quarantined",
        "quarantined_at": NOW,
        "quarantined_by": "U0ALICE",
        "rate_at_quarantine": 0.05,
        "expires_at": NOW + timedelta(days=30),  # the default expiry (.flakeguard.yml)
        "reminded_at": None,
        "escalated_at": None,
    }


def test_approving_without_a_proposal_also_dates_the_proposal() -> None:
    """A direct quarantine (no proposal before) sets ``proposed_at`` too."""
    decision = decide(None, Action("approve", "U1", reason="known flake"), now=NOW)
    assert isinstance(decision, Change)
    assert decision.fields["proposed_at"] == NOW and decision.fields["reason"] == "known flake"


def test_undo_forgets_who_quarantined() -> None:
    """Undo clears the quarantine's who, when and rate."""
    decision = decide(current("quarantined"), Action("undo", "U2"), now=NOW)
    assert isinstance(decision, Change)
    assert decision.fields == {
        "state": "proposed",
        "quarantined_at": None,
        "quarantined_by": None,
        "rate_at_quarantine": None,
        "expires_at": None,
        "reminded_at": None,
        "escalated_at": None,
    }


def test_dismissing_remembers_the_evidence_it_saw() -> None:
    """A dismissal stores the same-commit conflicts of the verdict, to compare later proposals."""
    decision = decide(
        current("proposed"),
        Action("dismiss", "U1"),
        evidence=Evidence(same_commit_conflicts=4),
        now=NOW,
    )
    assert isinstance(decision, Change) and decision.fields["dismissed_conflicts"] == 4


@given(dismissed=st.integers(0, 50), now_seen=st.integers(0, 50))
def test_the_analysis_reproposes_a_dismissed_test_only_with_new_evidence(
    dismissed: int, now_seen: int
) -> None:
    """An automatic proposal of a dismissed test changes it only with more conflicts than then."""
    decision = decide(
        current("dismissed", dismissed_conflicts=dismissed),
        Action("propose", "flakeguard", automatic=True),
        evidence=Evidence(same_commit_conflicts=now_seen),
        now=NOW,
    )
    if now_seen > dismissed:
        assert isinstance(decision, Change) and decision.after == "proposed"
    else:
        assert isinstance(decision, NoOp)


@given(dismissed=st.integers(0, 50), now_seen=st.integers(0, 50))
def test_a_person_may_repropose_a_dismissed_test_at_any_time(dismissed: int, now_seen: int) -> None:
    """The evidence rule holds for the analysis only."""
    decision = decide(
        current("dismissed", dismissed_conflicts=dismissed),
        Action("propose", "U1"),
        evidence=Evidence(same_commit_conflicts=now_seen),
        now=NOW,
    )
    assert isinstance(decision, Change) and decision.after == "proposed"


@pytest.mark.parametrize("state", [None, *STATES])
def test_assigning_works_on_proposed_and_quarantined_tests_only(state: str | None) -> None:
    """Assigning keeps the state and sets both logins; elsewhere it is refused."""
    decision = decide(
        current(state),
        Action("assign", "U1", assignee_slack="U0BOB", assignee_github="bob"),
        now=NOW,
    )
    if state in ASSIGNABLE:
        assert isinstance(decision, Change)
        assert (decision.before, decision.after) == (state, state)
        assert decision.fields == {"assignee_slack": "U0BOB", "assignee_github": "bob"}
    else:
        assert isinstance(decision, Refusal)
        assert "only a proposed or quarantined test can be assigned" in decision.reason


def test_assigning_the_same_person_again_changes_nothing() -> None:
    """The assignee already set: nothing to do."""
    decision = decide(
        current("proposed", assignee_slack="U0BOB"),
        Action("assign", "U1", assignee_slack="U0BOB"),
        now=NOW,
    )
    assert isinstance(decision, NoOp)


states = st.sampled_from([None, *STATES])
actions = st.sampled_from(ACTIONS)


# Extending twice extends twice (a double click is one action by its idempotency key).
repeatable = st.sampled_from([a for a in ACTIONS if a != "extend"])


@given(state=states, action=repeatable, automatic=st.booleans(), conflicts=st.integers(0, 5))
def test_doing_the_same_thing_twice_changes_nothing_the_second_time(
    state: str | None, action: str, automatic: bool, conflicts: int
) -> None:
    """Idempotent: after a change, the same action on the new state is a no-op."""
    request = Action(action, "U1", automatic=automatic, assignee_slack="U0BOB")
    evidence = Evidence(same_commit_conflicts=conflicts)
    first = decide(current(state), request, evidence=evidence, now=NOW)
    if not isinstance(first, Change):
        return
    after = Current(
        state=first.after,
        version=4,
        assignee_slack=str(first.fields.get("assignee_slack", "")) or None,
        dismissed_conflicts=int(str(first.fields.get("dismissed_conflicts", 0))),
        reminded_at=NOW if first.fields.get("reminded_at") else None,
        escalated_at=NOW if first.fields.get("escalated_at") else None,
    )
    assert isinstance(decide(after, request, evidence=evidence, now=NOW), NoOp)


@given(state=st.sampled_from(STATES), action=actions, seen=st.integers(0, 10))
def test_an_action_on_another_version_than_the_actor_saw_is_refused_as_stale(
    state: str, action: str, seen: int
) -> None:
    """A click on an out-of-date message never changes the quarantine."""
    decision = decide(
        Current(state=state, version=seen + 1),
        Action(action, "U1", assignee_slack="U0BOB", expected_version=seen),
        now=NOW,
    )
    assert isinstance(decision, Refusal) and decision.stale


@given(state=states, action=actions, automatic=st.booleans())
def test_every_change_lands_in_a_known_state_and_says_where_it_came_from(
    state: str | None, action: str, automatic: bool
) -> None:
    """No action invents a state; a refusal names the state it found."""
    decision = decide(
        current(state), Action(action, "U1", automatic=automatic, assignee_slack="U0BOB"), now=NOW
    )
    if isinstance(decision, Change):
        assert decision.after in STATES and decision.before == state
    elif isinstance(decision, Refusal):
        assert not decision.stale
        assert (state or "not quarantined") in decision.reason


def test_an_unknown_action_is_refused() -> None:
    """Only the known actions exist."""
    assert isinstance(decide(None, Action("explode", "U1"), now=NOW), Refusal)
