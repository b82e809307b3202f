"""The FlakeGuard check run: content from the database, rendering limits, sync to the fake."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest

from flakeguard.usecases import github_checks
from flakeguard.usecases.github import CheckRunReport, FailingTest, GitHubUnavailableError
from flakeguard.usecases.github_checks import build_check_run_report, sync_check_run
from integrations.github import check_runs
from models import (
    CheckRun,
    FlakeScore,
    Installation,
    Quarantine,
    Repository,
    TestCase,
    TestRun,
    default_tenant,
    utcnow,
)
from tests.app.analysis_helpers import flaky_state
from tests.github.helpers import SHA, add_result, installed_repo


def verdict(repo, case, state):  # type: ignore[no-untyped-def]
    FlakeScore.create(test_case=case, repository=repo, state=state, score=0.25)


def test_report_sorts_failures_into_new_flaky_quarantined_and_broken(database):
    """Each failing test is new, known flaky, quarantined or broken; retried passes stay apart."""
    repo = installed_repo()
    add_result(repo, "test_ok", "passed")
    add_result(repo, "test_new", "failed")
    verdict(repo, add_result(repo, "test_flaky", "failed"), "flaky")
    quarantined = add_result(repo, "test_q", "error")
    verdict(repo, quarantined, "flaky")
    Quarantine.create(test_case=quarantined, repository=repo, state="quarantined")
    verdict(repo, add_result(repo, "test_broken", "failed"), "broken")
    add_result(repo, "test_retried", "failed")
    add_result(repo, "test_retried", "passed", attempt=2)
    report = build_check_run_report(repo.id, SHA)
    categories = {t.name.split(".")[-1]: t.category for t in report.failing}
    assert categories == {
        "test_new": "new",
        "test_flaky": "flaky",
        "test_q": "quarantined",
        "test_broken": "broken",
    }
    assert report.passed_on_retry == ("tests.mod.test_retried",)
    assert report.conclusion == "failure"
    assert (report.runs, report.tests) == (2, 6)


def test_only_quarantined_failures_succeed_and_the_title_says_so(database):
    """When every failure is a quarantined flake the conclusion is success, titled as such."""
    repo = installed_repo()
    add_result(repo, "test_ok", "passed")
    for name in ("test_a", "test_b"):
        case = add_result(repo, name, "failed")
        Quarantine.create(test_case=case, repository=repo, state="quarantined")
    report = build_check_run_report(repo.id, SHA)
    assert report.conclusion == "success"
    assert report.title == "All 2 failures are quarantined flaky tests"


def test_a_known_flaky_test_not_quarantined_still_fails(database):
    """A flaky test that is only proposed for quarantine still fails the check."""
    repo = installed_repo()
    case = add_result(repo, "test_a", "failed")
    verdict(repo, case, "flaky")
    Quarantine.create(test_case=case, repository=repo, state="proposed")
    assert build_check_run_report(repo.id, SHA).conclusion == "failure"


def test_no_results_is_neutral(database):
    """A commit without results gets a neutral check run."""
    repo = installed_repo()
    report = build_check_run_report(repo.id, "d" * 40)
    assert (report.conclusion, report.runs) == ("neutral", 0)


def failing_report(failing: tuple[FailingTest, ...], *, title: str = "many") -> CheckRunReport:
    """A failed check run of one run whose every test is one of ``failing``."""
    return CheckRunReport(
        full_name="acme/widgets",
        head_sha=SHA,
        conclusion="failure",
        title=title,
        runs=1,
        tests=len(failing),
        failing=failing,
    )


def big_report(n: int, *, message: str = "boom") -> CheckRunReport:
    failing = tuple(
        FailingTest(
            name=f"tests.mod.test_{i:05d}", category="new", file="t.py", line=i + 1, message=message
        )
        for i in range(n)
    )
    return failing_report(failing, title=f"{n} failing tests")


def test_summary_and_text_fit_65535_chars_and_say_how_many_were_cut():
    """A huge report is cut under GitHub's limit with a count of what was left out."""
    report = big_report(5_000, message="x" * 300)
    summary, text = check_runs.render_summary(report), check_runs.render_text(report)
    assert len(summary.encode()) <= 65_535 and len(text.encode()) <= 65_535
    shown = summary.count("- `tests.mod.test_")
    assert f"… and {5_000 - shown} more tests not shown" in summary
    messages = text.count("#### `tests.mod.test_")
    assert f"… and {5_000 - messages} more failure messages not shown" in text
    assert "| New failures | 5000 |" in summary


def test_multibyte_names_stay_within_the_limit_in_bytes():
    """Non-ASCII test names: the cut counts UTF-8 bytes, so either reading of the limit holds."""
    failing = tuple(
        FailingTest(name=f"tests.mod.test_é_{'日本' * 20}_{i}", category="new")
        for i in range(3_000)
    )
    summary = check_runs.render_summary(failing_report(failing))
    assert len(summary.encode()) <= 65_535 and "more tests not shown" in summary


def test_the_cut_count_covers_every_category():
    """Cut across categories, the count is of tests left out, not of lines."""
    failing = tuple(
        FailingTest(name=f"tests.mod.test_{c}_{i:05d}_{'x' * 60}", category=c)
        for c in ("new", "broken", "flaky", "quarantined")
        for i in range(400)
    )
    summary = check_runs.render_summary(failing_report(failing))
    shown = summary.count("- `tests.mod.test_")
    assert f"… and {1_600 - shown} more tests not shown" in summary


def test_summary_lists_everything_when_it_fits():
    """A small report is not cut."""
    summary = check_runs.render_summary(big_report(3))
    assert summary.count("- `tests.mod.test_") == 3 and "not shown" not in summary


def test_annotations_go_in_batches_of_50_and_updates_add_only_new_ones(
    database, fake_github, github_client
):
    """120 annotations: a create and two updates of at most 50; a resync sends no duplicates."""
    repo = installed_repo()
    for i in range(120):
        add_result(repo, f"test_{i:03d}", "failed", file="tests/test_mod.py", line=i + 1)
    row = sync_check_run(repo.id, SHA, github=github_client)
    [created] = fake_github.calls_to("POST", r"/check-runs$")
    assert created.body["name"] == "FlakeGuard" and created.body["head_sha"] == SHA
    assert created.body["conclusion"] == "failure" and created.body["status"] == "completed"
    assert created.body["actions"][0]["identifier"] == "rerun-analysis"
    batches = [len(created.body["output"]["annotations"])] + [
        len(c.body["output"].get("annotations", []))
        for c in fake_github.calls_to("PATCH", r"/check-runs/\d+$")
    ]
    assert batches == [50, 50, 20]
    first = fake_github.annotations[row.github_id][0]
    assert (first["path"], first["start_line"], first["annotation_level"]) == (
        "tests/test_mod.py",
        1,
        "failure",
    )
    add_result(repo, "test_late", "failed", file="tests/test_late.py", line=7)
    again = sync_check_run(repo.id, SHA, github=github_client)
    assert again.github_id == row.github_id
    assert len(fake_github.calls_to("POST", r"/check-runs$")) == 1
    assert len(fake_github.annotations[row.github_id]) == 121
    assert (again.synced_version, again.conclusion) == (again.version, "failure")


def test_storm_leaves_the_check_run_pending_then_one_check_run(
    database, fake_github, github_client, breaker_clock
):
    """Under a 500 storm the row stays behind with the error; afterwards one check run exists."""
    repo = installed_repo()
    add_result(repo, "test_a", "failed")
    fake_github.storm = True
    with pytest.raises(GitHubUnavailableError):
        sync_check_run(repo.id, SHA, github=github_client)
    row = CheckRun.get(CheckRun.head_sha == SHA)
    assert row.synced_version < row.version and "500" in row.last_error
    fake_github.storm = False
    done = sync_check_run(repo.id, SHA, github=github_client)
    assert done.synced_version == done.version and done.last_error is None
    assert len(fake_github.check_runs) == 1


def test_a_check_run_created_but_never_recorded_is_adopted_not_duplicated(
    database, fake_github, github_client
):
    """A worker that died after creating the check run: the retry finds it by external id."""
    repo = installed_repo()
    add_result(repo, "test_a", "failed")
    first = sync_check_run(repo.id, SHA, github=github_client)
    CheckRun.update(github_id=None, synced_version=0).execute()  # the record was lost
    again = sync_check_run(repo.id, SHA, github=github_client)
    assert again.github_id == first.github_id
    assert len(fake_github.check_runs) == 1


def test_suspended_installation_keeps_the_check_run_pending_until_unsuspended(
    database, fake_github, github_client
):
    """Suspended: nothing sent, the row says why and stays pending; unsuspended: it is sent."""
    repo = installed_repo()
    sync_check_run(repo.id, SHA, github=github_client)
    calls = len(fake_github.calls)
    Installation.update(suspended_at=Installation.created_at).execute()
    CheckRun.update(version=CheckRun.version + 1).execute()
    row = sync_check_run(repo.id, SHA, github=github_client)
    assert "suspended" in row.last_error and row.synced_version < row.version
    assert len(fake_github.calls) == calls
    Installation.update(suspended_at=None).execute()
    row = sync_check_run(repo.id, SHA, github=github_client)
    assert row.synced_version == row.version and row.last_error is None


def test_deleted_installation_stops_the_check_run_with_a_reason(
    database, fake_github, github_client
):
    """Uninstalled: the row says why and is no longer pending."""
    repo = installed_repo()
    sync_check_run(repo.id, SHA, github=github_client)
    Installation.update(deleted_at=Installation.created_at).execute()
    CheckRun.update(version=CheckRun.version + 1).execute()
    row = sync_check_run(repo.id, SHA, github=github_client)
    assert "no live GitHub App installation" in row.last_error
    assert row.synced_version == row.version


def test_upload_only_repository_gets_no_check_run(database, fake_github, github_client):
    """A repository without the App installed: no row, no call."""
    repo = Repository.create(tenant=default_tenant(), full_name="acme/uploads")
    add_result(repo, "test_a", "failed")
    assert sync_check_run(repo.id, SHA, github=github_client) is None
    assert CheckRun.select().count() == 0 and fake_github.calls == []


def test_annotation_paths_are_relative_to_the_repository():
    """Runner checkout prefixes and ./ are removed from annotation paths."""
    assert check_runs.repo_path("/home/runner/work/widgets/widgets/tests/t.py", "acme/widgets") == (
        "tests/t.py"
    )
    assert check_runs.repo_path("./tests/t.py", "acme/widgets") == "tests/t.py"
    assert check_runs.repo_path("tests\\t.py", "acme/widgets") == "tests/t.py"


def test_passing_only_on_retry_succeeds_and_says_so(database):
    """A commit whose failures all passed on a retry succeeds, and the title says so."""
    repo = installed_repo()
    add_result(repo, "test_a", "failed")
    add_result(repo, "test_a", "passed", attempt=2)
    report = build_check_run_report(repo.id, SHA)
    assert report.conclusion == "success"
    assert report.title == "The test passed (1 only on a retry)"


def test_a_failure_never_seen_on_the_default_branch_is_flagged_new(database):
    """A failure with a signature the test never had on the default branch is 'new'."""
    repo = installed_repo()
    main_sha = "b" * 40
    add_result(repo, "test_x", "failed", sha=main_sha, message="TimeoutError: waited 30.1s")
    add_result(repo, "test_y", "failed", sha=main_sha, message="assert 1 == 2")
    TestRun.update(branch=repo.default_branch).where(TestRun.sha == main_sha).execute()
    add_result(repo, "test_x", "failed", message="TimeoutError: waited 29.4s")  # same cause
    add_result(repo, "test_y", "failed", message="KeyError: 'total'")  # a new one
    add_result(repo, "test_z", "failed", message="assert 1 == 2")  # never failed on main
    report = build_check_run_report(repo.id, SHA)
    new = {t.name.split(".")[-1]: t.new_signature for t in report.failing}
    assert new == {"test_x": False, "test_y": True, "test_z": True}
    summary = check_runs.render_summary(report)
    [line_y] = [line for line in summary.splitlines() if "test_y" in line]
    assert "new failure" in line_y and "probably this change" in line_y
    [line_x] = [line for line in summary.splitlines() if "test_x" in line]
    assert "new failure" not in line_x


def test_a_pr_adding_a_test_that_is_already_flaky_says_so(database):
    """A test first seen on this commit that failed and passed here is named as new and flaky."""
    repo = installed_repo()
    add_result(repo, "test_old", "passed", sha="d" * 40)  # ran on another commit before
    add_result(repo, "test_old", "failed")
    add_result(repo, "test_old", "passed", attempt=2)
    add_result(repo, "test_added", "failed")
    add_result(repo, "test_added", "passed", attempt=2)
    report = build_check_run_report(repo.id, SHA)
    assert [test.name.split(".")[-1] for test in report.new_flaky] == ["test_added"]
    assert report.new_flaky[0].failed_and_passed_here
    summary = check_runs.render_summary(report)
    assert "### New tests that are already flaky" in summary
    [line] = [line for line in summary.splitlines() if "test_added" in line and "added by" in line]
    assert "failed and passed on this commit" in line
    assert not any("test_old" in line and "added by" in line for line in summary.splitlines())


def test_a_pr_adding_a_parametrisation_of_a_flaky_test_names_its_family(database):
    """A case the PR's branch added, flaky by its verdict, is named with its family's rate."""
    repo = installed_repo()
    main_sha, earlier = "b" * 40, "e" * 40
    sibling = add_result(repo, "test_pay[visa]", "passed", sha=main_sha)
    add_result(repo, "test_other", "passed", sha=main_sha)
    TestRun.update(branch=repo.default_branch).where(TestRun.sha == main_sha).execute()
    FlakeScore.create(
        test_case=sibling,
        repository=repo,
        state="flaky",
        score=0.09,
        engine_state=flaky_state(
            0.1, utcnow().replace(tzinfo=UTC) - timedelta(days=9), 200
        ).to_bytes(),
    )
    added = add_result(repo, "test_pay[amex]", "passed", sha=earlier)  # the PR's first commit
    add_result(repo, "test_pay[amex]", "failed")
    add_result(repo, "test_other", "failed")  # not added by the PR, though flaky
    TestRun.update(branch="feature").where(TestRun.sha.in_([earlier, SHA])).execute()
    for case in (added, TestCase.get(TestCase.name == "test_other")):
        verdict(repo, case, "flaky")
    report = build_check_run_report(repo.id, SHA)
    [new] = report.new_flaky
    assert new.name.endswith("test_pay[amex]") and not new.failed_and_passed_here
    assert new.family == "tests.mod.test_pay" and new.siblings == ("tests.mod.test_pay[visa]",)
    assert new.family_rate is not None and 0.05 < new.family_rate < 0.15
    summary = check_runs.render_summary(report).splitlines()
    [line] = [line for line in summary if "amex" in line and "added by" in line]
    assert "added by this change, already flaky" in line
    family = (
        "new parametrisation of `tests.mod.test_pay`, whose cases before this change "
        "(`tests.mod.test_pay[visa]`) fail"
    )
    assert f"{family} {new.family_rate:.1%} of runs" in line


def test_a_test_failing_often_on_main_does_not_hide_another_tests_history(database, monkeypatch):
    """The default-branch failures read are limited per test, not per chunk of tests."""
    monkeypatch.setattr(github_checks, "SEEN_LIMIT", 3)
    repo = installed_repo()
    main_sha = "b" * 40
    add_result(
        repo,
        "test_quiet",
        "failed",
        sha=main_sha,
        message="KeyError: 'total'",
        created_at=utcnow() - timedelta(days=1),
    )
    for _ in range(6):  # newer than test_quiet's one failure, and more than the limit
        add_result(repo, "test_noisy", "failed", sha=main_sha, message="TimeoutError: waited 30s")
    TestRun.update(branch=repo.default_branch).where(TestRun.sha == main_sha).execute()
    add_result(repo, "test_quiet", "failed", message="KeyError: 'total'")
    add_result(repo, "test_noisy", "failed", message="TimeoutError: waited 31s")
    report = build_check_run_report(repo.id, SHA)
    new = {t.name.split(".")[-1]: t.new_signature for t in report.failing}
    assert new == {"test_noisy": False, "test_quiet": False}


def test_the_failure_type_and_message_come_from_the_same_attempt(database):
    """A first attempt without a message does not lend its failure type to a later message."""
    repo = installed_repo()
    main_sha = "b" * 40
    add_result(
        repo,
        "test_x",
        "failed",
        sha=main_sha,
        message="TimeoutError: waited 30s",
        failure_type="TimeoutError",
    )
    TestRun.update(branch=repo.default_branch).where(TestRun.sha == main_sha).execute()
    # no message, another failure type
    add_result(repo, "test_x", "error", message="", failure_type="SetupError")
    add_result(
        repo,
        "test_x",
        "failed",
        attempt=2,
        message="TimeoutError: waited 31s",
        failure_type="TimeoutError",
    )
    [failing] = build_check_run_report(repo.id, SHA).failing
    assert failing.message == "TimeoutError: waited 31s"
    assert failing.new_signature is False  # the same cause as on main
