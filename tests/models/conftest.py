"""Fixtures for the model and migration tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from peewee import Database

from models.base import make_database
from tests.conftest import scratch_pg_database


@pytest.fixture(params=["sqlite", "postgresql"])
def scratch(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """An empty, unmigrated database of the test's own (on each backend), for migration tests."""
    if request.param == "sqlite":
        database = make_database(f"sqlite:///{tmp_path / 'scratch.db'}", pooled=False)
        yield database
        database.close()
        return
    with scratch_pg_database("flakeguard_scratch") as url:
        database = make_database(url, pooled=False)
        try:
            yield database
        finally:
            database.close()
