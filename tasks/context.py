"""The settings tasks run with, set by ``tasks.configure(settings)``."""

from __future__ import annotations

from flakeguard.errors import NotConfiguredError
from flakeguard.settings import Settings

_settings: Settings | None = None


def set_settings(settings: Settings) -> None:
    """Remember the settings of this process (called by tasks.configure)."""
    global _settings
    _settings = settings


def get_settings() -> Settings:
    """The settings given to tasks.configure(), or NotConfiguredError."""
    if _settings is None:
        raise NotConfiguredError("tasks.configure(settings) was not called in this process")
    return _settings
