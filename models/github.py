"""GitHub side: check runs, webhook deliveries, ingested artifacts."""

from __future__ import annotations

from peewee import (
    BigIntegerField,
    CharField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    TextField,
)

from models.base import BaseModel, CreatedModel, UpdatedModel, utcnow
from models.repos import Repository


class CheckRun(UpdatedModel):
    """Our FlakeGuard check run on one head SHA; ``pending`` work is visible here."""

    repository = ForeignKeyField(Repository, backref="check_runs", on_delete="CASCADE")
    head_sha = CharField(max_length=40)
    github_id = BigIntegerField(null=True)
    conclusion = CharField(max_length=20, null=True)
    title = TextField(default="")
    version = IntegerField(default=0)
    synced_version = IntegerField(default=0)
    last_error = TextField(null=True)

    class Meta:
        indexes = ((("repository", "head_sha"), True),)


class WebhookDelivery(BaseModel):
    """A GitHub delivery id, recorded so a redelivery is a no-op."""

    delivery_id = CharField(max_length=64, unique=True)
    event = CharField(max_length=64)
    action = CharField(max_length=64, null=True)
    received_at = DateTimeField(default=utcnow)
    processed_at = DateTimeField(null=True)


class IngestedArtifact(CreatedModel):
    """One Actions artifact ingested: idempotency per (run id, attempt, artifact id)."""

    repository = ForeignKeyField(Repository, on_delete="CASCADE")
    workflow_run_id = BigIntegerField()
    run_attempt = IntegerField(default=1)
    artifact_id = BigIntegerField()
    name = CharField(max_length=255)
    status = CharField(max_length=16, default="pending")
    detail = TextField(null=True)

    class Meta:
        indexes = ((("workflow_run_id", "run_attempt", "artifact_id"), True),)
