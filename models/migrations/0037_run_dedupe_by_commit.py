"""The duplicate-upload key of a test run includes its commit.

Before, the same report bytes uploaded for another commit with the same CI run
id, job and attempt (no run id at all: curl, ``flakeguard ingest``, CIs that
reuse ids) were answered "duplicate" with the first commit's run and dropped.
The unique index becomes (repository, sha, ci_run_id, job, attempt,
content_digest); it is created before the old one is dropped, and every
existing row satisfies it (the old key was narrower).

``down`` restores the old index and keeps every run: runs that only their
commit told apart (stored after this migration) get a digest derived from
their own digest and commit, so the old key holds for them without deleting
history; they are no longer found as duplicates of a later upload.
"""

import hashlib

OLD = ("repository_id", "ci_run_id", "job", "attempt", "content_digest")
NEW = ("repository_id", "sha", "ci_run_id", "job", "attempt", "content_digest")
OLD_NAME = "testrun_repository_id_ci_run_id_job_attempt_content_digest"  # as 0001 named it
NEW_NAME = "test_run_repository_id_sha_ci_run_id_job_attempt_content_digest"


def up(migrator, db):
    migrator.migrate(migrator.add_index("test_run", NEW, unique=True))
    migrator.migrate(migrator.drop_index("test_run", OLD_NAME))


def down(migrator, db):
    param = "%s" if "Postgres" in type(getattr(db, "obj", db)).__name__ else "?"
    rows = db.execute_sql(
        "SELECT id, repository_id, ci_run_id, job, attempt, content_digest, sha "
        "FROM test_run ORDER BY id"
    ).fetchall()
    seen = set()
    for run_id, repository_id, ci_run_id, job, attempt, digest, sha in rows:
        key = (repository_id, ci_run_id, job, attempt, digest)
        if key not in seen:
            seen.add(key)
            continue
        derived = hashlib.sha256(f"{digest}:{sha}".encode()).hexdigest()
        db.execute_sql(
            f"UPDATE test_run SET content_digest = {param} WHERE id = {param}", (derived, run_id)
        )
        seen.add((repository_id, ci_run_id, job, attempt, derived))
    # Under its first name, so that a later up finds what it drops.
    db.execute_sql(f'CREATE UNIQUE INDEX "{OLD_NAME}" ON test_run ({", ".join(OLD)})')
    migrator.migrate(migrator.drop_index("test_run", NEW_NAME))
