"""Third-party secrets at rest: Fernet encryption with a key ring set once at start.

Like the database handle, the key ring is process-wide and set at start
(``configure``) from ``FLAKEGUARD_SECRET_KEY``: a comma-separated list of
Fernet keys; the first encrypts, every one decrypts (``MultiFernet``), so a
new key can be put first while old rows are still readable, and
``flakeguard secrets rotate`` re-encrypts them with it.

``EncryptedTextField`` and ``SealedJSONField`` encrypt on the way into the
database and decrypt on the way out, so the rest of the code sees plain
values and the columns never hold one. Nothing here logs a value.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from peewee import JSONField, TextField

# The tokens inside slack_sdk's Installation (``SlackInstallation.data``): every
# credential it carries, the incoming webhook URL included (it lets anyone post).
SEALED_JSON_KEYS = (
    "bot_token",
    "user_token",
    "bot_refresh_token",
    "user_refresh_token",
    "incoming_webhook_url",
)
# Every Fernet token starts with its version byte 0x80, base64url "gAAAAA".
FERNET_PREFIX = "gAAAAA"


class SecretKeyError(Exception):
    """No key is configured, or a stored value does not decrypt with any configured key."""


class _KeyRing:
    def __init__(self) -> None:
        self._fernet: MultiFernet | None = None
        self._lock = threading.Lock()

    def configure(self, keys: Sequence[str]) -> None:
        fernets = [Fernet(key.encode() if isinstance(key, str) else key) for key in keys]
        if not fernets:
            raise SecretKeyError("at least one key is needed")
        with self._lock:
            self._fernet = MultiFernet(fernets)

    def reset(self) -> None:
        with self._lock:
            self._fernet = None

    @property
    def fernet(self) -> MultiFernet:
        fernet = self._fernet
        if fernet is None:
            raise SecretKeyError(
                "FLAKEGUARD_SECRET_KEY: no key configured to encrypt or decrypt stored tokens"
            )
        return fernet


KEYS = _KeyRing()


def configure(keys: Sequence[str]) -> None:
    """Use ``keys`` (Fernet keys; the first encrypts) for every secret column."""
    KEYS.configure(keys)


def is_configured() -> bool:
    """True once ``configure`` was called."""
    return KEYS._fernet is not None


def looks_encrypted(value: str) -> bool:
    """True for a value shaped like a Fernet token (a plain Slack token never is)."""
    return value.startswith(FERNET_PREFIX)


def encrypt(value: str) -> str:
    """``value`` encrypted with the first key."""
    return KEYS.fernet.encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    """The plain text of ``token``; SecretKeyError when no configured key opens it."""
    return _opened(KEYS.fernet.decrypt, token)


def rotate(token: str) -> str:
    """``token`` re-encrypted with the first key (decrypting with any)."""
    return _opened(KEYS.fernet.rotate, token)


def _opened(open_with: Callable[[bytes], bytes], token: str) -> str:
    """``open_with(token)`` as text; SecretKeyError when no configured key opens ``token``."""
    try:
        return open_with(token.encode()).decode()
    except InvalidToken:
        raise SecretKeyError(
            "FLAKEGUARD_SECRET_KEY: a stored secret does not decrypt with any configured key"
        ) from None


def seal(data: dict[str, Any], keys: Iterable[str] = SEALED_JSON_KEYS) -> dict[str, Any]:
    """A copy of ``data`` with the secret ``keys`` encrypted (already encrypted ones kept)."""
    sealed = dict(data)
    for key in keys:
        value = sealed.get(key)
        if isinstance(value, str) and value and not looks_encrypted(value):
            sealed[key] = encrypt(value)
    return sealed


def unseal(data: dict[str, Any], keys: Iterable[str] = SEALED_JSON_KEYS) -> dict[str, Any]:
    """A copy of ``data`` with the secret ``keys`` decrypted."""
    opened = dict(data)
    for key in keys:
        value = opened.get(key)
        if isinstance(value, str) and looks_encrypted(value):
            opened[key] = decrypt(value)
    return opened


class EncryptedTextField(TextField):
    """A text column that holds only Fernet tokens; reads give the plain text back."""

    def db_value(self, value: Any) -> Any:
        if isinstance(value, str) and value:
            value = encrypt(value)
        return super().db_value(value)

    def python_value(self, value: Any) -> Any:
        value = super().python_value(value)
        if isinstance(value, str) and value:
            return decrypt(value)
        return value


class SealedJSONField(JSONField):
    """A JSON column whose secret keys (``SEALED_JSON_KEYS``) are stored encrypted."""

    def db_value(self, value: Any) -> Any:
        if isinstance(value, dict):
            value = seal(value)
        return super().db_value(value)

    def python_value(self, value: Any) -> Any:
        value = super().python_value(value)
        if isinstance(value, dict):
            return unseal(value)
        return value
