"""Owner names of GitHub's full length, a route's last error, spent OIDC tokens.

- ``owner_route.owner``, ``team_member.team`` and ``weekly_digest.owner`` take 141
  characters: ``@`` + an organisation (39) + ``/`` + a team slug (100). They took 140,
  so the longest team names could not be routed (PostgreSQL refused the row).
- ``owner_route.last_error``: the last permanent error Slack gave for the route's
  channel, shown by ``flakeguard route list``.
- ``actions_token_use``: the ``jti`` of each GitHub Actions OIDC token an upload was
  proven with, kept until the token expires, so a token proves one upload only.

``down`` drops the table and the column and narrows the names back (a name longer than
140 characters is cut: it could not be stored before this migration).
"""

from peewee import AutoField, CharField, DateTimeField, ForeignKeyField, Model, PostgresqlDatabase

OWNER_CHARS = 141  # frozen here: engine.codeowners.MAX_OWNER_CHARS at this migration
OLD_OWNER_CHARS = 140
NAMES = (("owner_route", "owner"), ("team_member", "team"), ("weekly_digest", "owner"))


def _postgres(db):
    return isinstance(getattr(db, "obj", db), PostgresqlDatabase)


def _models(db):
    class Base(Model):
        class Meta:
            database = db

    class Repository(Base):
        id = AutoField()

        class Meta:
            table_name = "repository"

    class ActionsTokenUse(Base):
        id = AutoField()
        jti = CharField(max_length=200, unique=True)
        repository = ForeignKeyField(Repository, on_delete="CASCADE")
        expires_at = DateTimeField(index=True)
        used_at = DateTimeField()

        class Meta:
            table_name = "actions_token_use"

    return ActionsTokenUse


def _resize(db, width):
    # SQLite does not enforce a VARCHAR's length: only PostgreSQL needs the change.
    if not _postgres(db):
        return
    for table, column in NAMES:
        db.execute_sql(
            f"ALTER TABLE {table} ALTER COLUMN {column} TYPE varchar({width})"
            f" USING left({column}, {width})"
        )


def up(migrator, db):
    _resize(db, OWNER_CHARS)
    migrator.migrate(
        migrator.add_column("owner_route", "last_error", CharField(max_length=200, null=True))
    )
    db.create_tables([_models(db)])


def down(migrator, db):
    db.drop_tables([_models(db)])
    migrator.migrate(migrator.drop_column("owner_route", "last_error"))
    _resize(db, OLD_OWNER_CHARS)
