"""The outbox: every side effect is a row written with the change that causes it.

A use case returns the effects it wants (``want(Job.X, **arguments)``) beside
what it changed; its caller writes both in one transaction (``record``) and,
after the commit, ``dispatch`` enqueues each effect's job. A job lost on the
way (Redis down, a worker killed between the commit and the enqueue) is found
again by the reconcile job, which re-enqueues undone effects armed before a
cutoff (``pending``). Tasks ``claim`` their effect when they start (a done one
means there is nothing to do), ``finish`` it after, or record a ``failure``.

An analysis that fails ``MAX_ANALYSIS_FAILURES`` times is set aside: its run
is no longer re-driven (it would fail again and hold a place in every
reconcile batch) and shows in ``/health/deep`` and ``flakeguard status``.
Other kinds are never set aside: their failures are outages (Slack or GitHub
down) that end, and retrying them is the point.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flakeguard import jobs, logs
from flakeguard.jobs import Job
from models import Effect, db, utcnow

log = logging.getLogger(__name__)

KEY_WIDTH = 255  # Effect.key
# A run whose analysis failed this many times is set aside (Huey retries a failed
# analysis 3 times, so this is the first attempt of a second reconcile pass, plus one).
MAX_ANALYSIS_FAILURES = 5
SET_ASIDE_KINDS = frozenset({Job.ANALYZE_RUN})
# Done effects are kept this long (what happened lately, for an operator), then purged.
DONE_KEPT = timedelta(days=7)


@dataclass(frozen=True)
class Wanted:
    """A side effect a use case wants: a job and its keyword arguments."""

    job: Job
    arguments: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return effect_key(self.job, self.arguments)


@dataclass(frozen=True)
class Claim:
    """The effect a running task works for, as it was when the task started."""

    id: int
    generation: int
    done: bool


def want(job: Job, **arguments: Any) -> Wanted:
    """The effect of running ``job`` with ``arguments``."""
    return Wanted(Job(job), arguments)


def effect_key(job: Job, arguments: dict[str, Any]) -> str:
    """The unique key of an effect: its job and arguments (hashed when too long)."""
    text = f"{job}:" + "&".join(f"{name}={arguments[name]}" for name in sorted(arguments))
    if len(text) <= KEY_WIDTH:
        return text
    return f"{job}:sha256={hashlib.sha256(text.encode()).hexdigest()}"


def record(effects: Iterable[Wanted]) -> list[Wanted]:
    """Write (or re-arm) each effect, inside the caller's transaction; return them."""
    wanted = list(effects)
    if not wanted:
        return wanted
    now = utcnow()
    correlation = logs.get_correlation_id()
    rows = {
        w.key: {
            "kind": str(w.job),
            "key": w.key,
            "payload": w.arguments,
            "correlation_id": correlation,
            "created_at": now,
            "armed_at": now,
        }
        for w in wanted
    }
    for row in rows.values():
        # Written again before its job ran: one row, armed anew (a new generation).
        Effect.insert(row).on_conflict(
            conflict_target=[Effect.key],
            update={
                Effect.done_at: None,
                Effect.set_aside_at: None,
                Effect.attempts: 0,
                Effect.armed_at: now,
                Effect.generation: Effect.generation + 1,
                Effect.correlation_id: correlation,
            },
        ).execute()
    return wanted


def dispatch(effects: Iterable[Wanted]) -> int:
    """Enqueue the job of each effect (after the commit); how many the queue took.

    Never raises: the effects are in the database, so a queue that cannot take a
    job only delays it until the reconcile job re-enqueues it.
    """
    taken = 0
    for wanted in effects:
        try:
            taken += jobs.enqueue(wanted.job, **wanted.arguments)
        except Exception:  # the effect is recorded; the request must not fail over a hint
            log.warning(
                "enqueue of %s failed, left for the reconcile job", wanted.key, exc_info=True
            )
    return taken


def record_and_dispatch(effects: Iterable[Wanted]) -> list[Wanted]:
    """Write the effects in a transaction of their own, then enqueue them."""
    with db.atomic():
        wanted = record(effects)
    dispatch(wanted)
    return wanted


def claim(job: Job, arguments: dict[str, Any]) -> Claim | None:
    """The effect a task starting now works for; None when it has no row (a bare job)."""
    row = (
        Effect.select(Effect.id, Effect.generation, Effect.done_at)
        .where(Effect.key == effect_key(job, arguments))
        .tuples()
        .first()
    )
    if row is None:
        return None
    return Claim(row[0], row[1], row[2] is not None)


def finish(claim: Claim) -> bool:
    """Mark the claimed effect done, unless it was re-armed since the task started."""
    return bool(
        Effect.update(done_at=utcnow(), last_error=None)
        .where(
            Effect.id == claim.id,
            Effect.generation == claim.generation,
            Effect.done_at.is_null(),
        )
        .execute()
    )


def mark_done(job: Job, **arguments: Any) -> bool:
    """Mark the effect of ``job`` with ``arguments`` done, whatever its generation.

    For work done in the same transaction as the change it reports (an analysis
    marks its run's effect done with ``analyzed_at``) or inline by another task.
    """
    return bool(
        Effect.update(done_at=utcnow(), last_error=None)
        .where(Effect.key == effect_key(job, arguments), Effect.done_at.is_null())
        .execute()
    )


def failure(claim: Claim, error: BaseException) -> bool:
    """Count one failed attempt of the claimed effect; True when it is now set aside."""
    with db.atomic():
        Effect.update(attempts=Effect.attempts + 1, last_error=repr(error)[:2000]).where(
            Effect.id == claim.id, Effect.generation == claim.generation
        ).execute()
        row = (
            Effect.select(Effect.kind, Effect.attempts)
            .where(Effect.id == claim.id, Effect.generation == claim.generation)
            .tuples()
            .first()
        )
        if row is None or row[0] not in SET_ASIDE_KINDS or row[1] < MAX_ANALYSIS_FAILURES:
            return False
        Effect.update(set_aside_at=utcnow()).where(
            Effect.id == claim.id, Effect.set_aside_at.is_null()
        ).execute()
    log.warning("%s failed %d times; set aside", row[0], row[1])
    return True


@dataclass(frozen=True)
class Pending:
    """An undone effect found by :func:`pending`."""

    wanted: Wanted
    correlation_id: str | None


def pending(cutoff: datetime, *, kinds: Collection[Job], limit: int) -> list[Pending]:
    """Undone effects of ``kinds`` armed before ``cutoff`` and not set aside.

    Those that failed least come first, then the oldest: a batch full of effects
    that keep failing cannot hold back one that was only lost.
    """
    if not kinds:
        return []
    query = (
        Effect.select(Effect.kind, Effect.payload, Effect.correlation_id)
        .where(
            Effect.done_at.is_null(),
            Effect.armed_at <= cutoff,
            Effect.set_aside_at.is_null(),
            Effect.kind.in_([str(kind) for kind in kinds]),
        )
        .order_by(Effect.attempts, Effect.armed_at, Effect.id)
        .limit(limit)
        .tuples()
    )
    return [Pending(Wanted(Job(kind), dict(payload or {})), corr) for kind, payload, corr in query]


def set_aside_count(job: Job = Job.ANALYZE_RUN) -> int:
    """How many effects of ``job`` are set aside (failed too often, not re-driven)."""
    return (
        Effect.select()
        .where(
            Effect.kind == str(job), Effect.set_aside_at.is_null(False), Effect.done_at.is_null()
        )
        .count()
    )


def set_aside_runs() -> list[int]:
    """Ids of the runs whose analysis is set aside (failed too often)."""
    query = Effect.select(Effect.payload).where(
        Effect.kind == str(Job.ANALYZE_RUN),
        Effect.set_aside_at.is_null(False),
        Effect.done_at.is_null(),
    )
    return [int(payload["run_id"]) for (payload,) in query.tuples() if payload.get("run_id")]


def runs_set_aside_text(count: int) -> str:
    """How status answers show set-aside runs."""
    runs = "1 run" if count == 1 else f"{count} runs"
    return f"{runs} set aside (analysis failed {MAX_ANALYSIS_FAILURES} times)"


def purge_done(*, kept: timedelta = DONE_KEPT) -> int:
    """Delete effects done longer than ``kept`` ago (the retention job)."""
    return Effect.delete().where(Effect.done_at < utcnow() - kept).execute()
