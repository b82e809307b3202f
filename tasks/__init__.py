"""The Huey instance and the thin task functions over the use cases.

``huey`` starts in immediate mode on in-memory storage, so importing this
module connects to nothing; ``configure(settings)`` points it at Redis (when
``REDIS_URL`` is set) or at Huey's SQLite storage next to the database.
Every task is registered with ``flakeguard.jobs`` on import, so the use cases
can enqueue by name.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from huey import Huey, crontab
from huey.storage import RedisStorage, SqliteStorage

from flakeguard import jobs
from flakeguard.settings import Settings
from flakeguard.usecases import reconcile as reconcile_uc
from models import db

log = logging.getLogger(__name__)

huey = Huey("flakeguard", immediate=True, utc=True)

F = TypeVar("F", bound=Callable[..., Any])


def configure(settings: Settings, *, name: str = "flakeguard") -> Huey:
    """Choose Huey's storage from settings: immediate, Redis, or SQLite beside the database."""
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


@huey.periodic_task(crontab(minute="*/5"), name="reconcile")
@huey.lock_task("flakeguard-reconcile")
@with_db
def reconcile() -> dict[str, Any]:
    """Re-enqueue pending work found in the database."""
    report = reconcile_uc.reconcile()
    log.info("reconcile: %d runs pending, enqueued %s", report.runs_pending, report.enqueued)
    return {"runs_pending": report.runs_pending, "enqueued": report.enqueued}


jobs.register("reconcile", reconcile)
