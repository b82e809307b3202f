"""JSON-lines logs with a correlation id, and secrets kept out of every log record.

A request gets a correlation id (its ``X-Request-Id`` when that is a sane
token, else a new one); ``flakeguard.jobs.enqueue`` carries it into the Huey
task id of every job the request enqueues, and a Huey pre-execute hook sets
it again in the worker, so one id follows an upload from the HTTP request to
its analysis.

Redaction happens when a record is created (a log record factory), before any
handler sees it: bearer tokens, Slack ``xox?-`` tokens, GitHub ``gh?_`` and
``github_pat_`` tokens, FlakeGuard ``fgi_`` ingest tokens, PEM private keys
and the exact values of the configured secrets are replaced by ``[REDACTED]``
in the message, its arguments and the formatted traceback.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from collections.abc import Iterable
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from typing import Any

REDACTED = "[REDACTED]"
CORRELATION_HEADER = "X-Request-Id"
# A correlation id is echoed in headers, logs and TestRun.correlation_id (64 chars).
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
# Huey task ids carrying a correlation id: "<uuid4 hex>~<correlation id>".
_TASK_SEPARATOR = "~"

# (pattern, replacement): a scheme word is kept so the log still says what was there.
TOKEN_PATTERNS = (
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{6,}"), r"\1" + REDACTED),
    (
        re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)(?!bearer\b)[^\s\"',;]{6,}"),
        r"\1" + REDACTED,
    ),
    (re.compile(r"\bxox[abposer]-[A-Za-z0-9-]{6,}"), REDACTED),
    (re.compile(r"\bxapp-[A-Za-z0-9-]{6,}"), REDACTED),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{6,}"), REDACTED),
    (re.compile(r"\bgithub_pat_[A-Za-z0-9_]{6,}"), REDACTED),
    (re.compile(r"\bfgi_[A-Za-z0-9_-]{6,}"), REDACTED),
    (
        re.compile(
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)", re.S
        ),
        REDACTED,
    ),
    # Slack (v0=...) and GitHub (sha256=...) request signatures.
    (re.compile(r"(?i)\b(v0=|sha256=)[0-9a-f]{32,}"), r"\1" + REDACTED),
)

_correlation: ContextVar[str | None] = ContextVar("flakeguard_correlation_id", default=None)
_secrets: set[str] = set()
_installed = False


# -- correlation ids -------------------------------------------------------------------------


def new_correlation_id() -> str:
    """A fresh correlation id (32 hex characters)."""
    return uuid.uuid4().hex


def sanitize_correlation_id(raw: str | None) -> str | None:
    """``raw`` when it is a usable id (1-64 of ``A-Za-z0-9._:-``), else None."""
    if raw and _SANE_ID.match(raw.strip()):
        return raw.strip()
    return None


def get_correlation_id() -> str | None:
    """The correlation id of the current request or task, if any."""
    return _correlation.get()


def set_correlation_id(value: str | None) -> Token[str | None]:
    """Make ``value`` the current correlation id; returns a token for ``reset_correlation_id``."""
    return _correlation.set(value)


def reset_correlation_id(token: Token[str | None]) -> None:
    """Restore the correlation id that was current before ``set_correlation_id``."""
    _correlation.reset(token)


def task_id_for(correlation_id: str) -> str:
    """A unique Huey task id that carries ``correlation_id``."""
    return f"{uuid.uuid4().hex}{_TASK_SEPARATOR}{correlation_id}"


def correlation_from_task_id(task_id: str | None) -> str | None:
    """The correlation id carried by a Huey task id made by ``task_id_for``, if any."""
    if not task_id or _TASK_SEPARATOR not in task_id:
        return None
    return sanitize_correlation_id(task_id.split(_TASK_SEPARATOR, 1)[1])


# -- redaction -------------------------------------------------------------------------------


def add_secrets(values: Iterable[str | None]) -> None:
    """Redact these exact values (signing secrets, bot tokens, keys) from every log record."""
    for value in values:
        if value and len(value) >= 6:
            _secrets.add(value)
            if "\n" in value:  # a PEM key: its lines, as they appear in a traceback or repr
                _secrets.update(line for line in value.splitlines() if len(line) >= 16)


def redact(text: str) -> str:
    """``text`` with every token pattern and configured secret replaced by ``[REDACTED]``."""
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    for pattern, replacement in TOKEN_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _redact_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except (TypeError, ValueError):  # a malformed format: keep what we can show
        message = f"{record.msg} {record.args}"
    record.msg = redact(message)
    record.args = ()
    if record.exc_info and record.exc_info[0] is not None:
        text = logging.Formatter().formatException(record.exc_info)
        record.exc_text = redact(text)
        record.exc_info = None  # only the redacted text may be printed
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


def redaction_installed() -> bool:
    """True once ``install_redaction`` ran in this process."""
    return _installed


def install_redaction() -> None:
    """Redact every log record of this process at creation (idempotent)."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        _redact_record(record)
        record.correlation_id = _correlation.get()
        return record

    logging.setLogRecordFactory(factory)
    _installed = True


# -- formatting ------------------------------------------------------------------------------

_STANDARD = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()
    | {"message", "asctime", "correlation_id"}
)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, correlation_id, extras, exc."""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        correlation = getattr(record, "correlation_id", None) or _correlation.get()
        if correlation:
            body["correlation_id"] = correlation
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                body[key] = value if isinstance(value, int | float | bool | None) else str(value)
        if record.exc_info and record.exc_info[0] is not None:
            body["exc"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            body["exc"] = redact(record.exc_text)
        return json.dumps(body, default=str)


class TextFormatter(logging.Formatter):
    """``LEVEL logger [correlation]: message`` for a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        correlation = getattr(record, "correlation_id", None) or _correlation.get()
        prefix = f"{record.levelname} {record.name}"
        if correlation:
            prefix += f" [{correlation}]"
        text = f"{prefix}: {redact(record.getMessage())}"
        if record.exc_text:
            text += "\n" + redact(record.exc_text)
        return text


def configure_logging(
    *, level: str = "INFO", fmt: str = "json", secrets: Iterable[str | None] = ()
) -> logging.Handler:
    """Send the root logger to stderr as JSON lines (or text), redacting secrets; idempotent."""
    add_secrets(secrets)
    install_redaction()
    root = logging.getLogger()
    formatter: logging.Formatter = JsonFormatter() if fmt == "json" else TextFormatter()
    handler = next((h for h in root.handlers if getattr(h, "flakeguard", False)), None)
    if handler is None:
        # basicConfig's stderr handler gives way to ours; other handlers (pytest's) stay.
        for old in list(root.handlers):
            if type(old) is logging.StreamHandler and old.stream in (sys.stderr, sys.stdout):
                root.removeHandler(old)
        handler = logging.StreamHandler(sys.stderr)
        handler.flakeguard = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    handler.setFormatter(formatter)
    root.setLevel(level)
    return handler


def settings_secrets(settings: Any) -> list[str | None]:
    """Every secret a Settings object holds (for ``configure_logging``)."""
    return [
        settings.slack_signing_secret,
        settings.slack_bot_token,
        settings.slack_client_secret,
        settings.github_app_private_key,
        settings.github_webhook_secret,
        getattr(settings, "metrics_token", None),
        getattr(settings, "github_client_secret", None),
        getattr(settings, "session_secret", None),
        *getattr(settings, "secret_keys", ()),
    ]
