"""The weekly Slack digests: a repository's quarantine plan in each channel subscribed to
it, and a routed owner's plan (``team_digest``) in that owner's channel.

``plan_digests`` creates one tenant's digest messages of the week in one transaction,
each with its ``WeeklyDigest`` row (planning the same week again creates nothing) and
one refresh effect; that effect's task renders each from ``digest_of_message`` and
sends it, retried like any effect. A permanent refusal from Slack is recorded on the
message, the channel's subscriptions and routes (``slack_delivery``). "Approve all"
approves what its digest showed, within what that digest may approve, and the week's
digests that listed an approved test are re-rendered from the database.

A routed owner's tests stay in their repository's digest as well: that digest is the
repository's whole plan, its counts and its ranking, for the channel that follows the
repository; the owner's digest is the same plan cut by ownership.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from peewee import IntegrityError

from flakeguard.errors import NotFoundError
from flakeguard.jobs import Job
from flakeguard.usecases import outbox, quarantine
from flakeguard.usecases.owner_routes import RoutedOwner, routed_owners
from flakeguard.usecases.plan import PlanItem, quarantine_plan
from flakeguard.usecases.policy import MembersOf, check_allowed
from flakeguard.usecases.repo_files import owners_of_test_id
from flakeguard.usecases.slack_delivery import message_target
from flakeguard.usecases.slack_scope import same_tenant_subscriptions, submitted_digest
from flakeguard.usecases.team_digest import owned_among, owned_plan, owned_proposals
from models import (
    ChannelSubscription,
    FlakeScore,
    Quarantine,
    Repository,
    SlackMessage,
    Tenant,
    WeeklyDigest,
    db,
    utcnow,
)
from models.base import locked_transaction

KIND = "digest"
# + the digest's message id: one "Approve all" of a digest at a time
DIGEST_APPROVAL_LOCK = 0x4647_4441 << 32


@dataclass(frozen=True)
class DigestView:
    """A weekly digest: a repository's plan or, with ``owner``, a routed owner's."""

    message_id: int | None
    repository: str  # "" for an owner's digest
    flaky: int
    quarantined: int
    items: list[PlanItem]
    total: int
    owner: str = ""  # "@org/team": the digest of the tests it owns
    places: dict[int, str] = field(default_factory=dict)  # quarantine id -> its repository
    repositories: tuple[str, ...] = ()  # an owner's digest: the repositories it covers


def week_of(now: datetime) -> date:
    """The Monday of ``now``'s week (UTC): the week a digest belongs to."""
    return (now - timedelta(days=now.weekday())).date()


def digest_view(repo_id: int, *, message_id: int | None = None) -> DigestView:
    """The weekly digest of one repository, from the database."""
    repo = Repository.get_by_id(repo_id)
    items, total = quarantine_plan(repo_id)
    flaky = (
        FlakeScore.select()
        .where(FlakeScore.repository == repo_id, FlakeScore.state == "flaky")
        .count()
    )
    quarantined = (
        Quarantine.select()
        .where(Quarantine.repository == repo_id, Quarantine.state == "quarantined")
        .count()
    )
    return DigestView(message_id, repo.full_name, flaky, quarantined, items, total)


def owned_digest_view(
    owner: str,
    repository_ids: Sequence[int],
    *,
    message_id: int | None = None,
    now: datetime | None = None,
) -> DigestView:
    """The digest of what ``owner`` owns in those repositories."""
    plan = owned_plan(owner, repository_ids, now=now)
    return DigestView(
        message_id,
        "",
        plan.flaky,
        plan.quarantined,
        plan.items,
        plan.total,
        owner=owner,
        places=plan.places,
        repositories=plan.repositories,
    )


def owner_digest_view(routed: RoutedOwner, *, message_id: int | None = None) -> DigestView:
    """A routed owner's digest: what it owns in the repositories routed to its channel."""
    repository_ids = routed_owners(routed.tenant_id).get(routed, [])
    return owned_digest_view(routed.owner, repository_ids, message_id=message_id)


def _plan_message(
    week: date, *, tenant_id: int, team_id: str, channel: str, repository_id: int | None, owner: str
) -> int | None:
    """Create one digest message of the week, unless that digest exists already.

    A repository's digest is one per channel subscribed to it; an owner's is one per
    week wherever its route pointed when it was planned (a route moved mid-week does
    not post the week's digest again).
    """
    subject = f"repository:{repository_id}" if repository_id is not None else f"owner:{owner}"
    identity = {"week": week, "tenant": tenant_id, "subject": subject}
    where = (
        identity if repository_id is None else {**identity, "team_id": team_id, "channel": channel}
    )
    planned = WeeklyDigest.select().where(
        *(getattr(WeeklyDigest, name) == value for name, value in where.items())
    )
    if planned.exists():
        return None
    try:
        with db.atomic():
            msg = SlackMessage.create(
                team_id=team_id, channel=channel, kind=KIND, repository=repository_id
            )
            WeeklyDigest.create(
                **identity,
                team_id=team_id,
                channel=channel,
                repository=repository_id,
                owner=owner,
                message=msg.id,
            )
    except IntegrityError:  # planned by another worker meanwhile
        return None
    return msg.id


def tenants_with_proposals() -> list[int]:
    """The tenants with proposals waiting: each plans its own week (``plan_digests``)."""
    rows = (
        Tenant.select(Tenant.id)
        .join(Repository)
        .join(Quarantine, on=(Quarantine.repository == Repository.id))
        .where(Quarantine.state == "proposed")
        .distinct()
        .order_by(Tenant.id)
    )
    return [row.id for row in rows]


def plan_digests(tenant_id: int, *, now: datetime | None = None) -> list[int]:
    """Create the tenant's digest messages of the week not created yet; return their ids.

    One per subscription of the tenant's repositories with proposals waiting, one per
    routed owner of the tenant with proposals of its own waiting; only the tenant's
    repositories, subscriptions and routes are read. Each message is recorded with its
    refresh effect (the post, retried until Slack takes it or refuses for good); the
    caller dispatches them after this commits.
    """
    week = week_of(now or utcnow())
    # (team, channel, repository id or None, owner or "") of each digest due
    due: list[tuple[str, str, int | None, str]] = []
    with db.atomic():
        subscriptions = same_tenant_subscriptions().where(
            Repository.tenant == tenant_id, ChannelSubscription.last_error.is_null()
        )
        for sub in subscriptions.order_by(ChannelSubscription.id):
            if quarantine_plan(sub.repository_id, limit=0)[1]:
                due.append((sub.team_id, sub.channel_id, sub.repository_id, ""))
        for routed, repository_ids in routed_owners(tenant_id).items():
            if owned_proposals(routed.owner, repository_ids):
                due.append((routed.team_id, routed.channel, None, routed.owner))
        planned = (
            _plan_message(
                week,
                tenant_id=tenant_id,
                team_id=team_id,
                channel=channel,
                repository_id=repository_id,
                owner=owner,
            )
            for team_id, channel, repository_id, owner in due
        )
        created = [i for i in planned if i is not None]
        outbox.record(digest_posts(created))
    return created


def digest_posts(message_ids: Sequence[int]) -> list[outbox.Wanted]:
    """The effects that post (or re-render) digest messages."""
    return [outbox.want(Job.REFRESH_SLACK_MESSAGE, message_id=i) for i in message_ids]


def _routed_of(msg: SlackMessage) -> RoutedOwner:
    row = WeeklyDigest.get_or_none(WeeklyDigest.message == msg.id)
    if row is None or not row.owner:
        raise NotFoundError(f"Slack message {msg.id} is not a digest")
    return RoutedOwner(row.tenant_id, row.owner, row.team_id, row.channel)


def digest_of_message(message_id: int) -> DigestView:
    """The digest a posted digest message shows now (for the tasks that render it)."""
    msg = message_target(message_id)
    if msg.kind != KIND:
        raise NotFoundError(f"Slack message {message_id} is not a digest")
    if msg.repository_id is not None:
        return digest_view(msg.repository_id, message_id=msg.id)
    return owner_digest_view(_routed_of(msg), message_id=msg.id)


def approve_shown(
    message_id: int,
    items: Sequence[tuple[int, int]],
    *,
    actor: str,
    tenant_id: int,
    team_id: str,
    members_of: MembersOf | None = None,
) -> list[Quarantine]:
    """Approve what an "Approve all" confirmed: ``(quarantine id, version seen)`` pairs.

    The digest must be one posted in ``team_id`` for ``tenant_id`` (NotFoundError),
    and the workspace's policy is checked once, before anything changes. Every
    submitted id must be one the digest may approve: its repository's, or one its
    owner owns in the repositories routed to its channel, of the tenant; otherwise
    the whole submission is refused (NotFoundError, nothing approved). The approvals
    (in the order of the tests' keys) and the re-rendering of the week's digests that
    listed an approved test commit in one transaction; their effects go out after it.
    """
    msg = submitted_digest(message_id, tenant_id=tenant_id, team_id=team_id)
    check_allowed(msg.team_id, actor, members_of=members_of)
    ids = sorted({quarantine_id for quarantine_id, _ in items})
    if msg.repository_id is not None:
        rows = (
            Quarantine.select(Quarantine.id, Quarantine.repository)
            .join(Repository, on=(Quarantine.repository == Repository.id))
            .where(
                Quarantine.id.in_(ids),
                Quarantine.repository == msg.repository_id,
                Repository.tenant == tenant_id,
            )
        )
        scope = {q.id: q.repository_id for q in rows}
    else:
        routed = _routed_of(msg)
        scope = owned_among(routed.owner, routed_owners(tenant_id).get(routed, []), ids)
    foreign = [quarantine_id for quarantine_id in ids if quarantine_id not in scope]
    if foreign:
        raise NotFoundError(
            f"{len(foreign)} of the {len(ids)} proposals submitted are not in this digest; "
            "nothing was approved"
        )
    groups: dict[int, list[tuple[int, int]]] = {}
    for quarantine_id, version in items:
        groups.setdefault(scope[quarantine_id], []).append((quarantine_id, version))
    effects: list[outbox.Wanted] = []
    approved: list[Quarantine] = []
    # Reads come first and writes after: a write transaction from the start (SQLite
    # BEGIN IMMEDIATE), or a writer committing in between fails it at once.
    with locked_transaction(DIGEST_APPROVAL_LOCK + msg.id):
        for repository_id, group in sorted(groups.items()):
            approved += quarantine.approve_all(
                group,
                actor=actor,
                source="slack",
                key_prefix=f"digest:{msg.id}",
                tenant_id=tenant_id,
                repository_id=repository_id,
                deferred=effects,
            )
        effects += outbox.record(digest_posts(_digests_to_refresh(msg.id, tenant_id, approved)))
    outbox.dispatch(effects)
    return approved


def _digests_to_refresh(
    message_id: int, tenant_id: int, approved: Sequence[Quarantine]
) -> list[int]:
    """A digest, and the week's other posted digests listing an approved test."""
    wanted = {message_id}
    if approved:
        repositories = {q.repository_id for q in approved}
        owners = {owner.lower() for q in approved for owner in owners_of_test_id(q.test_case_id)}
        week = (
            WeeklyDigest.select(WeeklyDigest.message, WeeklyDigest.repository, WeeklyDigest.owner)
            .join(SlackMessage)
            .where(
                WeeklyDigest.tenant == tenant_id,
                WeeklyDigest.week == week_of(utcnow()),
                SlackMessage.ts.is_null(False),
            )
        )
        wanted |= {
            row.message_id
            for row in week
            if row.repository_id in repositories or row.owner in owners
        }
    return sorted(wanted)
