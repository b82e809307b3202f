"""Enqueue background work by name, without the use cases importing ``tasks``.

``tasks`` registers its Huey tasks here when it is imported. The database is
the truth and a job is only a hint: when the queue cannot take a job (Redis
down), ``enqueue`` logs and returns False, and the periodic reconcile job
finds the pending work again from the database.

The correlation id of the current request or task travels with the job (in the
Huey task id, see ``flakeguard.logs.task_id_for``); the worker restores it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flakeguard import logs

log = logging.getLogger(__name__)

_registry: dict[str, Callable[..., Any]] = {}


def register(name: str, func: Callable[..., Any]) -> None:
    """Make ``func`` (a Huey task) reachable as ``name``."""
    _registry[name] = func


def registered() -> frozenset[str]:
    """Names of every registered job."""
    return frozenset(_registry)


def enqueue(name: str, /, **kwargs: Any) -> bool:
    """Enqueue job ``name``; True when the queue accepted it."""
    func = _registry.get(name)
    if func is None:
        # The pending work is in the database; the reconcile job will find it.
        log.warning("no job named %r is registered (is tasks imported?)", name)
        return False
    correlation = logs.get_correlation_id()
    if correlation and "id" not in kwargs and hasattr(func, "huey"):
        kwargs = {**kwargs, "id": logs.task_id_for(correlation)}  # Huey's task id
    try:
        func(**kwargs)
    except (ConnectionError, OSError) as exc:
        log.warning("queue unavailable, %s left for the reconcile job: %s", name, exc)
        return False
    except Exception as exc:
        if type(exc).__module__.split(".")[0] in ("redis", "sqlite3", "huey"):
            log.warning("queue error, %s left for the reconcile job: %s", name, exc)
            return False
        raise
    return True
