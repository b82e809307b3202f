"""Answers to /flakeguard status, top and test; help and "not found" replies."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.blocks.common import (
    Block,
    context,
    divider,
    escape,
    lines_section,
    message,
    more_line,
    section,
    slack_date,
)
from flakeguard.text import pct
from flakeguard.usecases.outbox import runs_set_aside_text
from flakeguard.usecases.status import RepoStatus, TopEntry
from flakeguard.usecases.testcases import TestDetail, TestMatch

STATE_ICON = {
    "flaky": ":warning:",
    "broken": ":red_circle:",
    "healthy": ":large_green_circle:",
    "fixed": ":sparkles:",
    "insufficient": ":grey_question:",
}
STRIP_ICON = {"+": "🟩", "x": "🟥", "-": "⬜", "?": "⬜"}


def ephemeral(payload: dict[str, Any]) -> dict[str, Any]:
    """Mark a command answer as visible only to the user who asked."""
    return {"response_type": "ephemeral", **payload}


def top_line(index: int, entry: TopEntry) -> str:
    """One ranked flaky test."""
    q = f" · _{entry.quarantine_state}_" if entry.quarantine_state else ""
    return (
        f"{index}. `{escape(entry.name)}` {pct(entry.score)} "
        f"({pct(entry.low)}–{pct(entry.high)}){q}\n      {escape(entry.reason)}"
    )


def render_status(statuses: Sequence[RepoStatus]) -> dict[str, Any]:
    """Status of one or more repositories."""
    if not statuses:
        return message(
            "No repositories yet.",
            [section("No repositories yet. Upload a JUnit report or connect GitHub first.")],
        )
    blocks: list[Block] = []
    text_parts = []
    for index, st in enumerate(statuses):
        if index:
            blocks.append(divider())
        summary = (
            f"*{escape(st.repository)}*: {st.flaky} flaky · {st.broken} broken · "
            f"{st.quarantined} quarantined · {st.proposed} proposed · "
            f"{st.new_this_week} new this week"
        )
        blocks.append(section(summary))
        if st.top:
            blocks.append(
                section(lines_section([top_line(i + 1, e) for i, e in enumerate(st.top)]))
            )
        notes = [f"Last analysis {slack_date(st.last_analysis_at)}"]
        if st.slack_errors:
            notes.append(":x: Slack delivery: " + "; ".join(st.slack_errors[:3]))
        if st.runs_set_aside:
            notes.append(f":warning: {runs_set_aside_text(st.runs_set_aside)}")
        blocks.append(context(*notes))
        text_parts.append(
            f"{st.repository}: {st.flaky} flaky, {st.broken} broken, {st.quarantined} quarantined"
        )
    return message("; ".join(text_parts), blocks)


def render_top(entries: Sequence[TopEntry], repository: str | None) -> dict[str, Any]:
    """The top N flaky tests."""
    where = f" in *{escape(repository)}*" if repository else ""
    if not entries:
        return message(f"No flaky tests{where}.", [section(f":tada: No flaky tests{where}.")])
    lines = [top_line(i + 1, e) for i, e in enumerate(entries)]
    if not repository:
        lines = [
            f"{line}  _{escape(e.repository)}_" for line, e in zip(lines, entries, strict=True)
        ]
    blocks = [section(f"*Top {len(entries)} flaky tests*{where}"), section(lines_section(lines))]
    return message(f"Top {len(entries)} flaky tests{where.replace('*', '')}", blocks)


def history_icons(strip: str) -> str:
    """The history strip as coloured squares."""
    return "".join(STRIP_ICON.get(c, "⬜") for c in strip) or "no results yet"


def render_test(detail: TestDetail, others: Sequence[TestMatch] = ()) -> dict[str, Any]:
    """One test: verdict, score with interval, reason, history, quarantine."""
    icon = STATE_ICON.get(detail.state, "")
    lines = [
        f"{icon} `{escape(detail.name)}` in *{escape(detail.repository)}*",
        f"*Verdict* {detail.state} since {slack_date(detail.state_since)}",
        f"*Score* {pct(detail.score)} (90% interval {pct(detail.low)}–{pct(detail.high)})",
        f"*Why* {escape(detail.reason)}",
        f"*Recent runs* (oldest → newest) {history_icons(detail.history)}",
    ]
    if detail.quarantine_state:
        q = f"*Quarantine* {detail.quarantine_state}"
        if detail.assignee_slack:
            q += f", assigned to <@{detail.assignee_slack}>"
        if detail.github_issue_url:
            q += f" · <{detail.github_issue_url}|GitHub issue>"
        lines.append(q)
    else:
        lines.append("*Quarantine* none")
    if detail.file:
        lines.append(f"*File* `{escape(detail.file)}`")
    blocks: list[Block] = [section("\n".join(lines))]
    if others:
        blocks.append(
            context(
                "Also matching: "
                + ", ".join(f"`{escape(m.name)}` ({escape(m.repository)})" for m in others[:5])
                + (f" {more_line(len(others) - 5)}" if len(others) > 5 else "")
            )
        )
    text = (
        f"{escape(detail.name)} in {escape(detail.repository)}: {detail.state}, {pct(detail.score)}"
    )
    return message(text, blocks)


def render_not_found(text: str, suggestions: Sequence[str]) -> dict[str, Any]:
    """An unknown repository or test, with the near matches."""
    body = f":mag: {escape(text)}."
    if suggestions:
        body += "\nDid you mean: " + ", ".join(f"`{escape(s)}`" for s in suggestions) + "?"
    return message(body.replace("`", ""), [section(body)])


def render_error(text: str) -> dict[str, Any]:
    """A short error answer."""
    return message(text, [section(f":warning: {escape(text)}")])


def render_notice(text: str) -> dict[str, Any]:
    """A short confirmation (already mrkdwn)."""
    return message(text, [section(text)])
