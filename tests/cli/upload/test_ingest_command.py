"""``flakeguard ingest``: reports straight into the configured database, with progress."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from flakeguard.cli import main
from models import TestCase, TestRun
from tests.api import samples
from tests.stored import stored_results


@pytest.fixture
def ingest_env(ci_env, db_url):  # type: ignore[no-untyped-def]
    """The server settings pointing at the test database, queue in immediate mode."""
    ci_env.setenv("DATABASE_URL", db_url)
    ci_env.setenv("FLAKEGUARD_QUEUE", "immediate")
    yield ci_env
    import tasks
    from flakeguard.settings import Settings

    tasks.configure(Settings(queue_mode="immediate"))


def reports(tmp_path: Path, count: int) -> list[Path]:
    """``count`` distinct report files under tmp_path/reports."""
    folder = tmp_path / "reports"
    folder.mkdir()
    paths = []
    for i in range(count):
        path = folder / f"TEST-{i:03d}.xml"
        path.write_bytes(samples.simple(passed=2, failed=i % 2, prefix=f"t{i}"))
        paths.append(path)
    return paths


def test_each_file_is_a_run_with_progress(  # type: ignore[no-untyped-def]
    acme, ingest_env, analyzed, tmp_path, capsys
) -> None:
    """Every file becomes its own run, progress lines go to stderr, a summary to stdout."""
    reports(tmp_path, 6)
    pattern = str(tmp_path / "reports" / "*.xml")
    code = main(["ingest", pattern, "--repo", "acme/shop", "--progress-every", "2"])
    captured = capsys.readouterr()
    assert code == 0
    assert TestRun.select().count() == 6
    assert all(run.source == "cli" and run.sha == "" for run in TestRun.select())
    assert len(stored_results()) == 15
    progress = [line for line in captured.err.splitlines() if "files," in line]
    assert [line.split("] ")[1].split(" files")[0] for line in progress] == ["2/6", "4/6", "6/6"]
    assert "6 new run(s), 0 duplicate(s), 0 rejected, 15 tests" in captured.out
    assert len(analyzed) == 6


def test_importing_again_stores_nothing(  # type: ignore[no-untyped-def]
    acme, ingest_env, analyzed, tmp_path, capsys
) -> None:
    """The same files ingested twice are duplicates the second time."""
    reports(tmp_path, 3)
    pattern = str(tmp_path / "reports" / "*.xml")
    main(["ingest", pattern, "--repo", "acme/shop"])
    before = len(stored_results())
    assert main(["ingest", pattern, "--repo", "acme/shop"]) == 0
    assert "0 new run(s), 3 duplicate(s)" in capsys.readouterr().out
    assert len(stored_results()) == before


def test_single_run_with_metadata(  # type: ignore[no-untyped-def]
    acme, ingest_env, analyzed, tmp_path
) -> None:
    """--single-run stores every file (gzip too) as one run carrying the given metadata."""
    paths = reports(tmp_path, 2)
    zipped = tmp_path / "extra.xml.gz"
    zipped.write_bytes(gzip.compress(samples.simple(passed=1, prefix="z")))
    args = ["ingest", *map(str, paths), str(zipped), "--repo", "acme/shop", "--single-run"]
    args += ["--sha", samples.SHA, "--branch", "main", "--run-id", "77", "--job", "it"]
    args += ["--started-at", "2026-01-01T00:00:00Z"]
    assert main(args) == 0
    run = TestRun.get()
    assert (run.tests, run.sha, run.branch, run.ci_run_id, run.job) == (
        6,
        samples.SHA,
        "main",
        "77",
        "it",
    )
    assert run.started_at.year == 2026


def test_a_bad_file_is_rejected_and_the_rest_stored(  # type: ignore[no-untyped-def]
    acme, ingest_env, analyzed, tmp_path, capsys
) -> None:
    """An unreadable report is named on stderr, the others are stored, the exit status is 1."""
    reports(tmp_path, 2)
    (tmp_path / "reports" / "broken.xml").write_bytes(b"<testsuites><testcase")
    code = main(["ingest", str(tmp_path / "reports" / "*.xml"), "--repo", "acme/shop"])
    captured = capsys.readouterr()
    assert code == 1
    assert "rejected: broken.xml: " in captured.err
    assert TestRun.select().count() == 2
    assert TestCase.select().count() == 5


def test_unknown_repository_is_an_error(ingest_env, database, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Ingesting into a repository that does not exist fails with a clear message."""
    path = reports(tmp_path, 1)[0]
    assert main(["ingest", str(path), "--repo", "acme/none"]) == 1
    assert "unknown repository acme/none" in capsys.readouterr().err
    assert TestRun.select().count() == 0
