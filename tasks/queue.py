"""The Huey instance: immediate (in memory) at import, pointed at real storage by configure()."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from huey import Huey
from huey.storage import RedisStorage, SqliteStorage

from flakeguard.settings import Settings
from models import db
from tasks import context

log = logging.getLogger(__name__)

huey = Huey("flakeguard", immediate=True, utc=True)

F = TypeVar("F", bound=Callable[..., Any])


def configure(settings: Settings, *, name: str = "flakeguard") -> Huey:
    """Choose Huey's storage from settings: immediate, Redis, or SQLite beside the database."""
    context.set_settings(settings)
    huey.name = name
    if settings.queue_mode == "immediate":
        huey.immediate = True
        huey.storage = huey.create_storage()
        return huey
    if settings.redis_url:
        huey.storage_class = RedisStorage
        huey.storage_kwargs = {"url": settings.redis_url}
    else:
        huey.storage_class = SqliteStorage
        huey.storage_kwargs = {"filename": settings.queue_file()}
    if huey.immediate:
        huey.immediate = False  # creates the storage
    else:
        huey.storage = huey.create_storage()
    return huey


def with_db(func: F) -> F:
    """Run a task body inside one database connection (returned to the pool after)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with db.connection_context():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
