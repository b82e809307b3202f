"""The key ring for third-party tokens at rest: from FLAKEGUARD_SECRET_KEY, or a local key file.

``configure_secrets(settings)`` runs at start, before migrations (one of them
encrypts plain-text tokens). With ``FLAKEGUARD_SECRET_KEY`` set, its keys are
used. Without it, the embedded default (SQLite) generates one key the first
time and keeps it in a file beside the database, readable only by its owner
(mode 0600), so ``./scripts/run`` needs no step; OAuth refuses to start without
the variable (settings.py). Keys are never logged.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from cryptography.fernet import Fernet

from flakeguard.errors import ConfigError
from flakeguard.settings import Settings
from models import crypto


def create_key_file(path: Path, variable: str, new_secret: Callable[[], str]) -> None:
    """Create ``path`` readable by its owner only (0600) with ``new_secret()``, unless it
    exists; a ConfigError names ``variable`` (the setting that makes the file unneeded)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        raise ConfigError(
            f"{variable}: not set, and {path} cannot be created "
            f"({exc.strerror or type(exc).__name__})"
        ) from None
    with os.fdopen(fd, "w") as handle:
        handle.write(new_secret() + "\n")


def key_file_keys(path: Path) -> tuple[str, ...]:
    """The key kept in ``path``, creating the file (0600) with a new key when missing."""
    create_key_file(path, "FLAKEGUARD_SECRET_KEY", lambda: Fernet.generate_key().decode())
    try:
        key = path.read_text().strip()
        Fernet(key)
    except (OSError, ValueError):
        raise ConfigError(
            f"FLAKEGUARD_SECRET_KEY: not set, and {path} does not hold a Fernet key"
        ) from None
    return (key,)


def secret_keys(settings: Settings) -> tuple[str, ...]:
    """The configured keys, the embedded default's key file, or () (nothing to encrypt with)."""
    if settings.secret_keys:
        return settings.secret_keys
    path = settings.secret_key_file()
    if path is None:
        return ()
    return key_file_keys(path)


def configure_secrets(settings: Settings) -> None:
    """Set the process-wide key ring from ``settings`` (left alone when there is no key)."""
    keys = secret_keys(settings)
    if keys:
        crypto.configure(keys)


def new_key() -> str:
    """A fresh Fernet key (for FLAKEGUARD_SECRET_KEY)."""
    return Fernet.generate_key().decode()
