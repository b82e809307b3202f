"""`flakeguard demo` on a fresh directory: the newcomer's first look."""

from __future__ import annotations

import re
import subprocess

from tests.cli.conftest import FLAKEGUARD, clean_env, run_cli


def test_demo_prints_flaky_broken_and_healthy(workdir) -> None:  # type: ignore[no-untyped-def]
    """The demo needs no configuration and prints verdicts with reasons and next steps."""
    result = run_cli("demo", cwd=workdir)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "flaky 3" in out and "broken 1" in out
    assert "passed and failed on the same commit" in out
    assert "first failing commit" in out
    assert "healthy:" in out
    assert "flakeguard test payment_webhook" in out
    status = run_cli("status", cwd=workdir)
    assert "demo/webshop" in status.stdout
    test = run_cli("test", "payment_webhook", cwd=workdir)
    assert "verdict: flaky" in test.stdout
    missing = run_cli("test", "zzz_not_a_test", cwd=workdir)
    assert missing.returncode == 1 and "no test matches" in missing.stdout


def test_demo_progress_in_a_log_is_one_line_per_update(workdir) -> None:  # type: ignore[no-untyped-def]
    """Off a terminal (CI logs, pipes) progress updates are lines, not carriage returns."""
    result = subprocess.run(
        [FLAKEGUARD, "demo"], cwd=workdir, env=clean_env(), capture_output=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout.decode()
    assert "\r" not in out
    assert re.search(r"^  ingesting and analyzing CI runs: (\d+)/\1$", out, re.M)
