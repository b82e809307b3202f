"""Rows and reports the GitHub tests build (nothing is committed as a fixture file)."""

from __future__ import annotations

from datetime import datetime
from xml.sax.saxutils import quoteattr

from models import Installation, Repository, TestCase, TestRun, default_tenant
from models.bulk import Outcome, store_results
from tests.fakes.github import INSTALLATION_ID, REPO, REPO_GITHUB_ID

SHA = "c" * 40


def installed_repo(full_name: str = REPO, *, installation_id: int = INSTALLATION_ID) -> Repository:
    """A repository of a live installation of the App."""
    inst, _ = Installation.get_or_create(
        installation_id=installation_id,
        defaults={"account_login": full_name.split("/")[0], "tenant": default_tenant()},
    )
    return Repository.create(
        tenant=default_tenant(), full_name=full_name, installation=inst, github_id=REPO_GITHUB_ID
    )


def junit(passed: int = 2, failed: int = 1, *, prefix: str = "test") -> bytes:
    """A JUnit report with ``passed`` passing and ``failed`` failing tests."""
    cases = [
        f'<testcase classname="tests.mod" name={quoteattr(f"{prefix}_{i}")} time="0.1"/>'
        for i in range(passed)
    ]
    cases += [
        f'<testcase classname="tests.mod" name={quoteattr(f"{prefix}_fail_{i}")} time="0.1">'
        '<failure message="assert 1 == 2">trace</failure></testcase>'
        for i in range(failed)
    ]
    return ('<?xml version="1.0"?><testsuite name="s">' + "".join(cases) + "</testsuite>").encode()


def add_result(
    repo: Repository,
    name: str,
    status: str,
    *,
    sha: str = SHA,
    attempt: int = 1,
    file: str | None = None,
    line: int | None = None,
    message: str = "assert 1 == 2",
    failure_type: str | None = None,
    created_at: datetime | None = None,
) -> TestCase:
    """One result of test ``name`` in a run of ``sha`` (the run is made once per attempt),
    dated ``created_at`` (else the run's date)."""
    run, _ = TestRun.get_or_create(
        repository=repo,
        ci_run_id="ci-1",
        job="tests",
        attempt=attempt,
        content_digest=f"digest-{sha[:6]}-{attempt}",
        defaults={"sha": sha},
    )
    case, _ = TestCase.get_or_create(
        repository=repo,
        key=f"tests.mod::{name}",
        defaults={"classname": "tests.mod", "name": name, "file": file, "line": line},
    )
    failing = status != "passed"
    outcome = Outcome(
        case.id,
        status,
        message=message if failing else None,
        failure_type=failure_type if failing else None,
    )
    store_results(run.id, [outcome], dated=created_at)
    return case
