"""The GitHub port: what the GitHub use cases need from GitHub, its errors and its data.

The use cases (``github_webhooks``, ``github_checks``, ``github_mirror``,
``github_actions``) decide what GitHub should show; an adapter implementing
``GitHubPort`` (``integrations.github.client.GitHubClient`` in production)
makes the calls. The use cases never import the adapter: the task passes it in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from flakeguard.errors import FlakeGuardError
from models import Installation, Repository

CHECK_RUN_NAME = "FlakeGuard"
RERUN_ACTION = "rerun-analysis"
# Requested actions on the check run for the top proposal: "<verb>:<quarantine id>".
CHECK_ACTIONS = {"quarantine": "approve", "dismiss": "dismiss", "issue": "issue"}
LABEL_FLAKY = "flaky-test"
LABEL_QUARANTINED = "quarantined"
DEFAULT_ARTIFACT_PATTERNS = ("junit", "test-results", "test-report")
# Placeholder artifact id: "this workflow run's artifacts are not listed yet".
RUN_PLACEHOLDER = 0


class GitHubUnavailableError(FlakeGuardError, status=503, code="github_unavailable"):
    """GitHub failed transiently (5xx, rate limit, network, open circuit): try again later."""


class GitHubGoneError(FlakeGuardError, status=404, code="github_gone"):
    """GitHub answered that the target is gone or refused for good (404/410, 401/403/422)."""

    def __init__(self, message: str, *, http_status: int | None = None) -> None:
        super().__init__(message)
        self.http_status = http_status


class ArtifactRejectedError(FlakeGuardError, status=400, code="artifact_rejected"):
    """An artifact is too large, not a zip, or a zip bomb; it is skipped, never retried."""


@dataclass(frozen=True)
class FailingTest:
    """One failing test of a commit and what FlakeGuard knows about it."""

    name: str
    category: str  # new | flaky | quarantined | broken
    file: str | None = None
    line: int | None = None
    message: str = ""
    score: float | None = None
    failures: int = 1
    # Its failure's signature never appeared on the default branch lately: probably the change's.
    new_signature: bool = False
    owners: tuple[str, ...] = ()  # CODEOWNERS owners of its file


@dataclass(frozen=True)
class NewFlakyTest:
    """A test the change adds that is already flaky: how we know, and its family's rate."""

    name: str
    # Failed and passed on this very commit; otherwise its verdict is already flaky.
    failed_and_passed_here: bool
    family: str | None = None  # the display name of the test it is a new parametrisation of
    family_rate: float | None = None  # what the family's cases from before the change show
    siblings: tuple[str, ...] = ()  # display names of some of those cases
    sibling_count: int = 0  # how many were read
    siblings_counted: bool = True  # False: the read stopped at its bound, there may be more


@dataclass(frozen=True)
class CheckAction:
    """A button on the check run (GitHub: at most 3; label 20, description 40 characters)."""

    label: str
    description: str
    identifier: str


@dataclass(frozen=True)
class CheckRunReport:
    """Everything the FlakeGuard check run of one commit shows; rendering is the adapter's."""

    full_name: str
    head_sha: str
    conclusion: str  # failure | success | neutral
    title: str
    runs: int
    tests: int
    failing: tuple[FailingTest, ...] = ()
    passed_on_retry: tuple[str, ...] = ()
    details_url: str | None = None
    external_id: str = ""  # ours, to find a check run created but never recorded
    # Tests the change adds (run on no other commit, or only on its own branch) that are
    # already flaky: they failed and passed here, or their verdict is flaky.
    new_flaky: tuple[NewFlakyTest, ...] = ()
    notices: tuple[str, ...] = ()  # problems of the repository's CODEOWNERS / .flakeguard.yml
    actions: tuple[CheckAction, ...] = ()  # none: the default "Re-run analysis"

    def count(self, category: str) -> int:
        """How many failing tests fall in ``category``."""
        return sum(1 for test in self.failing if test.category == category)


@dataclass(frozen=True)
class QuarantineIssue:
    """What the GitHub issue of one quarantine should look like."""

    quarantine_id: int
    version: int
    marker: str
    test_name: str
    open: bool
    state: str
    file: str | None = None
    line: int | None = None
    score: float | None = None
    low: float | None = None
    high: float | None = None
    reason: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)
    assignees: tuple[str, ...] = ()
    quarantined_by: str | None = None
    links: tuple[tuple[str, str], ...] = ()
    close_comment: str = ""
    reopen_comment: str = ""


@dataclass(frozen=True)
class ArtifactInfo:
    """One workflow-run artifact as GitHub lists it."""

    id: int
    name: str
    size: int
    expired: bool = False
    download_url: str = ""


@dataclass(frozen=True)
class WorkflowRunInfo:
    """The facts of a workflow run the ingestion needs, and its artifacts."""

    id: int
    name: str
    head_sha: str
    head_branch: str
    run_attempt: int
    pr: int | None = None
    started_at: datetime | None = None
    artifacts: tuple[ArtifactInfo, ...] = ()
    # Where the run's commit comes from: the repository itself, or a fork (a pull request).
    head_repository: str = ""
    head_repository_id: int | None = None


class GitHubPort(Protocol):
    """The GitHub calls the use cases make; every method raises GitHub*Error on failure."""

    def sync_check_run(
        self, installation_id: int, full_name: str, report: CheckRunReport, github_id: int | None
    ) -> int:
        """Create or update our check run on ``report.head_sha``; return its GitHub id."""
        ...

    def sync_issue(
        self, installation_id: int, full_name: str, issue: QuarantineIssue, number: int | None
    ) -> int | None:
        """Bring the quarantine's issue in line with ``issue``; return its number (None: none)."""
        ...

    def workflow_run(self, installation_id: int, full_name: str, run_id: int) -> WorkflowRunInfo:
        """The workflow run and its artifacts."""
        ...

    def fetch_artifact_reports(
        self, installation_id: int, full_name: str, artifact: ArtifactInfo, *, max_bytes: int
    ) -> list[tuple[str, bytes]]:
        """Download an artifact zip and return its XML files as (name, bytes)."""
        ...

    def repo_files(
        self,
        installation_id: int,
        full_name: str,
        paths: Sequence[str],
        *,
        ref: str,
        max_bytes: int,
    ) -> dict[str, str | None]:
        """The text of each of ``paths`` on ``ref`` (None where there is no such file)."""
        ...

    def team_members(self, installation_id: int, org: str, slug: str) -> list[str] | None:
        """The logins of team ``org/slug`` (None when the App cannot see it)."""
        ...


DEFAULT_API_URL = "https://api.github.com"


def html_url(api_url: str) -> str:
    """The web address of a GitHub API base URL (github.com, or a GHES host's /api/v3)."""
    base = api_url.rstrip("/")
    if base in ("https://api.github.com", "http://api.github.com"):
        return "https://github.com"
    return base.removesuffix("/api/v3")


def issue_url(api_url: str, full_name: str, number: int) -> str:
    """The web page of issue ``number`` of ``full_name`` (for links in Slack and the CLI)."""
    return f"{html_url(api_url)}/{full_name}/issues/{number}"


# The web address of the GitHub this process talks to, set once at start from
# GITHUB_API_URL (tasks.configure): links to issues, runs and commits use it, so
# they point at a GitHub Enterprise host when FlakeGuard is connected to one.
_web_base = html_url(DEFAULT_API_URL)


def use_api_url(api_url: str) -> None:
    """Make every web link of this process point at the GitHub of ``api_url``."""
    global _web_base
    _web_base = html_url(api_url)


def web_url(full_name: str, *path: str | int) -> str:
    """A page of repository ``full_name`` on its GitHub: ``web_url(repo, "issues", 3)``."""
    return "/".join([_web_base, full_name, *(str(part) for part in path)])


def installation_of(repo: Repository) -> Installation | None:
    """The live installation of ``repo`` (None when missing, suspended or deleted)."""
    if repo.installation_id is None or not repo.active:
        return None
    inst = Installation.get_or_none(Installation.id == repo.installation_id)
    if inst is None or inst.suspended_at is not None or inst.deleted_at is not None:
        return None
    return inst


def why_no_installation(repo: Repository) -> tuple[str, bool]:
    """Why ``repo`` cannot reach GitHub, and whether to keep the work pending (suspended)."""
    inst = (
        Installation.get_or_none(Installation.id == repo.installation_id)
        if repo.installation_id is not None
        else None
    )
    if inst is not None and repo.active and inst.deleted_at is None and inst.suspended_at:
        return f"the GitHub App installation of {repo.full_name} is suspended", True
    return f"{repo.full_name} has no live GitHub App installation", False
