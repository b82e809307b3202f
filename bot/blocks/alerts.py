"""Alert messages (flaky, recovered, broken, fixed), rendered from an AlertView: pure functions."""

from __future__ import annotations

import re
from datetime import datetime
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
    owners_line,
    section,
    slack_date,
    who,
)
from flakeguard.text import pct
from flakeguard.usecases.alerts import AlertView, QuarantineView
from flakeguard.usecases.noise import SummaryView

APPROVE = "fg_approve"
ASSIGN = "fg_assign"
UNDO = "fg_undo"
DISMISS = "fg_dismiss"
LIFT = "fg_lift"
EXTEND = "fg_extend"
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
    """The message for one alert, showing the quarantine's current state.

    A message not posted yet that belongs in a thread (a later change of an alerted
    test, a reminder) carries its ``thread_ts``.
    """
    if view.kind == "broken":
        payload = _broken(view)
    elif view.kind == "fixed":
        payload = _fixed(view)
    elif view.kind == "reminder":
        payload = _reminder(view)
    elif view.kind == "cluster":
        payload = _cluster(view)
    elif _resolved(view):
        payload = _recovered(view)
    else:
        payload = _flaky(view)
    if view.thread_ts:
        payload["thread_ts"] = view.thread_ts
    return payload


NOT_FLAKY = frozenset({"recovered", "healthy"})


def _resolved(view: AlertView) -> bool:
    """A flaky alert whose test is no longer flaky (and not held in quarantine) is resolved.

    A recovered test turns healthy after its recovery window; its alert, re-rendered
    then, must not offer the quarantine of a test that is not flaky.
    """
    q = view.quarantine
    return view.state in NOT_FLAKY and (q is None or q.state != "quarantined")


def _title(view: AlertView) -> str:
    return f"`{escape(view.test_name)}` in *{escape(view.repository)}*"


def _runs(view: AlertView) -> str:
    if not view.failing_runs:
        return ""
    links = [
        f"<{r.url}|{escape(r.label)}>" if r.url else escape(r.label) for r in view.failing_runs
    ]
    return "Failing runs: " + ", ".join(links)


def _quarantine_lines(q: QuarantineView, expires_at: datetime | None = None) -> list[str]:
    lines = []
    by = who(q.last_actor, q.last_source)
    when = slack_date(q.last_at)
    if q.state == "quarantined":
        lines.append(
            f":lock: *Quarantined* by {who(q.quarantined_by, q.last_source)}, "
            f"{slack_date(q.quarantined_at)}"
        )
        if expires_at is not None:
            lines.append(f":calendar: Expires {slack_date(expires_at)}")
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
    if view.owners:
        blocks.append(context(owners_line(view.owners)))
    runs = _runs(view)
    if runs:
        blocks.append(context(runs))
    if q is not None:
        lines = _quarantine_lines(q, view.expires_at)
        blocks.append(section("\n".join(lines), block_id=f"fg_state_{q.id}"))
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


def _recovered(view: AlertView) -> dict[str, Any]:
    """A flaky alert whose test recovered without a quarantine: no buttons left to press."""
    state = "has *recovered*" if view.state == "recovered" else "is healthy again"
    blocks: list[Block] = [
        header(f"Recovered: {view.test_name}"),
        section(
            f":white_check_mark: {_title(view)} {state}: it is no longer flaky.\n"
            f"*Why* {escape(view.reason) or 'passes again'}\n"
            f"*Since* {slack_date(view.since)}"
        ),
    ]
    text = f"{escape(view.test_name)} in {escape(view.repository)} has recovered"
    return message(text, blocks)


CLUSTER_LISTED = 10  # tests listed in a cluster alert; the rest are counted
MEMBER_MARK = {"quarantined": ":lock: ", "recovered": ":white_check_mark: "}


def _cluster(view: AlertView) -> dict[str, Any]:
    """Tests that turned flaky together with one failure signature: one message, not one each."""
    count = len(view.members)
    cause = clip(view.cause, 150).replace("`", "'")
    lines = [
        f"• `{escape(clip(m.test_name, 150))}`: {pct(m.score)}, {escape(clip(m.reason, 200))}"
        f" ({MEMBER_MARK.get(m.status, '')}{escape(m.status)})"
        for m in view.members[:CLUSTER_LISTED]
    ]
    if count > CLUSTER_LISTED:
        lines.append(f"… and {count - CLUSTER_LISTED} more")
    blocks: list[Block] = [
        header(f"{count} flaky tests, same cause"),
        section(
            f":warning: *{count} tests* in *{escape(view.repository)}*, same cause: "
            f"`{escape(cause)}`\n*Failure* {escape(clip(view.reason, 300)) or 'no message'}"
        ),
        section("\n".join(lines)),
    ]
    if any(m.status == "proposed" for m in view.members):
        blocks.append(
            context(
                "A quarantine is proposed for each test marked proposed: approve them from "
                "the App Home or with `/flakeguard quarantine`."
            )
        )
    text = f"{count} tests, same cause: {escape(cause)} in {escape(view.repository)}"
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


def _reminder(view: AlertView) -> dict[str, Any]:
    """The expiry reminder in an alert's thread; it follows the quarantine as it changes."""
    q = view.quarantine
    title = _title(view)
    state = q.state if q else "gone"
    who_ = f"<@{q.assignee_slack}>" if q and q.assignee_slack else "Nobody is assigned"
    if q is not None and state == "quarantined" and view.escalated_at is not None:
        line = (
            f":rotating_light: The quarantine of {title} *expired* "
            f"{slack_date(view.expires_at)} and is overdue. {who_}: extend it or lift it."
        )
    elif q is not None and state == "quarantined":
        line = (
            f":alarm_clock: The quarantine of {title} expires {slack_date(view.expires_at)}. "
            f"{who_}: extend it if the fix is not in yet, or lift it."
        )
    elif q is not None and state == "lifted":
        line = (
            f":unlock: The quarantine of {title} was *lifted* by {who(q.last_actor, q.last_source)}"
            f", {slack_date(q.last_at)}: the test counts again."
        )
    else:
        line = f"The quarantine of {title} is now {escape(state)}."
    blocks: list[Block] = [section(line)]
    if q is not None and state == "quarantined":
        value = action_value(q)
        blocks.append(
            actions(
                f"fg_q_{q.id}",
                button("Extend", EXTEND, value, style="primary"),
                button("Lift quarantine", LIFT, value),
            )
        )
    return message(f"Quarantine of {escape(view.test_name)}: {state}", blocks)


def render_summary(view: SummaryView) -> dict[str, Any]:
    """One message for the alerts of a run over its cap."""
    icons = {"flaky": ":warning:", "broken": ":red_circle:", "fixed": ":sparkles:"}
    lines = [f"{icons.get(kind, '•')} `{escape(name)}` {kind}" for kind, name in view.items]
    if view.total > len(view.items):
        lines.append(f"… and {view.total - len(view.items)} more")
    head = (
        f":mute: *{view.total} more changes* in *{escape(view.repository)}* "
        f"(run of `{escape(view.sha)}`): past the cap of {view.cap} alerts per run."
    )
    blocks: list[Block] = [
        section(head),
        section("\n".join(lines) or "nothing"),
        context("The tests stay proposed: see the weekly digest or the App Home."),
    ]
    return message(f"{view.total} more changes in {escape(view.repository)}", blocks)


def notice(text: str) -> dict[str, Any]:
    """An ephemeral one-line answer to a button click."""
    return {"response_type": "ephemeral", "replace_original": False, "text": clip(text, 3000)}
