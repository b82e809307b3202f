"""Block Kit builders are pure and stay within Slack's limits, with a text fallback."""

from __future__ import annotations

import json
from datetime import datetime

from bot.blocks import common
from bot.blocks.alerts import parse_value, render_alert
from bot.blocks.digest import approve_all_modal, parse_metadata, render_digest
from bot.blocks.home import render_home
from bot.blocks.status import render_not_found, render_status, render_test, render_top
from flakeguard.usecases.alerts import AlertView, QuarantineView, RunLink
from flakeguard.usecases.app_home import HomeView
from flakeguard.usecases.digest import DigestView
from flakeguard.usecases.plan import PlanItem
from flakeguard.usecases.status import RepoStatus, TopEntry
from flakeguard.usecases.testcases import TestDetail, TestMatch
from tests.bot.limits import action_ids, all_text, problems

LONG = "x" * 5000
AT = datetime(2026, 11, 20, 12, 0)


def quarantine(state: str = "proposed", **kw: object) -> QuarantineView:
    values: dict = dict(
        id=7,
        state=state,
        version=3,
        reason="",
        assignee_slack=None,
        assignee_github=None,
        quarantined_by=None,
        quarantined_at=None,
        last_action=None,
        last_actor=None,
        last_source=None,
        last_at=None,
        github_issue_url=None,
    )
    values.update(kw)
    return QuarantineView(**values)


def alert(kind: str = "flaky", q: QuarantineView | None = None, **kw: object) -> AlertView:
    values: dict = dict(
        message_id=1,
        kind=kind,
        repository="acme/widgets",
        test_case_id=1,
        test_name="tests.test_api.test_upload",
        state=kind,
        score=0.123,
        low=0.05,
        high=0.3,
        reason="passed and failed on the same commit",
        since=AT,
        first_failing_sha="abc123" * 6,
        first_failing_url="https://github.com/acme/widgets/commit/" + "abc123" * 6,
        failing_runs=[
            RunLink("pytest @ abc1234", "https://github.com/acme/widgets/actions/runs/1")
        ],
        quarantine=q,
    )
    values.update(kw)
    return AlertView(**values)


def test_flaky_alert_json():
    """A proposed alert: header, facts, state, and the three actions carrying id and version."""
    payload = render_alert(alert(q=quarantine()))
    assert (
        payload["text"] == "Flaky test tests.test_api.test_upload in acme/widgets: 12.3% (proposed)"
    )
    assert [b["type"] for b in payload["blocks"]] == [
        "header",
        "section",
        "context",
        "section",
        "actions",
    ]
    actions = payload["blocks"][-1]
    assert actions["block_id"] == "fg_q_7"
    assert [e.get("value") for e in actions["elements"]] == ["7:3", None, "7:3"]
    assert actions["elements"][0]["style"] == "primary"
    assert "confirm" in actions["elements"][2]
    assert parse_value("7:3") == (7, 3)


def test_quarantined_alert_shows_who_and_when_and_undo():
    """A quarantined alert says who and when (a Slack date token) and offers Undo."""
    q = quarantine(
        "quarantined",
        quarantined_by="U0ALICE",
        quarantined_at=AT,
        last_source="slack",
        assignee_slack="U0BOB",
        assignee_github="bob",
        github_issue_url="https://github.com/acme/widgets/issues/9",
    )
    payload = render_alert(alert(q=q))
    text = all_text(payload)
    assert "Quarantined* by <@U0ALICE>, <!date^" in text and "|2026-11-20 12:00 UTC>" in text
    assert "Assigned to <@U0BOB> (GitHub `bob`)" in text and "issues/9|GitHub issue" in text
    assert action_ids(payload) == ["fg_undo", "fg_assign"]
    assert payload["blocks"][-1]["elements"][1]["initial_user"] == "U0BOB"


def test_broken_alert_has_no_buttons():
    """A broken alert links the first failing commit and has no actions."""
    payload = render_alert(alert("broken"))
    assert action_ids(payload) == [] and "commit/abc123" in all_text(payload)
    assert payload["text"].startswith("Broken test tests.test_api.test_upload")


def test_huge_values_stay_within_limits():
    """5,000-character names and reasons are clipped to Slack's limits."""
    payload = render_alert(
        alert(q=quarantine(), test_name=LONG, reason=LONG, repository="a/" + LONG)
    )
    assert problems(payload) == []
    assert len(payload["text"]) <= common.MAX_FALLBACK
    assert payload["blocks"][0]["text"]["text"].endswith("…")


def test_user_text_is_escaped():
    """Test names cannot inject mentions or links."""
    payload = render_alert(alert(test_name="<!channel> & <http://evil|x>", q=quarantine()))
    mrkdwn = [payload["text"]] + [
        b["text"]["text"] for b in payload["blocks"] if b["type"] == "section"
    ]
    assert all("<!channel>" not in t for t in mrkdwn)
    assert "&lt;!channel&gt; &amp; &lt;http://evil|x&gt;" in mrkdwn[0]


def test_button_and_ids_are_clipped():
    """Button text is at most 75 characters, action and block ids 255."""
    button = common.button("B" * 200, "a" * 300, "v" * 3000)
    assert len(button["text"]["text"]) == 75 and len(button["action_id"]) == 255
    assert len(button["value"]) == 2000
    assert len(common.actions("b" * 300, button)["block_id"]) == 255


def test_long_lists_end_with_and_n_more():
    """A list too long for one section ends with '…and N more' and stays under 3,000 characters."""
    lines = [f"line {i} " + "y" * 80 for i in range(200)]
    text = common.lines_section(lines)
    assert len(text) <= 3000
    shown = text.count("\n")  # the last line is the "more" line
    assert text.endswith(f"…and {200 - shown} more")
    assert common.lines_section(["a", "b"]) == "a\nb"
    assert common.lines_section(["a"], total=10) == "a\n…and 9 more"


def test_more_than_fifty_blocks_are_cut():
    """More than 50 blocks are cut to 50, the last saying how many are left out."""
    payload = common.message("t", [common.section(str(i)) for i in range(80)])
    assert len(payload["blocks"]) == 50
    assert payload["blocks"][-1]["elements"][0]["text"] == "…and 31 more blocks not shown"


def test_empty_text_gets_a_fallback():
    """A message always has a non-empty text fallback."""
    assert common.message("  ", [])["text"] == "FlakeGuard"


def entry(i: int) -> TopEntry:
    return TopEntry(i, "acme/widgets", f"test_{i}" + "z" * 100, 0.5, 0.4, 0.6, "reason " * 20, None)


def test_status_of_many_repos_within_limits():
    """Ten repositories with five long entries each stay within limits."""
    statuses = [
        RepoStatus(
            f"acme/r{i}",
            5,
            1,
            2,
            3,
            1,
            [entry(j) for j in range(5)],
            AT,
            ["<#C1>: not_in_channel"] * 9,
        )
        for i in range(10)
    ]
    payload = render_status(statuses)
    assert problems(payload) == [] and "not_in_channel" in all_text(payload)
    assert render_status([])["text"] == "No repositories yet."


def test_top_fifty_within_limits():
    """The top 50 with long names fit, cut with '…and N more'."""
    payload = render_top([entry(i) for i in range(50)], None)
    assert problems(payload) == [] and "more" in all_text(payload)


def test_test_detail_and_not_found():
    """Test detail shows the history strip; not found offers suggestions."""
    detail = TestDetail(
        1,
        "acme/widgets",
        "t",
        "tests/t.py",
        "flaky",
        0.2,
        0.1,
        0.3,
        "r",
        AT,
        "++x-",
        3,
        "quarantined",
        "U1",
        None,
        None,
    )
    others = [TestMatch(i, "acme/widgets", f"t{i}") for i in range(8)]
    payload = render_test(detail, others)
    assert "🟩🟩🟥⬜" in all_text(payload) and "…and 3 more" in all_text(payload)
    assert problems(payload) == []
    nf = render_not_found("no test matches 'x'", ["a", "b"])
    assert "Did you mean: `a`, `b`?" in all_text(nf) and "`" not in nf["text"]


def plan(n: int) -> list[PlanItem]:
    return [PlanItem(i, 1, i, f"test_{i}" + "w" * 150, 0.3, "r" * 100, 4) for i in range(n)]


def test_digest_and_modal_within_limits():
    """A big plan fits the digest and the modal; the modal's metadata lists what it shows."""
    view = DigestView(5, "acme/widgets", 40, 3, plan(10), 200)
    payload = render_digest(view)
    assert problems(payload) == [] and "…and" in all_text(payload)
    assert action_ids(payload) == ["fg_approve_all"]
    modal = approve_all_modal(DigestView(5, "acme/widgets", 40, 3, plan(500), 500), channel="C1")
    assert len(modal["private_metadata"]) <= 3000 and problems(modal) == []
    message_id, channel, items = parse_metadata(modal["private_metadata"])
    assert message_id == 5 and channel == "C1" and items[0] == (0, 1)
    assert modal["submit"]["text"] == f"Approve {len(items)}"
    assert json.loads(modal["private_metadata"])["q"][-1][0] == len(items) - 1


def test_home_within_limits():
    """App Home with long lists stays within limits."""
    view = HomeView(
        "U1",
        "octo",
        plan(10),
        plan(10),
        [("U2", "approve", "t" * 300, AT)] * 10,
        flaky_total=120,
        assigned_total=11,
        repositories=["acme/a"],
    )
    home = render_home(view)
    assert home["type"] == "home" and problems(home) == []
    assert "…and" in all_text(home) and "GitHub `octo`" in all_text(home)
