"""Wall-clock sampling shared by the benchmarks."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def timed(call: Callable[[], Any], times: int, *, warm: bool = False) -> list[float]:
    """Each of ``times`` calls' wall time in milliseconds; ``warm`` calls once first, untimed
    (caches, query plans)."""
    if warm:
        call()
    out = []
    for _ in range(times):
        start = time.perf_counter()
        call()
        out.append((time.perf_counter() - start) * 1000)
    return out
