"""Link confirmation: the state row of ``/flakeguard connect`` carries a confirmation token.

After the GitHub callback proves who administers what, nothing is linked yet:
the page asks the signed-in person to confirm, with a single-use token whose
SHA-256 is stored here, bound to this state row, the tenant and the GitHub
login, expiring after a few minutes. Existing rows get NULLs (no pending
confirmation), so links in flight simply need a new ``/flakeguard connect``.

``down`` drops the columns.
"""

from peewee import CharField, DateTimeField, IntegerField

COLUMNS = (
    "confirm_hash",
    "confirm_tenant_id",
    "confirm_account",
    "confirm_login",
    "confirm_expires_at",
    "confirmed_at",
)


def up(migrator, db):
    migrator.migrate(
        migrator.add_column(
            "workspace_link_state", "confirm_hash", CharField(max_length=64, null=True)
        ),
        migrator.add_column("workspace_link_state", "confirm_tenant_id", IntegerField(null=True)),
        migrator.add_column(
            "workspace_link_state", "confirm_account", CharField(max_length=100, default="")
        ),
        migrator.add_column(
            "workspace_link_state", "confirm_login", CharField(max_length=200, default="")
        ),
        migrator.add_column("workspace_link_state", "confirm_expires_at", DateTimeField(null=True)),
        migrator.add_column("workspace_link_state", "confirmed_at", DateTimeField(null=True)),
    )


def down(migrator, db):
    migrator.migrate(
        *(migrator.drop_column("workspace_link_state", column) for column in COLUMNS)
    )
