"""Fixtures for the REST API tests: a repository with its ingest token, DB snapshots."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from flakeguard.usecases.repos import add_repository
from models import ALL_MODELS
from tests.conftest import RepoToken


@pytest.fixture
def other(database: object) -> RepoToken:
    """A second repository, acme/other, with its own token."""
    repo, token = add_repository("acme/other")
    return RepoToken(repo, token)


def snapshot() -> dict[str, int]:
    """Row counts of every table (ingest tokens' last-use time aside, nothing else moves)."""
    return {model._meta.table_name: model.select().count() for model in ALL_MODELS}


LIMIT = 64 * 1024


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    """The shared test settings with a small report limit (64 KiB) to test 413s cheaply."""
    from dataclasses import replace

    return replace(settings, max_report_bytes=LIMIT)


@pytest.fixture
def analyzed(db_url: str) -> Iterator[list[tuple[int, int]]]:
    """Record analyze_run jobs as (run_id, results committed and visible elsewhere)."""
    import tasks  # noqa: F401  (registers the real jobs first, so ours wins)
    from flakeguard import jobs

    calls: list[tuple[int, int]] = []

    def analyze_run(run_id: int) -> None:
        calls.append((run_id, committed_results(db_url, run_id)))

    with jobs.replaced({jobs.Job.ANALYZE_RUN: analyze_run}):
        yield calls


def committed_results(db_url: str, run_id: int) -> int:
    """Attempts stored for a run seen from a separate connection (so only committed ones):
    the outcomes in its blocks and its attempt rows of their own."""
    blocks = "SELECT codes FROM result_block WHERE run_id = {p}"
    others = "SELECT count(*) FROM result_attempt WHERE run_id = {p} AND NOT packed"
    if db_url.startswith("sqlite"):
        import sqlite3

        conn = sqlite3.connect(db_url.removeprefix("sqlite:///"))
        try:
            codes = conn.execute(blocks.format(p="?"), (run_id,)).fetchall()
            extra = conn.execute(others.format(p="?"), (run_id,)).fetchone()[0]
        finally:
            conn.close()
    else:
        import psycopg

        with psycopg.connect(db_url) as pg:
            codes = pg.execute(blocks.format(p="%s"), (run_id,)).fetchall()
            extra = pg.execute(others.format(p="%s"), (run_id,)).fetchone()[0]  # type: ignore[index]
    return int(extra) + sum(1 for (packed,) in codes for code in bytes(packed) if code)
