"""GitHub ownership and workspace links: the installation's account id, link states.

``installation.account_id`` is GitHub's id of the account the App is installed
on (it survives renames): a reinstall by the same account finds its tenant
again. Existing rows keep NULL until their next ``installation`` event fills it.

``workspace_link_state`` holds the single-use, expiring states of
``/flakeguard connect`` (their SHA-256 only).

``down`` drops both.
"""

from peewee import AutoField, BigIntegerField, CharField, DateTimeField

from models.migrations import frozen


def up(migrator, db):
    frozen.create(db, "WorkspaceLinkState", "workspace_link_state", {
        "id": AutoField(),
        "state_hash": CharField(max_length=64, unique=True),
        "team_id": CharField(max_length=32),
        "enterprise_id": CharField(max_length=32, default=""),
        "user_id": CharField(max_length=32),
        "account": CharField(max_length=100, default=""),
        "expires_at": DateTimeField(),
        "used_at": DateTimeField(null=True),
        "created_at": DateTimeField(),
    })
    migrator.migrate(
        migrator.add_column("installation", "account_id", BigIntegerField(null=True)),
        migrator.add_index("installation", ("account_id",), unique=False),
    )


def down(migrator, db):
    migrator.migrate(
        migrator.drop_index("installation", "installation_account_id"),
        migrator.drop_column("installation", "account_id"),
        migrator.drop_table("workspace_link_state"),
    )
