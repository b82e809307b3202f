# Generated from a schema diff on 2026-11-29 08:35.
from peewee import *

from models.migrations import frozen


def up(migrator, db):
    installation = frozen.create(db, "Installation", "installation", {
        "installation_id": BigIntegerField(unique=True),
        "account_login": CharField(max_length=100),
        "account_type": CharField(max_length=20, default='Organization'),
        "suspended_at": DateTimeField(null=True),
        "deleted_at": DateTimeField(null=True),
        "created_at": DateTimeField(),
        "updated_at": DateTimeField(),
    })

    repository = frozen.create(db, "Repository", "repository", {
        "full_name": CharField(unique=True, max_length=200),
        "default_branch": CharField(default='main'),
        "installation": ForeignKeyField(installation, null=True, on_delete='SET NULL'),
        "github_id": BigIntegerField(null=True),
        "settings": JSONField(default=dict),
        "active": BooleanField(default=True),
        "created_at": DateTimeField(),
    })

    frozen.create(db, "ChannelSubscription", "channel_subscription", {
        "team_id": CharField(max_length=32, default=''),
        "channel_id": CharField(max_length=32),
        "repository": ForeignKeyField(repository, on_delete='CASCADE'),
        "created_by": CharField(max_length=32, default=''),
        "last_error": TextField(null=True),
        "created_at": DateTimeField(),
    }, indexes=((('team_id', 'channel_id', 'repository'), True),))

    frozen.create(db, "CheckRun", "check_run", {
        "repository": ForeignKeyField(repository, on_delete='CASCADE'),
        "head_sha": CharField(max_length=40),
        "github_id": BigIntegerField(null=True),
        "conclusion": CharField(null=True, max_length=20),
        "title": TextField(default=''),
        "version": IntegerField(default=0),
        "synced_version": IntegerField(default=0),
        "last_error": TextField(null=True),
        "updated_at": DateTimeField(),
    }, indexes=((('repository', 'head_sha'), True),))

    test_case = frozen.create(db, "TestCase", "test_case", {
        "repository": ForeignKeyField(repository, on_delete='CASCADE'),
        "key": CharField(max_length=512),
        "suite": CharField(max_length=512, default=''),
        "classname": CharField(max_length=512, default=''),
        "name": CharField(max_length=512),
        "file": CharField(null=True, max_length=512),
        "line": IntegerField(null=True),
        "first_seen": DateTimeField(),
        "last_seen": DateTimeField(),
    }, indexes=((('repository', 'key'), True),))

    frozen.create(db, "DomainEvent", "domain_event", {
        "id": BigAutoField(),
        "repository": ForeignKeyField(repository, on_delete='CASCADE'),
        "test_case": ForeignKeyField(test_case, null=True, on_delete='CASCADE'),
        "kind": CharField(max_length=32),
        "data": JSONField(default=dict),
        "created_at": DateTimeField(),
        "slack_done_at": DateTimeField(null=True),
        "github_done_at": DateTimeField(null=True),
    }, indexes=((('slack_done_at',), False), (('github_done_at',), False)))

    frozen.create(db, "FlakeScore", "flake_score", {
        "test_case": ForeignKeyField(test_case, unique=True, on_delete='CASCADE'),
        "repository": ForeignKeyField(repository, on_delete='CASCADE'),
        "state": CharField(max_length=16, default='insufficient'),
        "score": FloatField(default=0.0),
        "low": FloatField(default=0.0),
        "high": FloatField(default=1.0),
        "quarantine_recommended": BooleanField(default=False),
        "reason": TextField(default=''),
        "evidence": JSONField(default=dict),
        "engine_state": JSONField(default=dict),
        "runs_seen": IntegerField(default=0),
        "state_since": DateTimeField(),
        "updated_at": DateTimeField(),
    }, indexes=((('repository', 'state'), False),))

    test_run = frozen.create(db, "TestRun", "test_run", {
        "repository": ForeignKeyField(repository, on_delete='CASCADE'),
        "sha": CharField(max_length=40),
        "branch": CharField(default=''),
        "pr": IntegerField(null=True),
        "ci_run_id": CharField(max_length=100, default=''),
        "job": CharField(default=''),
        "attempt": IntegerField(default=1),
        "source": CharField(max_length=20, default='upload'),
        "content_digest": CharField(max_length=64),
        "report_format": CharField(null=True, max_length=40),
        "tests": IntegerField(default=0),
        "passed": IntegerField(default=0),
        "failures": IntegerField(default=0),
        "errors": IntegerField(default=0),
        "skipped": IntegerField(default=0),
        "duration": FloatField(default=0.0),
        "started_at": DateTimeField(null=True),
        "received_at": DateTimeField(),
        "analyzed_at": DateTimeField(null=True),
        "tainted": BooleanField(default=False),
        "correlation_id": CharField(null=True, max_length=64),
    }, indexes=((('repository', 'ci_run_id', 'job', 'attempt', 'content_digest'), True), (('repository', 'received_at'), False), (('repository', 'sha'), False), (('analyzed_at',), False)))

    frozen.create(db, "InfraEvent", "infra_event", {
        "run": ForeignKeyField(test_run, unique=True, on_delete='CASCADE'),
        "failed": IntegerField(),
        "total": IntegerField(),
        "created_at": DateTimeField(),
    })

    frozen.create(db, "IngestedArtifact", "ingested_artifact", {
        "repository": ForeignKeyField(repository, on_delete='CASCADE'),
        "workflow_run_id": BigIntegerField(),
        "run_attempt": IntegerField(default=1),
        "artifact_id": BigIntegerField(),
        "name": CharField(),
        "status": CharField(max_length=16, default='pending'),
        "detail": TextField(null=True),
        "created_at": DateTimeField(),
    }, indexes=((('workflow_run_id', 'run_attempt', 'artifact_id'), True),))

    frozen.create(db, "IngestToken", "ingest_token", {
        "repository": ForeignKeyField(repository, on_delete='CASCADE'),
        "token_hash": CharField(unique=True, max_length=64),
        "prefix": CharField(max_length=16),
        "label": CharField(max_length=100, default=''),
        "created_at": DateTimeField(),
        "last_used_at": DateTimeField(null=True),
        "revoked_at": DateTimeField(null=True),
    })

    quarantine = frozen.create(db, "Quarantine", "quarantine", {
        "test_case": ForeignKeyField(test_case, unique=True, on_delete='CASCADE'),
        "repository": ForeignKeyField(repository, on_delete='CASCADE'),
        "state": CharField(max_length=16, default='proposed'),
        "reason": TextField(default=''),
        "proposed_at": DateTimeField(),
        "quarantined_at": DateTimeField(null=True),
        "quarantined_by": CharField(null=True, max_length=100),
        "assignee_slack": CharField(null=True, max_length=32),
        "assignee_github": CharField(null=True, max_length=100),
        "rate_at_quarantine": FloatField(null=True),
        "dismissed_conflicts": IntegerField(default=0),
        "github_issue_number": IntegerField(null=True),
        "version": IntegerField(default=0),
        "github_synced_version": IntegerField(default=0),
        "github_error": TextField(null=True),
        "slack_synced_version": IntegerField(default=0),
        "updated_at": DateTimeField(),
    }, indexes=((('repository', 'state'), False),))

    frozen.create(db, "QuarantineEvent", "quarantine_event", {
        "id": BigAutoField(),
        "quarantine": ForeignKeyField(quarantine, on_delete='CASCADE'),
        "action": CharField(max_length=16),
        "actor": CharField(max_length=100),
        "source": CharField(max_length=16),
        "data": JSONField(default=dict),
        "idempotency_key": CharField(unique=True, null=True, max_length=200),
        "at": DateTimeField(),
    })

    frozen.create(db, "SlackEventReceipt", "slack_event_receipt", {
        "event_id": CharField(unique=True, max_length=64),
        "received_at": DateTimeField(),
    })

    frozen.create(db, "SlackInstallation", "slack_installation", {
        "enterprise_id": CharField(max_length=32, default=''),
        "team_id": CharField(max_length=32, default=''),
        "user_id": CharField(max_length=32, default=''),
        "bot_token": TextField(null=True),
        "bot_user_id": CharField(null=True, max_length=32),
        "data": JSONField(default=dict),
        "installed_at": DateTimeField(),
    }, indexes=((('enterprise_id', 'team_id', 'user_id'), True),))

    frozen.create(db, "SlackMessage", "slack_message", {
        "team_id": CharField(max_length=32, default=''),
        "channel": CharField(max_length=32),
        "ts": CharField(null=True, max_length=32),
        "kind": CharField(max_length=16),
        "quarantine": ForeignKeyField(quarantine, null=True, on_delete='CASCADE'),
        "repository": ForeignKeyField(repository, null=True, on_delete='CASCADE'),
        "rendered_version": IntegerField(default=-1),
        "last_error": TextField(null=True),
        "created_at": DateTimeField(),
        "updated_at": DateTimeField(),
    }, indexes=((('channel', 'ts'), False),))

    frozen.create(db, "SlackOAuthState", "slack_o_auth_state", {
        "state": CharField(unique=True, max_length=64),
        "expires_at": DateTimeField(),
    })

    frozen.create(db, "TestResult", "test_result", {
        "id": BigAutoField(),
        "run": ForeignKeyField(test_run, on_delete='CASCADE'),
        "test_case": ForeignKeyField(test_case, on_delete='CASCADE', index=False),
        "status": CharField(max_length=8),
        "duration": FloatField(default=0.0),
        "retry": SmallIntegerField(default=0),
        "message": TextField(null=True),
        "failure_type": CharField(null=True),
        "created_at": DateTimeField(),
    }, indexes=((('test_case', 'created_at'), False), (('created_at',), False)))

    frozen.create(db, "UserLink", "user_link", {
        "team_id": CharField(max_length=32, default=''),
        "slack_user_id": CharField(max_length=32),
        "github_login": CharField(max_length=100),
        "created_at": DateTimeField(),
    }, indexes=((('team_id', 'slack_user_id'), True),))

    frozen.create(db, "WebhookDelivery", "webhook_delivery", {
        "delivery_id": CharField(unique=True, max_length=64),
        "event": CharField(max_length=64),
        "action": CharField(null=True, max_length=64),
        "received_at": DateTimeField(),
        "processed_at": DateTimeField(null=True),
    })

    frozen.create(db, "WorkspacePolicy", "workspace_policy", {
        "team_id": CharField(unique=True, max_length=32),
        "mode": CharField(max_length=16, default='everyone'),
        "usergroup_id": CharField(null=True, max_length=32),
        "users": JSONField(default=list),
        "updated_at": DateTimeField(),
    })


def down(migrator, db):
    migrator.migrate(migrator.drop_table('workspace_policy'))
    migrator.migrate(migrator.drop_table('webhook_delivery'))
    migrator.migrate(migrator.drop_table('user_link'))
    migrator.migrate(migrator.drop_table('test_result'))
    migrator.migrate(migrator.drop_table('slack_o_auth_state'))
    migrator.migrate(migrator.drop_table('slack_message'))
    migrator.migrate(migrator.drop_table('slack_installation'))
    migrator.migrate(migrator.drop_table('slack_event_receipt'))
    migrator.migrate(migrator.drop_table('quarantine_event'))
    migrator.migrate(migrator.drop_table('quarantine'))
    migrator.migrate(migrator.drop_table('ingest_token'))
    migrator.migrate(migrator.drop_table('ingested_artifact'))
    migrator.migrate(migrator.drop_table('infra_event'))
    migrator.migrate(migrator.drop_table('test_run'))
    migrator.migrate(migrator.drop_table('flake_score'))
    migrator.migrate(migrator.drop_table('domain_event'))
    migrator.migrate(migrator.drop_table('test_case'))
    migrator.migrate(migrator.drop_table('check_run'))
    migrator.migrate(migrator.drop_table('channel_subscription'))
    migrator.migrate(migrator.drop_table('repository'))
    migrator.migrate(migrator.drop_table('installation'))
