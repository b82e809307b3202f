"""Slack tokens at rest: encrypt the plain-text tokens of OAuth installations.

``slack_installation.bot_token`` and the tokens inside ``data`` (slack_sdk's
Installation: bot, user and refresh tokens, the incoming webhook URL) are
encrypted with the first key of ``FLAKEGUARD_SECRET_KEY`` (models.crypto,
configured at start before migrations run). Values already encrypted are left
as they are, so running it on a half-encrypted table is safe. When there are
tokens to encrypt and no key, the migration stops naming the variable.

``down`` decrypts them back to plain text (it needs the key too).
"""

from peewee import AutoField, JSONField, TextField

from models import crypto
from models.migrations import frozen


def _table(db):
    # The columns as stored (plain peewee fields: no encryption on the way in or out).
    return frozen.model(db, "SlackInstallation", "slack_installation", {
        "id": AutoField(),
        "bot_token": TextField(null=True),
        "data": JSONField(default=dict),
    })


def _rewrite(db, change_token, change_data):
    table = _table(db)
    for row in table.select(table.id, table.bot_token, table.data):
        token = change_token(row.bot_token) if row.bot_token else row.bot_token
        data = change_data(row.data) if isinstance(row.data, dict) else row.data
        table.update(bot_token=token, data=data).where(table.id == row.id).execute()


def _empty(db):
    return not _table(db).select().exists()


def up(migrator, db):
    if _empty(db):
        return

    def encrypt(token):
        return token if crypto.looks_encrypted(token) else crypto.encrypt(token)

    _rewrite(db, encrypt, crypto.seal)


def down(migrator, db):
    if _empty(db):
        return

    def decrypt(token):
        return crypto.decrypt(token) if crypto.looks_encrypted(token) else token

    _rewrite(db, decrypt, crypto.unseal)
