"""Slack tokens at rest: encrypted in the columns, readable with the key, rotatable, migrated."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet
from peewee import Database
from slack_sdk.oauth.installation_store import Installation as SlackSdkInstallation

from bot.installation_store import PeeweeInstallationStore
from flakeguard.errors import ConfigError
from flakeguard.settings import Settings
from flakeguard.usecases.secrets_at_rest import rotate_stored_secrets
from models import SlackWorkspace, crypto, db
from models.migrate import apply_migrations
from tests.conftest import TEST_SECRET_KEY
from tests.models.conftest import migrated_to

BOT, USER, REFRESH = "xoxb-plain-bot-token", "xoxp-plain-user-token", "xoxe-plain-refresh"
HOOK = "https://hooks.slack.com/services/T/B/secret"
BEFORE = "0036c_installation_account_link_state"


@pytest.fixture
def key_ring() -> Iterator[None]:
    """Whatever a test configures, the next test gets the test key back."""
    yield
    crypto.configure([TEST_SECRET_KEY])


def save_installation() -> None:
    PeeweeInstallationStore().save(
        SlackSdkInstallation(
            app_id="A1",
            enterprise_id=None,
            team_id="T0SECRET",
            team_name="Secret Team",
            user_id="U1",
            bot_token=BOT,
            bot_id="B1",
            bot_user_id="UB1",
            bot_refresh_token=REFRESH,
            user_token=USER,
            incoming_webhook_url=HOOK,
        )
    )


def raw_rows() -> list[tuple[str, str]]:
    rows = db.execute_sql("SELECT bot_token, data FROM slack_installation").fetchall()
    return [(token, data if isinstance(data, str) else json.dumps(data)) for token, data in rows]


def test_tokens_are_not_plain_text_in_the_database(database):
    """Attack: someone reads the table (a backup, a replica): no token is in it."""
    save_installation()
    rows = raw_rows()
    assert len(rows) == 2  # the workspace's row and the installer's
    for token, data in rows:
        assert token.startswith(crypto.FERNET_PREFIX)
        for secret in (BOT, USER, REFRESH, HOOK):
            assert secret not in token and secret not in data
        assert Fernet(TEST_SECRET_KEY.encode()).decrypt(token.encode()).decode() == BOT
    found = PeeweeInstallationStore().find_installation(enterprise_id=None, team_id="T0SECRET")
    assert (found.bot_token, found.user_token, found.bot_refresh_token) == (BOT, USER, REFRESH)
    assert found.incoming_webhook_url == HOOK


def test_an_install_records_the_workspace_unlinked(database):
    """An OAuth install creates the workspace's row, with its name and no tenant."""
    save_installation()
    row = SlackWorkspace.get(SlackWorkspace.team_id == "T0SECRET")
    assert (row.name, row.tenant_id, row.linked_by) == ("Secret Team", None, "")


def test_rotation_re_encrypts_with_the_first_key(database, key_ring):
    """New key first, old key second: rotate; afterwards the new key alone reads every token."""
    save_installation()
    new = Fernet.generate_key().decode()
    crypto.configure([new, TEST_SECRET_KEY])
    assert rotate_stored_secrets() == 2
    for token, _ in raw_rows():
        assert Fernet(new.encode()).decrypt(token.encode()).decode() == BOT
    crypto.configure([new])
    bot = PeeweeInstallationStore().find_bot(enterprise_id=None, team_id="T0SECRET")
    assert bot is not None and bot.bot_token == BOT


def test_a_wrong_key_does_not_decrypt(database, key_ring):
    """With only an unrelated key, reading a token fails with an error naming the variable."""
    save_installation()
    crypto.configure([Fernet.generate_key().decode()])
    with pytest.raises(crypto.SecretKeyError, match="FLAKEGUARD_SECRET_KEY"):
        PeeweeInstallationStore().find_bot(enterprise_id=None, team_id="T0SECRET")


def test_settings_validate_the_key_once_at_start():
    """OAuth without a key, or a malformed key: one ConfigError naming the variable."""
    oauth = {"SLACK_SIGNING_SECRET": "s", "SLACK_CLIENT_ID": "1.2", "SLACK_CLIENT_SECRET": "c"}
    with pytest.raises(ConfigError, match=r"^FLAKEGUARD_SECRET_KEY: required with Slack OAuth"):
        Settings.from_env(oauth)
    with pytest.raises(ConfigError, match=r"^FLAKEGUARD_SECRET_KEY: key 2 of 2") as bad:
        Settings.from_env({"FLAKEGUARD_SECRET_KEY": f"{TEST_SECRET_KEY},hunter2"})
    assert "hunter2" not in bad.value.message
    keys = Settings.from_env({**oauth, "FLAKEGUARD_SECRET_KEY": TEST_SECRET_KEY}).secret_keys
    assert keys == (TEST_SECRET_KEY,)
    assert TEST_SECRET_KEY not in repr(Settings(secret_keys=keys))


def test_migration_encrypts_plain_tokens_and_down_decrypts(scratch: Database) -> None:
    """0036d: a plain-text bot token and data tokens become ciphertext; down restores them."""
    postgres = "Postgres" in type(scratch).__name__
    data = json.dumps({"bot_token": BOT, "user_token": USER, "team_id": "T0OLD"})
    cast = "::json" if postgres else ""
    with scratch.connection_context():
        runner = migrated_to(scratch, BEFORE)
        scratch.execute_sql(
            "INSERT INTO slack_installation (enterprise_id, team_id, user_id, bot_token, data, "
            f"installed_at) VALUES ('', 'T0OLD', '', '{BOT}', '{data}'{cast}, CURRENT_TIMESTAMP)"
        )
        apply_migrations(scratch)
        token, stored = scratch.execute_sql(
            "SELECT bot_token, data FROM slack_installation"
        ).fetchone()
        stored = stored if isinstance(stored, dict) else json.loads(stored)
        assert token.startswith(crypto.FERNET_PREFIX) and crypto.decrypt(token) == BOT
        assert crypto.decrypt(stored["user_token"]) == USER and stored["team_id"] == "T0OLD"
        runner.down("0036d_encrypt_slack_tokens")
        token, stored = scratch.execute_sql(
            "SELECT bot_token, data FROM slack_installation"
        ).fetchone()
        stored = stored if isinstance(stored, dict) else json.loads(stored)
        assert (token, stored["bot_token"], stored["user_token"]) == (BOT, BOT, USER)
