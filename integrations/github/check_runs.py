"""The FlakeGuard check run: render a CheckRunReport to GitHub's output, create or update it.

GitHub caps ``summary`` and ``text`` at 65,535 characters each and takes at
most 50 annotations per request, appending them on every update; so the
annotations go out in batches of 50, and on an update only those not already
on the check run are sent.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flakeguard.usecases.github import (
    CHECK_RUN_NAME,
    RERUN_ACTION,
    CheckRunReport,
    FailingTest,
    NewFlakyTest,
)
from integrations.github.markdown import code, fenced

MAX_CHARS = 65_535
ANNOTATION_BATCH = 50
MAX_ANNOTATIONS = 1_000
MESSAGE_CHARS = 4_000  # GitHub caps an annotation message at 64 KB; keep them readable
ACTIONS = [
    {
        "label": "Re-run analysis",
        "description": "Recompute FlakeGuard's verdicts",
        "identifier": RERUN_ACTION,
    }
]
HEADINGS = {
    "new": "New failures",
    "broken": "Broken on the default branch",
    "flaky": "Known flaky (not quarantined)",
    "quarantined": "Quarantined flaky tests",
}


def _size(text: str) -> int:
    # Counted in UTF-8 bytes: within the limit whether GitHub counts characters or bytes.
    return len(text.encode())


def _clip(text: str, limit: int) -> str:
    return text.encode()[:limit].decode(errors="ignore")


def cap(
    parts: list[str],
    lines: list[str],
    *,
    limit: int = MAX_CHARS,
    noun: str = "tests",
    item: str = "- ",
) -> str:
    """Join ``parts`` then as many ``lines`` as fit in ``limit``, noting how many items were cut.

    Items are the lines starting with ``item`` (headings and blank lines are not counted).
    """
    head = _clip("\n".join(parts), limit)
    out = [head] if head else []
    size = _size(head)
    for index, line in enumerate(lines):
        note = f"\n… and {len(lines)} more {noun} not shown (GitHub's 65,535-character limit)."
        if size + 1 + _size(line) + _size(note) > limit:
            left = sum(1 for rest in lines[index:] if rest.startswith(item))
            out.append(f"\n… and {left} more {noun} not shown (GitHub's 65,535-character limit).")
            return _clip("\n".join(out), limit)
        out.append(line)
        size += 1 + _size(line)
    return _clip("\n".join(out), limit)


def actions_of(report: CheckRunReport) -> list[dict[str, str]]:
    """The check run's buttons: the top proposal's (at most 3), else "Re-run analysis"."""
    if not report.actions:
        return ACTIONS
    return [
        {
            "label": action.label[:20],
            "description": action.description[:40],
            "identifier": action.identifier[:20],
        }
        for action in report.actions[:3]
    ]


def render_summary(report: CheckRunReport) -> str:
    """A table of counts, then the failing tests by category (cut to fit)."""
    parts = [
        f"**{report.title}** — {report.tests} tests in {report.runs} "
        f"run{'s' if report.runs != 1 else ''} of `{report.head_sha[:12]}`.",
    ]
    if report.notices:
        parts += ["", "> [!WARNING]", "> Repository files (defaults used where they are wrong):"]
        parts += [f"> - {code(line[:300])}" for line in report.notices[:10]]
    parts += [
        "",
        "| | Tests |",
        "|---|---:|",
    ]
    for category in ("new", "flaky", "quarantined", "broken"):
        parts.append(f"| {HEADINGS[category]} | {report.count(category)} |")
    parts.append(f"| Passed on retry | {len(report.passed_on_retry)} |")
    lines: list[str] = []
    for category in ("new", "broken", "flaky", "quarantined"):
        tests = [t for t in report.failing if t.category == category]
        if tests:
            lines += ["", f"### {HEADINGS[category]}"]
            lines += [_summary_line(t) for t in tests]
    if report.new_flaky:
        lines += ["", "### New tests that are already flaky"]
        lines += [_new_flaky_line(test) for test in report.new_flaky]
    if report.passed_on_retry:
        lines += ["", "### Passed on retry"]
        lines += [f"- {code(name)}" for name in report.passed_on_retry]
    if report.details_url:
        parts.append(f"\n[Open FlakeGuard]({report.details_url})")
    return cap(parts, lines)


def _new_flaky_line(test: NewFlakyTest) -> str:
    how = (
        "failed and passed on this commit"
        if test.failed_and_passed_here
        else "already flaky on this change's commits"
    )
    family = ""
    if test.family is not None and test.family_rate is not None:
        cases = ", ".join(code(name) for name in test.siblings)
        more = test.sibling_count - len(test.siblings)
        if more > 0:
            cases += f" and {more} more" if test.siblings_counted else f" and at least {more} more"
        family = (
            f"; a new parametrisation of {code(test.family)}, whose cases before this change "
            f"({cases}) fail {test.family_rate:.1%} of runs"
        )
    return f"- {code(test.name)}: added by this change, {how}{family}"


def _summary_line(test: FailingTest) -> str:
    place = f"{test.file}:{test.line}" if test.file and test.line else test.file
    where = f" ({code(place)})" if place else ""
    score = (
        f" — flake rate {test.score:.0%}"
        if test.score is not None and test.category in ("flaky", "quarantined")
        else ""
    )
    new = " — **new failure**: never seen on the default branch (probably this change)"
    owned = " — owners " + ", ".join(code(o) for o in test.owners[:3]) if test.owners else ""
    return f"- {code(test.name)}{where}{score}{owned}{new if test.new_signature else ''}"


def render_text(report: CheckRunReport) -> str:
    """Failure messages of the blocking tests (cut to fit)."""
    lines = []
    for test in report.failing:
        if test.category == "quarantined" or not test.message:
            continue
        lines.append(f"#### {code(test.name)}\n{fenced(test.message[:MESSAGE_CHARS])}")
    return cap([], lines, noun="failure messages", item="#### ")


def repo_path(file: str, full_name: str) -> str:
    """A report's file as a path in the repository (runner checkout prefixes and ./ removed)."""
    path = file.replace("\\", "/")
    name = full_name.split("/", 1)[-1]
    marker = f"/{name}/{name}/"  # GitHub-hosted runners check out to .../work/<repo>/<repo>/
    if path.startswith("/") and marker in path:
        path = path.split(marker, 1)[1]
    while path.startswith("./"):
        path = path[2:]
    return path.lstrip("/")


def build_annotations(report: CheckRunReport) -> list[dict[str, Any]]:
    """One annotation per failing test whose file is known (at its line, else line 1)."""
    notes: list[dict[str, Any]] = []
    for test in report.failing:
        if not test.file:
            continue
        line = test.line or 1
        level = "notice" if test.category == "quarantined" else "failure"
        title = f"{HEADINGS[test.category]}: {test.name}"[:255]
        notes.append(
            {
                "path": repo_path(test.file, report.full_name),
                "start_line": line,
                "end_line": line,
                "annotation_level": level,
                "title": title,
                "message": (test.message or title)[:MESSAGE_CHARS],
            }
        )
    return notes[:MAX_ANNOTATIONS]


def _key(note: dict[str, Any]) -> tuple[Any, ...]:
    return (note.get("path"), note.get("start_line"), note.get("title"))


def output(report: CheckRunReport, batch: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The check run ``output`` object (with one batch of annotations)."""
    out: dict[str, Any] = {
        "title": report.title[:255],
        "summary": render_summary(report),
        "text": render_text(report),
    }
    if batch:
        out["annotations"] = batch
    return out


def _find_created(repo: Any, report: CheckRunReport) -> int | None:
    """Our check run for this very version, created by an attempt that died before recording it."""
    for run in repo.get_commit(report.head_sha).get_check_runs(check_name=CHECK_RUN_NAME):
        if run.external_id == report.external_id:
            return int(run.id)
    return None


def sync(repo: Any, report: CheckRunReport, github_id: int | None) -> int:
    """Create (or update) the check run on ``repo`` and send its annotations; return its id."""
    notes = build_annotations(report)
    completed = datetime.now(UTC)
    if github_id is None and report.external_id:
        github_id = _find_created(repo, report)
    if github_id is None:
        first, notes = notes[:ANNOTATION_BATCH], notes[ANNOTATION_BATCH:]
        kwargs: dict[str, Any] = {"external_id": report.external_id} if report.external_id else {}
        if report.details_url and report.details_url.startswith("https://"):
            kwargs["details_url"] = report.details_url  # a local http URL would be refused
        run = repo.create_check_run(
            name=CHECK_RUN_NAME,
            head_sha=report.head_sha,
            status="completed",
            conclusion=report.conclusion,
            completed_at=completed,
            output=output(report, first),
            actions=actions_of(report),
            **kwargs,
        )
        github_id = int(run.id)
    else:
        run = repo.get_check_run(github_id)
        present = {_key(a.raw_data) for a in run.get_annotations()} if notes else set()
        notes = [n for n in notes if _key(n) not in present]
        first, notes = notes[:ANNOTATION_BATCH], notes[ANNOTATION_BATCH:]
        run.edit(
            status="completed",
            conclusion=report.conclusion,
            completed_at=completed,
            output=output(report, first),
            actions=actions_of(report),
        )
    for start in range(0, len(notes), ANNOTATION_BATCH):
        run.edit(output=output(report, notes[start : start + ANNOTATION_BATCH]))
    return github_id
