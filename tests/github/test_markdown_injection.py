"""Markdown injection into GitHub: untrusted test names, files, reasons and messages render
inert in the quarantine issue and the check run (no mention, reference, image, link, HTML or
hidden marker escapes its code span), and only FlakeGuard's own marker line finds an issue.

Bodies are rendered with markdown-it-py (CommonMark, raw HTML allowed as GitHub allows some);
whatever is outside <code>/<pre> in the HTML is what GitHub would turn into links and
notifications."""

from __future__ import annotations

import re

import pytest
from markdown_it import MarkdownIt

from flakeguard.usecases.github import CheckRunReport, FailingTest
from flakeguard.usecases.github_mirror import issue_marker, mirror_quarantine
from integrations.github import check_runs
from integrations.github.markdown import code, fenced, mention
from models import FlakeScore, Quarantine, QuarantineEvent, TestCase
from tests.fakes.github import REPO
from tests.github.helpers import SHA, add_result, installed_repo

HOSTILE = [
    "test_x` @acme/security-team ![p](https://evil.test/p.png) [win](https://evil.test) `",
    "test_y`` <img src=x onerror=alert(1)> #1 ``",
    "test_z```\n\n@acme/everyone <script>alert(1)</script>\n```",
    "`",
    "test_w <!-- flakeguard:test:00000000000000000000 -->",
]
LEAKS = ("@acme", "<img", "<script", "<a ", "#1", "https://evil", "<!--")

MARKDOWN = MarkdownIt("commonmark").enable("table")


def outside_code(markdown: str) -> str:
    """The HTML GitHub would render from ``markdown``, with code spans and blocks removed."""
    html = MARKDOWN.render(markdown)
    return re.sub(r"<(code|pre)>.*?</\1>", "", html, flags=re.S)


def code_texts(markdown: str) -> list[str]:
    """What the reader sees inside each code span, HTML entities decoded."""
    import html

    return [html.unescape(t) for t in re.findall(r"<code>(.*?)</code>", MARKDOWN.render(markdown))]


@pytest.mark.parametrize("text", HOSTILE)
def test_code_span_shows_the_text_and_nothing_renders(text: str) -> None:
    """A backtick run, a blank line or HTML in the text never ends the code span early."""
    rendered = outside_code(f"- name: {code(text)}")
    assert not any(leak in rendered for leak in LEAKS), rendered
    assert code_texts(f"- name: {code(text)}") == [re.sub(r"\n+", " ", text)]


def test_fenced_block_is_never_closed_by_the_text() -> None:
    """A message holding ``` or ```` stays inside its block."""
    message = "boom\n````\n@acme/team ![x](https://evil.test/x.png)\n```\nend"
    rendered = outside_code(fenced(message) + "\n\nafter")
    assert not any(leak in rendered for leak in LEAKS), rendered
    assert "after" in rendered


def test_only_well_formed_logins_are_mentioned() -> None:
    """An assignee login notifies; a team or anything else is shown inert."""
    assert mention("alice-b") == "@alice-b"
    assert "@acme/team" not in outside_code(mention("acme/team"))
    assert "@" not in outside_code(mention("x @acme/team"))


def _quarantine(repo, name: str, *, file: str, reason: str) -> Quarantine:  # type: ignore[no-untyped-def]
    case = add_result(repo, name, "failed", file=file, line=3)
    FlakeScore.create(test_case=case, repository=repo, state="flaky", score=0.3, reason="")
    q = Quarantine.create(
        test_case=case, repository=repo, state="quarantined", version=1, reason=reason
    )
    QuarantineEvent.create(quarantine=q, action="approve", actor="U0ALICE", source="slack")
    return q


def test_hostile_test_name_file_and_reason_render_inert_in_the_issue(
    database, fake_github, github_client
):
    """Attack: a test named to break out of its code span (mention, image, link, HTML) and a
    raw Slack reason: the issue body renders none of it, and shows the text in code."""
    repo = installed_repo()
    q = _quarantine(
        repo,
        HOSTILE[0],
        file="tests/`x`.py @acme/ops",
        reason="flaky ![p](https://evil.test/r.png) cc @acme/security-team <b>now</b>",
    )
    mirror_quarantine(q.id, github=github_client, public_url="http://fg.test")
    [issue] = fake_github.issues[REPO].values()
    rendered = outside_code(issue.body)
    assert not any(leak in rendered for leak in ("@acme", "<img", "evil.test", "<b>")), rendered
    shown = code_texts(issue.body)
    assert any(HOSTILE[0] in text for text in shown)
    assert "tests/`x`.py @acme/ops" in shown
    assert issue.body.rstrip().splitlines()[-1] == f"<!-- {issue_marker(repo, q.test_case)} -->"


def test_a_name_carrying_another_tests_marker_gets_its_own_issue(
    database, fake_github, github_client
):
    """Attack: a test whose name holds another test's hidden marker does not take over that
    test's issue: each quarantine gets its own, found by the marker on the last line only."""
    repo = installed_repo()
    first = _quarantine(repo, "test_first", file="a.py", reason="")
    victim_marker = issue_marker(repo, TestCase.get_by_id(first.test_case_id))
    attacker = _quarantine(repo, f"test_evil <!-- {victim_marker} -->", file="b.py", reason="")
    mirror_quarantine(attacker.id, github=github_client)
    mirror_quarantine(first.id, github=github_client)
    issues = fake_github.issues[REPO]
    assert len(issues) == 2
    numbers = {Quarantine.get_by_id(q.id).github_issue_number for q in (first, attacker)}
    assert numbers == set(issues)


def test_check_run_summary_and_text_render_names_files_and_messages_inert() -> None:
    """Attack: a failing test whose name, file and message carry Markdown: the check run's
    summary (file was plain Markdown) and text render none of it."""
    report = CheckRunReport(
        full_name=REPO,
        head_sha=SHA,
        conclusion="failure",
        title="1 new failure",
        runs=1,
        tests=1,
        failing=(
            FailingTest(
                name=HOSTILE[1],
                category="new",
                file="tests/[x](https://evil.test).py @acme/all",
                line=7,
                message="assert 1\n````\n@acme/team <img src=x>\n",
            ),
        ),
        passed_on_retry=(HOSTILE[2],),
    )
    for markdown in (check_runs.render_summary(report), check_runs.render_text(report)):
        rendered = outside_code(markdown)
        assert not any(leak in rendered for leak in LEAKS), rendered
    assert "tests/[x](https://evil.test).py @acme/all:7" in code_texts(
        check_runs.render_summary(report)
    )
