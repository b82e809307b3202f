"""Slow clients against the production setup that ships: nginx (deploy/nginx.conf, the
docker-compose ``proxy`` service) in front of gunicorn (the shipped gunicorn.conf.py, 2 workers
x 4 threads). Eight connections dribbling headers, or a body to /github/webhook (read in full
before its signature can be checked), hold every gunicorn thread when they reach gunicorn
directly; through nginx, which reads each request whole before a thread sees it, /health
still answers while they hold their connections.

Nothing is timed: an answer must arrive before the client timeout, or (the control) must not.
bench/slow_clients_bench.py prints the latencies.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import service_missing
from tests.ops.live import (
    github_webhook_env,
    live_flakeguard,
    nginx_binary,
    nginx_in_front,
    poll,
    request,
    slow_clients,
)

pytestmark = pytest.mark.slow

CLIENT_TIMEOUT = 3.0  # seconds a /health probe waits; the slow clients dribble for longer
PROBES = 3


@pytest.fixture
def nginx() -> str:
    """The nginx binary: skipped when missing locally, a failure under
    FLAKEGUARD_REQUIRE_SERVICES=1 (CI installs it, see .ci/run)."""
    binary = nginx_binary()
    if binary is None:
        service_missing("nginx", FileNotFoundError("nginx is not installed"))
    assert binary is not None
    return binary


def health(url: str) -> int | None:
    """The status of GET /health, None when no answer came within the client timeout."""
    try:
        return request(url + "/health", timeout=CLIENT_TIMEOUT)[0]
    except TimeoutError:
        return None


def test_eight_slow_clients_hold_every_thread_of_a_bare_gunicorn(tmp_path: Path) -> None:
    """The control, on one worker of 4 threads so that it is certain: eight slow clients
    take every thread and /health gets no answer; it answers again once they leave.

    With the shipped 2 workers each worker accepts on its own, so the eight may split 5:3
    and leave a thread free for a probe that lands on the right worker; the bench shows
    that case (bench/slow_clients_bench.py, "gunicorn alone")."""
    with live_flakeguard(tmp_path, workers=1, **github_webhook_env()) as bare:
        with slow_clients(bare.port) as held:
            assert health(bare.url) is None, "gunicorn answered with every thread held"
            assert all(client.held() for client in held)
        poll(lambda: health(bare.url) == 200, "gunicorn to answer once they left")


def test_health_answers_through_nginx_while_eight_slow_clients_hold_connections(
    nginx: str, tmp_path: Path
) -> None:
    """The shipped setup (nginx in front of 2 workers x 4 threads): with eight slow clients
    holding nginx connections, every /health probe is answered, by gunicorn."""
    with (
        live_flakeguard(tmp_path, FLAKEGUARD_TRUSTED_PROXIES="1", **github_webhook_env()) as live,
        nginx_in_front(live.port, tmp_path) as (url, port),
        slow_clients(port) as held,
    ):
        for round_ in range(1, PROBES + 1):
            poll(lambda n=2 + round_: all(c.sent >= n for c in held), "the slow clients to dribble")
            assert health(url) == 200
            assert all(client.held() for client in held), "nginx dropped a slow client early"
        # The answers came from gunicorn through nginx, not from nginx itself.
        status, body, _ = request(url + "/health/ready", timeout=CLIENT_TIMEOUT)
        assert status == 200 and b'"database"' in body
    assert "Traceback" not in live.log.read_text(errors="replace")
