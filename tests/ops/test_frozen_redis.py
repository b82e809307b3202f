"""A frozen Redis (SIGSTOP: the port accepts connections, nothing answers) must not freeze the
web tier: on a live gunicorn on PostgreSQL with a redis-server of its own, uploads still answer
201 (their analysis stays pending in the database for the reconcile job) and /health answers.

Nothing is timed here: each request must get its answer within a generous client timeout
(on main they hang past it). The latencies are printed by bench/frozen_redis_bench.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ops.live import LiveServer, RedisServer, live_flakeguard, request, upload

pytestmark = pytest.mark.slow

CLIENT_TIMEOUT = 10.0  # seconds; an answer must arrive, how fast is the bench's business


@pytest.fixture
def live(tmp_path: Path, redis_server: RedisServer) -> Iterator[LiveServer]:
    with live_flakeguard(tmp_path, redis_url=redis_server.url) as server:
        yield server


def test_frozen_redis_leaves_uploads_answering_201_and_health_200(live, redis_server) -> None:  # type: ignore[no-untyped-def]
    """With Redis SIGSTOPped, eight uploads answer 201 and /health 200 (no thread is stuck in
    the enqueue or the rate limiter); every upload is stored with its analysis pending."""
    token = live.add_repository("acme/shop")
    assert upload(live.url, token, run_id="warm")[0] == 201
    redis_server.freeze()
    try:
        for i in range(8):
            status, _seconds = upload(live.url, token, run_id=f"frozen-{i}")
            assert status == 201, live.tail()
            health = request(live.url + "/health", timeout=CLIENT_TIMEOUT)
            assert health[0] == 200 and health[1] == b'{"status":"ok"}\n'
    finally:
        redis_server.thaw()
    assert live.unanalyzed_runs("frozen-") == 8  # the reconcile job will find them
    assert "Traceback" not in live.log.read_text(errors="replace")
