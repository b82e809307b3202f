"""Shared fixtures: real SQLite and PostgreSQL databases, Redis-backed Huey, the app.

Every database test runs twice, on SQLite and on PostgreSQL (a fresh database
per test session, tables emptied after each test). Services are real. When
PostgreSQL or Redis does not answer, the tests that need it are skipped,
unless FLAKEGUARD_REQUIRE_SERVICES=1 (as in CI), where that is a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import redis

from flakeguard.settings import Settings
from flakeguard.usecases.repos import add_repository
from models import ALL_MODELS, Repository, crypto, db, init_db
from models.base import close_database
from models.migrate import apply_migrations

# The key that encrypts third-party tokens in the tests (a fixed, valid Fernet key).
TEST_SECRET_KEY = "dGVzdC1zZWNyZXQta2V5LWZvci1mbGFrZWd1YXJkISE="
# The key that signs the dashboard's session cookies in the tests.
TEST_SESSION_SECRET = "test-session-secret-for-flakeguard-0123456789"
crypto.configure([TEST_SECRET_KEY])  # as create_app does; tests of the stores alone need it too

pytest_plugins = ["tests.fakes.slack", "tests.fakes.github", "tests.fakes.actions_oidc"]

PG_ADMIN_URL = os.environ.get(
    "FLAKEGUARD_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_TEST_URL = os.environ.get("FLAKEGUARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
REQUIRE_SERVICES = os.environ.get("FLAKEGUARD_REQUIRE_SERVICES") == "1"
BACKENDS = ("sqlite", "postgresql")


def service_missing(what: str, exc: BaseException) -> None:
    """Skip (locally) or fail (CI) because a required service does not answer."""
    message = f"{what} is not reachable: {exc}"
    if REQUIRE_SERVICES:
        pytest.fail(message + " (FLAKEGUARD_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(message)


@contextmanager
def scratch_pg_database(prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database named ``prefix_<random>``: its URL; dropped after.

    Skips (locally) or fails (CI) when PostgreSQL does not answer.
    """
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        service_missing("PostgreSQL", exc)
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, migrated; dropped at the end."""
    with scratch_pg_database(f"flakeguard_test_{os.getpid()}") as url:
        yield url
        database = db.obj
        if database is not None and getattr(database, "flakeguard_url", ("",))[0] == url:
            close_database(database)


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite database file for this test session."""
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'flakeguard.db'}"


_migrated: set[str] = set()


def _empty_tables(database) -> None:  # type: ignore[no-untyped-def]
    from models.bulk import CASE_IDS

    CASE_IDS.clear()  # ids restart after this: the kept test case ids would be wrong
    tables = [m._meta.table_name for m in ALL_MODELS]
    with database.connection_context():
        if "Postgres" in type(database).__name__:
            database.execute_sql(
                "TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"
            )
        else:
            with database.atomic():
                database.execute_sql("PRAGMA defer_foreign_keys = ON")
                for table in tables:
                    database.execute_sql(f'DELETE FROM "{table}"')


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest) -> str:
    """The URL of a migrated, empty test database; each test runs on SQLite and PostgreSQL."""
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    return url


@pytest.fixture
def database(db_url: str) -> Iterator[object]:
    """The models bound to the test database, emptied after the test."""
    handle = init_db(db_url)
    if db_url not in _migrated:
        apply_migrations(handle)
        _migrated.add(db_url)
    yield handle
    _empty_tables(handle)
    handle.close()


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    """Settings for the test database with the queue in immediate mode, no integrations."""
    return Settings(
        database_url=db_url,
        queue_mode="immediate",
        queue_path=str(tmp_path / "queue.db"),
        public_url="http://flakeguard.test",
        secret_keys=(TEST_SECRET_KEY,),
        session_secret=TEST_SESSION_SECRET,
    )


@pytest.fixture
def app(settings: Settings, database: object):  # type: ignore[no-untyped-def]
    """The Flask app on the test database."""
    from flakeguard.app import create_app

    application = create_app(settings)
    application.testing = True
    yield application
    import tasks

    tasks.configure(Settings(queue_mode="immediate"))


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    """A Flask test client."""
    return app.test_client()


@dataclass
class RepoToken:
    """A repository and the plain text of its ingest token."""

    repo: Repository
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def acme(database: object) -> RepoToken:
    """Repository acme/shop with an ingest token."""
    repo, token = add_repository("acme/shop")
    return RepoToken(repo, token)


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis URL (database 15) that answers; keys under our test names are removed after."""
    conn = redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=3)
    try:
        conn.ping()
    except redis.RedisError as exc:
        service_missing("Redis", exc)
    yield REDIS_TEST_URL
    conn.close()


@pytest.fixture
def redis_huey(redis_url: str, db_url: str):  # type: ignore[no-untyped-def]
    """The app's Huey instance on Redis, under a key prefix of its own, cleaned after."""
    import tasks

    name = f"flakeguard-test-{uuid.uuid4().hex[:8]}"
    queue = tasks.configure(Settings(database_url=db_url, redis_url=redis_url), name=name)
    queue.flush()
    yield queue
    queue.flush()
    tasks.configure(Settings(queue_mode="immediate"))
