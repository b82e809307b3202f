"""Test identities, runs, results (packed: ``models.packing``), verdicts and domain events."""

from __future__ import annotations

from typing import Any

import psycopg
from peewee import (
    AutoField,
    BigAutoField,
    BigIntegerField,
    BlobField,
    BooleanField,
    CharField,
    DateTimeField,
    FloatField,
    ForeignKeyField,
    IntegerField,
    JSONField,
    SmallIntegerField,
    TextField,
)

from models.base import BaseModel, CreatedModel, UpdatedModel, db, is_postgres, utcnow
from models.repos import Repository

# + repository id: the lock of migration 0046's numbering (its trigger, before 0048)
CASE_ORDINAL_LOCK = 0x4647_4F52 << 32


class TestCase(BaseModel):
    """The identity of one test in one repository.

    ``ordinal`` numbers a repository's tests from 0 in the order they were
    created (dense but for the ordinals of uploads that rolled back): the packed
    results keep a run's outcomes in blocks of consecutive ordinals. New tests
    are numbered by :func:`reserve_ordinals`.
    """

    __test__ = False  # not a pytest class

    id = AutoField()
    repository = ForeignKeyField(Repository, backref="tests", on_delete="CASCADE")
    key = CharField(max_length=512)
    suite = CharField(max_length=512, default="")
    classname = CharField(max_length=512, default="")
    name = CharField(max_length=512, index=True)  # /flakeguard test <exact name>
    file = CharField(max_length=512, null=True)
    line = IntegerField(null=True)
    # NULL only for the moment of an insert by code that does not number its tests (a
    # trigger numbers it: migration 0046); every stored test has one.
    ordinal = IntegerField(null=True)
    first_seen = DateTimeField(default=utcnow)
    last_seen = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("repository", "key"), True), (("repository", "ordinal"), True))

    def save(self, *args: Any, **kwargs: Any) -> Any:
        """Save; a new test without an ordinal gets the repository's next one."""
        if self.id is None and self.ordinal is None:
            with db.atomic():  # SQLite numbers inside the writing transaction
                self.ordinal = next_ordinal(self.repository_id)
                return super().save(*args, **kwargs)
        return super().save(*args, **kwargs)


# PostgreSQL: the next free ordinal per repository (migration 0048; no model: only
# ``reserve_ordinals`` reads or writes it, on a connection of its own).
ORDINAL_COUNTER = "ordinal_counter"
RESERVE_LOCK_TIMEOUT = "10s"  # a reservation waits only for another one (microseconds)
_RESERVE = (
    f"INSERT INTO {ORDINAL_COUNTER} AS c (repository_id, next_ordinal) "
    "SELECT %(repo)s, coalesce(max(ordinal) + 1, 0) + %(count)s FROM test_case "
    "WHERE repository_id = %(repo)s "
    # past every committed ordinal too (a test inserted with its own, as a bench seeds them)
    "ON CONFLICT (repository_id) DO UPDATE SET next_ordinal = "
    "greatest(c.next_ordinal, excluded.next_ordinal - %(count)s) + %(count)s "
    "RETURNING next_ordinal - %(count)s"
)


def reserve_ordinals(repository_id: int, count: int) -> int:
    """The first of ``count`` consecutive ordinals reserved for new tests of the repository.

    PostgreSQL: reserved and committed at once on a connection of its own, so
    the caller's transaction holds no lock for them: uploads adding tests to
    one repository do not wait for each other to commit. An ordinal reserved by
    a transaction that rolls back is never used (a gap in the numbering).
    SQLite (one writer at a time): the highest ordinal + 1, in the caller's
    transaction.
    """
    if not is_postgres():
        sql = "SELECT max(ordinal) FROM test_case WHERE repository_id = ?"
        highest = db.execute_sql(sql, (repository_id,)).fetchone()[0]
        return 0 if highest is None else int(highest) + 1
    database = db.obj
    with (
        psycopg.connect(
            dbname=database.database, autocommit=True, **database.connect_params
        ) as connection,
        connection.transaction(),
    ):
        connection.execute("SELECT set_config('lock_timeout', %s, true)", (RESERVE_LOCK_TIMEOUT,))
        row = connection.execute(_RESERVE, {"repo": repository_id, "count": count})
        return int(row.fetchone()[0])  # type: ignore[index]


def next_ordinal(repository_id: int) -> int:
    """The next free ordinal of the repository, reserved (``reserve_ordinals``)."""
    return reserve_ordinals(repository_id, 1)


class TestRun(BaseModel):
    """One uploaded report or CI job."""

    __test__ = False

    id = AutoField()
    repository = ForeignKeyField(Repository, backref="runs", on_delete="CASCADE")
    sha = CharField(max_length=40)
    branch = CharField(max_length=255, default="")
    pr = IntegerField(null=True)
    ci_run_id = CharField(max_length=100, default="")
    job = CharField(max_length=255, default="")
    attempt = IntegerField(default=1)
    source = CharField(max_length=20, default="upload")
    content_digest = CharField(max_length=64)
    report_format = CharField(max_length=40, null=True)
    tests = IntegerField(default=0)
    passed = IntegerField(default=0)
    failures = IntegerField(default=0)
    errors = IntegerField(default=0)
    skipped = IntegerField(default=0)
    duration = FloatField(default=0.0)
    started_at = DateTimeField(null=True)
    received_at = DateTimeField(default=utcnow)
    analyzed_at = DateTimeField(null=True)
    tainted = BooleanField(default=False)
    correlation_id = CharField(max_length=64, null=True)

    class Meta:
        indexes = (
            # The duplicate-upload key: the same report for another commit is another run.
            (("repository", "sha", "ci_run_id", "job", "attempt", "content_digest"), True),
            (("repository", "received_at"), False),
            (("repository", "sha"), False),
            (("analyzed_at",), False),
        )


class ResultBlock(BaseModel):
    """The final outcomes of one run's tests with ordinals ``64 * block`` to ``64 * block + 63``.

    ``codes`` and ``durations`` are packed (``models.packing``); ``created_at`` is
    the run's date, shared by all of its results (the partition key on
    PostgreSQL, by month). A row per block a run reports: 1/64 of a row per result.
    """

    created_at = DateTimeField()
    repository = ForeignKeyField(Repository, on_delete="CASCADE", index=False)
    run = ForeignKeyField(TestRun, on_delete="CASCADE", index=False)
    block = IntegerField()
    codes = BlobField()
    durations = BlobField()

    class Meta:
        primary_key = False
        indexes = (
            (("repository", "block", "created_at", "run"), False),  # one test's history
            # one run's results (run_id first: the cascade from test_run uses it too)
            (("run", "repository", "created_at"), False),
            (("created_at",), False),  # retention, oldest first
        )


class ResultAttempt(BaseModel):
    """One attempt of a test in a run stored on its own (``models.packing``): failures with
    their message, retries, second occurrences."""

    created_at = DateTimeField()
    repository = ForeignKeyField(Repository, on_delete="CASCADE", index=False)
    run = ForeignKeyField(TestRun, on_delete="CASCADE", index=False)
    test_case = ForeignKeyField(TestCase, on_delete="CASCADE", index=False)
    duration_ms = IntegerField()
    message_id = BigIntegerField(null=True)  # FailureMessage of the same month
    status = SmallIntegerField()  # packing.STATUS_CODES
    retry = SmallIntegerField()
    packed = BooleanField()  # the test's final outcome, also in its ResultBlock

    class Meta:
        primary_key = False
        indexes = (
            (("run", "repository", "created_at"), False),
            (("repository", "test_case", "created_at"), False),  # one test's failures
            (("created_at",), False),
        )


class FailureMessage(BaseModel):
    """A distinct (message, failure type) of a repository's failures in one month.

    Stored once per month, so that a month of messages goes with that month's
    results (a partition on PostgreSQL) and nothing refers to it afterwards.
    """

    id = BigAutoField()
    repository = ForeignKeyField(Repository, on_delete="CASCADE", index=False)
    month = DateTimeField()  # the first day of the month of the results that use it
    digest = BlobField()  # SHA-256 of failure type, NUL, message
    message = TextField(null=True)
    failure_type = CharField(max_length=255, null=True)

    class Meta:
        indexes = ((("repository", "month", "digest"), True),)


class FlakeScore(UpdatedModel):
    """The current verdict for one test, plus the engine's bounded per-test state."""

    id = AutoField()
    test_case = ForeignKeyField(TestCase, unique=True, backref="score", on_delete="CASCADE")
    repository = ForeignKeyField(Repository, backref="scores", on_delete="CASCADE")
    state = CharField(max_length=16, default="insufficient")
    score = FloatField(default=0.0)
    low = FloatField(default=0.0)
    high = FloatField(default=1.0)
    quarantine_recommended = BooleanField(default=False)
    reason = TextField(default="")
    evidence = JSONField(default=dict)  # engine Evidence, zeros and absent values left out
    # engine TestState.to_bytes() (JSON text for a state stored before migration 0035)
    engine_state = BlobField(null=True)
    runs_seen = IntegerField(default=0)
    state_since = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("repository", "state"), False),)


class DomainEvent(CreatedModel):
    """A verdict change (became flaky, broken, fixed); pending until every consumer handled it."""

    id = BigAutoField()
    repository = ForeignKeyField(Repository, backref="events", on_delete="CASCADE")
    test_case = ForeignKeyField(TestCase, null=True, backref="events", on_delete="CASCADE")
    kind = CharField(max_length=32)
    data = JSONField(default=dict)
    slack_done_at = DateTimeField(null=True)
    github_done_at = DateTimeField(null=True)

    class Meta:
        indexes = (
            (("slack_done_at",), False),
            (("github_done_at",), False),
            (("repository", "created_at"), False),  # a repository's changes of the week
        )


class InfraEvent(CreatedModel):
    """A run whose failures were excluded as an infrastructure storm."""

    id = AutoField()
    run = ForeignKeyField(TestRun, unique=True, on_delete="CASCADE")
    failed = IntegerField()
    total = IntegerField()
