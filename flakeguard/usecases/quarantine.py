"""The one quarantine use case: propose, approve, assign, undo, dismiss, lift, and the
lifecycle of a quarantined test: extend, remind, escalate (``lifecycle.py``).

Every action, from a Slack button, a slash command, the CLI, the API or
GitHub, goes through :func:`perform`: it checks the caller's tenant and the
workspace policy (``policy.py``), loads the quarantine row (locked), lets the
pure state machine (``engine/quarantine.py:decide``) say what changes, then
appends a ``QuarantineEvent`` (the audit trail), updates the ``Quarantine``
projection and bumps its ``version``, and records the outbox effects
``refresh_slack_quarantine`` and ``mirror_quarantine``, all in one
transaction; their jobs are enqueued after the commit. The Slack and GitHub
sides compare their synced version with ``version``, so a job lost after the
commit is re-driven from its effect by the reconcile job. The analysis
proposes through :func:`propose_flaky`, inside its own transaction.

Idempotent: an action whose idempotency key was already used, or that would
leave the state as it is (approving a quarantined test), appends nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from peewee import IntegrityError

from engine.quarantine import ACTIONS, Action, Change, Current, Evidence, NoOp, decide
from flakeguard.errors import BadRequestError, ConflictError, NotFoundError
from flakeguard.jobs import Job
from flakeguard.usecases import outbox
from flakeguard.usecases.policy import GUARDED, MembersOf, check_allowed
from flakeguard.usecases.repo_files import config_of, is_exempt
from models import (
    FlakeScore,
    Quarantine,
    QuarantineEvent,
    Repository,
    TestCase,
    UserLink,
    db,
    utcnow,
)

# Where an action comes from, as the audit trail records it.
SOURCES = frozenset(
    {
        "slack",  # a button, a slash command, the digest's "Approve all"
        "api",
        "cli",
        "github",
        "system",  # the analysis: its proposals are automatic
        "web",  # the dashboard's forms
    }
)
AUTOMATIC = frozenset({"system"})
# A Slack user id: the assignee lands in Slack as <@id> and in a 32-character column.
SLACK_USER_ID = re.compile(r"[UW][A-Z0-9]{2,30}")
# The verdict matters to these actions only (the rate, the evidence).
NEEDS_EVIDENCE = frozenset({"approve", "dismiss", "propose"})


class StaleVersionError(ConflictError):
    """The actor saw another version of the quarantine than the current one."""

    def __init__(self, message: str, *, quarantine_id: int) -> None:
        super().__init__(message)
        self.quarantine_id = quarantine_id


@dataclass(frozen=True)
class Outcome:
    """What :func:`perform` did: the quarantine now, and whether an event was appended."""

    quarantine: Quarantine
    changed: bool


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
    deferred: list[outbox.Wanted] | None = None,
) -> Outcome:
    """Apply one quarantine action to a test (or a quarantine); say what it did.

    ``tenant_id`` (required: None only for callers holding an id they read
    themselves: the CLI, the analysis, tests) restricts the test or quarantine
    to the tenant's repositories in SQL: another tenant's is "unknown", like a
    missing one.

    ``team_id`` (a Slack workspace) turns on its policy check for guarded
    actions; ``members_of`` answers user-group membership for it.
    ``expected_version`` is the version the actor saw (a Slack message): a
    different current version refuses the action as stale. A button names
    its quarantine: pass ``quarantine_id`` (and None as the test). A caller running
    this inside its own transaction passes ``deferred``: the effects are added to it,
    for the caller to dispatch after its commit, instead of being dispatched here.
    """
    if action not in ACTIONS:
        raise BadRequestError(f"unknown quarantine action {action!r}")
    if source not in SOURCES:
        raise BadRequestError(f"unknown source {source!r}")
    if not actor:
        raise BadRequestError("an action needs an actor")
    if action == "assign" and not assignee_slack:
        raise BadRequestError("assign needs a Slack user to assign")
    if assignee_slack is not None and not SLACK_USER_ID.fullmatch(assignee_slack):
        raise BadRequestError("the assignee must be a Slack user id such as U012ABCDEF")
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
                Action(
                    action,
                    actor,
                    automatic=source in AUTOMATIC,
                    reason=reason.strip(),
                    assignee_slack=assignee_slack,
                    expected_version=expected_version,
                ),
                source=source,
                idempotency_key=idempotency_key,
                team_id=team_id,
            )
            effects = outbox.record(effects_of(outcome))
    except StaleVersionError as exc:
        # Nothing changed; the message the actor saw is re-rendered to the current state.
        # A caller's transaction may yet roll back: its refresh waits for its commit.
        want = outbox.want(Job.REFRESH_SLACK_QUARANTINE, quarantine_id=exc.quarantine_id)
        if deferred is not None:
            deferred.extend(outbox.record([want]))
        else:
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
    if deferred is not None:
        deferred.extend(effects)
    else:
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

    The repository's .flakeguard.yml decides: a test it exempts (``exempt``) is not
    proposed; with ``auto_quarantine: true`` the proposal is approved at once (the
    alert still offers Undo).
    """
    test = TestCase.get_or_none(TestCase.id == test_case_id)
    if test is None:
        return []
    config = config_of(test.repository_id)
    if is_exempt(test, config):
        return []
    try:
        with db.atomic():  # a savepoint: a concurrent first action on the test wins
            proposal = _apply_locked(
                test_case_id,
                None,
                Action("propose", "flakeguard", automatic=True, reason="flaky"),
                source="system",
            )
            outcomes = [proposal]
            if config.auto_quarantine and proposal.changed:
                approve = Action(
                    "approve",
                    "flakeguard",
                    automatic=True,
                    reason="auto_quarantine in .flakeguard.yml",
                )
                outcomes.append(_apply_locked(test_case_id, None, approve, source="system"))
            return outbox.record([e for outcome in outcomes for e in effects_of(outcome)])
    except IntegrityError:
        return []


def withdraw_recovered(test_case_id: int) -> list[outbox.Wanted]:
    """Withdraw the open proposal of a test that recovered, inside the caller's transaction.

    The system action ``withdraw`` (proposed -> lifted, audited like any other):
    no one is asked to quarantine a test that is no longer flaky, and the weekly
    plan stops listing it. A test that flakes again is proposed anew. Like
    ``propose_flaky``, it returns the effects recorded, for the caller to
    enqueue after its commit; a test with no proposal is left as it is.
    """
    with db.atomic():  # a savepoint: a refusal leaves the caller's work alone
        outcome = _apply_locked(
            test_case_id,
            None,
            Action("withdraw", "flakeguard", automatic=True, reason="recovered"),
            source="system",
        )
        return outbox.record(effects_of(outcome))


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
    request: Action,
    *,
    source: str,
    idempotency_key: str | None = None,
    team_id: str | None = None,
) -> Outcome:
    """Load the quarantine (locked), decide, and write the change with its event."""
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
    now = utcnow()
    if request.name == "assign":
        request = replace(request, assignee_github=_linked_login(request.assignee_slack, team_id))
    if request.name in ("approve", "extend"):  # how long, from the repository's .flakeguard.yml
        request = replace(request, expiry_days=config_of(repository_id).expiry_days)
    decision = decide(
        _current(q),
        request,
        evidence=_evidence(test_case_id) if request.name in NEEDS_EVIDENCE else None,
        now=now,
    )
    if isinstance(decision, NoOp):
        return Outcome(q, False)
    if not isinstance(decision, Change):
        if decision.stale and q is not None:
            raise StaleVersionError(decision.reason, quarantine_id=q.id)
        raise ConflictError(decision.reason)
    changes = dict(decision.fields)
    if q is None:
        q = Quarantine.create(
            test_case=test_case_id,
            repository=repository_id,
            state=decision.after,
            reason=str(changes.pop("reason", request.reason)),
            proposed_at=now,
        )
    previous_version = q.version
    changes["version"] = Quarantine.version + 1
    changes["updated_at"] = now
    Quarantine.update(**changes).where(Quarantine.id == q.id).execute()
    said = {"reason": request.reason, "assignee_slack": request.assignee_slack, "team_id": team_id}
    data: dict[str, object] = {
        "from": decision.before,
        "to": decision.after,
        "version": previous_version + 1,
    }
    if isinstance(changes.get("expires_at"), datetime):
        data["expires_at"] = changes["expires_at"].isoformat()  # type: ignore[union-attr]
    QuarantineEvent.create(
        quarantine=q.id,
        action=request.name,
        actor=request.actor,
        source=source,
        data=data | {name: value for name, value in said.items() if value},
        idempotency_key=idempotency_key,
        at=now,
    )
    for name, value in changes.items():
        if name != "version":
            setattr(q, name, value)
    q.version = previous_version + 1
    return Outcome(q, True)


def _current(q: Quarantine | None) -> Current | None:
    if q is None:
        return None
    return Current(
        state=q.state,
        version=q.version,
        assignee_slack=q.assignee_slack,
        dismissed_conflicts=q.dismissed_conflicts or 0,
        expires_at=q.expires_at,
        reminded_at=q.reminded_at,
        escalated_at=q.escalated_at,
    )


def _evidence(test_case_id: int) -> Evidence:
    score = FlakeScore.get_or_none(FlakeScore.test_case == test_case_id)
    if score is None:
        return Evidence()
    conflicts = int((score.evidence or {}).get("same_commit_conflicts", 0))
    return Evidence(same_commit_conflicts=conflicts, rate_low=score.low)


def _linked_login(slack_user_id: str | None, team_id: str | None) -> str | None:
    """The GitHub login linked to the assignee (in the acting workspace, when known)."""
    link = UserLink.get_or_none(
        UserLink.slack_user_id == slack_user_id,
        *([UserLink.team_id == team_id] if team_id else []),
    )
    return link.github_login if link else None


def approve_all(
    items: Sequence[tuple[int, int]],
    *,
    actor: str,
    source: str,
    key_prefix: str,
    tenant_id: int,
    repository_id: int,
    deferred: list[outbox.Wanted] | None = None,
) -> list[Quarantine]:
    """Approve proposed quarantines ``(quarantine_id, version seen)`` of one repository,
    all in one transaction: the caller's when it passes ``deferred`` (the effects go
    there, for it to dispatch after its commit), else one of its own.

    Only quarantines of ``repository_id`` (a repository of ``tenant_id``) are
    considered. They are approved in the order of their tests' keys (then ids): two
    approvals of overlapping sets lock rows in the same order. Quarantines that moved
    on since they were shown (another approval, a dismissal) are skipped.
    """
    if deferred is None:
        effects: list[outbox.Wanted] = []
        with db.atomic():
            approved = approve_all(
                items,
                actor=actor,
                source=source,
                key_prefix=key_prefix,
                tenant_id=tenant_id,
                repository_id=repository_id,
                deferred=effects,
            )
        outbox.dispatch(effects)
        return approved
    seen = dict(items)
    rows = (
        Quarantine.select(Quarantine)
        .join(TestCase, on=(Quarantine.test_case == TestCase.id))
        .switch(Quarantine)
        .join(Repository, on=(Quarantine.repository == Repository.id))
        .where(
            Quarantine.id.in_(list(seen)),
            Quarantine.repository == repository_id,
            Repository.tenant == tenant_id,
        )
        .order_by(TestCase.key, Quarantine.id)
    )
    approved = []
    for q in rows:
        version = seen[q.id]
        if q.state != "proposed" or q.version != version:
            continue
        try:
            outcome = perform(
                q.test_case_id,
                "approve",
                tenant_id=tenant_id,
                actor=actor,
                source=source,
                idempotency_key=f"{key_prefix}:{q.id}:v{version}",
                expected_version=version,
                deferred=deferred,
            )
        except StaleVersionError:
            continue  # changed between the read and the lock: shown as it is now
        if outcome.changed:
            approved.append(outcome.quarantine)
    return approved
