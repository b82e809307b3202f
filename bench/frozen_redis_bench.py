"""Frozen Redis: upload and /health latency on a live gunicorn while Redis is SIGSTOPped.

    .venv/bin/python bench/frozen_redis_bench.py [--uploads 10]

Starts its own redis-server on a free port and gunicorn (2 workers x 4 threads, the
repository's gunicorn.conf.py) on a fresh PostgreSQL database, measures uploads and
/health with Redis answering, then with Redis frozen (SIGSTOP), and prints the figures
against the targets of issue #15 (uploads under 5 s, /health under 1 s).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.ops.live import RedisServer, live_flakeguard, request, upload


def measure(base: str, token: str, label: str, uploads: int) -> tuple[float, float]:
    """Print and return the worst upload and /health latency of ``uploads`` rounds."""
    upload_s: list[float] = []
    health_s: list[float] = []
    for i in range(uploads):
        status, seconds = upload(base, token, run_id=f"{label}-{i}")
        assert status == 201, status
        upload_s.append(seconds)
        status, _, seconds = request(base + "/health", timeout=30)
        assert status == 200, status
        health_s.append(seconds)
    print(
        f"{label:>14}: upload p50 {statistics.median(upload_s):6.3f} s  max {max(upload_s):6.3f} s"
        f"   /health p50 {statistics.median(health_s):6.3f} s  max {max(health_s):6.3f} s"
    )
    return max(upload_s), max(health_s)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        redis_server = RedisServer(Path(tmp))
        redis_server.start()
        try:
            with live_flakeguard(Path(tmp), redis_url=redis_server.url) as server:
                token = server.add_repository("acme/shop")
                measure(server.url, token, "redis up", args.uploads)
                redis_server.freeze()
                try:
                    worst_upload, worst_health = measure(
                        server.url, token, "redis frozen", args.uploads
                    )
                finally:
                    redis_server.thaw()
        finally:
            redis_server.stop()
    print(
        f"frozen Redis: worst upload {worst_upload:.2f} s (target < 5 s: "
        f"{'ok' if worst_upload < 5 else 'MISSED'}), worst /health {worst_health:.3f} s "
        f"(target < 1 s: {'ok' if worst_health < 1 else 'MISSED'})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
