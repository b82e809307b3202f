"""The weekly Slack digest: each subscribed channel gets its repository's quarantine plan.

``plan_digests`` creates the week's messages with one refresh effect each,
in one transaction; the task renders each from ``digest_view`` and sends it.
A digest is re-rendered from the database after an "Approve all".
"""

from __future__ import annotations

from dataclasses import dataclass

from flakeguard.errors import NotFoundError
from flakeguard.jobs import Job
from flakeguard.usecases import outbox
from flakeguard.usecases.plan import PlanItem, quarantine_plan
from flakeguard.usecases.slack_delivery import message_target
from flakeguard.usecases.slack_scope import same_tenant_subscriptions
from models import ChannelSubscription, FlakeScore, Quarantine, Repository, SlackMessage, db


@dataclass(frozen=True)
class DigestView:
    """The weekly digest of one repository."""

    message_id: int | None
    repository: str
    flaky: int
    quarantined: int
    items: list[PlanItem]
    total: int


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


def plan_digests() -> list[int]:
    """Create this week's pending digest messages (one per subscription with candidates)."""
    ids = []
    with db.atomic():
        for sub in same_tenant_subscriptions().where(ChannelSubscription.last_error.is_null()):
            _, total = quarantine_plan(sub.repository_id, limit=0)
            if not total:
                continue
            msg = SlackMessage.create(
                team_id=sub.team_id,
                channel=sub.channel_id,
                kind="digest",
                repository=sub.repository_id,
            )
            ids.append(msg.id)
        outbox.record(outbox.want(Job.REFRESH_SLACK_MESSAGE, message_id=i) for i in ids)
    return ids


def digest_of_message(message_id: int) -> DigestView:
    """The digest a posted digest message shows now (for the tasks that render it)."""
    msg = message_target(message_id)
    if msg.kind != "digest" or msg.repository_id is None:
        raise NotFoundError(f"Slack message {message_id} is not a digest")
    return digest_view(msg.repository_id, message_id=msg.id)


def request_message_refresh(message_id: int) -> None:
    """Ask for one posted message (a digest) to be re-rendered from the database."""
    outbox.record_and_dispatch([outbox.want(Job.REFRESH_SLACK_MESSAGE, message_id=message_id)])
