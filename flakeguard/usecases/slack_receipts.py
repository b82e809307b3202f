"""Slack event receipts: an event_id seen once is handled once, even when Slack retries it."""

from __future__ import annotations

from datetime import datetime, timedelta

from peewee import IntegrityError

from models import SlackEventReceipt, db, utcnow

RECEIPT_TTL = timedelta(days=2)


def first_time_event(event_id: str) -> bool:
    """Record a Slack event_id; False when it was seen before (a retry)."""
    try:
        with db.atomic():
            SlackEventReceipt.create(event_id=event_id)
    except IntegrityError:
        return False
    return True


def forget_event(event_id: str) -> None:
    """Drop a receipt so Slack's retry of an event we failed to handle is processed."""
    SlackEventReceipt.delete().where(SlackEventReceipt.event_id == event_id).execute()


def prune_receipts(*, now: datetime | None = None) -> int:
    """Delete receipts older than Slack's retry window."""
    cutoff = (now or utcnow()) - RECEIPT_TTL
    return SlackEventReceipt.delete().where(SlackEventReceipt.received_at < cutoff).execute()
