"""The console script: configuration errors, migrate, repo add, serve on both databases."""

from __future__ import annotations

import json

import pytest

from tests.cli.conftest import run_cli, serving, wait_for


def test_bad_database_url_exits_2_with_one_line(workdir) -> None:  # type: ignore[no-untyped-def]
    """DATABASE_URL=nonsense flakeguard serve exits 2 with one line naming DATABASE_URL."""
    result = run_cli("serve", cwd=workdir, DATABASE_URL="nonsense")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "DATABASE_URL" in lines[0]
    assert not (workdir / "flakeguard.db").exists()


@pytest.mark.parametrize(
    "command",
    [["serve"], ["worker"], ["migrate"], ["repo", "add"], ["repo", "token"], ["policy"]],
)
def test_every_command_has_help(workdir, command) -> None:  # type: ignore[no-untyped-def]
    """Each sub-command answers --help with its usage."""
    result = run_cli(*command, "--help", cwd=workdir)
    assert result.returncode == 0
    assert result.stdout.startswith("usage: flakeguard " + " ".join(command))


def test_migrate_twice_and_repo_add(workdir) -> None:  # type: ignore[no-untyped-def]
    """migrate is idempotent; repo add prints a token once and refuses a duplicate."""
    first = run_cli("migrate", cwd=workdir)
    second = run_cli("migrate", cwd=workdir)
    assert "applied: 0001_initial" in first.stdout
    assert "up to date" in second.stdout
    added = run_cli("repo", "add", "acme/widgets", cwd=workdir)
    assert added.returncode == 0
    token = added.stdout.strip().rsplit(" ", 1)[-1]
    assert token.startswith("fgi_")
    again = run_cli("repo", "add", "acme/widgets", cwd=workdir)
    assert again.returncode == 1 and "already exists" in again.stderr
    assert token.encode() not in (workdir / "flakeguard.db").read_bytes()
    second = run_cli("repo", "token", "acme/widgets", "--label", "ci", cwd=workdir)
    other = second.stdout.strip().rsplit(" ", 1)[-1]
    assert second.returncode == 0 and other.startswith("fgi_") and other != token
    unknown = run_cli("repo", "token", "acme/nothing", cwd=workdir)
    assert unknown.returncode == 1 and "unknown repository" in unknown.stderr


def test_serve_embedded_default_is_ready(workdir) -> None:  # type: ignore[no-untyped-def]
    """With no variables at all, serve migrates SQLite and /health/ready is 200."""
    with serving(workdir) as (url, _proc):
        status, body = wait_for(url + "/health/ready")
        assert status == 200
        assert json.loads(body)["database"]["backend"] == "sqlite"
        status, body = wait_for(url + "/health/deep")
        assert json.loads(body)["queue"]["backend"] == "SqliteStorage"
    assert (workdir / "flakeguard-queue.db").exists()


def test_serve_on_postgresql_and_redis(workdir, pg_url, redis_url) -> None:  # type: ignore[no-untyped-def]
    """With DATABASE_URL on PostgreSQL and REDIS_URL set, /health/ready is 200 too."""
    with serving(workdir, DATABASE_URL=pg_url, REDIS_URL=redis_url) as (url, _proc):
        status, body = wait_for(url + "/health/ready")
        assert status == 200, body
        assert json.loads(body)["database"]["backend"] == "postgresql"
        status, body = wait_for(url + "/health/deep")
        assert json.loads(body)["queue"]["backend"] == "RedisStorage"


def test_policy_shows_and_sets_who_may_act(workdir) -> None:  # type: ignore[no-untyped-def]
    """flakeguard policy sets a workspace's approvers and shows them; bad input exits 1."""
    assert "everyone may approve" in run_cli("policy", "T01", cwd=workdir).stdout
    group = run_cli("policy", "T01", "usergroup", "S0GROUP", cwd=workdir)
    assert "members of user group S0GROUP" in group.stdout
    users = run_cli("policy", "T01", "users", "U1", "U2", cwd=workdir)
    assert "only U1, U2 may approve" in users.stdout
    bad = run_cli("policy", "T01", "usergroup", cwd=workdir)
    assert bad.returncode == 1 and "user group id" in bad.stderr
    assert "only U1, U2" in run_cli("policy", "T01", cwd=workdir).stdout


def test_repo_artifacts_filter(workdir) -> None:  # type: ignore[no-untyped-def]
    """repo artifacts shows the default filter, sets patterns, and resets them."""
    run_cli("repo", "add", "acme/widgets", cwd=workdir)
    shown = run_cli("repo", "artifacts", "acme/widgets", cwd=workdir).stdout
    assert "junit" in shown and "test-results" in shown
    changed = run_cli("repo", "artifacts", "acme/widgets", "surefire-*", "Reports", cwd=workdir)
    assert changed.stdout.strip().endswith("surefire-*, reports")
    reset = run_cli("repo", "artifacts", "acme/widgets", "--reset", cwd=workdir)
    assert "junit" in reset.stdout and "surefire" not in reset.stdout


def test_repo_add_status_and_test_take_the_tenant(workdir) -> None:  # type: ignore[no-untyped-def]
    """With one tenant --tenant may be left out; with several it is required (exit 2, one line)."""
    import sqlite3

    assert run_cli("repo", "add", "acme/widgets", cwd=workdir).returncode == 0
    with sqlite3.connect(workdir / "flakeguard.db") as conn:
        conn.execute(
            "INSERT INTO tenant (slug, name, created_at) VALUES ('rival', 'Rival', '2026-01-01')"
        )
    for args in (["repo", "add", "acme/gadgets"], ["status"], ["test", "anything"]):
        unclear = run_cli(*args, cwd=workdir)
        assert unclear.returncode == 2 and unclear.stderr.strip().splitlines() == [
            "flakeguard: several tenants: say which with --tenant SLUG"
        ]
    added = run_cli("repo", "add", "rival/secret", "--tenant", "rival", cwd=workdir)
    assert added.returncode == 0 and "for tenant rival" in added.stdout
    mine = run_cli("status", "--tenant", "default", cwd=workdir).stdout
    assert "acme/widgets" in mine and "rival/secret" not in mine
    assert run_cli("status", "--tenant", "nobody", cwd=workdir).returncode == 2
