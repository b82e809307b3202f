"""The weekly digest message and its "Approve all" confirmation modal."""

from __future__ import annotations

import json
from typing import Any

from bot.blocks.alerts import MAX_ID
from bot.blocks.common import (
    Block,
    actions,
    button,
    clip,
    context,
    escape,
    header,
    lines_section,
    message,
    section,
)
from flakeguard.text import pct
from flakeguard.usecases.digest import DigestView
from flakeguard.usecases.plan import PlanItem

APPROVE_ALL = "fg_approve_all"
APPROVE_ALL_VIEW = "fg_approve_all_view"
MAX_METADATA = 3000
MODAL_TITLE = 24


def item_line(index: int, item: PlanItem, place: str = "") -> str:
    """One candidate of the plan (``place``: its repository, in an owner's digest)."""
    detail = item.why or f"{item.failures_week} failures this week"
    where = f"{escape(place)} " if place else ""
    return (
        f"{index}. {where}`{escape(item.test_name)}` {pct(item.score)}: {escape(detail)}"
        f"\n      {escape(item.reason)}"
    )


def _title(view: DigestView) -> str:
    return view.owner or view.repository


def _lines(view: DigestView, items: list[PlanItem]) -> list[str]:
    return [
        item_line(i + 1, item, view.places.get(item.quarantine_id, ""))
        for i, item in enumerate(items)
    ]


def _summary(view: DigestView) -> str:
    counts = (
        f"{view.flaky} flaky, {view.quarantined} quarantined, {view.total} waiting for a decision."
    )
    if not view.owner:
        return f"*{escape(view.repository)}*: {counts}"
    where = ", ".join(escape(name) for name in view.repositories[:10])
    more = f" and {len(view.repositories) - 10} more" if len(view.repositories) > 10 else ""
    scope = f" in {where}{more}" if where else ""
    return f"Tests *{escape(view.owner)}* owns (CODEOWNERS){scope}: {counts}"


def render_digest(view: DigestView) -> dict[str, Any]:
    """The weekly quarantine plan of one repository, or of the tests an owner owns."""
    blocks: list[Block] = [
        header(f"Weekly flaky-test digest: {_title(view)}"),
        section(_summary(view)),
    ]
    if view.items:
        lines = _lines(view, view.items)
        blocks.append(
            section(
                "*Quarantine plan* (by impact)\n"
                + lines_section(lines, total=view.total, limit=2900)
            )
        )
        if view.message_id is not None:
            blocks.append(
                actions(
                    f"fg_digest_{view.message_id}",
                    button(
                        f"Approve all {len(view.items)}",
                        APPROVE_ALL,
                        str(view.message_id),
                        style="primary",
                    ),
                )
            )
    else:
        blocks.append(context(":tada: Nothing waiting for a decision."))
    text = f"Weekly digest for {_title(view)}: {view.total} quarantines waiting for a decision"
    return message(text, blocks)


def approve_all_modal(view: DigestView, *, channel: str) -> dict[str, Any]:
    """The modal confirming "Approve all N"; private_metadata lists what was shown."""
    items = list(view.items)
    metadata = {"m": view.message_id, "c": channel, "q": []}
    for item in items:
        metadata["q"].append([item.quarantine_id, item.version])
        if len(json.dumps(metadata)) > MAX_METADATA:
            metadata["q"].pop()
            break
    shown = items[: len(metadata["q"])]
    lines = _lines(view, shown)
    return {
        "type": "modal",
        "callback_id": APPROVE_ALL_VIEW,
        "title": {"type": "plain_text", "text": clip("Approve quarantines", MODAL_TITLE)},
        "submit": {"type": "plain_text", "text": clip(f"Approve {len(shown)}", MODAL_TITLE)},
        "close": {"type": "plain_text", "text": "Cancel"},
        "private_metadata": json.dumps(metadata, separators=(",", ":")),
        "blocks": [
            section(
                f"Quarantine these {len(shown)} tests of *{escape(_title(view))}*? "
                "Each gets an audit entry and a GitHub issue."
            ),
            section(lines_section(lines) if lines else "Nothing left to approve."),
        ],
    }


def parse_metadata(raw: str) -> tuple[int | None, str, list[tuple[int, int]]]:
    """(digest message id, channel, [(quarantine id, version)]) from a modal's private_metadata."""
    try:
        data = json.loads(raw or "{}")
        items = [(int(q), int(v)) for q, v in data.get("q", [])]
        message_id = data.get("m")
        message_id = int(message_id) if message_id is not None else None
    except (ValueError, TypeError, AttributeError) as exc:
        raise ValueError(f"malformed Approve-all metadata: {exc}") from None
    if message_id is not None and not 0 < message_id <= MAX_ID:
        raise ValueError("Approve-all metadata names no digest")
    if any(not (0 <= q <= MAX_ID and 0 <= v <= MAX_ID) for q, v in items):
        raise ValueError("Approve-all metadata has an id out of range")
    return message_id, str(data.get("c", "")), items


def refusal_modal(text: str) -> dict[str, Any]:
    """The modal after a refused "Approve all": says why, changes nothing."""
    return {
        "type": "modal",
        "callback_id": "fg_refused",
        "title": {"type": "plain_text", "text": "Approve quarantines"},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": [section(text)],
    }
