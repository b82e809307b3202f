"""GitHub Actions ingestion: a completed workflow run's test-report artifacts become test runs.

Each artifact whose name matches the repository's filter is downloaded (by
the adapter, bounded and zip-bomb-guarded), and its XML files are stored
through ``ingest_reports`` as one run, with the workflow's ``run_attempt`` as
the attempt. ``IngestedArtifact`` rows make it idempotent per (run id, attempt,
artifact id) and keep pending work visible: a row with ``artifact_id`` 0
stands for "this run's artifacts are not listed yet". An artifact whose data
FlakeGuard refuses (not JUnit, too large, a value out of range, a run date
outside the sane window) is marked ``rejected`` with the reason, and the
other artifacts go on.

A run whose commit comes from a fork (a pull request from a fork: GitHub
lists no pull request for it) is stored on the branch ``fork-owner:branch``,
as GitHub labels a fork's branch, so it never counts as the default branch's
history even when the fork's branch is called ``main``.
"""

from __future__ import annotations

import fnmatch
import logging
from dataclasses import dataclass, field

from flakeguard.errors import BadRequestError, NotFoundError, PayloadTooLargeError
from flakeguard.usecases.github import (
    DEFAULT_ARTIFACT_PATTERNS,
    RUN_PLACEHOLDER,
    ArtifactInfo,
    ArtifactRejectedError,
    GitHubGoneError,
    GitHubPort,
    GitHubUnavailableError,
    WorkflowRunInfo,
    installation_of,
    why_no_installation,
)
from flakeguard.usecases.ingest import RunMeta, ingest_reports
from flakeguard.usecases.repos import get_repository
from flakeguard.usecases.run_meta import check_run_meta
from models import IngestedArtifact, Repository

log = logging.getLogger(__name__)

SETTING_KEY = "github_artifact_patterns"
DETAIL_WIDTH = 2000


@dataclass
class ActionsReport:
    """What one ingestion pass of a workflow run did."""

    listed: int = 0
    ingested: list[int] = field(default_factory=list)  # TestRun ids
    duplicates: int = 0
    skipped: list[str] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)
    stopped: str | None = None
    waiting: bool = False  # stopped, but GitHub may serve it later: the run stays pending


def artifact_patterns(repo: Repository) -> tuple[str, ...]:
    """The repository's artifact name filter (settings key ``github_artifact_patterns``)."""
    configured = (repo.settings or {}).get(SETTING_KEY)
    if isinstance(configured, str):
        configured = [p.strip() for p in configured.split(",")]
    if isinstance(configured, list):
        patterns = tuple(p.lower() for p in configured if isinstance(p, str) and p.strip())
        if patterns:
            return patterns
    return DEFAULT_ARTIFACT_PATTERNS


def set_artifact_patterns(full_name: str, patterns: list[str]) -> tuple[str, ...]:
    """Set (or, with no patterns, reset to the default) a repository's artifact name filter."""
    repo = get_repository(full_name)
    settings = dict(repo.settings or {})
    cleaned = [p.strip() for p in patterns if p.strip()]
    if cleaned:
        settings[SETTING_KEY] = cleaned
    else:
        settings.pop(SETTING_KEY, None)
    Repository.update(settings=settings).where(Repository.id == repo.id).execute()
    return artifact_patterns(Repository.get_by_id(repo.id))


def artifact_matches(name: str, patterns: tuple[str, ...]) -> bool:
    """True when ``name`` contains a pattern (or matches it, for a glob with * or ?)."""
    lowered = name.lower()
    for pattern in patterns:
        if any(c in pattern for c in "*?["):
            if fnmatch.fnmatchcase(lowered, pattern):
                return True
        elif pattern in lowered:
            return True
    return False


def _mark(
    repo: Repository, run_id: int, attempt: int, artifact_id: int, status: str, detail: str
) -> None:
    IngestedArtifact.update(status=status, detail=detail[:DETAIL_WIDTH]).where(
        IngestedArtifact.repository == repo,
        IngestedArtifact.workflow_run_id == run_id,
        IngestedArtifact.run_attempt == attempt,
        IngestedArtifact.artifact_id == artifact_id,
    ).execute()


def _claim(repo: Repository, run_id: int, attempt: int, artifact: ArtifactInfo) -> bool:
    """Record the artifact as pending; False when it is already handled (any attempt)."""
    handled = (
        IngestedArtifact.select()
        .where(
            IngestedArtifact.workflow_run_id == run_id,
            IngestedArtifact.artifact_id == artifact.id,
            IngestedArtifact.status != "pending",
        )
        .exists()
    )
    if handled:
        return False
    IngestedArtifact.insert(
        repository=repo,
        workflow_run_id=run_id,
        run_attempt=attempt,
        artifact_id=artifact.id,
        name=artifact.name[:255],
        status="pending",
    ).on_conflict_ignore().execute()
    return True


def record_pending_run(repo: Repository, workflow_run_id: int, run_attempt: int) -> None:
    """Record a workflow run attempt as pending (its placeholder row), once."""
    IngestedArtifact.insert(
        repository=repo,
        workflow_run_id=workflow_run_id,
        run_attempt=run_attempt,
        artifact_id=RUN_PLACEHOLDER,
        name="(workflow run)",
        status="pending",
    ).on_conflict_ignore().execute()


def ingest_workflow_run(
    repository_id: int,
    workflow_run_id: int,
    run_attempt: int,
    *,
    github: GitHubPort,
    max_bytes: int,
) -> ActionsReport:
    """Ingest the test-report artifacts of one workflow run attempt; idempotent.

    A transient GitHub failure leaves the run (or the artifact) pending and is
    re-raised so the task retries; a run or repository that is gone is recorded
    and not retried; a bad artifact is recorded as rejected and skipped.
    """
    repo = Repository.get_or_none(Repository.id == repository_id)
    if repo is None:
        raise NotFoundError(f"unknown repository id {repository_id}")
    report = ActionsReport()
    record_pending_run(repo, workflow_run_id, run_attempt)
    mark_run = lambda status, detail: _mark(  # noqa: E731
        repo, workflow_run_id, run_attempt, RUN_PLACEHOLDER, status, detail
    )
    inst = installation_of(repo)
    if inst is None:
        report.stopped, report.waiting = why_no_installation(repo)
        mark_run("pending" if report.waiting else "gone", report.stopped)
        return report
    try:
        info = github.workflow_run(inst.installation_id, repo.full_name, workflow_run_id)
    except GitHubGoneError as exc:
        report.stopped = exc.message
        mark_run("gone", exc.message)
        return report
    except GitHubUnavailableError as exc:
        mark_run("pending", exc.message)
        raise
    patterns = artifact_patterns(repo)
    for artifact in info.artifacts:
        if artifact.expired or not artifact_matches(artifact.name, patterns):
            report.skipped.append(artifact.name)
            continue
        report.listed += 1
        if not _claim(repo, workflow_run_id, run_attempt, artifact):
            report.duplicates += 1
            continue
        try:
            _ingest_artifact(
                repo, info, run_attempt, artifact, inst.installation_id, github, max_bytes, report
            )
        except GitHubUnavailableError as exc:
            _mark(repo, workflow_run_id, run_attempt, artifact.id, "pending", exc.message)
            mark_run("pending", f"artifact {artifact.name}: {exc.message}")
            raise
    mark_run(
        "done",
        f"{len(report.ingested)} ingested, {report.duplicates} already done, "
        f"{len(report.rejected)} rejected, {len(report.skipped)} not test reports",
    )
    return report


def is_fork_run(repo: Repository, info: WorkflowRunInfo) -> bool:
    """True when the run's commit comes from another repository than ``repo`` (a fork)."""
    if info.head_repository_id is not None and repo.github_id is not None:
        return info.head_repository_id != repo.github_id
    if info.head_repository:
        return info.head_repository.lower() != repo.full_name.lower()
    return False


def run_branch(repo: Repository, info: WorkflowRunInfo) -> str:
    """The branch to store: the head branch, as ``fork-owner:branch`` for a fork's run."""
    if not is_fork_run(repo, info):
        return info.head_branch
    owner = info.head_repository.split("/", 1)[0] or "fork"
    return f"{owner}:{info.head_branch}"[:255]


def _ingest_artifact(
    repo: Repository,
    info: WorkflowRunInfo,
    attempt: int,
    artifact: ArtifactInfo,
    installation_id: int,
    github: GitHubPort,
    max_bytes: int,
    report: ActionsReport,
) -> None:
    mark = lambda status, detail: _mark(  # noqa: E731
        repo, info.id, attempt, artifact.id, status, detail
    )
    meta = RunMeta(
        sha=info.head_sha,
        branch=run_branch(repo, info),
        ci_run_id=str(info.id),
        job=f"{info.name}/{artifact.name}"[:255],
        attempt=attempt,
        pr=info.pr,
        started_at=info.started_at,
        source="github_actions",
    )
    try:
        check_run_meta(meta)  # before downloading anything
    except BadRequestError as exc:
        report.rejected.append((artifact.name, exc.message))
        mark("rejected", exc.message)
        return
    try:
        files = github.fetch_artifact_reports(
            installation_id, repo.full_name, artifact, max_bytes=max_bytes
        )
    except ArtifactRejectedError as exc:
        report.rejected.append((artifact.name, exc.message))
        mark("rejected", exc.message)
        return
    except GitHubGoneError as exc:
        report.rejected.append((artifact.name, exc.message))
        mark("gone", exc.message)
        return
    if not files:
        report.rejected.append((artifact.name, "no XML file in the artifact"))
        mark("rejected", "no XML file in the artifact")
        return
    try:
        result = ingest_reports(repo, files, meta, max_bytes=max_bytes)
    except (BadRequestError, PayloadTooLargeError) as exc:
        report.rejected.append((artifact.name, exc.message))
        mark("rejected", exc.message)
        return
    if result.duplicate:
        report.duplicates += 1
    else:
        report.ingested.append(result.run_id)
    mark("done", f"run {result.run_id}: {result.totals}")
