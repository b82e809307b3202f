"""Actions artifact ingestion against the fake: redirect without the token, bounds, idempotency."""

from __future__ import annotations

import zipfile

import pytest

from flakeguard.usecases.github import ArtifactRejectedError
from flakeguard.usecases.github_actions import artifact_matches, ingest_workflow_run
from integrations.github.artifacts import extract_reports
from models import IngestedArtifact, Repository, TestRun
from tests.fakes.github import make_zip
from tests.github.helpers import installed_repo, junit
from tests.stored import stored_results

RUN_ID = 9001
HEAD = "b" * 40
MAX = 1_000_000


@pytest.fixture
def gh(github_app, github_client):  # type: ignore[no-untyped-def]
    """The client, with the app (and so the task context) set up on the test database."""
    return github_client


def run_with(fake, *artifacts, attempt=1):  # type: ignore[no-untyped-def]
    fake.add_workflow_run(RUN_ID, head_sha=HEAD, branch="feature", attempt=attempt, pr=12)
    return [fake.add_artifact(RUN_ID, name, data) for name, data in artifacts]


def test_artifacts_are_ingested_as_runs_with_the_workflow_attempt(fake_github, gh):
    """Each matching artifact's XML files become one run: sha, branch, PR, attempt, source."""
    repo = installed_repo()
    run_with(
        fake_github,
        (
            "junit-results",
            make_zip(
                {
                    "a/report-1.xml": junit(2, 1),
                    "a/report-2.xml": junit(1, 0, prefix="other"),
                    "notes.txt": b"hi",
                }
            ),
        ),
        ("coverage", make_zip({"cov.xml": junit(1, 0)})),
    )
    report = ingest_workflow_run(repo.id, RUN_ID, 2, github=gh, max_bytes=MAX)
    [run] = TestRun.select()
    assert report.ingested == [run.id] and report.skipped == ["coverage"]
    assert (run.sha, run.branch, run.pr, run.attempt, run.source) == (
        HEAD,
        "feature",
        12,
        2,
        "github_actions",
    )
    assert run.ci_run_id == str(RUN_ID) and run.job == "CI/junit-results"
    assert len(stored_results(run.id)) == 4
    statuses = {a.artifact_id: a.status for a in IngestedArtifact.select()}
    assert sorted(statuses.values()) == ["done", "done"]  # the run and its artifact


def test_the_download_redirect_does_not_carry_the_token(fake_github, gh):
    """GitHub's 302 is followed to the blob host without the Authorization header."""
    repo = installed_repo()
    run_with(fake_github, ("test-results", make_zip({"r.xml": junit()})))
    ingest_workflow_run(repo.id, RUN_ID, 1, github=gh, max_bytes=MAX)
    [download] = fake_github.calls_to("GET", r"/actions/artifacts/\d+/zip$")
    assert download.headers["Authorization"].startswith("token ")
    [blob] = fake_github.blob_calls
    assert "Authorization" not in blob.headers and "authorization" not in blob.headers
    assert blob.query == {"sig": "signed"}


def test_the_same_run_attempt_twice_stores_once(fake_github, gh):
    """Ingesting (run, attempt) again downloads nothing and stores nothing more."""
    repo = installed_repo()
    run_with(fake_github, ("junit", make_zip({"r.xml": junit()})))
    ingest_workflow_run(repo.id, RUN_ID, 1, github=gh, max_bytes=MAX)
    again = ingest_workflow_run(repo.id, RUN_ID, 1, github=gh, max_bytes=MAX)
    assert again.ingested == [] and again.duplicates == 1
    assert TestRun.select().count() == 1
    assert len(fake_github.blob_calls) == 1


def test_a_rerun_attempt_adds_only_its_new_artifacts(fake_github, gh):
    """Attempt 2 lists attempt 1's artifact too: only the new one is ingested, as attempt 2."""
    repo = installed_repo()
    run_with(fake_github, ("junit", make_zip({"r.xml": junit(2, 1)})))
    ingest_workflow_run(repo.id, RUN_ID, 1, github=gh, max_bytes=MAX)
    fake_github.add_artifact(RUN_ID, "junit", make_zip({"r.xml": junit(3, 0)}))
    report = ingest_workflow_run(repo.id, RUN_ID, 2, github=gh, max_bytes=MAX)
    assert len(report.ingested) == 1 and report.duplicates == 1
    assert sorted(r.attempt for r in TestRun.select()) == [1, 2]


def test_per_repo_artifact_filter(fake_github, gh):
    """A repository's own name patterns replace the defaults."""
    repo = installed_repo()
    Repository.update(settings={"github_artifact_patterns": ["surefire-*"]}).execute()
    run_with(
        fake_github,
        ("surefire-reports", make_zip({"r.xml": junit()})),
        ("junit", make_zip({"r.xml": junit(prefix="x")})),
    )
    report = ingest_workflow_run(repo.id, RUN_ID, 1, github=gh, max_bytes=MAX)
    assert report.skipped == ["junit"] and len(report.ingested) == 1


def test_default_artifact_names():
    """By default names containing junit, test-results or test-report match (any case)."""
    defaults = ("junit", "test-results", "test-report")
    assert all(
        artifact_matches(n, defaults) for n in ("JUnit-linux", "my-test-results", "test-reports")
    )
    assert not artifact_matches("coverage", defaults)


def test_a_zip_bomb_is_rejected_and_nothing_stored(fake_github, gh):
    """An artifact inflating far past its size is refused (recorded), and nothing is stored."""
    repo = installed_repo()
    bomb = make_zip({"r.xml": b"<" + b"a" * 50_000_000})
    assert len(bomb) < 100_000
    run_with(fake_github, ("junit", bomb))
    report = ingest_workflow_run(repo.id, RUN_ID, 1, github=gh, max_bytes=MAX)
    [(name, why)] = report.rejected
    assert name == "junit" and "zip bomb" in why
    assert TestRun.select().count() == 0
    row = IngestedArtifact.get(IngestedArtifact.name == "junit")
    assert row.status == "rejected" and "zip bomb" in row.detail


def test_a_high_ratio_is_refused_even_under_the_size_cap():
    """XML compressed more than 200:1 is refused, even when its total is under the cap."""
    with pytest.raises(ArtifactRejectedError, match="ratio"):
        extract_reports(make_zip({"r.xml": b"a" * 3_000_000}), max_bytes=10 * MAX)
    assert extract_reports(make_zip({"r.xml": b"a" * 500_000}), max_bytes=MAX)  # small: fine


def test_xml_files_adding_up_past_the_cap_are_refused_even_uncompressed():
    """The total uncompressed size of the XML files is bounded, whatever the ratio."""
    data = make_zip({"r.xml": bytes(range(256)) * 8000}, compression=zipfile.ZIP_STORED)
    with pytest.raises(ArtifactRejectedError, match="inflate past"):
        extract_reports(data, max_bytes=1_000_000 // 2)


def test_not_a_zip_is_rejected():
    """Bytes that are not a zip are refused with a reason."""
    with pytest.raises(ArtifactRejectedError, match="not a zip"):
        extract_reports(b"PK-nope", max_bytes=MAX)


def test_an_oversized_artifact_is_not_downloaded(fake_github, gh):
    """An artifact GitHub lists as over the cap is refused before any download."""
    repo = installed_repo()
    run_with(fake_github)
    fake_github.add_artifact(RUN_ID, "junit", make_zip({"r.xml": junit()}), size=MAX + 1)
    report = ingest_workflow_run(repo.id, RUN_ID, 1, github=gh, max_bytes=MAX)
    assert "over the" in report.rejected[0][1]
    assert fake_github.blob_calls == []


def test_an_artifact_larger_than_it_claims_is_cut_off(fake_github, gh):
    """A download that streams past the cap is refused even when the listing said it was small."""
    repo = installed_repo()
    run_with(fake_github)
    big = make_zip({"r.xml": bytes(range(256)) * 5000}, compression=zipfile.ZIP_STORED)
    fake_github.add_artifact(RUN_ID, "junit", big, size=10)
    report = ingest_workflow_run(repo.id, RUN_ID, 1, github=gh, max_bytes=len(big) - 1)
    assert "limit" in report.rejected[0][1]
    assert TestRun.select().count() == 0


def test_an_expired_artifact_is_skipped(fake_github, gh):
    """Expired artifacts are not downloaded."""
    repo = installed_repo()
    run_with(fake_github)
    fake_github.add_artifact(RUN_ID, "junit", make_zip({"r.xml": junit()}), expired=True)
    report = ingest_workflow_run(repo.id, RUN_ID, 1, github=gh, max_bytes=MAX)
    assert report.skipped == ["junit"] and fake_github.blob_calls == []


def test_a_run_that_is_gone_is_recorded_not_retried(fake_github, gh):
    """A workflow run GitHub no longer has: the run row says why and the work ends."""
    repo = installed_repo()
    report = ingest_workflow_run(repo.id, 4040, 1, github=gh, max_bytes=MAX)
    assert "404" in report.stopped
    row = IngestedArtifact.get(IngestedArtifact.workflow_run_id == 4040)
    assert row.status == "gone" and "404" in row.detail


def test_a_run_dated_far_ahead_rejects_its_artifacts_and_stores_nothing(fake_github, gh):
    """run_started_at 2999-01-01: each artifact is rejected (nothing downloaded), the run done."""
    repo = installed_repo()
    fake_github.add_workflow_run(RUN_ID, head_sha=HEAD, started_at="2999-01-01T00:00:00Z")
    fake_github.add_artifact(RUN_ID, "junit", make_zip({"r.xml": junit()}))
    report = ingest_workflow_run(repo.id, RUN_ID, 1, github=gh, max_bytes=MAX)
    [(name, why)] = report.rejected
    assert name == "junit" and why.startswith("started_at: ") and "window" in why
    assert TestRun.select().count() == 0 and fake_github.blob_calls == []
    statuses = sorted((a.artifact_id == 0, a.status) for a in IngestedArtifact.select())
    assert statuses == [(False, "rejected"), (True, "done")]


def test_a_bad_artifact_does_not_block_the_good_one_after_it(fake_github, gh):
    """A value the database cannot hold (time="1e39", a PostgreSQL error today) leaves no
    artifact pending: the bad one is rejected (or stored clamped), the next one is ingested."""
    repo = installed_repo()
    overflow = b'<testsuite><testcase classname="c" name="huge" time="1e39"/></testsuite>'
    run_with(
        fake_github,
        ("junit-bad", make_zip({"r.xml": overflow})),
        ("junit-good", make_zip({"r.xml": junit(2, 0)})),
    )
    report = ingest_workflow_run(repo.id, RUN_ID, 1, github=gh, max_bytes=MAX)
    statuses = {a.name: a.status for a in IngestedArtifact.select()}
    assert statuses["junit-good"] == "done" and statuses["(workflow run)"] == "done"
    assert statuses["junit-bad"] in ("rejected", "done")
    good = TestRun.get(TestRun.job == "CI/junit-good")
    assert good.id in report.ingested and good.tests == 2
    if statuses["junit-bad"] == "rejected":
        detail = IngestedArtifact.get(IngestedArtifact.name == "junit-bad").detail
        assert "cannot store" in detail
        assert not TestRun.select().where(TestRun.job == "CI/junit-bad").exists()


def test_a_fork_pull_request_run_is_not_default_branch_history(fake_github, gh):
    """A fork's run on its own `main` (GitHub lists no PR for it) is stored as `owner:main`."""
    repo = installed_repo()
    fake_github.add_workflow_run(RUN_ID, head_sha=HEAD, branch="main", fork="mallory/widgets")
    fake_github.add_artifact(RUN_ID, "junit", make_zip({"r.xml": junit()}))
    ingest_workflow_run(repo.id, RUN_ID, 1, github=gh, max_bytes=MAX)
    [run] = TestRun.select()
    assert run.branch == "mallory:main" and run.branch != repo.default_branch
    assert run.pr is None


def test_the_repository_own_run_keeps_its_branch(fake_github, gh):
    """A run whose head repository is the repository itself is stored on its branch as is."""
    repo = installed_repo()
    fake_github.add_workflow_run(RUN_ID, head_sha=HEAD, branch="main")
    fake_github.add_artifact(RUN_ID, "junit", make_zip({"r.xml": junit()}))
    ingest_workflow_run(repo.id, RUN_ID, 1, github=gh, max_bytes=MAX)
    assert TestRun.get().branch == "main"
