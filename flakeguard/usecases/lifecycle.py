"""The quarantine lifecycle: an expiry, a reminder before it, lifted or escalated at it.

A quarantine gets ``expires_at`` when it is approved (``quarantine.expiry_days`` of the
repository's .flakeguard.yml, default 30). The periodic job (:func:`run`, hourly):

1. ``quarantine.remind_days_before`` the expiry (default 3): the ``remind`` action, and
   a reminder in the thread of the quarantine's alert naming the assignee, with
   **Extend** and **Lift** buttons (``extend`` adds ``expiry_days`` from the later of now
   and the expiry).
2. At the expiry: ``quarantine.at_expiry`` ``lift`` (default) lifts it; ``escalate``
   keeps it and records ``escalate``: the reminder says it is overdue.

Every step is an action of the one quarantine use case (actor ``flakeguard``, source
``system``): in the audit trail, and the Slack messages and the issue follow through
the outbox. The reminder message itself is a ``SlackMessage`` of kind ``reminder``
written with its ``post_slack_message`` effect in one transaction; a run that dies
between the ``remind`` action and the message is completed by the next run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flakeguard.errors import ConflictError
from flakeguard.jobs import Job
from flakeguard.usecases import outbox
from flakeguard.usecases import quarantine as quarantine_uc
from flakeguard.usecases.repo_files import config_of
from flakeguard.usecases.slack_scope import same_tenant_subscriptions
from models import ChannelSubscription, Quarantine, SlackMessage, db, utcnow

log = logging.getLogger(__name__)

ACTOR = "flakeguard"
BATCH = 500
REMINDER = "reminder"


@dataclass
class Report:
    """What one run of the lifecycle did."""

    dated: int = 0
    reminded: list[int] = field(default_factory=list)
    lifted: list[int] = field(default_factory=list)
    escalated: list[int] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return {
            "dated": self.dated,
            "reminded": self.reminded,
            "lifted": self.lifted,
            "escalated": self.escalated,
        }


def run(*, now: datetime | None = None) -> Report:
    """Date, remind, lift or escalate every quarantined test that is due."""
    now = now or utcnow()
    report = Report(dated=_date_undated(now))
    quarantined = (
        Quarantine.select()
        .where(Quarantine.state == "quarantined", Quarantine.expires_at.is_null(False))
        .order_by(Quarantine.expires_at)
        .limit(BATCH)
    )
    for q in quarantined:
        # one quarantine's failure (its repository's data) never stops the others:
        # the job reads every tenant's quarantines
        try:
            _advance(q, now, report)
        except Exception:
            log.exception("lifecycle of quarantine %s failed; the others go on", q.id)
    return report


def _advance(q: Quarantine, now: datetime, report: Report) -> None:
    """Remind, lift or escalate one quarantine as its repository's file says."""
    config = config_of(q.repository_id)
    try:
        if q.expires_at <= now:
            if config.at_expiry == "lift":
                _act(q, "lift", f"expire:{q.id}:{q.expires_at.isoformat()}", "expired")
                report.lifted.append(q.id)
                return
            if q.escalated_at is None:
                _act(q, "escalate", f"escalate:{q.id}:{q.expires_at.isoformat()}", "expired")
                report.escalated.append(q.id)
        due = q.expires_at - timedelta(days=config.remind_days_before)
        if due <= now and q.reminded_at is None:
            _act(q, "remind", f"remind:{q.id}:{q.expires_at.isoformat()}", "")
            report.reminded.append(q.id)
    except ConflictError as exc:  # a person acted meanwhile: their action stands
        log.info("lifecycle of quarantine %s: %s", q.id, exc.message)
        return
    q = Quarantine.get_by_id(q.id)
    if q.reminded_at is not None or q.escalated_at is not None:
        ensure_reminder(q)


def _date_undated(now: datetime) -> int:
    """Give quarantines without an expiry (approved before expiries) one from now."""
    dated = 0
    for q in Quarantine.select().where(
        Quarantine.state == "quarantined", Quarantine.expires_at.is_null()
    ):
        try:
            expires = now + timedelta(days=config_of(q.repository_id).expiry_days)
            dated += (
                Quarantine.update(expires_at=expires)
                .where(Quarantine.id == q.id, Quarantine.expires_at.is_null())
                .execute()
            )
        except Exception:
            log.exception("dating quarantine %s failed; the others go on", q.id)
    return dated


def _act(q: Quarantine, action: str, key: str, reason: str) -> None:
    quarantine_uc.perform(
        None,
        action,
        quarantine_id=q.id,
        tenant_id=None,  # the job reads every tenant's quarantines, each acted on as it is
        actor=ACTOR,
        source="system",
        reason=reason,
        idempotency_key=key,
    )


def ensure_reminder(q: Quarantine) -> int | None:
    """The reminder message of the current cycle, created with its effect if missing.

    Posted in the thread of the quarantine's first posted alert; without one, in the
    repository's first subscribed channel. None when there is nowhere to post it.
    """
    since = q.reminded_at or q.escalated_at
    existing = (
        SlackMessage.select(SlackMessage.id)
        .where(
            SlackMessage.quarantine == q.id,
            SlackMessage.kind == REMINDER,
            SlackMessage.created_at >= since,
        )
        .first()
    )
    if existing is not None:
        return existing.id
    alert = (
        SlackMessage.select()
        .where(
            SlackMessage.quarantine == q.id,
            SlackMessage.kind != REMINDER,
            SlackMessage.ts.is_null(False),
            SlackMessage.last_error.is_null(),
        )
        .order_by(SlackMessage.id)
        .first()
    )
    if alert is not None:
        team, channel, thread = alert.team_id, alert.channel, alert.ts
    else:
        sub = (
            same_tenant_subscriptions()
            .where(ChannelSubscription.repository == q.repository_id)
            .order_by(ChannelSubscription.id)
            .first()
        )
        if sub is None:
            return None
        team, channel, thread = sub.team_id, sub.channel_id, None
    with db.atomic():
        message = SlackMessage.create(
            team_id=team,
            channel=channel,
            kind=REMINDER,
            quarantine=q.id,
            repository=q.repository_id,
            thread_ts=thread,
        )
        effects = outbox.record([outbox.want(Job.POST_SLACK_MESSAGE, message_id=message.id)])
    outbox.dispatch(effects)
    return message.id
