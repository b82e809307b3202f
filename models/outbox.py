"""The outbox: side effects still to do, written with the change that causes them."""

from __future__ import annotations

from peewee import CharField, DateTimeField, IntegerField, JSONField, TextField

from models.base import CreatedModel, utcnow


class Effect(CreatedModel):
    """One pending side effect: job ``kind`` with ``payload`` (its keyword arguments).

    ``key`` (the kind and its arguments) is unique, so the same effect is one row:
    writing it again re-arms it (``done_at`` cleared, ``generation`` bumped) and a
    task that finished an older generation does not mark the newer one done.
    The reconcile job re-enqueues undone effects armed before its cutoff; an
    effect whose task failed too often is ``set_aside_at`` and no longer re-driven.
    """

    kind = CharField(max_length=40)
    key = CharField(max_length=255, unique=True)
    payload = JSONField(default=dict)
    correlation_id = CharField(max_length=64, null=True)
    generation = IntegerField(default=1)
    attempts = IntegerField(default=0)
    last_error = TextField(null=True)
    armed_at = DateTimeField(default=utcnow)
    done_at = DateTimeField(null=True)
    set_aside_at = DateTimeField(null=True)

    class Meta:
        # "undone, armed before the cutoff" and "set aside, still undone" by kind
        indexes = (
            (("done_at", "armed_at"), False),
            (("kind", "set_aside_at"), False),
        )
