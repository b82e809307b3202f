"""Settings: read from the environment once, validated at start.

Nothing else in FlakeGuard reads ``os.environ``. A malformed value raises one
``ConfigError`` whose message names the variable and what is wrong; the CLI
turns it into one line on stderr and exit status 2.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from flakeguard.errors import ConfigError

DEFAULT_DATABASE_URL = "sqlite:///flakeguard.db"
DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_GITHUB_API_URL = "https://api.github.com"
DEFAULT_ACTIONS_OIDC_ISSUER = "https://token.actions.githubusercontent.com"
JWKS_VARIABLE = "FLAKEGUARD_ACTIONS_OIDC_JWKS_URL"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
# Where Slack's pages live (the OpenID Connect authorize page of "Sign in with Slack").
DEFAULT_SLACK_WEB_URL = "https://slack.com"
MIN_SESSION_SECRET = 32
DEFAULT_MAX_REPORT_BYTES = 50 * 2**20
SQLITE_SCHEMES = ("sqlite",)
POSTGRES_SCHEMES = ("postgres", "postgresql")
QUEUE_MODES = ("auto", "immediate")
LOG_FORMATS = ("json", "text")
DEFAULT_RATE_LIMIT_IP = "1200/minute"
DEFAULT_RATE_LIMIT_TOKEN = "600/minute"
DEFAULT_RATE_LIMIT_AUTH_FAILURES = "20/minute"
DEFAULT_MAX_BODY_BYTES = 2**20
# Seconds a Redis client (queue, rate limits) waits to connect and for an answer: a frozen
# Redis must cost a request a second or so, never a hung thread.
DEFAULT_REDIS_CONNECT_TIMEOUT = 1.0
DEFAULT_REDIS_TIMEOUT = 1.0


@dataclass(frozen=True)
class Settings:
    """Every setting FlakeGuard has; secrets are kept out of repr()."""

    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    slack_signing_secret: str | None = field(default=None, repr=False)
    slack_bot_token: str | None = field(default=None, repr=False)
    slack_client_id: str | None = None
    slack_client_secret: str | None = field(default=None, repr=False)
    slack_api_url: str = DEFAULT_SLACK_API_URL
    slack_web_url: str = DEFAULT_SLACK_WEB_URL
    github_app_id: int | None = None
    github_app_private_key: str | None = field(default=None, repr=False)
    github_webhook_secret: str | None = field(default=None, repr=False)
    github_api_url: str = DEFAULT_GITHUB_API_URL
    # The GitHub App's OAuth client (user-to-server): proves who administers an account.
    github_client_id: str | None = None
    github_client_secret: str | None = field(default=None, repr=False)
    port: int = 8000
    public_url: str = "http://localhost:8000"
    max_report_bytes: int = DEFAULT_MAX_REPORT_BYTES
    queue_mode: str = "auto"
    queue_path: str | None = None
    queue_name: str = "flakeguard"
    retention_days: int = 90
    log_level: str = "INFO"
    log_format: str = "json"
    prometheus_multiproc_dir: str | None = None
    rate_limit_ip: str = DEFAULT_RATE_LIMIT_IP
    rate_limit_token: str = DEFAULT_RATE_LIMIT_TOKEN
    rate_limit_auth_failures: str = DEFAULT_RATE_LIMIT_AUTH_FAILURES
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    trusted_proxies: int = 0
    metrics_token: str | None = field(default=None, repr=False)
    # Fernet keys for third-party tokens at rest; the first encrypts, all decrypt.
    secret_keys: tuple[str, ...] = field(default=(), repr=False)
    redis_connect_timeout: float = DEFAULT_REDIS_CONNECT_TIMEOUT
    redis_timeout: float = DEFAULT_REDIS_TIMEOUT
    # Signs the dashboard's session cookies; the embedded default keeps a generated one.
    session_secret: str | None = field(default=None, repr=False)
    # GitHub Actions OIDC tokens prove where repository files uploaded from CI come from.
    actions_oidc_issuer: str = DEFAULT_ACTIONS_OIDC_ISSUER
    actions_oidc_jwks_url: str | None = None  # default: the issuer's /.well-known/jwks
    actions_oidc_audience: str | None = None  # default: public_url

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build and validate settings from an environment mapping."""
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(name)
            if value is None or not value.strip():
                return None
            return value.strip()

        port = _parse_int("PORT", get("PORT"), default=8000, low=1, high=65535)
        jwks = get(JWKS_VARIABLE)
        settings = cls(
            database_url=_check_database_url(get("DATABASE_URL") or DEFAULT_DATABASE_URL),
            redis_url=_check_redis_url(get("REDIS_URL")),
            slack_signing_secret=get("SLACK_SIGNING_SECRET"),
            slack_bot_token=get("SLACK_BOT_TOKEN"),
            slack_client_id=get("SLACK_CLIENT_ID"),
            slack_client_secret=get("SLACK_CLIENT_SECRET"),
            slack_api_url=_check_http_url(
                "SLACK_API_URL", get("SLACK_API_URL") or DEFAULT_SLACK_API_URL, slash=True
            ),
            github_app_id=_parse_int("GITHUB_APP_ID", get("GITHUB_APP_ID"), default=None, low=1),
            github_app_private_key=_read_private_key(get("GITHUB_APP_PRIVATE_KEY")),
            github_webhook_secret=get("GITHUB_WEBHOOK_SECRET"),
            slack_web_url=_check_http_url(
                "SLACK_WEB_URL", get("SLACK_WEB_URL") or DEFAULT_SLACK_WEB_URL, slash=False
            ),
            github_api_url=_check_http_url(
                "GITHUB_API_URL", get("GITHUB_API_URL") or DEFAULT_GITHUB_API_URL, slash=False
            ),
            github_client_id=get("GITHUB_CLIENT_ID"),
            github_client_secret=get("GITHUB_CLIENT_SECRET"),
            port=port,
            public_url=_check_http_url(
                "FLAKEGUARD_PUBLIC_URL",
                get("FLAKEGUARD_PUBLIC_URL") or f"http://localhost:{port}",
                slash=False,
            ),
            max_report_bytes=_parse_int(
                "FLAKEGUARD_MAX_REPORT_BYTES",
                get("FLAKEGUARD_MAX_REPORT_BYTES"),
                default=DEFAULT_MAX_REPORT_BYTES,
                low=1024,
            ),
            queue_mode=_check_choice("FLAKEGUARD_QUEUE", get("FLAKEGUARD_QUEUE") or "auto"),
            queue_path=get("FLAKEGUARD_QUEUE_PATH"),
            queue_name=_check_queue_name(get("FLAKEGUARD_QUEUE_NAME") or "flakeguard"),
            retention_days=_parse_int(
                "FLAKEGUARD_RETENTION_DAYS", get("FLAKEGUARD_RETENTION_DAYS"), default=90, low=1
            ),
            log_level=(get("LOG_LEVEL") or "INFO").upper(),
            log_format=_check_log_format(get("FLAKEGUARD_LOG_FORMAT") or "json"),
            prometheus_multiproc_dir=get("PROMETHEUS_MULTIPROC_DIR"),
            rate_limit_ip=_check_rate_limit(
                "FLAKEGUARD_RATE_LIMIT_IP", get("FLAKEGUARD_RATE_LIMIT_IP") or DEFAULT_RATE_LIMIT_IP
            ),
            rate_limit_token=_check_rate_limit(
                "FLAKEGUARD_RATE_LIMIT_TOKEN",
                get("FLAKEGUARD_RATE_LIMIT_TOKEN") or DEFAULT_RATE_LIMIT_TOKEN,
            ),
            rate_limit_auth_failures=_check_rate_limit(
                "FLAKEGUARD_RATE_LIMIT_AUTH_FAILURES",
                get("FLAKEGUARD_RATE_LIMIT_AUTH_FAILURES") or DEFAULT_RATE_LIMIT_AUTH_FAILURES,
            ),
            max_body_bytes=_parse_int(
                "FLAKEGUARD_MAX_BODY_BYTES",
                get("FLAKEGUARD_MAX_BODY_BYTES"),
                default=DEFAULT_MAX_BODY_BYTES,
                low=1024,
            ),
            trusted_proxies=_parse_int(
                "FLAKEGUARD_TRUSTED_PROXIES",
                get("FLAKEGUARD_TRUSTED_PROXIES"),
                default=0,
                low=0,
                high=10,
            ),
            metrics_token=get("FLAKEGUARD_METRICS_TOKEN"),
            secret_keys=_check_secret_keys(get("FLAKEGUARD_SECRET_KEY")),
            redis_connect_timeout=_parse_seconds(
                "FLAKEGUARD_REDIS_CONNECT_TIMEOUT",
                get("FLAKEGUARD_REDIS_CONNECT_TIMEOUT"),
                default=DEFAULT_REDIS_CONNECT_TIMEOUT,
            ),
            redis_timeout=_parse_seconds(
                "FLAKEGUARD_REDIS_TIMEOUT",
                get("FLAKEGUARD_REDIS_TIMEOUT"),
                default=DEFAULT_REDIS_TIMEOUT,
            ),
            session_secret=get("FLAKEGUARD_SESSION_SECRET"),
            actions_oidc_issuer=check_https_url(
                "FLAKEGUARD_ACTIONS_OIDC_ISSUER",
                get("FLAKEGUARD_ACTIONS_OIDC_ISSUER") or DEFAULT_ACTIONS_OIDC_ISSUER,
            ),
            actions_oidc_jwks_url=jwks and check_https_url(JWKS_VARIABLE, jwks),
            actions_oidc_audience=get("FLAKEGUARD_ACTIONS_OIDC_AUDIENCE"),
        )
        settings.check_integrations()
        settings.check_session_secret()
        return settings

    def check_integrations(self) -> None:
        """Refuse a half-configured Slack or GitHub integration, naming what is missing."""
        slack_any = any(
            (
                self.slack_signing_secret,
                self.slack_bot_token,
                self.slack_client_id,
                self.slack_client_secret,
            )
        )
        if slack_any:
            if not self.slack_signing_secret:
                raise ConfigError("SLACK_SIGNING_SECRET: required when Slack is configured")
            if bool(self.slack_client_id) != bool(self.slack_client_secret):
                missing = "SLACK_CLIENT_SECRET" if self.slack_client_id else "SLACK_CLIENT_ID"
                raise ConfigError(f"{missing}: OAuth needs both SLACK_CLIENT_ID and the secret")
            if not (self.slack_bot_token or self.slack_client_id):
                raise ConfigError(
                    "SLACK_BOT_TOKEN: set it (one workspace) or SLACK_CLIENT_ID and "
                    "SLACK_CLIENT_SECRET (OAuth, several workspaces)"
                )
            if self.multi_workspace and not self.secret_keys:
                raise ConfigError(
                    "FLAKEGUARD_SECRET_KEY: required with Slack OAuth (it encrypts the stored "
                    "bot tokens); make one with `flakeguard secrets new-key`"
                )
        if bool(self.github_client_id) != bool(self.github_client_secret):
            missing = "GITHUB_CLIENT_SECRET" if self.github_client_id else "GITHUB_CLIENT_ID"
            raise ConfigError(
                f"{missing}: linking workspaces needs both GITHUB_CLIENT_ID and the secret"
            )
        github = {
            "GITHUB_APP_ID": self.github_app_id,
            "GITHUB_APP_PRIVATE_KEY": self.github_app_private_key,
            "GITHUB_WEBHOOK_SECRET": self.github_webhook_secret,
        }
        if any(github.values()) and not all(github.values()):
            missing = ", ".join(name for name, value in github.items() if not value)
            raise ConfigError(f"{missing}: required when the GitHub App is configured")

    def check_session_secret(self) -> None:
        """Refuse a short session secret (the web app refuses none at all on PostgreSQL)."""
        if self.session_secret is None:
            return
        if len(self.session_secret) < MIN_SESSION_SECRET:
            raise ConfigError(
                f"FLAKEGUARD_SESSION_SECRET: at least {MIN_SESSION_SECRET} characters, "
                f"got {len(self.session_secret)}"
            )

    @property
    def actions_oidc_keys_url(self) -> str:
        return self.actions_oidc_jwks_url or self.actions_oidc_issuer + "/.well-known/jwks"

    @property
    def actions_oidc_expected_audience(self) -> str:
        return self.actions_oidc_audience or self.public_url

    @property
    def slack_enabled(self) -> bool:
        return bool(self.slack_signing_secret)

    @property
    def slack_oauth(self) -> bool:
        return bool(self.slack_client_id and self.slack_client_secret)

    @property
    def multi_workspace(self) -> bool:
        """Slack OAuth without a single bot token: workspaces are linked to tenants one by one."""
        return self.slack_oauth and not self.slack_bot_token

    @property
    def github_link_enabled(self) -> bool:
        return bool(self.github_client_id and self.github_client_secret)

    def secret_key_file(self) -> Path | None:
        """Where the embedded default keeps its generated secret key: beside the SQLite file."""
        if not self.is_sqlite:
            return None
        db_path = urlparse(self.database_url).path[1:]
        if not db_path or db_path == ":memory:":
            return None
        path = Path(db_path)
        return path.with_name(path.stem + "-secret.key")

    def session_key_file(self) -> Path | None:
        """Where the embedded default keeps its generated session secret: beside the SQLite file."""
        key = self.secret_key_file()
        return key.with_name(key.name.replace("-secret.key", "-session.key")) if key else None

    @property
    def slack_sign_in(self) -> bool:
        """ "Sign in with Slack" needs the Slack app's OAuth client."""
        return self.slack_oauth

    @property
    def github_enabled(self) -> bool:
        return bool(self.github_app_id and self.github_app_private_key)

    @property
    def is_sqlite(self) -> bool:
        return urlparse(self.database_url).scheme.split("+")[0] in SQLITE_SCHEMES

    def queue_file(self) -> str:
        """Where Huey's SQLite storage lives when there is no Redis: next to the database."""
        if self.queue_path:
            return self.queue_path
        if self.is_sqlite:
            db_path = urlparse(self.database_url).path[1:]
            if db_path and db_path != ":memory:":
                path = Path(db_path)
                return str(path.with_name(path.stem + "-queue.db"))
        return "flakeguard-queue.db"


def _parse_int(
    name: str, raw: str | None, *, default: int | None, low: int, high: int | None = None
):
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}: expected a whole number, got {raw!r}") from None
    if value < low or (high is not None and value > high):
        bound = f"{low}..{high}" if high is not None else f">= {low}"
        raise ConfigError(f"{name}: {value} is out of range ({bound})")
    return value


def _parse_seconds(name: str, raw: str | None, *, default: float) -> float:
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}: expected a number of seconds, got {raw!r}") from None
    if not 0.1 <= value <= 60:  # also refuses nan and inf
        raise ConfigError(f"{name}: {raw} is out of range (0.1..60 seconds)")
    return value


def _check_queue_name(raw: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", raw):
        raise ConfigError(
            f"FLAKEGUARD_QUEUE_NAME: letters, digits, '.', '_' or '-' (at most 64), got {raw!r}"
        )
    return raw


def _check_choice(name: str, raw: str) -> str:
    if raw not in QUEUE_MODES:
        raise ConfigError(f"{name}: expected one of {', '.join(QUEUE_MODES)}, got {raw!r}")
    return raw


def _check_database_url(url: str) -> str:
    parsed = urlparse(url)
    scheme = parsed.scheme.split("+")[0]
    if scheme in SQLITE_SCHEMES:
        if not parsed.path[1:]:
            raise ConfigError(
                "DATABASE_URL: a SQLite URL needs a file after three slashes, "
                "e.g. sqlite:///flakeguard.db"
            )
        return url
    if scheme in POSTGRES_SCHEMES:
        if not parsed.path[1:]:
            raise ConfigError(
                "DATABASE_URL: a PostgreSQL URL needs a database name, "
                "e.g. postgresql://user@host:5432/flakeguard"
            )
        try:
            parsed.port  # noqa: B018 - raises on a malformed port
        except ValueError:
            raise ConfigError("DATABASE_URL: the port is not a number") from None
        return url
    raise ConfigError(
        "DATABASE_URL: expected sqlite:///PATH or postgresql://USER@HOST:PORT/DBNAME, "
        f"got a value with scheme {parsed.scheme or 'none'!r}"
    )


def _check_redis_url(url: str | None) -> str | None:
    if url is None:
        return None
    parsed = urlparse(url)
    if parsed.scheme not in ("redis", "rediss", "unix"):
        raise ConfigError("REDIS_URL: expected redis://HOST:PORT/DB (or rediss://, unix://)")
    try:
        parsed.port  # noqa: B018
    except ValueError:
        raise ConfigError("REDIS_URL: the port is not a number") from None
    return url


def _check_http_url(name: str, url: str, *, slash: bool) -> str:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ConfigError(f"{name}: expected an http(s) URL, got {url!r}")
    url = url.rstrip("/")
    return url + "/" if slash else url


def check_https_url(name: str, url: str) -> str:
    """``url`` without a trailing slash if it is https, or http on a loopback host (a
    local issuer in tests); ConfigError naming ``name`` otherwise. For what proves
    identity (OIDC issuer, its keys): plain http would let the network forge them."""
    parsed = urlparse(url)
    secure = parsed.scheme == "https" and parsed.hostname
    if not secure and not (parsed.scheme == "http" and parsed.hostname in LOOPBACK_HOSTS):
        raise ConfigError(
            f"{name}: expected an https URL (http only for 127.0.0.1 or localhost), "
            f"got {url[:200]!r}"
        )
    return url.rstrip("/")


def _read_private_key(raw: str | None) -> str | None:
    if raw is None:
        return None
    text = raw.replace("\\n", "\n")
    if "-----BEGIN" not in text:
        try:
            text = Path(raw).expanduser().read_text()
        except OSError as exc:
            reason = exc.strerror or exc.__class__.__name__
            raise ConfigError(
                f"GITHUB_APP_PRIVATE_KEY: neither PEM text nor a readable file ({reason})"
            ) from None
    if "-----BEGIN" not in text or "PRIVATE KEY-----" not in text:
        raise ConfigError("GITHUB_APP_PRIVATE_KEY: the value is not a PEM private key")
    return text


def _check_secret_keys(raw: str | None) -> tuple[str, ...]:
    """Fernet keys from a comma-separated list; the message never shows a key."""
    if raw is None:
        return ()
    from cryptography.fernet import Fernet

    keys = tuple(part.strip() for part in raw.split(",") if part.strip())
    for number, key in enumerate(keys, 1):
        try:
            Fernet(key)
        except ValueError:
            raise ConfigError(
                f"FLAKEGUARD_SECRET_KEY: key {number} of {len(keys)} is not a Fernet key "
                "(32 random bytes, url-safe base64: 44 characters)"
            ) from None
    return keys


def _check_log_format(raw: str) -> str:
    value = raw.lower()
    if value not in LOG_FORMATS:
        raise ConfigError(
            f"FLAKEGUARD_LOG_FORMAT: expected one of {', '.join(LOG_FORMATS)}, got {raw!r}"
        )
    return value


def _check_rate_limit(name: str, raw: str) -> str:
    from limits import parse_many

    try:
        parse_many(raw)
    except ValueError:
        raise ConfigError(
            f"{name}: expected a rate such as 600/minute (or several, separated by ;), got {raw!r}"
        ) from None
    return raw
