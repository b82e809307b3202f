"""The GitHub mirror of a quarantine: one issue per quarantined test, kept in line.

The ``Quarantine`` projection is the truth. ``mirror_quarantine`` renders
what the issue should be (open while quarantined, closed otherwise), lets the
adapter make it so, and records ``github_synced_version``,
``github_issue_number`` and ``github_error``. A quarantine whose synced version
is behind its version is pending; the reconcile job re-drives it.
"""

from __future__ import annotations

import hashlib
import re

from flakeguard.errors import NotFoundError
from flakeguard.usecases.github import (
    GitHubGoneError,
    GitHubPort,
    GitHubUnavailableError,
    QuarantineIssue,
    installation_of,
    issue_url,
    why_no_installation,
)
from flakeguard.usecases.github_checks import display_name
from models import FlakeScore, Quarantine, QuarantineEvent, Repository, TestCase, UserLink

NOT_PLAIN = re.compile(r"[^A-Za-z0-9._-]")  # an actor is a Slack user id, "flakeguard", ...
CLOSE_WORDS = {
    "proposed": "The quarantine was undone",
    "lifted": "The test looks fixed: the quarantine was lifted",
    "dismissed": "The quarantine was dismissed",
}
WITHDRAWN = "The test recovered: the quarantine proposal was withdrawn"


def issue_marker(repository: Repository, test: TestCase) -> str:
    """The hidden, stable identity of a test's issue (found again even if its number is lost)."""
    digest = hashlib.sha256(f"{repository.full_name}\0{test.key}".encode()).hexdigest()[:20]
    return f"flakeguard:test:{digest}"


def assignees_of(q: Quarantine) -> tuple[str, ...]:
    """The GitHub login to assign: the quarantine's own, else the Slack user's link."""
    if q.assignee_github:
        return (q.assignee_github,)
    if q.assignee_slack:
        link = UserLink.get_or_none(UserLink.slack_user_id == q.assignee_slack)
        if link is not None:
            return (link.github_login,)
    return ()


def describe(q: Quarantine, *, public_url: str | None = None) -> QuarantineIssue:
    """What the GitHub issue of ``q`` should look like now."""
    test = TestCase.get_by_id(q.test_case_id)
    repo = Repository.get_by_id(q.repository_id)
    score = FlakeScore.get_or_none(FlakeScore.test_case == test.id)
    last = (
        QuarantineEvent.select()
        .where(QuarantineEvent.quarantine == q.id)
        .order_by(QuarantineEvent.id.desc())
        .first()
    )
    # The comments are Markdown: keep the actor to the characters an id is made of.
    who = NOT_PLAIN.sub("", last.actor)[:80] if last is not None and last.actor else ""
    actor = f" by {who}" if who else ""
    if last is not None and last.action == "withdraw":
        close = WITHDRAWN
    else:
        close = CLOSE_WORDS.get(q.state, f"The quarantine is now {q.state}")
    links: list[tuple[str, str]] = []
    if public_url:
        links.append(("FlakeGuard", public_url))
    return QuarantineIssue(
        quarantine_id=q.id,
        version=q.version,
        marker=issue_marker(repo, test),
        test_name=display_name(test),
        # open while quarantined, and for a proposal someone asked an issue for
        open=q.state == "quarantined"
        or (q.state == "proposed" and q.issue_requested_at is not None),
        state=q.state,
        file=test.file,
        line=test.line,
        score=score.score if score is not None else q.rate_at_quarantine,
        low=score.low if score is not None else None,
        high=score.high if score is not None else None,
        reason=(score.reason if score is not None and score.reason else "") or q.reason,
        evidence=dict(score.evidence or {}) if score is not None else {},
        assignees=assignees_of(q),
        quarantined_by=q.quarantined_by,
        links=tuple(links),
        close_comment=f"{close}{actor}.",
        reopen_comment=f"Quarantined again{actor}.",
    )


def _ever_quarantined(q: Quarantine) -> bool:
    return (
        q.github_issue_number is not None
        or q.issue_requested_at is not None
        or q.state == "quarantined"
        or QuarantineEvent.select()
        .where(QuarantineEvent.quarantine == q.id, QuarantineEvent.action == "approve")
        .exists()
    )


def mirror_quarantine(
    quarantine_id: int,
    *,
    github: GitHubPort,
    public_url: str | None = None,
    api_url: str = "https://api.github.com",
) -> Quarantine:
    """Bring the quarantine's GitHub issue in line and record what was mirrored, or why not.

    Transient GitHub failures are recorded and re-raised (retry later, still
    pending); a permanent one (repository or installation gone) is recorded and
    stops the work.
    """
    q = Quarantine.get_or_none(Quarantine.id == quarantine_id)
    if q is None:
        raise NotFoundError(f"unknown quarantine {quarantine_id}")
    if q.github_synced_version >= q.version:
        return q
    target = q.version
    if not _ever_quarantined(q):
        return _record(q.id, target)  # a proposal never reaches GitHub
    repo = Repository.get_by_id(q.repository_id)
    inst = installation_of(repo)
    if inst is None:
        why, later = why_no_installation(repo)
        if later:  # suspended: stays pending until the installation is back
            Quarantine.update(github_error=why).where(Quarantine.id == q.id).execute()
            return Quarantine.get_by_id(q.id)
        return _record(q.id, target, error=why)
    issue = describe(q, public_url=public_url)
    try:
        number = github.sync_issue(
            inst.installation_id, repo.full_name, issue, q.github_issue_number
        )
    except GitHubGoneError as exc:
        return _record(q.id, target, error=f"stopped: {exc.message}")
    except GitHubUnavailableError as exc:
        Quarantine.update(github_error=exc.message).where(Quarantine.id == q.id).execute()
        raise
    url = issue_url(api_url, repo.full_name, number) if number is not None else None
    return _record(q.id, target, number=number, url=url)


def _record(
    quarantine_id: int,
    target: int,
    *,
    error: str | None = None,
    number: int | None = None,
    url: str | None = None,
) -> Quarantine:
    fields: dict[str, object] = {"github_error": error}
    if number is not None:
        # the issue's web page, on github.com or a GitHub Enterprise host
        fields.update(github_issue_number=number, github_issue_url=url)
    Quarantine.update(**fields).where(Quarantine.id == quarantine_id).execute()
    Quarantine.update(github_synced_version=target).where(
        Quarantine.id == quarantine_id, Quarantine.github_synced_version < target
    ).execute()
    return Quarantine.get_by_id(quarantine_id)
