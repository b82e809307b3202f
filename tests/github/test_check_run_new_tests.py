"""The check run on tests a change adds: which are added, which are already flaky, their family."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, timedelta

from flakeguard.usecases.github import NewFlakyTest
from flakeguard.usecases.github_checks import build_check_run_report, sync_check_run
from integrations.github import check_runs
from models import FlakeScore, Repository, TestCase, TestRun, utcnow
from tests.app.analysis_helpers import flaky_state
from tests.github.helpers import SHA, add_result, installed_repo

MAIN, EARLIER, OTHER_PR = "b" * 40, "e" * 40, "f" * 40


def _scored(repo: Repository, case: TestCase, rate: float) -> None:
    """A stored flaky verdict with a state that failed ``rate`` of 200 runs over the last days."""
    start = utcnow().replace(tzinfo=UTC) - timedelta(days=9)
    FlakeScore.create(
        test_case=case,
        repository=repo,
        state="flaky",
        score=rate,
        engine_state=flaky_state(rate, start, 200).to_bytes(),
    )


def _runs_of(sha: str, *, branch: str, pr: int | None = None) -> None:
    TestRun.update(branch=branch, pr=pr).where(TestRun.sha == sha).execute()


def _change(repo: Repository, branch: str, pr: int) -> None:
    """MAIN is of the default branch; EARLIER and SHA are the commits of pull request ``pr``."""
    _runs_of(MAIN, branch=repo.default_branch)
    for sha in (EARLIER, SHA):
        _runs_of(sha, branch=branch, pr=pr)


def _failed_and_passed_here(repo: Repository, name: str) -> None:
    add_result(repo, name, "failed")
    add_result(repo, name, "passed", attempt=2)


def test_a_skipped_test_is_not_added_until_it_runs(database) -> None:  # type: ignore[no-untyped-def]
    """Skipped here: not listed though flaky; skipped elsewhere only: added where it first runs."""
    repo = installed_repo()
    add_result(repo, "test_skipped_here", "passed", sha=EARLIER)  # ran on the PR's first commit
    _scored(repo, TestCase.get(TestCase.name == "test_skipped_here"), 0.1)
    add_result(repo, "test_skipped_here", "skipped")
    add_result(repo, "test_unskipped", "skipped", sha=MAIN)  # on main it never ran
    _failed_and_passed_here(repo, "test_unskipped")
    _change(repo, "feature", 7)
    report = build_check_run_report(repo.id, SHA)
    assert [test.name for test in report.new_flaky] == ["tests.mod.test_unskipped"]


def test_added_is_scoped_to_the_pull_request(database) -> None:  # type: ignore[no-untyped-def]
    """First seen on another PR (same branch name, from another fork) or on main: not added."""
    repo = installed_repo()
    for name in ("test_other_pr", "test_main", "test_ours"):
        _failed_and_passed_here(repo, name)
    add_result(repo, "test_other_pr", "passed", sha=OTHER_PR)
    add_result(repo, "test_main", "passed", sha=MAIN)
    add_result(repo, "test_ours", "passed", sha=EARLIER)
    _runs_of(OTHER_PR, branch="patch-1", pr=8)
    _change(repo, "patch-1", 7)
    report = build_check_run_report(repo.id, SHA)
    assert [test.name for test in report.new_flaky] == ["tests.mod.test_ours"]


def test_the_family_is_named_by_its_cases_from_before_the_change(database) -> None:  # type: ignore[no-untyped-def]
    """Siblings the change adds too are no evidence about the family; names are escaped."""
    repo = installed_repo()
    odd = "test_pay[`*_x_*` <b>]"
    for name, rate in (("test_pay[visa]", 0.1), (odd, 0.1)):
        case = add_result(repo, name, "passed", sha=MAIN)
        _scored(repo, case, rate)
    for n in range(4):
        _scored(repo, add_result(repo, f"test_pay[old{n}]", "passed", sha=MAIN), 0.1)
    jcb = add_result(repo, "test_pay[jcb]", "passed", sha=EARLIER)  # added by this PR too
    _scored(repo, jcb, 0.9)
    _failed_and_passed_here(repo, "test_pay[amex]")
    _change(repo, "feature", 3)
    [new] = build_check_run_report(repo.id, SHA).new_flaky
    assert new.family == "tests.mod.test_pay" and new.sibling_count == 6 and new.siblings_counted
    assert len(new.siblings) == 3 and "tests.mod.test_pay[jcb]" not in new.siblings
    assert new.family_rate is not None and new.family_rate < 0.15  # jcb's 90% left out
    line = check_runs._new_flaky_line(new)
    assert line.endswith(
        "whose cases before this change (``tests.mod.test_pay[`*_x_*` <b>]``, "
        "`tests.mod.test_pay[old0]`, `tests.mod.test_pay[visa]` and 3 more) "
        f"fail {new.family_rate:.1%} of runs"
    )


def test_the_check_run_says_a_pr_adds_an_already_flaky_test(  # type: ignore[no-untyped-def]
    database, fake_github, github_client
):
    """End to end: the check run GitHub receives names the added flaky test and its family."""
    repo = installed_repo()
    _scored(repo, add_result(repo, "test_pay[visa]", "passed", sha=MAIN), 0.1)
    _failed_and_passed_here(repo, "test_pay[amex]")
    add_result(repo, "test_pay[visa]", "passed")
    _change(repo, "feature", 5)
    sync_check_run(repo.id, SHA, github=github_client)
    [created] = fake_github.calls_to("POST", r"/check-runs$")
    summary = created.body["output"]["summary"]
    assert "### New tests that are already flaky" in summary
    [line] = [line for line in summary.splitlines() if "added by this change" in line]
    assert line.startswith("- `tests.mod.test_pay[amex]`: added by this change, failed and passed")
    assert "a new parametrisation of `tests.mod.test_pay`" in line
    assert re.search(r"\(`tests\.mod\.test_pay\[visa\]`\) fail (9|10)\.\d% of runs$", line)
    assert "visa`: added" not in summary


def test_a_family_read_to_its_bound_says_there_may_be_more() -> None:
    """A family whose read stopped at its bound says "at least", not a count it does not know."""
    test = NewFlakyTest(
        name="m.t[new]",
        failed_and_passed_here=True,
        family="m.t",
        family_rate=0.05,
        siblings=("m.t[0]", "m.t[1]", "m.t[2]"),
        sibling_count=50,
        siblings_counted=False,
    )
    line = check_runs._new_flaky_line(test)
    assert "(`m.t[0]`, `m.t[1]`, `m.t[2]` and at least 47 more) fail 5.0% of runs" in line
    counted = check_runs._new_flaky_line(dataclasses.replace(test, siblings_counted=True))
    assert "`m.t[2]` and 47 more) fail" in counted
