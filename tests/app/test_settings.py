"""Settings are read once from the environment and validated with one clear error."""

from __future__ import annotations

import pytest

from flakeguard.errors import ConfigError
from flakeguard.settings import DEFAULT_DATABASE_URL, Settings


def test_defaults_need_no_environment() -> None:
    """With nothing set, FlakeGuard runs on SQLite with Slack and GitHub off."""
    settings = Settings.from_env({})
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.is_sqlite
    assert not settings.slack_enabled and not settings.github_enabled
    assert settings.queue_file() == "flakeguard-queue.db"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"DATABASE_URL": "nonsense"}, "DATABASE_URL"),
        ({"DATABASE_URL": "mysql://x/y"}, "DATABASE_URL"),
        ({"DATABASE_URL": "postgresql://host:5432/"}, "DATABASE_URL"),
        ({"DATABASE_URL": "postgresql://host:port/db"}, "DATABASE_URL"),
        ({"REDIS_URL": "localhost:6379"}, "REDIS_URL"),
        ({"PORT": "eighty"}, "PORT"),
        ({"PORT": "70000"}, "PORT"),
        ({"GITHUB_APP_ID": "abc"}, "GITHUB_APP_ID"),
        ({"GITHUB_API_URL": "ftp://example"}, "GITHUB_API_URL"),
        ({"SLACK_API_URL": "not a url"}, "SLACK_API_URL"),
        ({"GITHUB_APP_PRIVATE_KEY": "/nonexistent/key.pem"}, "GITHUB_APP_PRIVATE_KEY"),
        ({"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_SIGNING_SECRET"),
        ({"SLACK_SIGNING_SECRET": "s"}, "SLACK_BOT_TOKEN"),
        ({"SLACK_SIGNING_SECRET": "s", "SLACK_CLIENT_ID": "1"}, "SLACK_CLIENT_SECRET"),
        ({"GITHUB_APP_ID": "12"}, "GITHUB_APP_PRIVATE_KEY"),
        ({"FLAKEGUARD_QUEUE": "fast"}, "FLAKEGUARD_QUEUE"),
        ({"FLAKEGUARD_QUEUE_NAME": "a b"}, "FLAKEGUARD_QUEUE_NAME"),
        ({"FLAKEGUARD_REDIS_TIMEOUT": "soon"}, "FLAKEGUARD_REDIS_TIMEOUT"),
        ({"FLAKEGUARD_REDIS_TIMEOUT": "0"}, "FLAKEGUARD_REDIS_TIMEOUT"),
        ({"FLAKEGUARD_REDIS_TIMEOUT": "nan"}, "FLAKEGUARD_REDIS_TIMEOUT"),
        ({"FLAKEGUARD_REDIS_CONNECT_TIMEOUT": "inf"}, "FLAKEGUARD_REDIS_CONNECT_TIMEOUT"),
        ({"FLAKEGUARD_ACTIONS_OIDC_ISSUER": "token.example"}, "FLAKEGUARD_ACTIONS_OIDC_ISSUER"),
        ({"FLAKEGUARD_ACTIONS_OIDC_JWKS_URL": "file:///k"}, "FLAKEGUARD_ACTIONS_OIDC_JWKS_URL"),
    ],
)
def test_malformed_value_names_the_variable(env: dict[str, str], variable: str) -> None:
    """A wrong value raises one ConfigError whose message starts with the variable."""
    with pytest.raises(ConfigError) as info:
        Settings.from_env(env)
    assert info.value.message.startswith(variable), info.value.message


def test_private_key_from_file_and_escaped_newlines(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The GitHub key may be PEM text (with literal \\n) or a file path."""
    pem = "-----BEGIN RSA PRIVATE KEY-----\nabc\n-----END RSA PRIVATE KEY-----\n"
    key_file = tmp_path / "app.pem"
    key_file.write_text(pem)
    base = {"GITHUB_APP_ID": "7", "GITHUB_WEBHOOK_SECRET": "w"}
    from_file = Settings.from_env({**base, "GITHUB_APP_PRIVATE_KEY": str(key_file)})
    from_text = Settings.from_env({**base, "GITHUB_APP_PRIVATE_KEY": pem.replace("\n", "\\n")})
    assert from_file.github_app_private_key == pem
    assert from_text.github_app_private_key == pem
    assert from_file.github_enabled


def test_secrets_stay_out_of_repr() -> None:
    """repr(settings) never shows a secret."""
    settings = Settings.from_env(
        {"SLACK_SIGNING_SECRET": "sekrit-1", "SLACK_BOT_TOKEN": "xoxb-sekrit-2"}
    )
    assert "sekrit" not in repr(settings)


def test_queue_file_sits_next_to_sqlite_database() -> None:
    """Huey's SQLite storage lives beside the database file."""
    settings = Settings.from_env({"DATABASE_URL": "sqlite:////var/lib/fg/main.db"})
    assert settings.queue_file() == "/var/lib/fg/main-queue.db"


def test_redis_timeouts_default_to_a_second_and_are_read_from_the_environment() -> None:
    """Every Redis client waits a bounded time: 1 s by default, configurable in seconds."""
    assert (Settings().redis_connect_timeout, Settings().redis_timeout) == (1.0, 1.0)
    custom = Settings.from_env(
        {"FLAKEGUARD_REDIS_CONNECT_TIMEOUT": "0.5", "FLAKEGUARD_REDIS_TIMEOUT": "2.5"}
    )
    assert (custom.redis_connect_timeout, custom.redis_timeout) == (0.5, 2.5)


def test_actions_oidc_defaults_to_githubs_issuer_and_this_flakeguards_url() -> None:
    """GitHub.com's Actions issuer and its JWKS, for the audience FLAKEGUARD_PUBLIC_URL;
    each can be set (GitHub Enterprise Server has its own issuer)."""
    settings = Settings.from_env({"FLAKEGUARD_PUBLIC_URL": "https://fg.example/"})
    assert settings.actions_oidc_issuer == "https://token.actions.githubusercontent.com"
    assert settings.actions_oidc_keys_url == (
        "https://token.actions.githubusercontent.com/.well-known/jwks"
    )
    assert settings.actions_oidc_expected_audience == "https://fg.example"
    ghes = Settings.from_env(
        {
            "FLAKEGUARD_ACTIONS_OIDC_ISSUER": "https://ghe.example/_services/token/",
            "FLAKEGUARD_ACTIONS_OIDC_AUDIENCE": "flakeguard",
        }
    )
    assert ghes.actions_oidc_keys_url == "https://ghe.example/_services/token/.well-known/jwks"
    assert ghes.actions_oidc_expected_audience == "flakeguard"
