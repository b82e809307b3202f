"""``flakeguard tenant …`` and ``flakeguard secrets …`` through the real console script."""

from __future__ import annotations

import os
import stat

from tests.cli.conftest import run_cli


def test_tenant_create_link_list_unlink(workdir) -> None:  # type: ignore[no-untyped-def]
    """An operator creates a tenant, links a workspace, sees it listed, unlinks it."""
    assert run_cli("migrate", cwd=workdir).returncode == 0
    created = run_cli("tenant", "create", "acme", "--name", "Acme Corp", cwd=workdir)
    assert created.returncode == 0 and "acme" in created.stdout
    linked = run_cli("tenant", "link", "T0ACME", "acme", cwd=workdir)
    assert linked.returncode == 0 and "T0ACME" in linked.stdout
    listing = run_cli("tenant", "list", cwd=workdir).stdout
    assert (
        "acme  Acme Corp" in listing and "T0ACME" in listing and "(linked by operator)" in listing
    )
    unlinked = run_cli("tenant", "unlink", "T0ACME", cwd=workdir)
    assert unlinked.returncode == 0
    listing = run_cli("tenant", "list", cwd=workdir).stdout
    assert "unlinked (they see nothing):" in listing


def test_unknown_names_exit_2_with_one_line(workdir) -> None:  # type: ignore[no-untyped-def]
    """An unknown tenant or workspace, or a taken slug: one line on stderr, exit 2."""
    run_cli("migrate", cwd=workdir)
    for args in (
        ("tenant", "link", "T0ACME", "nobody"),
        ("tenant", "unlink", "T0NOBODY"),
        ("tenant", "create", "default"),
    ):
        result = run_cli(*args, cwd=workdir)
        assert result.returncode == 2, args
        assert len(result.stderr.strip().splitlines()) == 1, (args, result.stderr)


def test_embedded_default_keeps_a_private_key_file(workdir) -> None:  # type: ignore[no-untyped-def]
    """No FLAKEGUARD_SECRET_KEY on SQLite: a key file beside the database, mode 0600, kept."""
    run_cli("migrate", cwd=workdir)
    key_file = workdir / "flakeguard-secret.key"
    first = key_file.read_text()
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    run_cli("migrate", cwd=workdir)
    assert key_file.read_text() == first


def test_oauth_without_a_key_refuses_to_start_with_one_line(workdir) -> None:  # type: ignore[no-untyped-def]
    """Slack OAuth and no FLAKEGUARD_SECRET_KEY: exit 2, one line naming the variable."""
    result = run_cli(
        "migrate",
        cwd=workdir,
        SLACK_SIGNING_SECRET="s",
        SLACK_CLIENT_ID="1.2",
        SLACK_CLIENT_SECRET="c",
    )
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert "FLAKEGUARD_SECRET_KEY" in line
    assert not (workdir / "flakeguard.db").exists()


def test_a_malformed_key_is_named_not_shown(workdir) -> None:  # type: ignore[no-untyped-def]
    """A key that is not a Fernet key: exit 2, the variable named, the value never printed."""
    result = run_cli("migrate", cwd=workdir, FLAKEGUARD_SECRET_KEY="not-a-key-s3cr3t")
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert "FLAKEGUARD_SECRET_KEY" in line and "s3cr3t" not in line


def test_secrets_new_key_and_rotate(workdir) -> None:  # type: ignore[no-untyped-def]
    """new-key prints a usable key; rotate with a new key first re-encrypts and exits 0."""
    old = run_cli("secrets", "new-key", cwd=workdir).stdout.strip()
    new = run_cli("secrets", "new-key", cwd=workdir).stdout.strip()
    assert len(old) == 44 and old != new
    assert run_cli("migrate", cwd=workdir, FLAKEGUARD_SECRET_KEY=old).returncode == 0
    rotated = run_cli("secrets", "rotate", cwd=workdir, FLAKEGUARD_SECRET_KEY=f"{new},{old}")
    assert rotated.returncode == 0 and "re-encrypted" in rotated.stdout
