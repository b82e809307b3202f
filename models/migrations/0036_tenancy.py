"""Tenancy: every repository and GitHub installation belongs to a tenant; Slack workspaces are linked.

Existing data keeps working: one tenant, ``default``, is created and owns every
existing repository and installation, and every Slack workspace that already
has FlakeGuard data (an OAuth install, a subscription, a policy, a user link or
a posted message) is linked to it with ``linked_by = "migration"``. Operators of
a multi-workspace install should review the links after upgrading
(``flakeguard tenant list``) and unlink a workspace that is not theirs.

``repository.full_name`` is no longer unique on its own: it is unique per
tenant, and GitHub's repository id is indexed (events find repositories by it).

SQLite cannot add a NOT NULL column with a foreign key to an existing table
without rebuilding it, and rebuilding ``repository`` would rewrite the foreign
keys of every table that references it; there the two ``tenant_id`` columns
stay nullable in the schema and the application never writes NULL. PostgreSQL
gets NOT NULL.

``down`` drops the tenancy tables and columns (on SQLite the two columns stay,
emptied, and so does the empty tenant table they reference) and restores the
unique ``full_name`` index (it fails if two tenants hold the same name).
"""

from datetime import UTC, datetime

from peewee import AutoField, CharField, DateTimeField, ForeignKeyField, PostgresqlDatabase

from models.migrations import frozen

TEAM_SOURCES = (
    "slack_installation",
    "channel_subscription",
    "workspace_policy",
    "user_link",
    "slack_message",
)


def _postgres(db):
    return isinstance(getattr(db, "obj", db), PostgresqlDatabase)


def up(migrator, db):
    Tenant = frozen.create(db, "Tenant", "tenant", {
        "id": AutoField(),
        "slug": CharField(max_length=64, unique=True),
        "name": CharField(max_length=200, default=""),
        "created_at": DateTimeField(),
    })
    SlackWorkspace = frozen.create(db, "SlackWorkspace", "slack_workspace", {
        "id": AutoField(),
        "team_id": CharField(max_length=32, unique=True),
        "enterprise_id": CharField(max_length=32, default=""),
        "name": CharField(max_length=200, default=""),
        "tenant": ForeignKeyField(Tenant, null=True, on_delete="SET NULL"),
        "linked_by": CharField(max_length=200, default=""),
        "linked_at": DateTimeField(null=True),
        "created_at": DateTimeField(),
    })
    now = datetime.now(UTC).replace(tzinfo=None)
    default = Tenant.create(slug="default", name="Default", created_at=now)

    for table in ("installation", "repository"):
        # A SQLite database migrated down keeps the (emptied) column: see down().
        if "tenant_id" not in {c.name for c in db.get_columns(table)}:
            column = ForeignKeyField(Tenant, null=True, field=Tenant.id, column_name="tenant_id")
            migrator.migrate(migrator.add_column(table, "tenant_id", column))
    db.execute_sql("UPDATE installation SET tenant_id = %d" % default.id)
    db.execute_sql("UPDATE repository SET tenant_id = %d" % default.id)
    if _postgres(db):
        migrator.migrate(
            migrator.add_not_null("installation", "tenant_id"),
            migrator.add_not_null("repository", "tenant_id"),
        )
    migrator.migrate(
        migrator.drop_index("repository", "repository_full_name"),
        migrator.add_index("repository", ("tenant_id", "full_name"), unique=True),
        migrator.add_index("repository", ("github_id",), unique=False),
    )

    teams = set()
    for table in TEAM_SOURCES:
        for (team_id,) in db.execute_sql(f"SELECT DISTINCT team_id FROM {table}").fetchall():
            if team_id:
                teams.add(team_id)
    enterprises = {}
    for team_id, enterprise_id in db.execute_sql(
        "SELECT team_id, enterprise_id FROM slack_installation"
    ).fetchall():
        if team_id and enterprise_id:
            enterprises[team_id] = enterprise_id
    for team_id in sorted(teams):
        SlackWorkspace.create(
            team_id=team_id,
            enterprise_id=enterprises.get(team_id, ""),
            tenant=default.id,
            linked_by="migration",
            linked_at=now,
            created_at=now,
        )


def down(migrator, db):
    migrator.migrate(
        migrator.drop_index("repository", "repository_tenant_id_full_name"),
        migrator.drop_index("repository", "repository_github_id"),
    )
    migrator.migrate(migrator.drop_table("slack_workspace"))
    if _postgres(db):
        migrator.migrate(
            migrator.drop_column("repository", "tenant_id"),
            migrator.drop_column("installation", "tenant_id"),
        )
        migrator.migrate(migrator.drop_table("tenant"))
    else:
        # SQLite cannot drop a column that is a foreign key: the columns stay, NULL
        # (nullable, so the code before this migration never notices), and so does
        # the empty tenant table they reference.
        db.execute_sql("UPDATE repository SET tenant_id = NULL")
        db.execute_sql("UPDATE installation SET tenant_id = NULL")
        db.execute_sql("DELETE FROM tenant")
    migrator.migrate(migrator.add_index("repository", ("full_name",), unique=True))
