"""Checks of the values FlakeGuard reads from its environment.

Each takes a variable's name and its raw text, and returns the value to use or
raises one ``ConfigError`` that names the variable and says what is wrong.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlparse

from flakeguard.errors import ConfigError

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
SQLITE_SCHEMES = ("sqlite",)
POSTGRES_SCHEMES = ("postgres", "postgresql")
QUEUE_MODES = ("auto", "immediate")
LOG_FORMATS = ("json", "text")


def parse_int(
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


def parse_seconds(name: str, raw: str | None, *, default: float) -> float:
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}: expected a number of seconds, got {raw!r}") from None
    if not 0.1 <= value <= 60:  # also refuses nan and inf
        raise ConfigError(f"{name}: {raw} is out of range (0.1..60 seconds)")
    return value


def check_queue_name(raw: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", raw):
        raise ConfigError(
            f"FLAKEGUARD_QUEUE_NAME: letters, digits, '.', '_' or '-' (at most 64), got {raw!r}"
        )
    return raw


def check_choice(name: str, raw: str) -> str:
    if raw not in QUEUE_MODES:
        raise ConfigError(f"{name}: expected one of {', '.join(QUEUE_MODES)}, got {raw!r}")
    return raw


def check_database_url(url: str) -> str:
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


def check_redis_url(url: str | None) -> str | None:
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


def check_http_url(name: str, url: str, *, slash: bool) -> str:
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
    try:
        parsed.port  # noqa: B018 - raises ValueError for a port that is not one
    except ValueError:
        raise ConfigError(f"{name}: the port of {url[:200]!r} is not a port number") from None
    secure = parsed.scheme == "https" and parsed.hostname
    if not secure and not (parsed.scheme == "http" and parsed.hostname in LOOPBACK_HOSTS):
        raise ConfigError(
            f"{name}: expected an https URL (http only for 127.0.0.1 or localhost), "
            f"got {url[:200]!r}"
        )
    return url.rstrip("/")


def read_private_key(raw: str | None) -> str | None:
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


def check_secret_keys(raw: str | None) -> tuple[str, ...]:
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


def check_log_format(raw: str) -> str:
    value = raw.lower()
    if value not in LOG_FORMATS:
        raise ConfigError(
            f"FLAKEGUARD_LOG_FORMAT: expected one of {', '.join(LOG_FORMATS)}, got {raw!r}"
        )
    return value


def check_rate_limit(name: str, raw: str) -> str:
    from limits import parse_many

    try:
        parse_many(raw)
    except ValueError:
        raise ConfigError(
            f"{name}: expected a rate such as 600/minute (or several, separated by ;), got {raw!r}"
        ) from None
    return raw
