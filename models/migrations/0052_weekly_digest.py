"""``weekly_digest``: which channel got which weekly digest, which week.

One row per digest message: a repository's quarantine plan in a subscribed channel, or
a routed owner's plan (the tests it owns in the tenant's repositories) in its channel.
Unique per week, channel, tenant and subject, so a week planned twice posts once. The
digests posted before this migration have no row: they are of past weeks. ``down``
drops the table.
"""

from peewee import AutoField, CharField, DateField, DateTimeField, ForeignKeyField, Model


def _models(db):
    class Base(Model):
        class Meta:
            database = db

    def referenced(table):
        """A frozen stub of a table the new one refers to: its id is all it needs."""
        meta = type("Meta", (), {"table_name": table})
        return type(table, (Base,), {"id": AutoField(), "Meta": meta})

    Tenant, Repository, SlackMessage = map(referenced, ("tenant", "repository", "slack_message"))

    class WeeklyDigest(Base):
        id = AutoField()
        tenant = ForeignKeyField(Tenant, on_delete="CASCADE")
        week = DateField()
        team_id = CharField(max_length=32)
        channel = CharField(max_length=32)
        subject = CharField(max_length=160)
        repository = ForeignKeyField(Repository, null=True, on_delete="CASCADE")
        owner = CharField(max_length=140, default="")
        message = ForeignKeyField(SlackMessage, unique=True, on_delete="CASCADE")
        created_at = DateTimeField()

        class Meta:
            table_name = "weekly_digest"
            indexes = ((("week", "team_id", "channel", "tenant", "subject"), True),)

    return WeeklyDigest


def up(migrator, db):
    db.create_tables([_models(db)])


def down(migrator, db):
    db.drop_tables([_models(db)])
