"""The outbox table ``effect``, filled with the work that was pending before it.

Before this migration pending work was found by scanning each table's own state
(an unanalyzed run, an event without ``slack_done_at``, a quarantine or check
run whose synced version is behind). After it the reconcile job reads only
``effect``, so ``up`` writes one effect for each of those, under the same key
``flakeguard.usecases.outbox.effect_key`` gives it (the key format is copied
here, frozen, so a later change of that function cannot change this history).
``down`` drops the table: the per-row states are still there.
"""

import hashlib

from peewee import AutoField, CharField, DateTimeField, IntegerField, JSONField, TextField

from models.migrations import frozen

KEY_WIDTH = 255


def _key(kind, arguments):
    text = f"{kind}:" + "&".join(f"{name}={arguments[name]}" for name in sorted(arguments))
    if len(text) <= KEY_WIDTH:
        return text
    return f"{kind}:sha256={hashlib.sha256(text.encode()).hexdigest()}"


def _model(db):
    return frozen.model(db, "Effect", "effect", {
        "id": AutoField(),
        "kind": CharField(max_length=40),
        "key": CharField(max_length=255, unique=True),
        "payload": JSONField(default=dict),
        "correlation_id": CharField(max_length=64, null=True),
        "generation": IntegerField(default=1),
        "attempts": IntegerField(default=0),
        "last_error": TextField(null=True),
        "created_at": DateTimeField(),
        "armed_at": DateTimeField(),
        "done_at": DateTimeField(null=True),
        "set_aside_at": DateTimeField(null=True),
    }, indexes=((("done_at", "armed_at"), False), (("kind", "set_aside_at"), False)))


# (kind, SQL of the pending rows: the arguments by name, then when, then a correlation id)
PENDING = (
    (
        "analyze_run",
        ("run_id",),
        "SELECT id, received_at, correlation_id FROM test_run WHERE analyzed_at IS NULL",
    ),
    (
        "notify_slack",
        ("event_id",),
        "SELECT id, created_at, NULL FROM domain_event WHERE slack_done_at IS NULL",
    ),
    (
        "refresh_slack_quarantine",
        ("quarantine_id",),
        "SELECT id, updated_at, NULL FROM quarantine WHERE slack_synced_version < version",
    ),
    (
        "mirror_quarantine",
        ("quarantine_id",),
        "SELECT id, updated_at, NULL FROM quarantine WHERE github_synced_version < version",
    ),
    (
        "update_check_run",
        ("repository_id", "sha"),
        "SELECT repository_id, head_sha, updated_at, NULL FROM check_run"
        " WHERE synced_version < version",
    ),
    (
        "ingest_workflow_run",
        ("repository_id", "workflow_run_id", "run_attempt"),
        "SELECT repository_id, workflow_run_id, run_attempt, min(created_at), NULL"
        " FROM ingested_artifact WHERE status = 'pending'"
        " GROUP BY repository_id, workflow_run_id, run_attempt",
    ),
)


def up(migrator, db):
    effect = _model(db)
    db.create_tables([effect])
    for kind, names, sql in PENDING:
        rows = []
        for row in db.execute_sql(sql).fetchall():
            arguments = dict(zip(names, row[: len(names)], strict=True))
            when, correlation = row[len(names)], row[len(names) + 1]
            rows.append(
                {
                    "kind": kind,
                    "key": _key(kind, arguments),
                    "payload": arguments,
                    "correlation_id": correlation,
                    "created_at": when,
                    "armed_at": when,
                }
            )
        for start in range(0, len(rows), 500):
            effect.insert_many(rows[start : start + 500]).on_conflict_ignore().execute()


def down(migrator, db):
    db.drop_tables([_model(db)])
