"""The Huey instance: immediate (in memory) at import, pointed at real storage by configure()."""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from huey import Huey, signals
from huey.storage import RedisStorage, SqliteStorage
from redis import ConnectionPool

from flakeguard import logs, metrics
from flakeguard.errors import NotConfiguredError
from flakeguard.jobs import Job
from flakeguard.settings import Settings
from flakeguard.usecases import github
from models import db
from tasks import context

log = logging.getLogger(__name__)

huey = Huey("flakeguard", immediate=True, utc=True)

F = TypeVar("F", bound=Callable[..., Any])


def redis_pool(settings: Settings) -> ConnectionPool:
    """A connection pool on REDIS_URL with the configured connect and socket timeouts.

    A frozen Redis then costs an enqueue one timeout: the Redis error reaches
    ``flakeguard.jobs.enqueue``, which logs one line and leaves the job to the reconcile
    job (the run, event or quarantine is still pending in the database).
    """
    assert settings.redis_url
    return ConnectionPool.from_url(
        settings.redis_url,
        socket_connect_timeout=settings.redis_connect_timeout,
        socket_timeout=settings.redis_timeout,
        health_check_interval=30,
    )


def configure(settings: Settings, *, name: str | None = None) -> Huey:
    """Choose Huey's storage from settings: immediate, Redis, or SQLite beside the database."""
    context.set_settings(settings)
    github.use_api_url(settings.github_api_url)  # web links follow GITHUB_API_URL
    huey.name = name or settings.queue_name
    if settings.queue_mode == "immediate":
        huey.immediate = True
        huey.storage = huey.create_storage()
        return huey
    if settings.redis_url:
        huey.storage_class = RedisStorage
        huey.storage_kwargs = {
            "connection_pool": redis_pool(settings),
            # The worker's blocking read must end (Redis answers nil) before the socket
            # timeout does; Redis >= 6 takes a fractional BRPOP timeout.
            "read_timeout": min(1.0, settings.redis_timeout / 2),
        }
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
        if not db.is_closed():
            # Run inline (immediate queue) inside a caller's connection: closing it here
            # would break the caller's open cursors and transaction.
            return func(*args, **kwargs)
        with db.connection_context():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


# -- operations: correlation ids and job metrics (flakeguard.logs, flakeguard.metrics) -------

_started: dict[str, float] = {}
_correlation_tokens: dict[str, Any] = {}
_FINISHED = (
    signals.SIGNAL_COMPLETE,
    signals.SIGNAL_ERROR,
    signals.SIGNAL_LOCKED,
    signals.SIGNAL_CANCELED,
    signals.SIGNAL_TIMEOUT,
    signals.SIGNAL_INTERRUPTED,
)


@huey.pre_execute(name="flakeguard-correlation")
def restore_correlation(task: Any) -> None:
    """Run the task under the correlation id it was enqueued with (or a new one)."""
    if not logs.redaction_installed():
        # A worker process (huey_consumer) never built the app: keep its secrets out of logs.
        with contextlib.suppress(NotConfiguredError):  # no settings: patterns only
            logs.add_secrets(logs.settings_secrets(context.get_settings()))
        logs.install_redaction()
    carried = logs.correlation_from_task_id(task.id)
    if carried is None and huey.immediate and logs.get_correlation_id():
        return  # inline in a request: keep the request's id
    token = logs.set_correlation_id(carried or logs.new_correlation_id())
    _correlation_tokens[task.id] = token


@huey.signal(signals.SIGNAL_EXECUTING)
def task_started(signal: str, task: Any, *args: Any, **kwargs: Any) -> None:
    _started[task.id] = time.perf_counter()


@huey.signal(*_FINISHED)
def task_finished(signal: str, task: Any, *args: Any, **kwargs: Any) -> None:
    started = _started.pop(task.id, None)
    token = _correlation_tokens.pop(task.id, None)
    if token is not None:
        logs.reset_correlation_id(token)
    metrics.count("tasks", task=task.name, outcome=signal)
    if started is not None and signal == signals.SIGNAL_COMPLETE:
        elapsed = time.perf_counter() - started
        metrics.observe("task_duration", elapsed, task=task.name)
        if task.name == Job.ANALYZE_RUN:
            metrics.observe("analysis_duration", elapsed)
