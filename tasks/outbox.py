"""The task side of the outbox: a task works for its effect and marks it done.

``@for_effect(Job.X)`` goes under ``@with_db``: before the task body runs it
claims the effect of its arguments (a done effect: return ``when_done`` and do
nothing), after it marks it done (unless ``finished(result)`` says the work is
still pending, e.g. the integration is not configured), and on an exception it
counts the failure (an analysis failing too often is set aside) and re-raises
so Huey retries. A job enqueued with no effect row (a direct call) just runs.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from flakeguard.jobs import Job
from flakeguard.usecases import outbox

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
