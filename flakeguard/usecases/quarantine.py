"""The one quarantine use case: propose, approve, assign, undo, dismiss, lift.

Every action, from a Slack button, a slash command, the API or the analysis,
goes through :func:`apply_action`: it appends a ``QuarantineEvent`` (the audit
trail), updates the ``Quarantine`` projection and bumps its ``version``, and
records the outbox effects ``refresh_slack_quarantine`` and ``mirror_quarantine``
in the same transaction; their jobs are enqueued after the commit. The Slack and
GitHub sides compare their synced version with ``version``, so a job lost after
the commit is re-driven from its effect by the reconcile job.

Idempotent: an action whose idempotency key was already used, or that would
leave the state as it is (approving a quarantined test), appends nothing.

States: proposed -> quarantined (approve) -> proposed (undo); proposed ->
dismissed (dismiss); quarantined -> lifted (lift). A person may quarantine a
test directly (approve from no quarantine, dismissed or lifted); the analysis
('propose' from source 'system') does not re-propose a dismissed test unless
it has new same-commit evidence since the dismissal.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from peewee import IntegrityError

from flakeguard.errors import BadRequestError, ConflictError, ForbiddenError, NotFoundError
from flakeguard.jobs import Job
from flakeguard.usecases import outbox
from flakeguard.usecases.owners import config_of
from models import (
    FlakeScore,
    Quarantine,
    QuarantineEvent,
    Repository,
    TestCase,
    UserLink,
    WorkspacePolicy,
    db,
    utcnow,
)

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
)
SOURCES = ("slack", "api", "system", "cli", "github")
# Actions a workspace policy restricts; assigning and proposing are open to everyone.
GUARDED = frozenset({"approve", "undo", "dismiss", "lift", "extend"})
# The lifecycle of a quarantined test (flakeguard.usecases.lifecycle): they change its
# expiry, not its state. "extend" is a person's; "remind" and "escalate" the system's.
LIFECYCLE = frozenset({"extend", "remind", "escalate"})
POLICY_MODES = ("everyone", "usergroup", "users")

# action -> {state before: state after}; None is "no quarantine yet".
TRANSITIONS: dict[str, dict[str | None, str]] = {
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
}
# Where an action leaves a quarantine already in that state: nothing to do.
TARGET = {
    "propose": "proposed",
    "approve": "quarantined",
    "undo": "proposed",
    "dismiss": "dismissed",
    "lift": "lifted",
}
ASSIGNABLE = frozenset({"proposed", "quarantined"})

MembersOf = Callable[[str], Collection[str]]


class StaleVersionError(ConflictError):
    """The actor saw another version of the quarantine than the current one."""

    def __init__(self, message: str, *, quarantine_id: int) -> None:
        super().__init__(message)
        self.quarantine_id = quarantine_id


@dataclass(frozen=True)
class Outcome:
    """What :func:`apply_action` did: the quarantine now, and whether an event was appended."""

    quarantine: Quarantine
    changed: bool


def check_allowed(team_id: str, user_id: str, *, members_of: MembersOf | None = None) -> None:
    """Raise ForbiddenError unless the workspace policy lets ``user_id`` approve or undo."""
    policy = WorkspacePolicy.get_or_none(WorkspacePolicy.team_id == team_id)
    if policy is None or policy.mode == "everyone":
        return
    if policy.mode == "users":
        if user_id in (policy.users or []):
            return
        raise ForbiddenError("you are not allowed to approve or undo quarantines in this workspace")
    if policy.mode == "usergroup":
        if (
            policy.usergroup_id
            and members_of is not None
            and user_id in members_of(policy.usergroup_id)
        ):
            return
        group = f"<!subteam^{policy.usergroup_id}>" if policy.usergroup_id else "a user group"
        raise ForbiddenError(f"only members of {group} may approve or undo quarantines")
    raise ForbiddenError(f"unknown workspace policy {policy.mode!r}; ask an admin to fix it")


def get_policy(team_id: str) -> tuple[str, str | None, list[str]]:
    """(mode, usergroup id, users) of a workspace; everyone may act by default."""
    policy = WorkspacePolicy.get_or_none(WorkspacePolicy.team_id == team_id)
    if policy is None:
        return "everyone", None, []
    return policy.mode, policy.usergroup_id, list(policy.users or [])


def set_policy(
    team_id: str, mode: str, *, usergroup_id: str | None = None, users: Sequence[str] = ()
) -> WorkspacePolicy:
    """Set who may approve or undo in a workspace: everyone, a user group, or a list of users."""
    if mode not in POLICY_MODES:
        raise BadRequestError(f"policy mode must be one of {', '.join(POLICY_MODES)}")
    if mode == "usergroup" and not usergroup_id:
        raise BadRequestError("a usergroup policy needs the user group id (S...)")
    if mode == "users" and not users:
        raise BadRequestError("a users policy needs at least one Slack user id")
    values = {
        "mode": mode,
        "usergroup_id": usergroup_id if mode == "usergroup" else None,
        "users": list(users) if mode == "users" else [],
        "updated_at": utcnow(),
    }
    with db.atomic():
        policy = WorkspacePolicy.get_or_none(WorkspacePolicy.team_id == team_id)
        if policy is None:
            return WorkspacePolicy.create(team_id=team_id, **values)
        WorkspacePolicy.update(**values).where(WorkspacePolicy.id == policy.id).execute()
    return WorkspacePolicy.get_by_id(policy.id)


def apply_action(
    test_case_id: int,
    action: str,
    *,
    actor: str,
    source: str,
    assignee_slack: str | None = None,
    reason: str = "",
    idempotency_key: str | None = None,
    expected_version: int | None = None,
    team_id: str | None = None,
    members_of: MembersOf | None = None,
    tenant_id: int | None = None,
) -> Quarantine:
    """Apply one quarantine action to a test and return the current projection.

    For callers holding a test id they read themselves (the analysis, the
    CLI, tests): ``tenant_id`` None acts on the test as it is. Requests from
    outside go through :func:`perform` and must say whose test it is.
    """
    return perform(
        test_case_id,
        action,
        tenant_id=tenant_id,
        actor=actor,
        source=source,
        assignee_slack=assignee_slack,
        reason=reason,
        idempotency_key=idempotency_key,
        expected_version=expected_version,
        team_id=team_id,
        members_of=members_of,
    ).quarantine


def perform(
    test_case_id: int | None,
    action: str,
    *,
    tenant_id: int | None,
    quarantine_id: int | None = None,
    actor: str,
    source: str,
    assignee_slack: str | None = None,
    reason: str = "",
    idempotency_key: str | None = None,
    expected_version: int | None = None,
    team_id: str | None = None,
    members_of: MembersOf | None = None,
) -> Outcome:
    """Like :func:`apply_action`, also saying whether an event was appended.

    ``tenant_id`` (required: None only for callers holding an id they read
    themselves) restricts the test or quarantine to the tenant's
    repositories in SQL: another tenant's is "unknown", like a missing one.

    ``team_id`` (a Slack workspace) turns on its policy check for guarded
    actions; ``members_of`` answers user-group membership for it.
    ``expected_version`` is the version the actor saw (a Slack message): a
    different current version refuses the action as stale. A button names
    its quarantine: pass ``quarantine_id`` (and None as the test).
    """
    if action not in ACTIONS:
        raise BadRequestError(f"unknown quarantine action {action!r}")
    if source not in SOURCES:
        raise BadRequestError(f"unknown source {source!r}")
    if not actor:
        raise BadRequestError("an action needs an actor")
    if action == "assign" and not assignee_slack:
        raise BadRequestError("assign needs a Slack user to assign")
    if test_case_id is None and quarantine_id is None:
        raise BadRequestError("an action needs a test or a quarantine")
    if tenant_id is not None:
        _check_in_tenant(tenant_id, test_case_id, quarantine_id)
    if idempotency_key is not None:
        done = QuarantineEvent.get_or_none(QuarantineEvent.idempotency_key == idempotency_key)
        if done is not None:  # a double click: the first one did it
            return Outcome(Quarantine.get_by_id(done.quarantine_id), False)
    if team_id is not None and action in GUARDED:
        check_allowed(team_id, actor, members_of=members_of)

    try:
        with db.atomic():
            outcome = _apply_locked(
                test_case_id,
                quarantine_id,
                action,
                actor=actor,
                source=source,
                assignee_slack=assignee_slack,
                reason=reason.strip(),
                idempotency_key=idempotency_key,
                expected_version=expected_version,
                team_id=team_id,
            )
            effects = outbox.record(effects_of(outcome))
    except StaleVersionError as exc:
        # Nothing changed; the message the actor saw is re-rendered to the current state.
        want = outbox.want(Job.REFRESH_SLACK_QUARANTINE, quarantine_id=exc.quarantine_id)
        outbox.record_and_dispatch([want])
        raise
    except IntegrityError:
        # A concurrent double click won the race for the idempotency key or the row.
        current = Quarantine.get_or_none(
            (Quarantine.test_case == test_case_id)
            if test_case_id is not None
            else (Quarantine.id == quarantine_id)
        )
        if current is None:
            raise
        return Outcome(current, False)
    outbox.dispatch(effects)
    return outcome


def effects_of(outcome: Outcome) -> list[outbox.Wanted]:
    """The side effects of a changed quarantine: its Slack messages and its GitHub mirror."""
    if not outcome.changed:
        return []
    quarantine_id = outcome.quarantine.id
    return [
        outbox.want(Job.REFRESH_SLACK_QUARANTINE, quarantine_id=quarantine_id),
        outbox.want(Job.MIRROR_QUARANTINE, quarantine_id=quarantine_id),
    ]


def propose_flaky(test_case_id: int) -> list[outbox.Wanted]:
    """Propose quarantining a test that turned flaky, inside the caller's transaction.

    The analysis calls this in its own transaction, so the proposal and the alert
    that offers it commit together. Returns the proposal's effects, recorded; the
    caller enqueues them after its commit.
    """
    try:
        with db.atomic():  # a savepoint: a concurrent first action on the test wins
            proposal = _apply_locked(
                test_case_id, None, "propose", actor="flakeguard", source="system", reason="flaky"
            )
            return outbox.record(effects_of(proposal))
    except IntegrityError:
        return []


def _check_in_tenant(tenant_id: int, test_case_id: int | None, quarantine_id: int | None) -> None:
    """NotFoundError unless the test (or quarantine) is of a repository of ``tenant_id``."""
    if test_case_id is not None:
        found = (
            TestCase.select(TestCase.id)
            .join(Repository)
            .where(TestCase.id == test_case_id, Repository.tenant == tenant_id)
            .exists()
        )
        if not found:
            raise NotFoundError(f"unknown test {test_case_id}")
        return
    found = (
        Quarantine.select(Quarantine.id)
        .join(Repository, on=(Quarantine.repository == Repository.id))
        .where(Quarantine.id == quarantine_id, Repository.tenant == tenant_id)
        .exists()
    )
    if not found:
        raise NotFoundError(f"unknown quarantine {quarantine_id}")


def _apply_locked(
    test_case_id: int | None,
    quarantine_id: int | None,
    action: str,
    *,
    actor: str,
    source: str,
    assignee_slack: str | None = None,
    reason: str = "",
    idempotency_key: str | None = None,
    expected_version: int | None = None,
    team_id: str | None = None,
) -> Outcome:
    if test_case_id is not None:
        query = Quarantine.select().where(Quarantine.test_case == test_case_id)
    else:
        query = Quarantine.select().where(Quarantine.id == quarantine_id)
    if db.obj is not None and "Postgres" in type(db.obj).__name__:
        query = query.for_update()
    q = query.first()
    if q is None:
        if test_case_id is None:
            raise NotFoundError(f"unknown quarantine {quarantine_id}")
        test = TestCase.get_or_none(TestCase.id == test_case_id)
        if test is None:
            raise NotFoundError(f"unknown test {test_case_id}")
        test_case_id, repository_id = test.id, test.repository_id
    else:
        test_case_id, repository_id = q.test_case_id, q.repository_id
    if q is not None and expected_version is not None and q.version != expected_version:
        raise StaleVersionError(
            "this message was out of date; it now shows the current state, try again",
            quarantine_id=q.id,
        )
    state = q.state if q is not None else None
    now = utcnow()
    # The verdict matters to approve (the rate), dismiss and propose (the evidence) only.
    score = (
        FlakeScore.get_or_none(FlakeScore.test_case == test_case_id)
        if action in ("approve", "dismiss", "propose")
        else None
    )
    conflicts = int((score.evidence or {}).get("same_commit_conflicts", 0)) if score else 0

    if action in LIFECYCLE:
        if q is None or state != "quarantined":
            raise ConflictError(f"only a quarantined test can be {action}ed: {_where(state)}")
        changes = _lifecycle_changes(q, action, now)
        if not changes:
            return Outcome(q, False)  # already reminded, already escalated
        new_state = state
    elif action == "assign":
        if q is None or state not in ASSIGNABLE:
            where = state or "not quarantined"
            raise ConflictError(f"only a proposed or quarantined test can be assigned ({where})")
        if q.assignee_slack == assignee_slack:
            return Outcome(q, False)
        link = UserLink.get_or_none(
            UserLink.slack_user_id == assignee_slack,
            *([UserLink.team_id == team_id] if team_id else []),
        )
        changes: dict[str, object] = {
            "assignee_slack": assignee_slack,
            "assignee_github": link.github_login if link else None,
        }
        new_state = state
    else:
        if state == TARGET[action] or (action == "propose" and state == "quarantined"):
            return Outcome(q, False)  # already there: a double click, a repeated command
        if (
            state == "dismissed"
            and action == "propose"
            and source == "system"
            and conflicts <= (q.dismissed_conflicts if q else 0)
        ):
            return Outcome(q, False)  # not flaky, says a person; no new evidence since
        allowed = TRANSITIONS[action]
        if state not in allowed:
            raise ConflictError(_refusal(action, state))
        new_state = allowed[state]
        changes = {"state": new_state}
        if reason:
            changes["reason"] = reason
        if action == "propose" or (action == "approve" and state != "proposed"):
            changes["proposed_at"] = now
        if new_state == "quarantined":
            changes.update(
                quarantined_at=now,
                quarantined_by=actor,
                # the interval's lower bound: a rate the flake surely had, so the SPRT
                # does not release a quarantine while the test is still flaky
                rate_at_quarantine=score.low if score else None,
                expires_at=now + timedelta(days=config_of(repository_id).expiry_days),
                reminded_at=None,
                escalated_at=None,
            )
        elif action == "undo":
            changes.update(quarantined_at=None, quarantined_by=None, rate_at_quarantine=None)
        if new_state != "quarantined":
            changes.update(expires_at=None, reminded_at=None, escalated_at=None)
        if action == "dismiss":
            changes["dismissed_conflicts"] = conflicts

    if q is None:
        q = Quarantine.create(
            test_case=test_case_id,
            repository=repository_id,
            state=new_state,
            reason=str(changes.pop("reason", reason)),
            proposed_at=now,
        )
    previous_version = q.version
    changes["version"] = Quarantine.version + 1
    changes["updated_at"] = now
    Quarantine.update(**changes).where(Quarantine.id == q.id).execute()
    data: dict[str, object] = {"from": state, "to": new_state, "version": previous_version + 1}
    if reason:
        data["reason"] = reason
    if assignee_slack:
        data["assignee_slack"] = assignee_slack
    if changes.get("expires_at") is not None:
        data["expires_at"] = changes["expires_at"].isoformat()  # type: ignore[union-attr]
    if team_id:
        data["team_id"] = team_id
    QuarantineEvent.create(
        quarantine=q.id,
        action=action,
        actor=actor,
        source=source,
        data=data,
        idempotency_key=idempotency_key,
        at=now,
    )
    for name, value in changes.items():
        if name != "version":
            setattr(q, name, value)
    q.version = previous_version + 1
    return Outcome(q, True)


def _where(state: str | None) -> str:
    return f"it is {state}" if state else "it is not quarantined"


def _lifecycle_changes(q: Quarantine, action: str, now: datetime) -> dict[str, object]:
    """What extend / remind / escalate change on a quarantined test (empty: nothing)."""
    if action == "extend":
        base = max(now, q.expires_at or now)
        days = config_of(q.repository_id).expiry_days
        return {
            "expires_at": base + timedelta(days=days),
            "reminded_at": None,
            "escalated_at": None,
        }
    if action == "remind":
        return {} if q.reminded_at is not None else {"reminded_at": now}
    return {} if q.escalated_at is not None else {"escalated_at": now}


def _refusal(action: str, state: str | None) -> str:
    where = f"it is {state}" if state else "it is not quarantined"
    if action == "undo":
        return f"there is nothing to undo: {where}"
    if action == "lift":
        return f"only a quarantined test can be lifted: {where}"
    if action == "dismiss":
        return f"only a proposed quarantine can be dismissed: {where}"
    return f"cannot {action} this quarantine: {where}"


def approve_all(
    items: Sequence[tuple[int, int]],
    *,
    actor: str,
    source: str,
    key_prefix: str,
    tenant_id: int,
    repository_id: int,
    team_id: str | None = None,
    members_of: MembersOf | None = None,
) -> list[Quarantine]:
    """Approve proposed quarantines ``(quarantine_id, version seen)`` of one repository.

    Only quarantines of ``repository_id`` (a repository of ``tenant_id``: the
    digest's) are considered; any other id is skipped. The permission is
    checked once, before anything changes. Quarantines that moved on since
    they were shown (another approval, a dismissal) are skipped.
    """
    if team_id is not None:
        check_allowed(team_id, actor, members_of=members_of)
    approved = []
    for quarantine_id, version in items:
        q = (
            Quarantine.select()
            .join(Repository, on=(Quarantine.repository == Repository.id))
            .where(
                Quarantine.id == quarantine_id,
                Quarantine.repository == repository_id,
                Repository.tenant == tenant_id,
            )
            .first()
        )
        if q is None or q.state != "proposed" or q.version != version:
            continue
        outcome = perform(
            q.test_case_id,
            "approve",
            tenant_id=tenant_id,
            actor=actor,
            source=source,
            idempotency_key=f"{key_prefix}:{quarantine_id}:v{version}",
            expected_version=version,
        )
        if outcome.changed:
            approved.append(outcome.quarantine)
    return approved
