"""Noise control: at most N alerts per run (``alerts.max_per_run``), the rest in one message.

The events of one analysed run (``DomainEvent.data["run_id"]``) are ranked by id;
the first N are alerted one by one, as usual. The others are listed in one summary
message per channel of the repository, planned by the first event over the cap and
rendered from the database (it lists every event of the run over the cap, so the
events planned after it add nothing). The tests stay proposed: the weekly digest
and the App Home offer them.
"""

from __future__ import annotations

from dataclasses import dataclass

from flakeguard.errors import NotFoundError
from flakeguard.usecases import alert_targets, repo_files
from flakeguard.usecases.status import display_name
from models import DomainEvent, Repository, SlackMessage, TestCase, db

SUMMARY = "summary"
KINDS = ("flaky", "broken", "fixed")
WINDOW = 2000  # events of one run are written together: look this far back at most
SHOWN = 20


@dataclass(frozen=True)
class SummaryView:
    """The alerts of one run over the cap, as the summary message shows them."""

    message_id: int
    repository: str
    sha: str
    items: list[tuple[str, str]]  # (kind, test name)
    total: int
    cap: int


def run_events(event: DomainEvent) -> list[DomainEvent]:
    """The alertable events of ``event``'s run, by id (just ``event`` when it names no run)."""
    run_id = (event.data or {}).get("run_id")
    if run_id is None:
        return [event]
    nearby = (
        DomainEvent.select()
        .where(
            DomainEvent.repository == event.repository_id,
            DomainEvent.kind.in_(KINDS),
            DomainEvent.id > event.id - WINDOW,
            DomainEvent.id < event.id + WINDOW,
        )
        .order_by(DomainEvent.id)
    )
    return [e for e in nearby if (e.data or {}).get("run_id") == run_id]


def over_cap(event: DomainEvent) -> DomainEvent | None:
    """The first event over the run's cap when ``event`` is over it; None when it is alerted."""
    cap = repo_files.config_of(event.repository_id).max_alerts_per_run
    events = run_events(event)
    ids = [e.id for e in events]
    if event.id not in ids or ids.index(event.id) < cap:
        return None
    return events[cap]


def plan_summary(event: DomainEvent, first: DomainEvent) -> list[int]:
    """The summary messages still to post; created by the first event over the cap only."""
    if event.id == first.id:
        with db.atomic():
            existing = {
                m.channel
                for m in SlackMessage.select(SlackMessage.channel).where(
                    SlackMessage.event == first.id, SlackMessage.kind == SUMMARY
                )
            }
            for team_id, channel in alert_targets.alert_targets(event.repository_id, None):
                if channel not in existing:
                    SlackMessage.create(
                        team_id=team_id,
                        channel=channel,
                        kind=SUMMARY,
                        repository=event.repository_id,
                        event=first.id,
                    )
    return [
        m.id
        for m in SlackMessage.select(SlackMessage.id)
        .where(
            SlackMessage.event == first.id,
            SlackMessage.kind == SUMMARY,
            SlackMessage.ts.is_null(),
            SlackMessage.last_error.is_null(),
        )
        .order_by(SlackMessage.id)
    ]


def summary_view(message_id: int) -> SummaryView:
    """What a summary message shows, from the database."""
    msg = SlackMessage.get_or_none(SlackMessage.id == message_id, SlackMessage.kind == SUMMARY)
    if msg is None or msg.event_id is None:
        raise NotFoundError(f"unknown summary message {message_id}")
    first = DomainEvent.get_by_id(msg.event_id)
    cap = repo_files.config_of(first.repository_id).max_alerts_per_run
    events = run_events(first)
    over = [e for e in events if e.id >= first.id]
    tests = {
        t.id: t
        for t in TestCase.select().where(
            TestCase.id.in_([e.test_case_id for e in over[:SHOWN] if e.test_case_id])
        )
    }
    items = [
        (e.kind, display_name(tests[e.test_case_id]) if e.test_case_id in tests else "a test")
        for e in over[:SHOWN]
    ]
    return SummaryView(
        message_id=msg.id,
        repository=Repository.get_by_id(first.repository_id).full_name,
        sha=str((first.data or {}).get("sha", ""))[:12],
        items=items,
        total=len(over),
        cap=cap,
    )
