# Generated from a schema diff on 2026-11-29 08:35.
from peewee import *


def up(migrator, db):
    class Installation(Model):
        installation_id = BigIntegerField(unique=True)
        account_login = CharField(max_length=100)
        account_type = CharField(max_length=20, default='Organization')
        suspended_at = DateTimeField(null=True)
        deleted_at = DateTimeField(null=True)
        created_at = DateTimeField()
        updated_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'installation'
    db.create_tables([Installation])

    class Repository(Model):
        full_name = CharField(unique=True, max_length=200)
        default_branch = CharField(default='main')
        installation = ForeignKeyField(Installation, null=True, on_delete='SET NULL')
        github_id = BigIntegerField(null=True)
        settings = JSONField(default=dict)
        active = BooleanField(default=True)
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'repository'
    db.create_tables([Repository])

    class ChannelSubscription(Model):
        team_id = CharField(max_length=32, default='')
        channel_id = CharField(max_length=32)
        repository = ForeignKeyField(Repository, on_delete='CASCADE')
        created_by = CharField(max_length=32, default='')
        last_error = TextField(null=True)
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'channel_subscription'
            indexes = ((('team_id', 'channel_id', 'repository'), True),)
    db.create_tables([ChannelSubscription])

    class CheckRun(Model):
        repository = ForeignKeyField(Repository, on_delete='CASCADE')
        head_sha = CharField(max_length=40)
        github_id = BigIntegerField(null=True)
        conclusion = CharField(null=True, max_length=20)
        title = TextField(default='')
        version = IntegerField(default=0)
        synced_version = IntegerField(default=0)
        last_error = TextField(null=True)
        updated_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'check_run'
            indexes = ((('repository', 'head_sha'), True),)
    db.create_tables([CheckRun])

    class TestCase(Model):
        repository = ForeignKeyField(Repository, on_delete='CASCADE')
        key = CharField(max_length=512)
        suite = CharField(max_length=512, default='')
        classname = CharField(max_length=512, default='')
        name = CharField(max_length=512)
        file = CharField(null=True, max_length=512)
        line = IntegerField(null=True)
        first_seen = DateTimeField()
        last_seen = DateTimeField()
        class Meta:
            database = db
            table_name = 'test_case'
            indexes = ((('repository', 'key'), True),)
    db.create_tables([TestCase])

    class DomainEvent(Model):
        id = BigAutoField()
        repository = ForeignKeyField(Repository, on_delete='CASCADE')
        test_case = ForeignKeyField(TestCase, null=True, on_delete='CASCADE')
        kind = CharField(max_length=32)
        data = JSONField(default=dict)
        created_at = DateTimeField()
        slack_done_at = DateTimeField(null=True)
        github_done_at = DateTimeField(null=True)
        class Meta:
            database = db
            table_name = 'domain_event'
            indexes = ((('slack_done_at',), False), (('github_done_at',), False))
    db.create_tables([DomainEvent])

    class FlakeScore(Model):
        test_case = ForeignKeyField(TestCase, unique=True, on_delete='CASCADE')
        repository = ForeignKeyField(Repository, on_delete='CASCADE')
        state = CharField(max_length=16, default='insufficient')
        score = FloatField(default=0.0)
        low = FloatField(default=0.0)
        high = FloatField(default=1.0)
        quarantine_recommended = BooleanField(default=False)
        reason = TextField(default='')
        evidence = JSONField(default=dict)
        engine_state = JSONField(default=dict)
        runs_seen = IntegerField(default=0)
        state_since = DateTimeField()
        updated_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'flake_score'
            indexes = ((('repository', 'state'), False),)
    db.create_tables([FlakeScore])

    class TestRun(Model):
        repository = ForeignKeyField(Repository, on_delete='CASCADE')
        sha = CharField(max_length=40)
        branch = CharField(default='')
        pr = IntegerField(null=True)
        ci_run_id = CharField(max_length=100, default='')
        job = CharField(default='')
        attempt = IntegerField(default=1)
        source = CharField(max_length=20, default='upload')
        content_digest = CharField(max_length=64)
        report_format = CharField(null=True, max_length=40)
        tests = IntegerField(default=0)
        passed = IntegerField(default=0)
        failures = IntegerField(default=0)
        errors = IntegerField(default=0)
        skipped = IntegerField(default=0)
        duration = FloatField(default=0.0)
        started_at = DateTimeField(null=True)
        received_at = DateTimeField()
        analyzed_at = DateTimeField(null=True)
        tainted = BooleanField(default=False)
        correlation_id = CharField(null=True, max_length=64)
        class Meta:
            database = db
            table_name = 'test_run'
            indexes = ((('repository', 'ci_run_id', 'job', 'attempt', 'content_digest'), True), (('repository', 'received_at'), False), (('repository', 'sha'), False), (('analyzed_at',), False))
    db.create_tables([TestRun])

    class InfraEvent(Model):
        run = ForeignKeyField(TestRun, unique=True, on_delete='CASCADE')
        failed = IntegerField()
        total = IntegerField()
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'infra_event'
    db.create_tables([InfraEvent])

    class IngestedArtifact(Model):
        repository = ForeignKeyField(Repository, on_delete='CASCADE')
        workflow_run_id = BigIntegerField()
        run_attempt = IntegerField(default=1)
        artifact_id = BigIntegerField()
        name = CharField()
        status = CharField(max_length=16, default='pending')
        detail = TextField(null=True)
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'ingested_artifact'
            indexes = ((('workflow_run_id', 'run_attempt', 'artifact_id'), True),)
    db.create_tables([IngestedArtifact])

    class IngestToken(Model):
        repository = ForeignKeyField(Repository, on_delete='CASCADE')
        token_hash = CharField(unique=True, max_length=64)
        prefix = CharField(max_length=16)
        label = CharField(max_length=100, default='')
        created_at = DateTimeField()
        last_used_at = DateTimeField(null=True)
        revoked_at = DateTimeField(null=True)
        class Meta:
            database = db
            table_name = 'ingest_token'
    db.create_tables([IngestToken])

    class Quarantine(Model):
        test_case = ForeignKeyField(TestCase, unique=True, on_delete='CASCADE')
        repository = ForeignKeyField(Repository, on_delete='CASCADE')
        state = CharField(max_length=16, default='proposed')
        reason = TextField(default='')
        proposed_at = DateTimeField()
        quarantined_at = DateTimeField(null=True)
        quarantined_by = CharField(null=True, max_length=100)
        assignee_slack = CharField(null=True, max_length=32)
        assignee_github = CharField(null=True, max_length=100)
        rate_at_quarantine = FloatField(null=True)
        dismissed_conflicts = IntegerField(default=0)
        github_issue_number = IntegerField(null=True)
        version = IntegerField(default=0)
        github_synced_version = IntegerField(default=0)
        github_error = TextField(null=True)
        slack_synced_version = IntegerField(default=0)
        updated_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'quarantine'
            indexes = ((('repository', 'state'), False),)
    db.create_tables([Quarantine])

    class QuarantineEvent(Model):
        id = BigAutoField()
        quarantine = ForeignKeyField(Quarantine, on_delete='CASCADE')
        action = CharField(max_length=16)
        actor = CharField(max_length=100)
        source = CharField(max_length=16)
        data = JSONField(default=dict)
        idempotency_key = CharField(unique=True, null=True, max_length=200)
        at = DateTimeField()
        class Meta:
            database = db
            table_name = 'quarantine_event'
    db.create_tables([QuarantineEvent])

    class SlackEventReceipt(Model):
        event_id = CharField(unique=True, max_length=64)
        received_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'slack_event_receipt'
    db.create_tables([SlackEventReceipt])

    class SlackInstallation(Model):
        enterprise_id = CharField(max_length=32, default='')
        team_id = CharField(max_length=32, default='')
        user_id = CharField(max_length=32, default='')
        bot_token = TextField(null=True)
        bot_user_id = CharField(null=True, max_length=32)
        data = JSONField(default=dict)
        installed_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'slack_installation'
            indexes = ((('enterprise_id', 'team_id', 'user_id'), True),)
    db.create_tables([SlackInstallation])

    class SlackMessage(Model):
        team_id = CharField(max_length=32, default='')
        channel = CharField(max_length=32)
        ts = CharField(null=True, max_length=32)
        kind = CharField(max_length=16)
        quarantine = ForeignKeyField(Quarantine, null=True, on_delete='CASCADE')
        repository = ForeignKeyField(Repository, null=True, on_delete='CASCADE')
        rendered_version = IntegerField(default=-1)
        last_error = TextField(null=True)
        created_at = DateTimeField()
        updated_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'slack_message'
            indexes = ((('channel', 'ts'), False),)
    db.create_tables([SlackMessage])

    class SlackOAuthState(Model):
        state = CharField(unique=True, max_length=64)
        expires_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'slack_o_auth_state'
    db.create_tables([SlackOAuthState])

    class TestResult(Model):
        id = BigAutoField()
        run = ForeignKeyField(TestRun, on_delete='CASCADE')
        test_case = ForeignKeyField(TestCase, on_delete='CASCADE', index=False)
        status = CharField(max_length=8)
        duration = FloatField(default=0.0)
        retry = SmallIntegerField(default=0)
        message = TextField(null=True)
        failure_type = CharField(null=True)
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'test_result'
            indexes = ((('test_case', 'created_at'), False), (('created_at',), False))
    db.create_tables([TestResult])

    class UserLink(Model):
        team_id = CharField(max_length=32, default='')
        slack_user_id = CharField(max_length=32)
        github_login = CharField(max_length=100)
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'user_link'
            indexes = ((('team_id', 'slack_user_id'), True),)
    db.create_tables([UserLink])

    class WebhookDelivery(Model):
        delivery_id = CharField(unique=True, max_length=64)
        event = CharField(max_length=64)
        action = CharField(null=True, max_length=64)
        received_at = DateTimeField()
        processed_at = DateTimeField(null=True)
        class Meta:
            database = db
            table_name = 'webhook_delivery'
    db.create_tables([WebhookDelivery])

    class WorkspacePolicy(Model):
        team_id = CharField(unique=True, max_length=32)
        mode = CharField(max_length=16, default='everyone')
        usergroup_id = CharField(null=True, max_length=32)
        users = JSONField(default=list)
        updated_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'workspace_policy'
    db.create_tables([WorkspacePolicy])


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
