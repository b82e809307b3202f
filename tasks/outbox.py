"""The task side of the outbox: a task works for its effect and marks it done.

``@for_effect(Job.X)`` goes under ``@with_db``: before the task body runs it
claims the effect of its arguments (a done effect: return ``when_done`` and do
nothing), after it marks it done (unless ``finished(result)`` says the work is
still pending, e.g. the integration is not configured), and on an exception it
counts the failure (an analysis failing too often is set aside) and re-raises
so Huey retries. A job enqueued with no effect row (a direct call) just runs.

``@effect_task(Job.X, ...)`` is the whole stack for a task that works for an effect:
the Huey task named after the job, ``with_db``, ``for_effect``, and the job's
registration.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from flakeguard import jobs
from flakeguard.jobs import Job
from flakeguard.usecases import outbox
from tasks.queue import huey, with_db

F = TypeVar("F", bound=Callable[..., Any])


def _always(result: Any) -> bool:
    return True


def _nothing(**arguments: Any) -> Any:
    return {"skipped": "already done"}


def for_effect(
    job: Job,
    *,
    finished: Callable[[Any], bool] = _always,
    when_done: Callable[..., Any] = _nothing,
) -> Callable[[F], F]:
    """Make the task claim, finish or count failures of its effect (see the module)."""

    def decorate(func: F) -> F:
        signature = inspect.signature(func)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            arguments = dict(bound.arguments)
            claim = outbox.claim(job, arguments)
            if claim is not None and claim.done:
                return when_done(**arguments)
            try:
                result = func(*args, **kwargs)
            except Exception as exc:
                if claim is not None:
                    outbox.failure(claim, exc)
                raise
            if claim is not None and finished(result):
                outbox.finish(claim)
            return result

        return wrapper  # type: ignore[return-value]

    return decorate


def effect_task(
    job: Job,
    *,
    retries: int,
    retry_delay: int,
    retry_backoff: float = 0,
    finished: Callable[[Any], bool] = _always,
    when_done: Callable[..., Any] = _nothing,
) -> Callable[[Callable[..., Any]], Any]:
    """Make the function the registered Huey task of ``job``, working for its effect.

    Huey retries it ``retries`` times, ``retry_delay`` seconds apart (multiplied by
    ``retry_backoff`` each time when given); ``finished`` and ``when_done`` as for
    ``for_effect``.
    """

    def decorate(func: Callable[..., Any]) -> Any:
        body = with_db(for_effect(job, finished=finished, when_done=when_done)(func))
        task = huey.task(
            retries=retries, retry_delay=retry_delay, retry_backoff=retry_backoff, name=job.value
        )(body)
        jobs.register(job, task)
        return task

    return decorate
