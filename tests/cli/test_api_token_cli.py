"""``flakeguard api-token …`` through the real console script: create once, list, revoke."""

from __future__ import annotations

import re

from tests.cli.conftest import run_cli


def test_create_list_revoke(workdir) -> None:  # type: ignore[no-untyped-def]
    """The token is printed once; the list shows its prefix and rights, never the token."""
    assert run_cli("migrate", cwd=workdir).returncode == 0
    created = run_cli("api-token", "create", "dashboard", "--act", cwd=workdir)
    assert created.returncode == 0, created.stderr
    token = re.search(r"(fga_[A-Za-z0-9_-]{43})", created.stdout).group(1)
    assert "read and act on quarantines" in created.stdout
    read_only = run_cli("api-token", "create", "grafana", "--tenant", "default", cwd=workdir)
    assert "read only" in read_only.stdout
    listing = run_cli("api-token", "list", cwd=workdir).stdout
    assert token[:10] in listing and token not in listing
    assert re.search(r"dashboard\s+act\s+cli", listing) and re.search(r"grafana\s+read", listing)
    revoked = run_cli("api-token", "revoke", token[:10], cwd=workdir)
    assert revoked.returncode == 0 and "revoked API token" in revoked.stdout
    again = run_cli("api-token", "revoke", token[:10], cwd=workdir)
    assert "already revoked" in again.stdout


def test_refusals_are_one_line_exit_2(workdir) -> None:  # type: ignore[no-untyped-def]
    """An unknown tenant or prefix, an empty name: one line on stderr, exit 2."""
    run_cli("migrate", cwd=workdir)
    for args in (
        ("api-token", "create", "x", "--tenant", "nobody"),
        ("api-token", "create", "  "),
        ("api-token", "revoke", "fga_nothing"),
        ("api-token", "list", "--tenant", "nobody"),
    ):
        result = run_cli(*args, cwd=workdir)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, (args, result.stderr)
