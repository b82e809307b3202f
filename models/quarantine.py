"""Quarantines: an append-only event log and its current projection."""

from __future__ import annotations

from peewee import (
    BigAutoField,
    CharField,
    DateTimeField,
    FloatField,
    ForeignKeyField,
    IntegerField,
    JSONField,
    TextField,
)

from models.base import BaseModel, UpdatedModel, utcnow
from models.repos import Repository
from models.results import TestCase


class Quarantine(UpdatedModel):
    """Current projection of a test's quarantine events (the fold of QuarantineEvent)."""

    test_case = ForeignKeyField(TestCase, unique=True, backref="quarantine", on_delete="CASCADE")
    repository = ForeignKeyField(Repository, backref="quarantines", on_delete="CASCADE")
    state = CharField(max_length=16, default="proposed")
    reason = TextField(default="")
    proposed_at = DateTimeField(default=utcnow)
    quarantined_at = DateTimeField(null=True)
    quarantined_by = CharField(max_length=100, null=True)
    assignee_slack = CharField(max_length=32, null=True)
    assignee_github = CharField(max_length=100, null=True)
    rate_at_quarantine = FloatField(null=True)
    dismissed_conflicts = IntegerField(default=0)
    github_issue_number = IntegerField(null=True)
    github_issue_url = CharField(max_length=500, null=True)
    version = IntegerField(default=0)
    github_synced_version = IntegerField(default=0)
    github_error = TextField(null=True)
    slack_synced_version = IntegerField(default=0)
    # The lifecycle: a quarantine ends at ``expires_at`` (from .flakeguard.yml); the
    # owner is reminded once before (``reminded_at``); ``escalated_at`` when it outlived it.
    expires_at = DateTimeField(null=True)
    reminded_at = DateTimeField(null=True)
    escalated_at = DateTimeField(null=True)
    # Someone asked for the GitHub issue (the check run's "Open issue") before any approval.
    issue_requested_at = DateTimeField(null=True)

    class Meta:
        indexes = ((("repository", "state"), False),)


class QuarantineEvent(BaseModel):
    """One action on a quarantine: who did what, when, from where."""

    id = BigAutoField()
    quarantine = ForeignKeyField(Quarantine, backref="events", on_delete="CASCADE")
    action = CharField(max_length=16)
    actor = CharField(max_length=100)
    source = CharField(max_length=16)
    data = JSONField(default=dict)
    idempotency_key = CharField(max_length=200, null=True, unique=True)
    at = DateTimeField(default=utcnow)
