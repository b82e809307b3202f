"""PostgreSQL: ``test_result`` becomes range-partitioned by month of ``created_at``.

Retention then drops a whole month (metadata only) instead of deleting its rows
in batches, which at a billion rows is hours of I/O and bloat. Nothing changes
on SQLite (one plain table; retention stays batched; the code path is the same).

``up`` rewrites nothing: an existing table with rows becomes the partition
``test_result_legacy`` for everything dated before the first day of next month
(the cut-over), with its indexes and foreign keys attached as they are; a CHECK
constraint validated beforehand spares ATTACH a second scan. That one read of the
table (no rewrite) happens inside the migration's transaction, with the table
locked: uploads wait for it (about 1 s per 150 MB on a small machine). Rows dated at or after the cut-over (a client
clock ahead) move to the new partitions. New monthly partitions from the cut-over
on (``test_result_YYYY_MM``, ``AHEAD`` months ready; the retention job keeps
creating them) have no primary key (nothing refers to a result by id; ids still
come from the same sequence); a default partition takes rows dated outside every
partition. The legacy partition goes as a whole once retention has passed its end.
An empty table (a new installation) is simply replaced: monthly partitions from the
current month on, older dates in the default partition.

``down`` (the rollback) puts one plain table back under the same name, indexes
and constraints: the legacy partition (or, once retention dropped it, a new
table with the primary key) is detached, the rows of the other partitions are
copied into it, and the partitioned table is dropped.
"""

from datetime import UTC, datetime

from peewee import PostgresqlDatabase

TABLE = "test_result"
LEGACY = "test_result_legacy"
DEFAULT = "test_result_default"
SEQUENCE = "test_result_id_seq"
AHEAD = 3
# (name, definition) of the plain table's indexes: migration 0001's three and 0040's partial
# index of failures. Each is made on the partitioned table, so every partition (the legacy
# one on ATTACH, each new month on CREATE) has it.
INDEXES = (
    ("testresult_run_id", "(run_id)"),
    ("testresult_test_case_id_created_at", "(test_case_id, created_at)"),
    ("testresult_created_at", "(created_at)"),
    ("test_result_failure", "(test_case_id, created_at) WHERE status IN ('failed', 'error')"),
)
FOREIGN_KEYS = (
    ("test_result_run_id_fkey", "run_id", "test_run"),
    ("test_result_test_case_id_fkey", "test_case_id", "test_case"),
)


def _postgres(db):
    return isinstance(getattr(db, "obj", db), PostgresqlDatabase)


def _relkind(db, name):
    row = db.execute_sql("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", (name,))
    row = row.fetchone()
    return row[0] if row else None


def _month(value):
    return datetime(value.year, value.month, 1)


def _next(value):
    return datetime(value.year + (value.month == 12), value.month % 12 + 1, 1)


def _literal(value):
    return f"'{value:%Y-%m-%d %H:%M:%S}'"


def _legacy_name(name):
    """The name an index of the plain table takes on the legacy partition."""
    return f"{LEGACY}_{name.removeprefix('testresult_').removeprefix(TABLE + '_')}"


def up(migrator, db):
    if not _postgres(db) or _relkind(db, TABLE) != "r":
        return
    now = datetime.now(UTC).replace(tzinfo=None)
    # Locked before the emptiness check: an upload that inserted and has not committed yet
    # holds a lock this waits for, so its rows are seen (and kept) instead of dropped below.
    db.execute_sql(f'LOCK TABLE "{TABLE}" IN ACCESS EXCLUSIVE MODE')
    empty = db.execute_sql(f'SELECT NOT EXISTS (SELECT 1 FROM "{TABLE}")').fetchone()[0]
    cutover = _month(now) if empty else _next(now)
    db.execute_sql(f'ALTER TABLE "{TABLE}" RENAME TO "{LEGACY}"')
    db.execute_sql(f'ALTER INDEX "{TABLE}_pkey" RENAME TO "{LEGACY}_pkey"')
    for name, _ in INDEXES:
        db.execute_sql(f'ALTER INDEX IF EXISTS "{name}" RENAME TO "{_legacy_name(name)}"')
    db.execute_sql(
        f'CREATE TABLE "{TABLE}" (LIKE "{LEGACY}" INCLUDING DEFAULTS) '
        "PARTITION BY RANGE (created_at)"
    )
    db.execute_sql(f'ALTER SEQUENCE "{SEQUENCE}" OWNED BY "{TABLE}".id')
    for name, columns in INDEXES:
        db.execute_sql(f'CREATE INDEX "{name}" ON "{TABLE}" {columns}')
    for name, column, target in FOREIGN_KEYS:
        db.execute_sql(
            f'ALTER TABLE "{TABLE}" ADD CONSTRAINT "{name}" FOREIGN KEY ({column}) '
            f'REFERENCES "{target}" (id) ON DELETE CASCADE'
        )
    month = cutover
    for _ in range(AHEAD + 1):
        db.execute_sql(
            f'CREATE TABLE "{TABLE}_{month:%Y_%m}" PARTITION OF "{TABLE}" '
            f"FOR VALUES FROM ({_literal(month)}) TO ({_literal(_next(month))})"
        )
        month = _next(month)
    db.execute_sql(f'CREATE TABLE "{DEFAULT}" PARTITION OF "{TABLE}" DEFAULT')
    if empty:
        db.execute_sql(f'DROP TABLE "{LEGACY}"')
        return
    # Rows dated after the cut-over belong to the new partitions (or the default one).
    db.execute_sql(
        f'WITH moved AS (DELETE FROM "{LEGACY}" WHERE created_at >= {_literal(cutover)} '
        f'RETURNING *) INSERT INTO "{TABLE}" SELECT * FROM moved'
    )
    db.execute_sql(
        f'ALTER TABLE "{LEGACY}" ADD CONSTRAINT "{LEGACY}_range" '
        f"CHECK (created_at IS NOT NULL AND created_at < {_literal(cutover)}) NOT VALID"
    )
    db.execute_sql(f'ALTER TABLE "{LEGACY}" VALIDATE CONSTRAINT "{LEGACY}_range"')
    db.execute_sql(
        f'ALTER TABLE "{TABLE}" ATTACH PARTITION "{LEGACY}" '
        f"FOR VALUES FROM (MINVALUE) TO ({_literal(cutover)})"
    )
    db.execute_sql(f'ALTER TABLE "{LEGACY}" DROP CONSTRAINT "{LEGACY}_range"')


def _legacy_indexes(db):
    """Parent index name -> the legacy partition's index attached to it."""
    rows = db.execute_sql(
        "SELECT p.relname, c.relname FROM pg_inherits i "
        "JOIN pg_class p ON p.oid = i.inhparent JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_index x ON x.indexrelid = c.oid WHERE x.indrelid = to_regclass(%s)",
        (LEGACY,),
    ).fetchall()
    return dict(rows)


def down(migrator, db):
    if not _postgres(db) or _relkind(db, TABLE) != "p":
        return
    attached = db.execute_sql(
        "SELECT 1 FROM pg_inherits WHERE inhrelid = to_regclass(%s) "
        "AND inhparent = to_regclass(%s)",
        (LEGACY, TABLE),
    ).fetchone()
    if attached:
        # whatever name ATTACH found (or gave) each index, it gets the plain table's name back
        kept = _legacy_indexes(db)
        db.execute_sql(f'ALTER TABLE "{TABLE}" DETACH PARTITION "{LEGACY}"')
        fresh = False
    else:
        db.execute_sql(f'CREATE TABLE "{LEGACY}" (LIKE "{TABLE}" INCLUDING DEFAULTS)')
        db.execute_sql(f'ALTER TABLE "{LEGACY}" ADD CONSTRAINT "{LEGACY}_pkey" PRIMARY KEY (id)')
        kept = {}
        fresh = True
    db.execute_sql(f'INSERT INTO "{LEGACY}" SELECT * FROM "{TABLE}"')
    db.execute_sql(f'ALTER SEQUENCE "{SEQUENCE}" OWNED BY "{LEGACY}".id')
    db.execute_sql(f'DROP TABLE "{TABLE}"')
    db.execute_sql(f'ALTER TABLE "{LEGACY}" RENAME TO "{TABLE}"')
    db.execute_sql(f'ALTER INDEX "{LEGACY}_pkey" RENAME TO "{TABLE}_pkey"')
    for name, columns in INDEXES:
        if name in kept:
            db.execute_sql(f'ALTER INDEX "{kept[name]}" RENAME TO "{name}"')
        else:
            db.execute_sql(f'CREATE INDEX "{name}" ON "{TABLE}" {columns}')
    if fresh:
        for name, column, target in FOREIGN_KEYS:
            db.execute_sql(
                f'ALTER TABLE "{TABLE}" ADD CONSTRAINT "{name}" FOREIGN KEY ({column}) '
                f'REFERENCES "{target}" (id) ON DELETE CASCADE'
            )
