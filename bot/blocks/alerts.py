"""Alert messages (flaky, broken, fixed), rendered from an AlertView: pure functions."""

from __future__ import annotations

import re
from typing import Any

from bot.blocks.common import (
    Block,
    actions,
    button,
    clip,
    confirm_dialog,
    context,
    escape,
    header,
    message,
    section,
    slack_date,
    who,
)
from flakeguard.text import pct
from flakeguard.usecases.alerts import AlertView, QuarantineView

APPROVE = "fg_approve"
ASSIGN = "fg_assign"
UNDO = "fg_undo"
DISMISS = "fg_dismiss"
LIFT = "fg_lift"
VALUE = re.compile(r"^([0-9]{1,10}):([0-9]{1,10})\Z")
MAX_ID = 2**31 - 1  # ids and versions are 32-bit integer columns


def action_value(q: QuarantineView) -> str:
    """A button value: the quarantine and the version the message shows."""
    return f"{q.id}:{q.version}"


def parse_value(value: str) -> tuple[int, int]:
    """Undo :func:`action_value`; ValueError unless ``id:version``, id > 0, version >= 0."""
    match = VALUE.match(value or "")
    if match is None:
        raise ValueError(f"not a quarantine button value: {value[:40]!r}")
    qid, version = int(match[1]), int(match[2])
    if not (0 < qid <= MAX_ID and version <= MAX_ID):
        raise ValueError(f"quarantine button value out of range: {value[:40]!r}")
    return qid, version


def render_alert(view: AlertView) -> dict[str, Any]:
    """The message for one alert, showing the quarantine's current state."""
    if view.kind == "broken":
        return _broken(view)
    if view.kind == "fixed":
        return _fixed(view)
    return _flaky(view)


def _title(view: AlertView) -> str:
    return f"`{escape(view.test_name)}` in *{escape(view.repository)}*"


def _runs(view: AlertView) -> str:
    if not view.failing_runs:
        return ""
    links = [
        f"<{r.url}|{escape(r.label)}>" if r.url else escape(r.label) for r in view.failing_runs
    ]
    return "Failing runs: " + ", ".join(links)


def _quarantine_lines(q: QuarantineView) -> list[str]:
    lines = []
    by = who(q.last_actor, q.last_source)
    when = slack_date(q.last_at)
    if q.state == "quarantined":
        lines.append(
            f":lock: *Quarantined* by {who(q.quarantined_by, q.last_source)}, "
            f"{slack_date(q.quarantined_at)}"
        )
    elif q.state == "dismissed":
        lines.append(f":white_check_mark: *Not flaky*, says {by}, {when}")
    elif q.state == "lifted":
        lines.append(f":unlock: *Quarantine lifted* by {by}, {when}")
    elif q.state == "proposed" and q.last_action == "undo":
        lines.append(f":leftwards_arrow_with_hook: *Back to proposed*: undone by {by}, {when}")
    elif q.state == "proposed":
        lines.append(":hourglass: *Quarantine proposed*")
    if q.assignee_slack:
        gh = f" (GitHub `{escape(q.assignee_github)}`)" if q.assignee_github else ""
        lines.append(f":bust_in_silhouette: Assigned to <@{q.assignee_slack}>{gh}")
    if q.github_issue_url:
        lines.append(f"<{q.github_issue_url}|GitHub issue>")
    return lines


def _assign_select(q: QuarantineView) -> Block:
    element: Block = {
        "type": "users_select",
        "action_id": ASSIGN,
        "placeholder": {"type": "plain_text", "text": "Assign"},
    }
    if q.assignee_slack:
        element["initial_user"] = q.assignee_slack
    return element


def _flaky(view: AlertView) -> dict[str, Any]:
    q = view.quarantine
    blocks: list[Block] = [
        header(f"Flaky test: {view.test_name}"),
        section(
            f":warning: {_title(view)} is flaky.\n"
            f"*Score* {pct(view.score)} (90% interval {pct(view.low)}–{pct(view.high)})\n"
            f"*Why* {escape(view.reason) or 'no reason recorded'}\n"
            f"*Since* {slack_date(view.since)}"
        ),
    ]
    runs = _runs(view)
    if runs:
        blocks.append(context(runs))
    if q is not None:
        blocks.append(section("\n".join(_quarantine_lines(q)), block_id=f"fg_state_{q.id}"))
        block_id = f"fg_q_{q.id}"
        value = action_value(q)
        if q.state == "proposed":
            blocks.append(
                actions(
                    block_id,
                    button("Approve quarantine", APPROVE, value, style="primary"),
                    _assign_select(q),
                    button(
                        "Not flaky",
                        DISMISS,
                        value,
                        confirm=confirm_dialog(
                            "Not flaky?",
                            "FlakeGuard will not propose this test again unless new "
                            "same-commit evidence appears.",
                            "Not flaky",
                        ),
                    ),
                )
            )
        elif q.state == "quarantined":
            blocks.append(actions(block_id, button("Undo", UNDO, value), _assign_select(q)))
    state = q.state if q else "proposed"
    name, repo = escape(view.test_name), escape(view.repository)
    text = f"Flaky test {name} in {repo}: {pct(view.score)} ({state})"
    return message(text, blocks)


def _broken(view: AlertView) -> dict[str, Any]:
    sha = (view.first_failing_sha or "")[:10] or "unknown"
    commit = f"<{view.first_failing_url}|{sha}>" if view.first_failing_url else sha
    blocks: list[Block] = [
        header(f"Broken test: {view.test_name}"),
        section(
            f":red_circle: {_title(view)} is *broken*, not flaky: it fails every time.\n"
            f"*First failing commit* {commit}\n"
            f"*Why* {escape(view.reason) or 'fails on every run'}\n"
            f"*Since* {slack_date(view.since)}"
        ),
    ]
    runs = _runs(view)
    if runs:
        blocks.append(context(runs))
    text = f"Broken test {escape(view.test_name)} in {escape(view.repository)} since commit {sha}"
    return message(text, blocks)


def _fixed(view: AlertView) -> dict[str, Any]:
    q = view.quarantine
    blocks: list[Block] = [
        header(f"Looks fixed: {view.test_name}"),
        section(
            f":sparkles: {_title(view)} looks *fixed*.\n"
            f"*Why* {escape(view.reason) or 'passes again'}"
        ),
    ]
    if q is not None:
        lines = _quarantine_lines(q)
        if lines:
            blocks.append(section("\n".join(lines), block_id=f"fg_state_{q.id}"))
        if q.state == "quarantined":
            blocks.append(
                actions(
                    f"fg_q_{q.id}",
                    button("Lift quarantine", LIFT, action_value(q), style="primary"),
                )
            )
    state = q.state if q else "fixed"
    text = f"{escape(view.test_name)} in {escape(view.repository)} looks fixed ({state})"
    return message(text, blocks)


def notice(text: str) -> dict[str, Any]:
    """An ephemeral one-line answer to a button click."""
    return {"response_type": "ephemeral", "replace_original": False, "text": clip(text, 3000)}
