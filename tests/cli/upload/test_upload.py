"""``flakeguard upload`` against the real app over HTTP: summaries, retries, server down, gate."""

from __future__ import annotations

from pathlib import Path

import pytest

from flakeguard.cli import main
from models import Quarantine, TestCase, TestRun, utcnow
from tests.api import samples
from tests.stored import stored_results

FLAGS = ["--repo", "acme/shop", "--sha", samples.SHA, "--run-id", "55", "--job", "unit"]
FAST = ["--retries", "2", "--retry-backoff", "0"]


def write(tmp_path: Path, name: str, body: bytes) -> Path:
    """Write a report under tmp_path (directories created)."""
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    return path


def upload(env, url: str, token: str, *args: str) -> int:  # type: ignore[no-untyped-def]
    """Run ``flakeguard upload`` with FLAKEGUARD_URL and FLAKEGUARD_TOKEN set."""
    env.setenv("FLAKEGUARD_URL", url)
    env.setenv("FLAKEGUARD_TOKEN", token)
    return main(["upload", *args])


def gate(server, acme, ci_env, tmp_path: Path, report: bytes) -> int:  # type: ignore[no-untyped-def]
    """Upload ``report`` (as junit.xml) for acme/shop with ``--gate``; the exit status."""
    path = write(tmp_path, "junit.xml", report)
    return upload(ci_env, server[0], acme.token, str(path), *FLAGS, "--gate")


def quarantine(name: str, acme) -> None:  # type: ignore[no-untyped-def]
    """Quarantine the sample test ``name`` of acme/shop."""
    test = TestCase.create(repository=acme.repo, key=samples.key(name), name=name)
    Quarantine.create(
        test_case=test, repository=acme.repo, state="quarantined", quarantined_at=utcnow()
    )


def test_upload_globs_one_run_and_a_line_per_file(  # type: ignore[no-untyped-def]
    server, acme, ci_env, analyzed, tmp_path, capsys
) -> None:
    """Globbed files go up as one run; one summary line per file and one for the upload."""
    write(tmp_path, "a/junit-1.xml", samples.simple(passed=2, prefix="a"))
    write(tmp_path, "b/deep/junit-2.xml", samples.simple(passed=1, failed=1, prefix="b"))
    code = upload(ci_env, server[0], acme.token, str(tmp_path / "**" / "junit-*.xml"), *FLAGS)
    out = capsys.readouterr().out
    assert code == 0
    assert "junit-1.xml: 2 tests, 0 failed, 0 errors, 0 skipped" in out
    assert "junit-2.xml: 2 tests, 1 failed, 0 errors, 0 skipped" in out
    run = TestRun.get()
    assert f"uploaded 2 file(s) to {server[0]} as run {run.id}: 4 tests, 1 failed" in out
    assert (run.tests, run.ci_run_id, run.job) == (4, "55", "unit")
    assert len(stored_results()) == 4
    assert analyzed == [run.id]


def test_ci_environment_is_read_and_flags_win(  # type: ignore[no-untyped-def]
    server, acme, ci_env, analyzed, tmp_path
) -> None:
    """GitHub Actions variables fill the metadata; an explicit flag overrides one of them."""
    for name, value in {
        "GITHUB_ACTIONS": "true",
        "GITHUB_REPOSITORY": "acme/shop",
        "GITHUB_SHA": "b" * 40,
        "GITHUB_REF": "refs/pull/42/merge",
        "GITHUB_HEAD_REF": "feature/x",
        "GITHUB_RUN_ID": "9001",
        "GITHUB_RUN_ATTEMPT": "2",
        "GITHUB_JOB": "tests",
    }.items():
        ci_env.setenv(name, value)
    path = write(tmp_path, "junit.xml", samples.simple())
    assert upload(ci_env, server[0], acme.token, str(path), "--job", "tests-py3.12") == 0
    run = TestRun.get()
    assert (run.sha, run.branch, run.ci_run_id, run.attempt, run.pr, run.job) == (
        "b" * 40,
        "feature/x",
        "9001",
        2,
        42,
        "tests-py3.12",
    )


def test_second_upload_is_reported_as_duplicate(  # type: ignore[no-untyped-def]
    server, acme, ci_env, analyzed, tmp_path, capsys
) -> None:
    """Uploading the same reports again stores nothing and says so."""
    path = write(tmp_path, "junit.xml", samples.simple())
    upload(ci_env, server[0], acme.token, str(path), *FLAGS)
    capsys.readouterr()
    assert upload(ci_env, server[0], acme.token, str(path), *FLAGS) == 0
    assert "already uploaded, stored once" in capsys.readouterr().out
    assert TestRun.select().count() == 1


def test_retries_after_server_errors(  # type: ignore[no-untyped-def]
    server, acme, ci_env, analyzed, tmp_path
) -> None:
    """Two 503 answers are retried and the third attempt stores the run."""
    url, front = server
    front.count = 2
    path = write(tmp_path, "junit.xml", samples.simple())
    # --no-repo-files: only the report's attempts are counted, not the repository-files PUT
    assert upload(ci_env, url, acme.token, str(path), *FLAGS, *FAST, "--no-repo-files") == 0
    assert front.requests == 3
    assert TestRun.select().count() == 1


def test_server_down_warns_and_exits_zero(  # type: ignore[no-untyped-def]
    down_url, ci_env, tmp_path, capsys
) -> None:
    """An unreachable server is a warning, exit 0; with --strict, exit 1."""
    path = write(tmp_path, "junit.xml", samples.simple(failed=1))
    assert upload(ci_env, down_url, "fgi_x", str(path), *FLAGS, *FAST) == 0
    assert "unreachable" in capsys.readouterr().err
    assert upload(ci_env, down_url, "fgi_x", str(path), *FLAGS, *FAST, "--strict") == 1


def test_refused_upload_warns_unless_strict(  # type: ignore[no-untyped-def]
    server, acme, ci_env, tmp_path, capsys
) -> None:
    """A wrong token is reported with the server's message; only --strict fails the job."""
    path = write(tmp_path, "junit.xml", samples.simple())
    assert upload(ci_env, server[0], "fgi_wrong", str(path), *FLAGS) == 0
    assert "invalid ingest token" in capsys.readouterr().err
    assert upload(ci_env, server[0], "fgi_wrong", str(path), *FLAGS, "--strict") == 1
    assert TestRun.select().count() == 0


def test_unreadable_file_is_reported_and_others_uploaded(  # type: ignore[no-untyped-def]
    server, acme, ci_env, analyzed, tmp_path, capsys
) -> None:
    """A file that is not JUnit is named and skipped; the readable ones are uploaded."""
    good = write(tmp_path, "good.xml", samples.simple(passed=2))
    bad = write(tmp_path, "bad.xml", b"<html></html>")
    assert upload(ci_env, server[0], acme.token, str(good), str(bad), *FLAGS) == 0
    out = capsys.readouterr().out
    assert "bad.xml: not uploaded: not a JUnit XML report" in out
    assert TestRun.get().tests == 2


def test_missing_url_or_token_warns(ci_env, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Without FLAKEGUARD_URL and FLAKEGUARD_TOKEN nothing is sent and the job is not failed."""
    path = write(tmp_path, "junit.xml", samples.simple())
    assert main(["upload", str(path), *FLAGS]) == 0
    assert "FLAKEGUARD_URL and FLAKEGUARD_TOKEN not set" in capsys.readouterr().err


# -- the gate ---------------------------------------------------------------------------


def test_gate_passes_without_failures(  # type: ignore[no-untyped-def]
    server, acme, ci_env, analyzed, tmp_path, capsys
) -> None:
    """No failure in the reports: the gate passes."""
    assert gate(server, acme, ci_env, tmp_path, samples.simple(passed=3)) == 0
    assert "gate: passed: no failures" in capsys.readouterr().out


def test_gate_passes_when_every_failure_is_quarantined(  # type: ignore[no-untyped-def]
    server, acme, ci_env, analyzed, tmp_path, capsys
) -> None:
    """Only quarantined tests failed: exit 0, printing which failures were ignored."""
    quarantine("test_fail_0", acme)
    quarantine("test_fail_1", acme)
    assert gate(server, acme, ci_env, tmp_path, samples.simple(passed=2, failed=2)) == 0
    out = capsys.readouterr().out
    assert "gate: passed: every failure (2) is a quarantined test" in out
    assert f"quarantined (ignored): {samples.key('test_fail_0')}" in out
    assert f"quarantined (ignored): {samples.key('test_fail_1')}" in out


def test_gate_fails_on_an_unquarantined_failure(  # type: ignore[no-untyped-def]
    server, acme, ci_env, analyzed, tmp_path, capsys
) -> None:
    """One failure outside the quarantine fails the gate and is named."""
    quarantine("test_fail_0", acme)
    assert gate(server, acme, ci_env, tmp_path, samples.simple(passed=2, failed=2)) == 1
    out = capsys.readouterr().out
    assert "gate: failed: 1 failing test(s) not quarantined" in out
    assert f"failing: {samples.key('test_fail_1')}" in out
    assert TestRun.select().count() == 1  # the upload itself went through


def test_gate_falls_back_to_the_reports_when_server_is_down(  # type: ignore[no-untyped-def]
    down_url, ci_env, tmp_path, capsys
) -> None:
    """Server down: any failure fails the gate, a clean report passes it."""
    failing = write(tmp_path, "failing.xml", samples.simple(passed=1, failed=1))
    clean = write(tmp_path, "clean.xml", samples.simple(passed=1, prefix="ok"))
    assert upload(ci_env, down_url, "fgi_x", str(failing), *FLAGS, *FAST, "--gate") == 1
    assert "FlakeGuard is unreachable" in capsys.readouterr().out
    assert upload(ci_env, down_url, "fgi_x", str(clean), *FLAGS, *FAST, "--gate") == 0


def test_gate_fails_without_any_report(  # type: ignore[no-untyped-def]
    server, acme, ci_env, tmp_path, capsys
) -> None:
    """No report found (tests crashed before writing one) never passes the gate."""
    pattern = str(tmp_path / "*.xml")
    assert upload(ci_env, server[0], acme.token, pattern, *FLAGS, "--gate") == 1
    captured = capsys.readouterr()
    assert "no file matches" in captured.err
    assert "no test report found" in captured.out


@pytest.mark.parametrize("status", ["error"])
def test_gate_counts_errors_as_failures(  # type: ignore[no-untyped-def]
    server, acme, ci_env, analyzed, tmp_path, status
) -> None:
    """An <error> outcome blocks like a <failure>."""
    assert (
        gate(server, acme, ci_env, tmp_path, samples.report([samples.case("test_boom", status)]))
        == 1
    )


def test_gate_fails_on_an_unreadable_report(  # type: ignore[no-untyped-def]
    server, acme, ci_env, analyzed, tmp_path, capsys
) -> None:
    """A report that cannot be read fails the gate even when the others passed."""
    good = write(tmp_path, "good.xml", samples.simple(passed=2))
    bad = write(tmp_path, "bad.xml", b"<testsuites><testcase")
    assert upload(ci_env, server[0], acme.token, str(good), str(bad), *FLAGS, "--gate") == 1
    assert f"gate: failed: {bad} is unreadable" in capsys.readouterr().out
