"""The one database handle: a proxy initialised from a URL at start, never at import."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlparse

from peewee import DatabaseProxy, DateTimeField, Model, PostgresqlDatabase, SqliteDatabase
from playhouse.pool import PooledPostgresqlDatabase

db = DatabaseProxy()

SQLITE_PRAGMAS = (
    ("journal_mode", "wal"),
    ("foreign_keys", 1),
    ("busy_timeout", 10_000),
    ("synchronous", "normal"),
    ("cache_size", -32_000),
)


def utcnow() -> datetime:
    """Naive UTC now: what every DateTimeField stores, on both databases."""
    return datetime.now(UTC).replace(tzinfo=None)


def as_aware(value: datetime) -> datetime:
    """Attach UTC to a naive database timestamp."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def make_database(url: str, *, pooled: bool = True) -> SqliteDatabase | PostgresqlDatabase:
    """Build (without connecting) a peewee database for a sqlite:/// or postgresql:// URL."""
    parsed = urlparse(url)
    scheme = parsed.scheme.split("+")[0]
    options = dict(parse_qsl(parsed.query))
    if scheme == "sqlite":
        path = parsed.path[1:]
        return SqliteDatabase(path, pragmas=SQLITE_PRAGMAS, timeout=10, check_same_thread=False)
    if scheme in ("postgres", "postgresql"):
        kwargs: dict[str, object] = {
            "host": parsed.hostname or "127.0.0.1",
            "port": parsed.port or 5432,
            "user": parsed.username or "postgres",
            "prefer_psycopg3": True,
            "autoconnect": True,
        }
        if parsed.password:
            kwargs["password"] = parsed.password
        kwargs.update(options)
        if pooled:
            kwargs.setdefault("max_connections", 20)
            kwargs.setdefault("stale_timeout", 300)
            kwargs.setdefault("timeout", 10)
            return PooledPostgresqlDatabase(parsed.path[1:], **kwargs)
        return PostgresqlDatabase(parsed.path[1:], **kwargs)
    raise ValueError(f"unsupported database URL scheme {parsed.scheme!r}")


def init_db(url: str, *, pooled: bool = True) -> SqliteDatabase | PostgresqlDatabase:
    """Point the shared proxy at the database named by ``url`` and return it."""
    current = db.obj
    if current is not None and getattr(current, "flakeguard_url", None) == (url, pooled):
        return current  # keep the pool: one handle per process and URL
    if current is not None:
        close_database(current)
    database = make_database(url, pooled=pooled)
    database.flakeguard_url = (url, pooled)
    db.initialize(database)
    return database


def close_database(database: SqliteDatabase | PostgresqlDatabase) -> None:
    """Close this thread's connection and, for a pool, every idle pooled connection."""
    if not database.is_closed():
        database.close()
    close_all = getattr(database, "close_all", None)
    if close_all is not None:
        close_all()


@contextmanager
def locked_transaction(lock_key: int) -> Iterator[None]:
    """A write transaction serialised with every other one holding ``lock_key``.

    PostgreSQL: a transaction-scoped advisory lock. SQLite: BEGIN IMMEDIATE
    (SQLite has one writer at a time anyway; IMMEDIATE avoids upgrade deadlocks).
    """
    if is_postgres():
        with db.atomic():
            db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (lock_key,))
            yield
    elif db.transaction_depth() == 0:
        with db.atomic("IMMEDIATE"):
            yield
    else:
        with db.atomic():
            yield


def is_postgres() -> bool:
    """True when the proxy currently points at PostgreSQL."""
    return isinstance(db.obj, PostgresqlDatabase)


class BaseModel(Model):
    class Meta:
        database = db
        legacy_table_names = False


class CreatedModel(BaseModel):
    """A row that records when it was created."""

    created_at = DateTimeField(default=utcnow)


class UpdatedModel(BaseModel):
    """A row that records when it last changed (its writers set ``updated_at``)."""

    updated_at = DateTimeField(default=utcnow)


class StampedModel(CreatedModel):
    """A row that records when it was created and when it last changed."""

    updated_at = DateTimeField(default=utcnow)
