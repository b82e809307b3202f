"""Ownership and the quarantine lifecycle.

New tables: ``repo_file`` (a repository's CODEOWNERS and ``.flakeguard.yml`` as of its
default branch), ``owner_route`` (``/flakeguard route``: an owner's alerts go to one
channel) and ``team_member`` (members of the GitHub teams CODEOWNERS names).

``quarantine`` gets ``expires_at``, ``reminded_at`` and ``escalated_at``, and
``issue_requested_at`` (someone asked for its GitHub issue before any approval).
``slack_message`` gets ``thread_ts``: a message posted in the thread of an alert. A test
quarantined before this migration gets the default lifetime (30 days) from the day of
the upgrade, not from its approval: an upgrade should not lift a year of quarantines at
once, and every owner gets the reminder first.

``down`` drops the tables and the columns.
"""

from datetime import UTC, datetime, timedelta

from peewee import AutoField, CharField, DateTimeField, ForeignKeyField, TextField

from models.migrations import frozen

DEFAULT_EXPIRY_DAYS = 30  # frozen here: the default of engine.repo_config at this migration


def _models(db):
    tenant = frozen.model(db, "Tenant", "tenant")
    repository = frozen.model(db, "Repository", "repository")
    repo_file = frozen.model(db, "RepoFile", "repo_file", {
        "id": AutoField(),
        "repository": ForeignKeyField(repository, on_delete="CASCADE"),
        "kind": CharField(max_length=16),
        "path": CharField(max_length=100, default=""),
        "content": TextField(null=True),
        "digest": CharField(max_length=64, default=""),
        "source": CharField(max_length=16, default="github"),
        "commit_sha": CharField(max_length=40, default=""),
        "fetched_at": DateTimeField(),
    }, indexes=((("repository", "kind"), True),))
    owner_route = frozen.model(db, "OwnerRoute", "owner_route", {
        "id": AutoField(),
        "tenant": ForeignKeyField(tenant, on_delete="CASCADE"),
        "owner": CharField(max_length=140),
        "team_id": CharField(max_length=32),
        "channel_id": CharField(max_length=32),
        "created_by": CharField(max_length=100, default=""),
        "created_at": DateTimeField(),
    }, indexes=((("tenant", "owner"), True),))
    team_member = frozen.model(db, "TeamMember", "team_member", {
        "id": AutoField(),
        "tenant": ForeignKeyField(tenant, on_delete="CASCADE"),
        "team": CharField(max_length=140),
        "login": CharField(max_length=100),
        "updated_at": DateTimeField(),
    }, indexes=((("tenant", "team", "login"), True),))
    return [repo_file, owner_route, team_member]


COLUMNS = ("expires_at", "reminded_at", "escalated_at", "issue_requested_at")


def up(migrator, db):
    db.create_tables(_models(db))
    migrator.migrate(
        *(migrator.add_column("quarantine", name, DateTimeField(null=True)) for name in COLUMNS),
        migrator.add_column("slack_message", "thread_ts", CharField(max_length=32, null=True)),
    )
    expires = datetime.now(UTC).replace(tzinfo=None) + timedelta(days=DEFAULT_EXPIRY_DAYS)
    db.execute_sql(
        f"UPDATE quarantine SET expires_at = {db.param} WHERE state = 'quarantined'", (expires,)
    )


def down(migrator, db):
    migrator.migrate(
        *(migrator.drop_column("quarantine", name) for name in COLUMNS),
        migrator.drop_column("slack_message", "thread_ts"),
    )
    db.drop_tables(list(reversed(_models(db))))
