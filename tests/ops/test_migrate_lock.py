"""Concurrent ``flakeguard migrate`` (several release processes at once): one applies the
migrations, the others wait for it and find the database up to date; nobody crashes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import psycopg

from tests.cli.conftest import FLAKEGUARD, clean_env
from tests.conftest import scratch_pg_database

PROCESSES = 3


def _migrate_concurrently(database_url: str, cwd: Path) -> list[subprocess.CompletedProcess[str]]:
    """Start PROCESSES ``flakeguard migrate`` at once on an empty database; wait for all."""
    env = clean_env(DATABASE_URL=database_url)
    procs = [
        subprocess.Popen(
            [FLAKEGUARD, "migrate"],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return results


def _check(results: list[subprocess.CompletedProcess[str]]) -> None:
    for result in results:
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
    outputs = sorted(r.stdout.strip().splitlines()[-1] for r in results)
    assert sum(o.startswith("applied: ") for o in outputs) == 1, outputs
    assert outputs.count("database is up to date") == PROCESSES - 1, outputs


def test_concurrent_migrate_on_postgresql_applies_once(tmp_path: Path) -> None:
    """Three `flakeguard migrate` on one empty PostgreSQL database: an advisory lock lets one
    apply every migration once; the other two exit 0 with "database is up to date"."""
    with scratch_pg_database("flakeguard_migrate_lock") as url:
        _check(_migrate_concurrently(url, tmp_path))
        with psycopg.connect(url) as conn:
            names = [r[0] for r in conn.execute("SELECT name FROM schema_migration")]
        assert len(names) == len(set(names)) > 0


def test_concurrent_migrate_on_sqlite_applies_once(tmp_path: Path) -> None:
    """Three `flakeguard migrate` on one new SQLite file: a file lock lets one apply them."""
    path = tmp_path / "fresh.db"
    _check(_migrate_concurrently(f"sqlite:///{path}", tmp_path))
    import sqlite3

    with sqlite3.connect(path) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM schema_migration")]
    assert len(names) == len(set(names)) > 0
