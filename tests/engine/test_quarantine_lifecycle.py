"""engine.quarantine: the lifecycle of a quarantined test (expiry, extend, remind, escalate)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.quarantine import Action, Change, Current, NoOp, Refusal, decide

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC).replace(tzinfo=None)
EXPIRES = NOW + timedelta(days=5)


def quarantined(**fields: object) -> Current:
    return Current(state="quarantined", version=3, expires_at=EXPIRES, **fields)  # type: ignore[arg-type]


def test_approve_sets_the_expiry_from_expiry_days() -> None:
    decision = decide(Current(state="proposed"), Action("approve", "U1", expiry_days=10), now=NOW)
    assert isinstance(decision, Change)
    assert decision.fields["expires_at"] == NOW + timedelta(days=10)
    assert decision.fields["reminded_at"] is None and decision.fields["escalated_at"] is None


@pytest.mark.parametrize(("action", "before"), [("undo", "quarantined"), ("lift", "quarantined")])
def test_leaving_quarantine_clears_the_expiry(action: str, before: str) -> None:
    decision = decide(quarantined(reminded_at=NOW), Action(action, "U1"), now=NOW)
    assert isinstance(decision, Change)
    assert decision.fields["expires_at"] is None and decision.fields["reminded_at"] is None


def test_extend_moves_from_the_later_of_now_and_the_expiry_and_starts_a_cycle() -> None:
    decision = decide(
        quarantined(reminded_at=NOW, escalated_at=NOW),
        Action("extend", "U1", expiry_days=7),
        now=NOW,
    )
    assert isinstance(decision, Change) and decision.after == "quarantined"
    assert decision.fields == {
        "expires_at": EXPIRES + timedelta(days=7),
        "reminded_at": None,
        "escalated_at": None,
    }
    overdue = Current(state="quarantined", expires_at=NOW - timedelta(days=3))
    late = decide(overdue, Action("extend", "U1", expiry_days=7), now=NOW)
    assert isinstance(late, Change) and late.fields["expires_at"] == NOW + timedelta(days=7)


def test_remind_and_escalate_once_per_cycle() -> None:
    remind = decide(quarantined(), Action("remind", "flakeguard", automatic=True), now=NOW)
    assert isinstance(remind, Change) and remind.fields == {"reminded_at": NOW}
    again = decide(quarantined(reminded_at=NOW), Action("remind", "flakeguard"), now=NOW)
    assert isinstance(again, NoOp)
    escalate = decide(quarantined(), Action("escalate", "flakeguard"), now=NOW)
    assert isinstance(escalate, Change) and escalate.fields == {"escalated_at": NOW}
    assert isinstance(decide(quarantined(escalated_at=NOW), Action("escalate", "x"), now=NOW), NoOp)


@pytest.mark.parametrize("action", ["extend", "remind", "escalate"])
@pytest.mark.parametrize("state", [None, "proposed", "dismissed", "lifted"])
def test_lifecycle_needs_a_quarantined_test(action: str, state: str | None) -> None:
    current = Current(state=state) if state else None
    decision = decide(current, Action(action, "U1"), now=NOW)
    assert isinstance(decision, Refusal)
    assert decision.reason.startswith(f"only a quarantined test can be {action}ed")


def test_stale_extend_is_refused() -> None:
    decision = decide(quarantined(), Action("extend", "U1", expected_version=2), now=NOW)
    assert isinstance(decision, Refusal) and decision.stale
