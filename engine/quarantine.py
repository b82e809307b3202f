"""The quarantine state machine: what one action does to one quarantine.

Pure: ``decide`` takes the quarantine as it is (or None: no quarantine yet),
the action and the verdict's evidence, and says what changes (``Change``),
that nothing needs to (``NoOp``: a double click, a repeated command) or why
the action is refused (``Refusal``). The use case
(``flakeguard/usecases/quarantine.py``) loads the row, calls ``decide`` and
writes the change with its audit event.

States: proposed -> quarantined (approve) -> proposed (undo); proposed ->
dismissed (dismiss); quarantined -> lifted (lift); proposed -> lifted
(withdraw: the system takes back the proposal of a test that recovered, so
no one is asked to quarantine a test that is no longer flaky; a person
cannot withdraw, and there is nothing to withdraw unless it is proposed). A person may quarantine a
test directly (approve from no quarantine, dismissed or lifted). An automatic
proposal (the analysis) does not re-propose a dismissed test unless it has
more same-commit evidence than when it was dismissed. Assigning works on a
proposed or quarantined test and leaves its state as it is.

The lifecycle of a quarantined test changes its expiry, not its state: a
quarantine expires ``Action.expiry_days`` after its approval; ``extend`` (a
person) moves the expiry that many days past the later of now and the
expiry and starts a new cycle; ``remind`` and ``escalate`` (the system) are
recorded once per cycle.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

ACTIONS = (
    "propose",
    "approve",
    "assign",
    "undo",
    "dismiss",
    "lift",
    "extend",
    "remind",
    "escalate",
    "withdraw",
)
LIFECYCLE = frozenset({"extend", "remind", "escalate"})
DEFAULT_EXPIRY_DAYS = 30
STATES = ("proposed", "quarantined", "dismissed", "lifted")

# action -> {state before: state after}; None is "no quarantine yet".
TRANSITIONS: Mapping[str, Mapping[str | None, str]] = {
    "propose": {None: "proposed", "dismissed": "proposed", "lifted": "proposed"},
    "approve": {
        None: "quarantined",
        "proposed": "quarantined",
        "dismissed": "quarantined",
        "lifted": "quarantined",
    },
    "undo": {"quarantined": "proposed"},
    "dismiss": {None: "dismissed", "proposed": "dismissed"},
    "lift": {"quarantined": "lifted"},
    "withdraw": {"proposed": "lifted"},
}
# Where an action leaves a quarantine already in that state: nothing to do.
TARGET: Mapping[str, str] = {
    "propose": "proposed",
    "approve": "quarantined",
    "undo": "proposed",
    "dismiss": "dismissed",
    "lift": "lifted",
    "withdraw": "lifted",
}
ASSIGNABLE = frozenset({"proposed", "quarantined"})
STALE = "this message was out of date; it now shows the current state, try again"


@dataclass(frozen=True)
class Current:
    """A quarantine as it is now; ``state`` None means the test has none yet."""

    state: str | None = None
    version: int = 0
    assignee_slack: str | None = None
    dismissed_conflicts: int = 0
    expires_at: datetime | None = None
    reminded_at: datetime | None = None
    escalated_at: datetime | None = None


@dataclass(frozen=True)
class Action:
    """One request to change a quarantine."""

    name: str
    actor: str
    automatic: bool = False  # from the analysis, not from a person
    reason: str = ""
    assignee_slack: str | None = None
    assignee_github: str | None = None  # the assignee's linked login, when known
    expected_version: int | None = None  # the version the actor saw
    expiry_days: int = DEFAULT_EXPIRY_DAYS  # how long a quarantine lasts (approve, extend)


@dataclass(frozen=True)
class Evidence:
    """What the test's verdict says, for approve, dismiss and propose."""

    same_commit_conflicts: int = 0
    rate_low: float | None = None  # the interval's lower bound of the flake rate


@dataclass(frozen=True)
class Change:
    """The action changes the quarantine: its new state and the fields to set."""

    before: str | None
    after: str
    fields: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class NoOp:
    """The quarantine is already where the action would leave it."""

    why: str


@dataclass(frozen=True)
class Refusal:
    """The action cannot apply as things are; ``stale``: the actor saw another version."""

    reason: str
    stale: bool = False


Decision = Change | NoOp | Refusal


def decide(
    current: Current | None,
    action: Action,
    *,
    evidence: Evidence | None = None,
    now: datetime,
) -> Decision:
    """Say what ``action`` does to ``current`` (None: the test has no quarantine yet)."""
    if action.name not in ACTIONS:
        return Refusal(f"unknown quarantine action {action.name!r}")
    evidence = evidence or Evidence()
    if current is not None and current.state is None:
        current = None
    if (
        current is not None
        and action.expected_version is not None
        and current.version != action.expected_version
    ):
        return Refusal(STALE, stale=True)
    if action.name == "assign":
        return _assign(current, action)
    if action.name in LIFECYCLE:
        return _lifecycle(current, action, now)
    if action.name == "withdraw":
        state = current.state if current is not None else None
        where = f"it is {state}" if state else "it is not quarantined"
        if not action.automatic:
            return Refusal(f"only FlakeGuard withdraws a proposal, when the test recovers: {where}")
        if state != "proposed":
            return NoOp(f"no proposal to withdraw: {where}")
    return _move(current, action, evidence, now)


def _lifecycle(current: Current | None, action: Action, now: datetime) -> Decision:
    state = current.state if current is not None else None
    if current is None or state != "quarantined":
        where = f"it is {state}" if state else "it is not quarantined"
        return Refusal(f"only a quarantined test can be {action.name}ed: {where}")
    if action.name == "extend":
        base = max(now, current.expires_at or now)
        return Change(
            state,
            state,
            {
                "expires_at": base + timedelta(days=action.expiry_days),
                "reminded_at": None,
                "escalated_at": None,
            },
        )
    if action.name == "remind":
        if current.reminded_at is not None:
            return NoOp("already reminded")
        return Change(state, state, {"reminded_at": now})
    if current.escalated_at is not None:
        return NoOp("already escalated")
    return Change(state, state, {"escalated_at": now})


def _assign(current: Current | None, action: Action) -> Decision:
    if current is None or current.state not in ASSIGNABLE:
        where = current.state if current is not None else "not quarantined"
        return Refusal(f"only a proposed or quarantined test can be assigned ({where})")
    if not action.assignee_slack:
        return Refusal("assign needs a Slack user to assign")
    if current.assignee_slack == action.assignee_slack:
        return NoOp("already assigned to them")
    return Change(
        current.state,
        current.state,
        {"assignee_slack": action.assignee_slack, "assignee_github": action.assignee_github},
    )


def _move(current: Current | None, action: Action, evidence: Evidence, now: datetime) -> Decision:
    state = current.state if current is not None else None
    name = action.name
    if state == TARGET[name] or (name == "propose" and state == "quarantined"):
        return NoOp(f"already {state}")
    if (
        current is not None
        and state == "dismissed"
        and name == "propose"
        and action.automatic
        and evidence.same_commit_conflicts <= current.dismissed_conflicts
    ):
        return NoOp("dismissed by a person, and no new evidence since")
    allowed = TRANSITIONS[name]
    if state not in allowed:
        return Refusal(_refusal_text(name, state))
    after = allowed[state]
    fields: dict[str, object] = {"state": after}
    if action.reason:
        fields["reason"] = action.reason
    if name == "propose" or (name == "approve" and state != "proposed"):
        fields["proposed_at"] = now
    if after == "quarantined":
        fields.update(
            quarantined_at=now,
            quarantined_by=action.actor,
            # The interval's lower bound: a rate the flake surely had, so the SPRT
            # does not release a quarantine while the test is still flaky.
            rate_at_quarantine=evidence.rate_low,
            expires_at=now + timedelta(days=action.expiry_days),
            reminded_at=None,
            escalated_at=None,
        )
    else:
        fields.update(expires_at=None, reminded_at=None, escalated_at=None)
    if name == "undo":
        fields.update(quarantined_at=None, quarantined_by=None, rate_at_quarantine=None)
    if name == "dismiss":
        fields["dismissed_conflicts"] = evidence.same_commit_conflicts
    return Change(state, after, fields)


def _refusal_text(action: str, state: str | None) -> str:
    """Why ``action`` cannot apply to a quarantine in ``state``, in words for the actor."""
    where = f"it is {state}" if state else "it is not quarantined"
    if action == "undo":
        return f"there is nothing to undo: {where}"
    if action == "lift":
        return f"only a quarantined test can be lifted: {where}"
    if action == "dismiss":
        return f"only a proposed quarantine can be dismissed: {where}"
    return f"cannot {action} this quarantine: {where}"
