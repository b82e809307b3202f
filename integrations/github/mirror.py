"""The quarantine mirror on GitHub: one issue per quarantined test, found again by a marker.

``sync`` makes a repository's issue match a QuarantineIssue: open with the
``flaky-test`` and ``quarantined`` labels (created when missing) and the
assignee while quarantined; a comment, the ``quarantined`` label removed and
closed otherwise; the same issue reopened on a re-quarantine. The hidden
marker in the body finds the issue again when its number was never recorded,
so there is never a second issue for one test.
"""

from __future__ import annotations

import json
from typing import Any

from github import GithubException

from flakeguard.usecases.github import LABEL_FLAKY, LABEL_QUARANTINED, QuarantineIssue
from integrations.github.markdown import code, fenced, mention

LABELS = {
    LABEL_FLAKY: ("d93f0b", "A test FlakeGuard found flaky"),
    LABEL_QUARANTINED: ("fbca04", "Quarantined by FlakeGuard: its failures do not block"),
}
TITLE_CHARS = 256
BODY_CHARS = 65_000


def marker_comment(marker: str) -> str:
    """The hidden HTML comment carrying ``marker``."""
    return f"<!-- {marker} -->"


def carries_marker(body: str | None, marker: str) -> bool:
    """Whether ``body`` ends with the marker line FlakeGuard writes (nowhere else counts:
    a test name or someone's comment quoting another test's marker must not match)."""
    lines = (body or "").rstrip().splitlines()
    return bool(lines) and lines[-1] == marker_comment(marker)


def render_title(issue: QuarantineIssue) -> str:
    """``Flaky test: <name>``."""
    return f"Flaky test: {issue.test_name}"[:TITLE_CHARS]


def render_body(issue: QuarantineIssue) -> str:
    """Score, reason, evidence and links, with the hidden marker last.

    Every string from a report or a person is rendered inert (``markdown.code``).
    """
    lines = [
        f"FlakeGuard quarantined **{code(issue.test_name)}**: its failures no longer block "
        "the FlakeGuard check until it is fixed.",
        "",
    ]
    if issue.file:
        lines.append(
            f"- **File:** {code(issue.file)}" + (f" line {issue.line}" if issue.line else "")
        )
    if issue.score is not None:
        interval = (
            f" (95% interval {issue.low:.0%}–{issue.high:.0%})"
            if issue.low is not None and issue.high is not None
            else ""
        )
        lines.append(f"- **Flake rate:** {issue.score:.0%}{interval}")
    if issue.reason:
        lines.append(f"- **Reason:** {code(issue.reason)}")
    if issue.quarantined_by:
        lines.append(f"- **Quarantined by:** {code(issue.quarantined_by)}")
    if issue.assignees:
        lines.append("- **Assignee:** " + ", ".join(mention(a) for a in issue.assignees))
    if issue.evidence:
        evidence = json.dumps(issue.evidence, indent=2, sort_keys=True, default=str)[:20_000]
        lines += [
            "",
            "<details><summary>Evidence</summary>",
            "",
            fenced(evidence, "json"),
            "",
            "</details>",
        ]
    if issue.links:
        lines += ["", " · ".join(f"[{label}]({url})" for label, url in issue.links)]
    lines += ["", "_This issue is kept in sync by FlakeGuard; close it by lifting the quarantine._"]
    body = "\n".join(lines)[:BODY_CHARS]
    return f"{body}\n\n{marker_comment(issue.marker)}"


def ensure_labels(repo: Any) -> None:
    """Create ``flaky-test`` and ``quarantined`` when the repository lacks them."""
    present = {label.name.lower() for label in repo.get_labels()}
    for name, (color, description) in LABELS.items():
        if name not in present:
            try:
                repo.create_label(name=name, color=color, description=description)
            except GithubException as exc:
                if exc.status != 422:  # 422: another worker created it meanwhile
                    raise


def find_issue(repo: Any, marker: str) -> Any | None:
    """The issue (open or closed) whose body carries ``marker``, labelled flaky-test."""
    for issue in repo.get_issues(state="all", labels=[LABEL_FLAKY]):
        if carries_marker(issue.body, marker):
            return issue
    return None


def _known_issue(repo: Any, number: int) -> Any | None:
    """Issue ``number``, or None when it was deleted (the repository itself is checked after)."""
    issue = repo.get_issue(number)
    try:
        issue.state  # noqa: B018 - the lazy issue is fetched here
    except GithubException as exc:
        if exc.status not in (404, 410):
            raise
        return None
    return issue


def _labels(issue: Any) -> set[str]:
    return {label.name for label in issue.labels}


def _logins(issue: Any) -> set[str]:
    return {user.login for user in issue.assignees}


def _commented(issue: Any, marker: str) -> bool:
    return any(carries_marker(comment.body, marker) for comment in issue.get_comments())


def sync(repo: Any, spec: QuarantineIssue, number: int | None) -> int | None:
    """Make the issue match ``spec``; return its number (None when there is no issue)."""
    issue = _known_issue(repo, number) if number is not None else None
    if issue is None:
        issue = find_issue(repo, spec.marker)
    if spec.open:
        ensure_labels(repo)
        if issue is None:
            fields = {
                "title": render_title(spec),
                "body": render_body(spec),
                "labels": [LABEL_FLAKY, LABEL_QUARANTINED],
            }
            try:
                created = repo.create_issue(**fields, assignees=list(spec.assignees))
            except GithubException as exc:
                if exc.status != 422 or not spec.assignees:
                    raise
                # A login GitHub will not assign (unknown, no access): the issue matters more.
                created = repo.create_issue(**fields)
            return int(created.number)
        if issue.state == "closed":
            issue.edit(state="open")
            issue.create_comment(
                f"{spec.reopen_comment}\n\n{marker_comment(_version_marker(spec))}"
            )
        changes: dict[str, Any] = {}
        title, body = render_title(spec), render_body(spec)
        if issue.title != title:
            changes["title"] = title
        if issue.body != body:
            changes["body"] = body
        if changes:
            issue.edit(**changes)
        if _logins(issue) != set(spec.assignees):
            try:
                issue.edit(assignees=list(spec.assignees))
            except GithubException as exc:
                if exc.status != 422:
                    raise
        missing = [name for name in (LABEL_FLAKY, LABEL_QUARANTINED) if name not in _labels(issue)]
        if missing:
            issue.add_to_labels(*missing)
        return int(issue.number)
    if issue is None:
        return None
    if issue.state == "open" or LABEL_QUARANTINED in _labels(issue):
        version_marker = _version_marker(spec)
        if not _commented(issue, version_marker):
            issue.create_comment(f"{spec.close_comment}\n\n{marker_comment(version_marker)}")
        if LABEL_QUARANTINED in _labels(issue):
            issue.remove_from_labels(LABEL_QUARANTINED)
        if issue.state == "open":
            issue.edit(state="closed", state_reason="completed")
    return int(issue.number)


def _version_marker(spec: QuarantineIssue) -> str:
    return f"{spec.marker}:v{spec.version}"
