"""The FlakeGuard check run of a commit: what it says (from the database) and keeping it synced.

A failing test is one that failed (or errored) in a run of the commit and never
passed there; one that failed and then passed on a retry is listed apart. Each
failing test is ``quarantined`` (its quarantine is active), ``flaky`` (a known
flake not quarantined), ``broken`` (already broken on the default branch) or
``new``. A failure whose signature (``engine.signatures``) this test never
failed with on the default branch in the last ``NEW_SIGNATURE_DAYS`` is
flagged as a new failure (probably the change's own). Conclusion: ``failure``
when any failing test is not quarantined, ``success`` otherwise, ``neutral``
when the commit has no results.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from engine.scoring import DEFAULT_CONFIG
from engine.scoring.family import family_key
from engine.signatures import signature
from flakeguard.errors import NotFoundError
from flakeguard.usecases import new_tests, repo_files
from flakeguard.usecases.github import (
    CheckAction,
    CheckRunReport,
    FailingTest,
    GitHubGoneError,
    GitHubPort,
    GitHubUnavailableError,
    NewFlakyTest,
    installation_of,
    why_no_installation,
)
from models import (
    CheckRun,
    FlakeScore,
    Quarantine,
    Repository,
    TestCase,
    TestRun,
    db,
    failure_reads,
    queries,
    result_reads,
    utcnow,
)

log = logging.getLogger(__name__)

FAILED = ("failed", "error")
CHUNK = 500
NEW_SIGNATURE_DAYS = 21  # a failure text not seen on the default branch this long is new
SEEN_LIMIT = 500  # default-branch failures read per failing test, newest first
SIBLINGS_SHOWN = 3  # cases of a new test's family named in its line


def _seen_on_default(
    repo: Repository, case_ids: list[int], run_ids: list[int]
) -> dict[int, set[str]]:
    """Signatures each test failed with on the default branch lately (other runs than these).

    Each test's newest ``SEEN_LIMIT`` failures are read: a test failing often on
    the default branch does not crowd the others' failures out of the read.
    """
    since = utcnow() - timedelta(days=NEW_SIGNATURE_DAYS)
    failures = failure_reads.branch_failures(
        repo.id, repo.default_branch, case_ids, since, except_runs=run_ids, per_test=SEEN_LIMIT
    )
    return {
        case_id: {signature(message, failure_type).key for message, failure_type in seen}
        for case_id, seen in failures.items()
    }


def build_check_run_report(
    repository_id: int, sha: str, *, details_url: str | None = None
) -> CheckRunReport:
    """Compute the check-run content for (repository, sha) from runs, verdicts and quarantines."""
    repo = Repository.get_or_none(Repository.id == repository_id)
    if repo is None:
        raise NotFoundError(f"unknown repository id {repository_id}")
    runs: dict[int, tuple[datetime, datetime]] = {}
    branches: set[str] = set()
    prs: set[int] = set()
    for run_id, started_at, received_at, branch, pr in (
        TestRun.select(
            TestRun.id, TestRun.started_at, TestRun.received_at, TestRun.branch, TestRun.pr
        )
        .where(TestRun.repository == repo, TestRun.sha == sha)
        .tuples()
    ):
        runs[run_id] = result_reads.results_window(started_at, received_at)
        branches.add(branch)
        if pr is not None:
            prs.add(pr)
    run_ids = list(runs)
    notices = tuple(repo_files.problems(repo.id))
    if not run_ids:
        return CheckRunReport(
            full_name=repo.full_name,
            head_sha=sha,
            conclusion="neutral",
            title="No test results for this commit",
            runs=0,
            tests=0,
            details_url=details_url,
            notices=notices,
        )
    outcomes: dict[int, list[tuple[str, str | None]]] = defaultdict(list)
    # The failure a test is judged by: its first failing row with a message (else its
    # first failing row), its message and failure type both from that one row.
    first_failure: dict[int, tuple[str | None, str | None]] = {}
    for attempt in result_reads.run_attempts(repo.id, runs, messages=True):
        case_id, status, message = attempt.test_case_id, attempt.status, attempt.message
        outcomes[case_id].append((status, message))
        if status in FAILED and not (first_failure.get(case_id) or (None,))[0]:
            first_failure[case_id] = (message, attempt.failure_type)
    failing_ids = [
        case_id
        for case_id, seen in outcomes.items()
        if any(s in FAILED for s, _ in seen) and not any(s == "passed" for s, _ in seen)
    ]
    retried_ids = [
        case_id
        for case_id, seen in outcomes.items()
        if any(s in FAILED for s, _ in seen) and any(s == "passed" for s, _ in seen)
    ]
    cases = _load(TestCase, TestCase.id, failing_ids + retried_ids)
    scores = {s.test_case_id: s for s in _load(FlakeScore, FlakeScore.test_case, failing_ids)}
    active = {
        q.test_case_id
        for q in _load(Quarantine, Quarantine.test_case, failing_ids)
        if q.state == "quarantined"
    }
    by_id = {case.id: case for case in cases}
    seen = _seen_on_default(repo, failing_ids, run_ids)
    files = repo_files.files_of(repo.id)
    failing: list[FailingTest] = []
    for case_id in failing_ids:
        case = by_id[case_id]
        score = scores.get(case_id)
        if case_id in active:
            category = "quarantined"
        elif score is not None and score.state == "flaky":
            category = "flaky"
        elif score is not None and score.state == "broken":
            category = "broken"
        else:
            category = "new"
        failures = [m for s, m in outcomes[case_id] if s in FAILED]
        first_message, failure_type = first_failure[case_id]
        message = first_message or ""
        new_signature = category != "quarantined" and signature(
            message, failure_type
        ).key not in seen.get(case_id, ())
        failing.append(
            FailingTest(
                name=display_name(case),
                category=category,
                file=case.file,
                line=case.line,
                message=message,
                score=score.score if score is not None else None,
                failures=len(failures),
                new_signature=new_signature,
                owners=repo_files.owners_of_test(case, files),
            )
        )
    order = {"new": 0, "broken": 1, "flaky": 2, "quarantined": 3}
    failing.sort(key=lambda t: (order[t.category], t.name))
    retried = tuple(sorted(display_name(by_id[i]) for i in retried_ids))
    ran_ids = [
        case_id for case_id, seen in outcomes.items() if any(s != "skipped" for s, _ in seen)
    ]
    # This change's runs: those of its pull requests, and those without one of its own
    # branches (never the default branch's; "": a run whose branch is unknown).
    ours = (branches - {repo.default_branch, ""}, prs)
    new_flaky = _new_flaky(repo, sha, ours, retried_ids, ran_ids)
    conclusion, title = _verdict(failing, len(outcomes))
    if not failing and retried_ids:
        title += f" ({len(retried_ids)} only on a retry)"
    return CheckRunReport(
        full_name=repo.full_name,
        head_sha=sha,
        conclusion=conclusion,
        title=title,
        runs=len(run_ids),
        tests=len(outcomes),
        failing=tuple(failing),
        passed_on_retry=retried,
        details_url=details_url,
        new_flaky=new_flaky,
        notices=notices,
        actions=_top_proposal_actions(failing_ids, scores),
    )


def _top_proposal_actions(
    failing_ids: list[int], scores: dict[int, Any]
) -> tuple[CheckAction, ...]:
    """Quarantine / Dismiss / Open issue for the commit's most flaky proposed failing test."""
    proposed = [
        q for q in _load(Quarantine, Quarantine.test_case, failing_ids) if q.state == "proposed"
    ]
    if not proposed:
        return ()
    top = max(proposed, key=lambda q: (getattr(scores.get(q.test_case_id), "score", 0.0), -q.id))
    return (
        CheckAction("Quarantine", "Quarantine the top flaky test", f"quarantine:{top.id}"),
        CheckAction("Dismiss", "Not flaky: stop proposing it", f"dismiss:{top.id}"),
        CheckAction("Open issue", "Open a GitHub issue for the flake", f"issue:{top.id}"),
    )


def _new_flaky(
    repo: Repository,
    sha: str,
    ours: tuple[set[str], set[int]],
    retried_ids: list[int],
    ran_ids: list[int],
) -> tuple[NewFlakyTest, ...]:
    """The tests of this commit that the change adds and that are already flaky.

    Only tests that ran here (a result other than skipped) are looked at.
    Flaky: failed and passed on this commit, or flaky by their verdict (say,
    failed and passed across the change's commits, or a new parametrisation of
    a flaky test that failed). Each names the test it is a new parametrisation
    of, some of that family's cases from before the change and the rate they
    show, when the repository scores such cases.
    """
    flaky = set(retried_ids)
    for start in range(0, len(ran_ids), CHUNK):
        flaky.update(
            case_id
            for (case_id,) in FlakeScore.select(FlakeScore.test_case)
            .where(
                FlakeScore.test_case.in_(ran_ids[start : start + CHUNK]),
                FlakeScore.state == "flaky",
            )
            .tuples()
        )
    flaky_ids = sorted(flaky)
    before = _ran_before(repo.id, flaky_ids, sha, ours)
    added = [case_id for case_id in flaky_ids if case_id not in before]
    if not added:
        return ()
    config = repo_files.scoring_config(repo.id, DEFAULT_CONFIG)
    families = new_tests.families_of(
        repo.id,
        added,
        utcnow().timestamp(),
        config,
        keep=lambda siblings: _ran_before(repo.id, sorted(siblings), sha, ours),
    )
    shown = {
        test_id: sorted(family.siblings)[:SIBLINGS_SHOWN] for test_id, family in families.items()
    }
    wanted = sorted({i for ids in shown.values() for i in ids})
    names = {case.id: display_name(case) for case in _load(TestCase, TestCase.id, wanted)}
    retried = set(retried_ids)
    tests = []
    for case in _load(TestCase, TestCase.id, added):
        test = NewFlakyTest(name=display_name(case), failed_and_passed_here=case.id in retried)
        family = families.get(case.id)
        if family is not None:
            test = dataclasses.replace(
                test,
                family=_family_name(case),
                family_rate=family.prior.rate,
                siblings=tuple(sorted(names[i] for i in shown[case.id])),
                sibling_count=len(family.siblings),
                # the read stops at MAX_SIBLINGS members: there may be more
                siblings_counted=len(family.siblings) < queries.MAX_SIBLINGS,
            )
        tests.append(test)
    return tuple(sorted(tests, key=lambda test: test.name))


def _ran_before(
    repository_id: int, case_ids: list[int], sha: str, ours: tuple[set[str], set[int]]
) -> set[int]:
    """Those of the tests that ran (not only skipped) outside this change: on another commit,
    in a run not of its pull requests nor of its own branches.

    On a commit of the default branch (no pull request) that is any other commit.
    """
    if not case_ids:
        return set()
    branches, prs = ours
    ordinals = dict(
        TestCase.select(TestCase.id, TestCase.ordinal).where(TestCase.id.in_(case_ids)).tuples()
    )
    return result_reads.ran_on_other_commit(
        repository_id, ordinals, sha, except_branches=branches, except_prs=prs
    )


def _family_name(case: TestCase) -> str:
    """The display name of a test's family: its display name without the parametrisation."""
    return f"{case.classname}.{family_key(case.name)}" if case.classname else family_key(case.name)


def _load(model: Any, column: Any, ids: list[int]) -> list[Any]:
    rows: list[Any] = []
    for start in range(0, len(ids), CHUNK):
        rows.extend(model.select().where(column.in_(ids[start : start + CHUNK])))
    return rows


def display_name(case: TestCase) -> str:
    """``classname.name`` (or the name alone)."""
    return f"{case.classname}.{case.name}" if case.classname else case.name


def _verdict(failing: list[FailingTest], tests: int) -> tuple[str, str]:
    if not failing:
        return "success", f"All {tests} tests passed" if tests != 1 else "The test passed"
    blocking = [t for t in failing if t.category != "quarantined"]
    if not blocking:
        n = len(failing)
        noun = (
            "failure is a quarantined flaky test"
            if n == 1
            else "failures are quarantined flaky tests"
        )
        return "success", f"{'The' if n == 1 else 'All ' + str(n)} {noun}"
    new = sum(1 for t in blocking if t.category == "new")
    parts = [f"{len(blocking)} failing test{'s' if len(blocking) != 1 else ''}"]
    if new:
        parts.append(f"{new} new")
    return "failure", ", ".join(parts)


def sync_check_run(
    repository_id: int, sha: str, *, github: GitHubPort, details_url: str | None = None
) -> CheckRun | None:
    """Create or update the commit's check run; record what was synced, or why not.

    A repository without a live App installation (upload-only) gets no check
    run and no row. A transient GitHub failure is recorded and re-raised (the
    task retries; the row stays behind for the reconcile job); a permanent one
    is recorded and ends the work.
    """
    repo = Repository.get_or_none(Repository.id == repository_id)
    if repo is None:
        raise NotFoundError(f"unknown repository id {repository_id}")
    inst = installation_of(repo)
    existing = CheckRun.get_or_none(CheckRun.repository == repo, CheckRun.head_sha == sha)
    if inst is None and existing is None:
        return None
    with db.atomic():
        row, _ = CheckRun.get_or_create(repository=repo, head_sha=sha)
        if row.version <= row.synced_version:
            CheckRun.update(version=CheckRun.version + 1).where(CheckRun.id == row.id).execute()
        row = CheckRun.get_by_id(row.id)
    target = row.version
    if inst is None:
        why, later = why_no_installation(repo)
        if later:  # suspended: stays pending until the installation is back
            CheckRun.update(last_error=why).where(CheckRun.id == row.id).execute()
        else:
            _record(row.id, target, error=why)
        return CheckRun.get_by_id(row.id)
    report = dataclasses.replace(
        build_check_run_report(repository_id, sha, details_url=details_url),
        external_id=f"flakeguard:{row.id}:{target}",
    )
    try:
        github_id = github.sync_check_run(
            inst.installation_id, repo.full_name, report, row.github_id
        )
    except GitHubGoneError as exc:
        _record(row.id, target, error=f"stopped: {exc.message}")
        return CheckRun.get_by_id(row.id)
    except GitHubUnavailableError as exc:
        CheckRun.update(last_error=exc.message, updated_at=utcnow()).where(
            CheckRun.id == row.id
        ).execute()
        raise
    _record(row.id, target, github_id=github_id, conclusion=report.conclusion, title=report.title)
    return CheckRun.get_by_id(row.id)


def _record(row_id: int, target: int, *, error: str | None = None, **fields: Any) -> None:
    CheckRun.update(last_error=error, updated_at=utcnow(), **fields).where(
        CheckRun.id == row_id
    ).execute()
    CheckRun.update(synced_version=target).where(
        CheckRun.id == row_id, CheckRun.synced_version < target
    ).execute()
