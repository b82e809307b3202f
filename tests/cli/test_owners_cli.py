"""``flakeguard owners``, ``flakeguard route`` and ``flakeguard test`` showing owners."""

from __future__ import annotations

import sqlite3

from tests.cli.conftest import run_cli

CODEOWNERS = "* @acme/core\n/tests/payments/ @acme/payments\n/tests/payments/legacy/\n!bad @x\n"


def _seed(workdir) -> None:  # type: ignore[no-untyped-def]
    assert run_cli("repo", "add", "acme/widgets", cwd=workdir).returncode == 0
    with sqlite3.connect(workdir / "flakeguard.db") as conn:
        conn.execute(
            "INSERT INTO repo_file (repository_id, kind, path, content, digest, source,"
            " commit_sha, fetched_at) VALUES (1, 'codeowners', '.github/CODEOWNERS', ?, '',"
            " 'upload', '', '2026-01-01')",
            (CODEOWNERS,),
        )
        conn.execute(
            "INSERT INTO test_case (repository_id, key, suite, classname, name, first_seen,"
            " last_seen) VALUES (1, 'k', '', 'tests.payments.test_x', 'test_refund',"
            " '2026-01-01', '2026-01-01')"
        )
        conn.execute(
            "INSERT INTO slack_workspace (team_id, enterprise_id, name, tenant_id, linked_by,"
            " created_at) VALUES ('T01', '', '', 1, 'operator', '2026-01-01')"
        )


def test_owners_explains_which_line_decides(workdir) -> None:  # type: ignore[no-untyped-def]
    _seed(workdir)
    out = run_cli(
        "owners",
        "acme/widgets",
        "tests/payments/test_x.py",
        "tests/payments/legacy/a.py",
        "README.md",
        cwd=workdir,
    ).stdout
    assert "acme/widgets: .github/CODEOWNERS (from upload)" in out
    assert "tests/payments/test_x.py: @acme/payments (line 2, /tests/payments/)" in out
    assert (
        "tests/payments/legacy/a.py: no owner (line 3, /tests/payments/legacy/, names none)" in out
    )
    assert "README.md: @acme/core (line 1, *)" in out
    assert "problem: .github/CODEOWNERS: line 4: negation with ! is not supported" in out


def test_route_and_test_show_the_owner(workdir) -> None:  # type: ignore[no-untyped-def]
    _seed(workdir)
    routed = run_cli("route", "@Acme/Payments", "T01", "C0PAY", cwd=workdir)
    assert routed.returncode == 0 and "@acme/payments: alerts go to C0PAY in T01" in routed.stdout
    assert "@acme/payments -> C0PAY (T01)" in run_cli("route", cwd=workdir).stdout
    unlinked = run_cli("route", "@acme/core", "T99", "C0X", cwd=workdir)
    assert unlinked.returncode == 1 and "not linked" in unlinked.stderr
    bad = run_cli("route", "not an owner!", "T01", "C0PAY", cwd=workdir)
    assert bad.returncode == 1 and "is not a GitHub @user or @org/team" in bad.stderr
    shown = run_cli("test", "test_refund", cwd=workdir).stdout
    assert "owners (CODEOWNERS): @acme/payments" in shown
    removed = run_cli("route", "--remove", "@acme/payments", cwd=workdir)
    assert removed.returncode == 0
    assert "no routes" in run_cli("route", cwd=workdir).stdout


def test_repo_files_shows_and_sets_how_uploads_are_trusted(workdir) -> None:  # type: ignore[no-untyped-def]
    """`repo files`: OIDC-proven Actions jobs by default; the ingest token when set."""
    _seed(workdir)
    shown = run_cli("repo", "files", "acme/widgets", cwd=workdir)
    assert shown.returncode == 0 and "proven by their OIDC token" in shown.stdout
    trusted = run_cli("repo", "files", "acme/widgets", "--trust", "ingest-token", cwd=workdir)
    assert "on the word of the ingest token" in trusted.stdout
    assert (
        "on the word of the ingest token"
        in run_cli("repo", "files", "acme/widgets", cwd=workdir).stdout
    )
    bad = run_cli("repo", "files", "acme/widgets", "--trust", "anyone", cwd=workdir)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr
    unknown = run_cli("repo", "files", "acme/nothing", cwd=workdir)
    assert unknown.returncode == 1


def test_route_list_shows_the_last_error_of_a_routes_channel(workdir) -> None:  # type: ignore[no-untyped-def]
    _seed(workdir)
    assert run_cli("route", "@acme/payments", "T01", "C0PAY", cwd=workdir).returncode == 0
    with sqlite3.connect(workdir / "flakeguard.db") as conn:
        conn.execute("UPDATE owner_route SET last_error = 'channel_not_found'")
    listed = run_cli("route", "list", cwd=workdir).stdout
    assert "@acme/payments -> C0PAY (T01) [last post failed: channel_not_found]" in listed
