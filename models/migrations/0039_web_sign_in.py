"""The dashboard's people (``web_user``) and one-time sign-in links (``web_login_token``).

A ``web_user`` row is one person of one tenant as an identity provider names
them (local administrator, Slack user, GitHub user); ``web_login_token`` keeps
the SHA-256 of each link ``flakeguard login`` printed, its expiry and when it
was used. ``down`` drops both tables.
"""

from peewee import AutoField, CharField, DateTimeField, ForeignKeyField

from models.migrations import frozen


def _models(db):
    tenant = frozen.model(db, "Tenant", "tenant")
    web_user = frozen.model(db, "WebUser", "web_user", {
        "id": AutoField(),
        "tenant": ForeignKeyField(tenant, on_delete="CASCADE"),
        "provider": CharField(max_length=16),
        "subject": CharField(max_length=100),
        "name": CharField(max_length=200, default=""),
        "team_id": CharField(max_length=32, default=""),
        "created_at": DateTimeField(),
        "last_sign_in_at": DateTimeField(null=True),
    }, indexes=((("tenant", "provider", "subject"), True),))
    web_login_token = frozen.model(db, "WebLoginToken", "web_login_token", {
        "id": AutoField(),
        "token_hash": CharField(max_length=64, unique=True),
        "user": ForeignKeyField(web_user, on_delete="CASCADE"),
        "expires_at": DateTimeField(),
        "used_at": DateTimeField(null=True),
        "created_at": DateTimeField(),
    })
    return web_user, web_login_token


def up(migrator, db):
    db.create_tables(_models(db))


def down(migrator, db):
    db.drop_tables(list(reversed(_models(db))))
