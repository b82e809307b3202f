"""Migration 0050: a family's members are read as an index range of keys on both databases."""

from __future__ import annotations

from peewee import Database

from tests.models.conftest import migrated_to

BEFORE = "0047_packed_results"
THIS = "0050_test_case_key_prefix_index"
INDEX = "testcase_repository_id_key_c"


def _members_plan(database: Database) -> str:
    """The plan of one family's arm of ``models.queries.family_states``."""
    postgres = "Postgres" in type(database).__name__
    key = 't.key COLLATE "C"' if postgres else "t.key"
    p = "%s" if postgres else "?"
    sql = (
        "SELECT t.id FROM test_case t WHERE t.repository_id = {p} "
        f"AND {key} >= {p} AND {key} < {p} ORDER BY {key} LIMIT {p}"
    ).replace("{p}", p)
    explain = "EXPLAIN" if postgres else "EXPLAIN QUERY PLAN"
    rows = database.execute_sql(f"{explain} {sql}", (1, "m::t[", "m::t\\", 50)).fetchall()
    return "\n".join(str(row[-1]) for row in rows)


def test_up_makes_the_members_read_an_index_range_and_down_undoes_it(scratch: Database) -> None:
    postgres = "Postgres" in type(scratch).__name__
    with scratch.connection_context():
        runner = migrated_to(scratch, BEFORE)
        if postgres:  # without it, the read filters every test of the repository
            assert INDEX not in {i.name for i in scratch.get_indexes("test_case")}
            scratch.execute_sql("SET enable_seqscan = off")  # an empty table: show the index
            assert "Filter: (((key)::text >= " in _members_plan(scratch)
        runner.up(THIS)
        plan = _members_plan(scratch)
        names = {i.name for i in scratch.get_indexes("test_case")}
        if postgres:
            assert INDEX in names
            assert f"Index Scan using {INDEX}" in plan and "Filter" not in plan
            assert "Sort" not in plan  # read in order, stopped at the bound
        else:  # SQLite: its unique (repository_id, key) index is already in binary order
            assert INDEX not in names
            assert "INDEX testcase_repository_id_key (repository_id=? AND key>? AND key<?)" in plan
        runner.down(THIS)
        assert INDEX not in {i.name for i in scratch.get_indexes("test_case")}
