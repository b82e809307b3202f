"""The results become packed: a row per run and block of 64 tests, the attempts beside it.

``test_result`` (a row per attempt, ~140 bytes each with its indexes) is
replaced by three tables (``models.packing`` describes the layout):

- ``result_block``: per run and block of 64 consecutive test ordinals
  (migration 0046), a byte per test (status, retries) and its duration in ms;
- ``result_attempt``: what a byte cannot hold, a row each: the final outcome
  again when the test failed or was retried (with its exact retry index and
  message), earlier attempts, a test reported twice in one run;
- ``failure_message``: each distinct (message, failure type) once per
  repository and month, referenced by id.

Every table carries ``repository_id``. On PostgreSQL each is partitioned by
month (from the oldest result's month, at most ``HISTORY_MONTHS`` back, to
``AHEAD`` months ahead, and a default partition); SQLite gets plain tables.

``up`` moves every row of ``test_result``, month by month and run by run, then
drops it; it reads the table once, in one transaction, under a SHARE lock
(writers wait). What it does not keep: the messages of
passed and skipped results (nothing showed them), durations finer than a
millisecond, and row ids (nothing referred to them).

``down`` (the rollback) puts ``test_result`` back as it was after migration
0044, one row per attempt (new ids), and drops the three tables.
"""

import hashlib
import importlib.util
from datetime import UTC, datetime
from pathlib import Path

from peewee import PostgresqlDatabase

# the loader's clamp (at most MAX_DURATION_SECONDS): a duration the old float column held
# may not fit result_attempt's int4 of milliseconds
from models.packing import milliseconds

AHEAD = 3
HISTORY_MONTHS = 24
BLOCK = 64
CODES = {"passed": 1, "failed": 2, "error": 3, "skipped": 4}
STATUSES = {code: status for status, code in CODES.items()}
FAILING = ("failed", "error")
FLUSH_ROWS = 20_000
TABLES = {  # name -> (partition key, columns, indexes (name, columns, unique))
    "failure_message": (
        "month",
        "id BIGSERIAL NOT NULL, "
        "repository_id INTEGER NOT NULL REFERENCES repository (id) ON DELETE CASCADE, "
        "month TIMESTAMP NOT NULL, digest BYTEA NOT NULL, message TEXT, "
        "failure_type VARCHAR(255)",
        (("failuremessage_repository_id_month_digest", "repository_id, month, digest", True),),
    ),
    "result_block": (
        "created_at",
        "created_at TIMESTAMP NOT NULL, "
        "repository_id INTEGER NOT NULL REFERENCES repository (id) ON DELETE CASCADE, "
        "run_id INTEGER NOT NULL REFERENCES test_run (id) ON DELETE CASCADE, "
        "block INTEGER NOT NULL, codes BYTEA NOT NULL, durations BYTEA NOT NULL",
        (
            (
                "resultblock_repository_id_block_created_at_run_id",
                "repository_id, block, created_at, run_id",
                False,
            ),
            # a run's blocks; run_id first for the cascade from test_run
            (
                "resultblock_run_id_repository_id_created_at",
                "run_id, repository_id, created_at",
                False,
            ),
            ("resultblock_created_at", "created_at", False),
        ),
    ),
    "result_attempt": (
        "created_at",
        "created_at TIMESTAMP NOT NULL, "
        "repository_id INTEGER NOT NULL REFERENCES repository (id) ON DELETE CASCADE, "
        "run_id INTEGER NOT NULL REFERENCES test_run (id) ON DELETE CASCADE, "
        "test_case_id INTEGER NOT NULL REFERENCES test_case (id) ON DELETE CASCADE, "
        "duration_ms INTEGER NOT NULL, message_id BIGINT, status SMALLINT NOT NULL, "
        "retry SMALLINT NOT NULL, packed BOOLEAN NOT NULL",
        (
            (
                "resultattempt_run_id_repository_id_created_at",
                "run_id, repository_id, created_at",
                False,
            ),
            (
                "resultattempt_repository_id_test_case_id_created_at",
                "repository_id, test_case_id, created_at",
                False,
            ),
            ("resultattempt_created_at", "created_at", False),
        ),
    ),
}
COLUMNS = {
    "failure_message": "id, repository_id, month, digest, message, failure_type",
    "result_block": "created_at, repository_id, run_id, block, codes, durations",
    "result_attempt": (
        "created_at, repository_id, run_id, test_case_id, duration_ms, message_id, status, "
        "retry, packed"
    ),
    "test_result": (  # the way back (down)
        "run_id, test_case_id, status, duration, retry, message, failure_type, created_at"
    ),
}
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _postgres(db):
    return isinstance(getattr(db, "obj", db), PostgresqlDatabase)


def _month(value):
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return datetime(value.year, value.month, 1)


def _next(value):
    return datetime(value.year + (value.month == 12), value.month % 12 + 1, 1)


def _literal(value):
    return f"'{value:%Y-%m-%d %H:%M:%S}'"


class _Rows:
    """Rows for the new tables, written in batches (COPY on PostgreSQL)."""

    def __init__(self, db):
        self.db, self.pg = db, _postgres(db)
        self.rows = {table: [] for table in COLUMNS}

    def add(self, table, row):
        self.rows[table].append(row)
        if len(self.rows[table]) >= FLUSH_ROWS:
            self.flush(table)

    def flush(self, *tables):
        for table in tables or tuple(self.rows):
            rows, self.rows[table] = self.rows[table], []
            if not rows:
                continue
            if not self.pg:
                marks = ", ".join("?" * len(rows[0]))
                self.db.connection().executemany(
                    f"INSERT INTO {table} ({COLUMNS[table]}) VALUES ({marks})",
                    [tuple(map(_sqlite_value, row)) for row in rows],
                )
                continue
            text = "".join("\t".join(map(_copy_text, row)) + "\n" for row in rows)
            sql = f"COPY {table} ({COLUMNS[table]}) FROM STDIN"
            with self.db.connection().cursor() as cursor, cursor.copy(sql) as copy:
                copy.write(text.encode())


def _copy_text(value):
    if value is None:
        return "\\N"
    if isinstance(value, bytes | bytearray):
        return "\\\\x" + bytes(value).hex()
    return str(value).translate(_ESCAPES)


def _sqlite_value(value):
    return value.isoformat(" ") if isinstance(value, datetime) else value


class _Packer:
    """test_result rows, one run (and date) at a time, into the packed tables."""

    def __init__(self, db):
        self.out = _Rows(db)
        self.messages = {}  # (repository, month, digest) -> id
        self.last_message = 0
        self.firsts = {}

    def message_id(self, repository_id, month, message, failure_type):
        failure_type = (failure_type or "")[:255]
        if not message and not failure_type:
            return None
        digest = hashlib.sha256(f"{failure_type}\0{message or ''}".encode()).digest()
        key = (repository_id, month, digest)
        if key not in self.messages:
            self.last_message += 1
            self.messages[key] = self.last_message
            row = (
                self.last_message,
                repository_id,
                month,
                digest,
                message or None,
                failure_type or None,
            )
            self.out.add("failure_message", row)
        return self.messages[key]

    def attempt(self, row, packed):
        run_id, dated, test_id, retry, status, duration, message, failure_type, _, repo = row
        failing = status in FAILING
        message_id = (
            self.message_id(repo, _month(dated), message, failure_type) if failing else None
        )
        self.out.add(
            "result_attempt",
            (
                dated,
                repo,
                run_id,
                test_id,
                milliseconds(duration),
                message_id,
                CODES.get(status, 3),
                retry,
                packed,
            ),
        )

    def run(self, rows):
        """Rows of one run and date, by test and id: pack each test's last attempt."""
        blocks = {}
        self.firsts = {}  # (block, slot) -> the packed outcome of a test without a row of its own
        occurrence = []
        for row in [*rows, None]:
            if occurrence and (
                row is None or row[2] != occurrence[-1][2] or row[3] <= occurrence[-1][3]
            ):
                self.occurrence(blocks, occurrence)
                occurrence = []
            if row is not None:
                occurrence.append(row)
        run_id, dated, *_, repo = rows[0]
        for block, (codes, durations) in blocks.items():
            # the durations of the tests the block holds only, in slot order (models.packing)
            present = b"".join(durations[4 * s : 4 * s + 4] for s, c in enumerate(codes) if c)
            self.out.add("result_block", (dated, repo, run_id, block, codes, present))

    def occurrence(self, blocks, attempts):
        final = attempts[-1]
        block, slot = divmod(final[8], BLOCK)
        codes, durations = blocks.setdefault(block, (bytearray(BLOCK), bytearray(4 * BLOCK)))
        if codes[slot]:  # the test a second time in this run: attempt rows only
            first = self.firsts.pop((block, slot), None)
            if first is not None:  # and the first occurrence's row, as the loader writes it
                self.attempt(first, True)
            for row in attempts:
                self.attempt(row, False)
            return
        status, retry = final[4], final[3]
        codes[slot] = CODES.get(status, 3) | min(retry, 31) << 3
        durations[4 * slot : 4 * slot + 4] = milliseconds(final[5]).to_bytes(4, "little")
        if retry or status in FAILING:
            self.attempt(final, True)
        else:
            self.firsts[(block, slot)] = final
        for row in attempts[:-1]:
            self.attempt(row, False)


def _stream(db, sql):
    """Rows of ``sql`` without holding them all (a server-side cursor on PostgreSQL)."""
    if _postgres(db):
        with db.connection().cursor(name="flakeguard_0047") as cursor:
            cursor.itersize = 10_000
            cursor.execute(sql)
            yield from cursor
    else:
        yield from db.connection().execute(sql)


def _create_tables(db, first_month):
    pg = _postgres(db)
    for table, (key, columns, indexes) in TABLES.items():
        if pg:
            primary = ", PRIMARY KEY (id, month)" if table == "failure_message" else ""
            db.execute_sql(f"CREATE TABLE {table} ({columns}{primary}) PARTITION BY RANGE ({key})")
            month, last = first_month, _month(datetime.now(UTC))
            for _ in range(AHEAD):
                last = _next(last)
            while month <= last:
                db.execute_sql(
                    f'CREATE TABLE "{table}_{month:%Y_%m}" PARTITION OF {table} '
                    f"FOR VALUES FROM ({_literal(month)}) TO ({_literal(_next(month))})"
                )
                month = _next(month)
            db.execute_sql(f'CREATE TABLE "{table}_default" PARTITION OF {table} DEFAULT')
        else:
            columns = columns.replace("BIGSERIAL NOT NULL", "INTEGER NOT NULL PRIMARY KEY")
            columns = columns.replace("TIMESTAMP", "DATETIME").replace("BYTEA", "BLOB")
            db.execute_sql(f"CREATE TABLE {table} ({columns})")
        for name, indexed, unique in indexes:
            kind = "UNIQUE INDEX" if unique else "INDEX"
            db.execute_sql(f"CREATE {kind} {name} ON {table} ({indexed})")


def up(migrator, db):
    if _postgres(db):
        # Uploads writing test_result now are waited for (their rows are read below) and
        # later ones wait for this transaction (then fail on the dropped table and are
        # retried by the client): none is committed into a table about to be dropped.
        # Readers go on. First the tables the new ones' foreign keys refer to (creating
        # them takes SHARE ROW EXCLUSIVE there): an upload holding its new test_run row
        # but not yet writing test_result would otherwise wait on our SHARE lock while we
        # wait on its row (a deadlock); so we wait for it before locking test_result.
        db.execute_sql("LOCK TABLE test_run, test_case IN SHARE ROW EXCLUSIVE MODE")
        db.execute_sql("LOCK TABLE test_result IN SHARE MODE")
    now = _month(datetime.now(UTC))
    oldest, newest = db.execute_sql(
        "SELECT min(created_at), max(created_at) FROM test_result"
    ).fetchone()
    floor = now
    for _ in range(HISTORY_MONTHS):
        floor = datetime(floor.year - (floor.month == 1), (floor.month - 2) % 12 + 1, 1)
    first = max(floor, min(now, _month(oldest))) if oldest else now
    _create_tables(db, first)
    packer = _Packer(db)
    # A month at a time (a range of the created_at index, a partition since 0044): the map
    # of message ids holds one month's messages, the only ones its attempts refer to.
    month = _month(oldest) if oldest else None
    while month is not None and month <= _month(newest):
        packer.messages.clear()
        group, rows = None, []
        for row in _stream(
            db,
            "SELECT r.run_id, r.created_at, r.test_case_id, r.retry, r.status, r.duration, "
            "r.message, r.failure_type, c.ordinal, c.repository_id FROM test_result r "
            "JOIN test_case c ON c.id = r.test_case_id "
            f"WHERE r.created_at >= {_literal(month)} AND r.created_at < {_literal(_next(month))} "
            "ORDER BY r.run_id, r.created_at, r.test_case_id, r.id",
        ):
            if (row[0], row[1]) != group:
                if rows:
                    packer.run(rows)
                group, rows = (row[0], row[1]), []
            rows.append(tuple(row))
        if rows:
            packer.run(rows)
        month = _next(month)
    packer.out.flush()
    if _postgres(db) and packer.last_message:
        db.execute_sql("SELECT setval('failure_message_id_seq', %s)", (packer.last_message,))
    db.execute_sql("DROP TABLE test_result")


# -- down -----------------------------------------------------------------------------


# test_result as migration 0001 made it (0040 added the partial index, 0044 partitions)
RESULT_TABLE = (
    'CREATE TABLE "test_result" ("id" {id} NOT NULL PRIMARY KEY, "run_id" INTEGER NOT NULL, '
    '"test_case_id" INTEGER NOT NULL, "status" VARCHAR(8) NOT NULL, "duration" REAL NOT NULL, '
    '"retry" {small} NOT NULL, "message" TEXT, "failure_type" VARCHAR(255), '
    '"created_at" {stamp} NOT NULL{keys})'
)
RESULT_KEYS = (  # (name PostgreSQL gives it, column, table)
    ("test_result_run_id_fkey", "run_id", "test_run"),
    ("test_result_test_case_id_fkey", "test_case_id", "test_case"),
)
RESULT_INDEXES = (
    '"testresult_run_id" ON "test_result" ("run_id")',
    '"testresult_test_case_id_created_at" ON "test_result" ("test_case_id", "created_at")',
    '"testresult_created_at" ON "test_result" ("created_at")',
    "test_result_failure ON test_result (test_case_id, created_at) "
    "WHERE status IN ('failed', 'error')",
)


def _expand_run(db, run_id, dated, ids, out):
    """The rows of one run (and date) in test_result again: each test's attempts by retry."""
    param = "%s" if _postgres(db) else "?"
    finals = {}
    for block, codes, durations in db.execute_sql(
        f"SELECT block, codes, durations FROM result_block WHERE run_id = {param} "
        f"AND created_at = {param}",
        (run_id, dated),
    ).fetchall():
        codes, durations = bytes(codes), bytes(durations)
        full = len(durations) == 4 * BLOCK  # every slot's; else the present slots' only
        index = 0
        for slot, code in enumerate(codes):
            if code:
                at = slot if full else index
                seconds = int.from_bytes(durations[4 * at : 4 * at + 4], "little") / 1000
                index += 1
                test_id = ids[block * BLOCK + slot]
                finals[test_id] = (STATUSES.get(code & 7, "error"), code >> 3, seconds, None, None)
    earlier = {}
    for test_id, code, retry, duration_ms, packed, message, failure_type in db.execute_sql(
        "SELECT a.test_case_id, a.status, a.retry, a.duration_ms, a.packed, m.message, "
        "m.failure_type FROM result_attempt a LEFT JOIN failure_message m "
        "ON m.id = a.message_id AND m.repository_id = a.repository_id "
        f"WHERE a.run_id = {param} AND a.created_at = {param}",
        (run_id, dated),
    ).fetchall():
        row = (STATUSES.get(code, "error"), retry, duration_ms / 1000, message, failure_type)
        if packed:
            finals[test_id] = row
        else:
            earlier.setdefault(test_id, []).append(row)
    for test_id, final in finals.items():
        earlier_rows = sorted(earlier.pop(test_id, []), key=lambda row: row[1])  # by retry
        for status, retry, seconds, message, failure_type in earlier_rows:
            row = (run_id, test_id, status, seconds, retry, message, failure_type, dated)
            out.add("test_result", row)
        status, retry, seconds, message, failure_type = final
        out.add(
            "test_result", (run_id, test_id, status, seconds, retry, message, failure_type, dated)
        )


def _migration_0044():
    path = Path(__file__).with_name("0044_partition_test_results.py")
    spec = importlib.util.spec_from_file_location("flakeguard_migration_0044", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def down(migrator, db):
    keys = "".join(
        f', FOREIGN KEY ("{column}") REFERENCES "{table}" ("id") ON DELETE CASCADE'
        for _, column, table in RESULT_KEYS
    )
    if _postgres(db):  # its foreign keys are added once the rows are in (checked at once)
        db.execute_sql(
            RESULT_TABLE.format(id="BIGSERIAL", small="SMALLINT", stamp="TIMESTAMP", keys="")
        )
    else:
        db.execute_sql(
            RESULT_TABLE.format(id="INTEGER", small="INTEGER", stamp="DATETIME", keys=keys)
        )
    param = "%s" if _postgres(db) else "?"
    ordinals = {}  # repository -> {ordinal: test case id}
    runs = db.execute_sql(
        "SELECT DISTINCT run_id, created_at, repository_id FROM result_block "
        "ORDER BY run_id, created_at"
    ).fetchall()
    out = _Rows(db)
    for run_id, dated, repository_id in runs:
        if repository_id not in ordinals:
            ordinals[repository_id] = dict(
                db.execute_sql(
                    f"SELECT ordinal, id FROM test_case WHERE repository_id = {param}",
                    (repository_id,),
                ).fetchall()
            )
        _expand_run(db, run_id, dated, ordinals[repository_id], out)
    out.flush()
    for index in RESULT_INDEXES:  # built once the rows are in: faster than row by row
        db.execute_sql(f"CREATE INDEX {index}")
    if _postgres(db):
        for name, column, table in RESULT_KEYS:
            db.execute_sql(
                f'ALTER TABLE test_result ADD CONSTRAINT "{name}" FOREIGN KEY ("{column}") '
                f'REFERENCES "{table}" ("id") ON DELETE CASCADE'
            )
    for table in reversed(TABLES):
        db.execute_sql(f"DROP TABLE {table}")
    _migration_0044().up(migrator, db)
