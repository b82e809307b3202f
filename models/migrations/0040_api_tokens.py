"""API tokens (``api_token``), and two indexes for the dashboard's and the API's reads.

- ``api_token``: a tenant's bearer tokens for ``/api/v1``, stored as SHA-256
  with the prefix people see, read-only or allowed to act on quarantines.
- ``test_result_failure``: the failures of a test by time, a partial index
  (failures are a few percent of all results) for the flake rate and CI time
  lost of the last 30 days and a test's failure messages. On PostgreSQL it is
  built CONCURRENTLY, so writes to the big table go on while it builds.
- ``domain_event (repository_id, created_at)``: a repository's changes of the week.

``down`` drops all three.
"""

from peewee import (
    AutoField,
    BooleanField,
    CharField,
    DateTimeField,
    ForeignKeyField,
    PostgresqlDatabase,
)

from models.migrations import frozen

atomic = False  # CREATE INDEX CONCURRENTLY runs outside a transaction

FAILURE_INDEX = (
    "test_result_failure ON test_result (test_case_id, created_at) "
    "WHERE status IN ('failed', 'error')"
)
EVENT_INDEX = "domain_event_repository_id_created_at ON domain_event (repository_id, created_at)"


def _postgres(db):
    return isinstance(getattr(db, "obj", db), PostgresqlDatabase)


def _model(db):
    return frozen.model(db, "ApiToken", "api_token", {
        "id": AutoField(),
        "tenant": ForeignKeyField(frozen.model(db, "Tenant", "tenant"), on_delete="CASCADE"),
        "name": CharField(max_length=100),
        "token_hash": CharField(max_length=64, unique=True),
        "prefix": CharField(max_length=16, index=True),
        "created_by": CharField(max_length=200, default=""),
        "can_act": BooleanField(default=False),
        "created_at": DateTimeField(),
        "last_used_at": DateTimeField(null=True),
        "revoked_at": DateTimeField(null=True),
    })


def up(migrator, db):
    with db.atomic():
        db.create_tables([_model(db)])
        db.execute_sql("CREATE INDEX IF NOT EXISTS " + EVENT_INDEX)
    if _postgres(db):
        db.execute_sql("CREATE INDEX CONCURRENTLY IF NOT EXISTS " + FAILURE_INDEX)
    else:
        db.execute_sql("CREATE INDEX IF NOT EXISTS " + FAILURE_INDEX)


def down(migrator, db):
    db.execute_sql("DROP INDEX IF EXISTS test_result_failure")
    db.execute_sql("DROP INDEX IF EXISTS domain_event_repository_id_created_at")
    db.drop_tables([_model(db)])
