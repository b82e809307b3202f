"""Block Kit primitives that keep every payload within Slack's limits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from models.base import as_aware

MAX_BLOCKS = 50  # per message (100 in a modal or App Home; we keep to 50 everywhere)
MAX_SECTION_TEXT = 3000
MAX_BUTTON_TEXT = 75
MAX_ID = 255  # action_id, block_id
MAX_VALUE = 2000
MAX_FALLBACK = 3000
MAX_HEADER = 150
MAX_CONTEXT_ELEMENTS = 10
ELLIPSIS = "…"

Block = dict[str, Any]
T = TypeVar("T")


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, ending with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def section(text: str, *, block_id: str | None = None, accessory: Block | None = None) -> Block:
    """A mrkdwn section, text clipped to 3,000 characters."""
    block: Block = {
        "type": "section",
        "text": {"type": "mrkdwn", "text": clip(text, MAX_SECTION_TEXT)},
    }
    if block_id:
        block["block_id"] = clip(block_id, MAX_ID)
    if accessory:
        block["accessory"] = accessory
    return block


def header(text: str) -> Block:
    """A header block (plain text, 150 characters)."""
    return {
        "type": "header",
        "text": {"type": "plain_text", "text": clip(text, MAX_HEADER), "emoji": True},
    }


def context(*texts: str) -> Block:
    """A context block of mrkdwn texts (at most 10)."""
    return {
        "type": "context",
        "elements": [
            {"type": "mrkdwn", "text": clip(t, MAX_SECTION_TEXT)}
            for t in texts[:MAX_CONTEXT_ELEMENTS]
        ],
    }


def divider() -> Block:
    """A divider."""
    return {"type": "divider"}


def button(
    text: str,
    action_id: str,
    value: str,
    *,
    style: str | None = None,
    confirm: Block | None = None,
    url: str | None = None,
) -> Block:
    """A button; text clipped to 75 characters, ids to 255, value to 2,000."""
    element: Block = {
        "type": "button",
        "text": {"type": "plain_text", "text": clip(text, MAX_BUTTON_TEXT), "emoji": True},
        "action_id": clip(action_id, MAX_ID),
        "value": clip(value, MAX_VALUE),
    }
    if style:
        element["style"] = style
    if confirm:
        element["confirm"] = confirm
    if url:
        element["url"] = url
    return element


def confirm_dialog(title: str, text: str, yes: str, no: str = "Cancel") -> Block:
    """A confirmation dialog for a button."""
    return {
        "title": {"type": "plain_text", "text": clip(title, 100)},
        "text": {"type": "mrkdwn", "text": clip(text, 300)},
        "confirm": {"type": "plain_text", "text": clip(yes, 30)},
        "deny": {"type": "plain_text", "text": clip(no, 30)},
    }


def actions(block_id: str, *elements: Block) -> Block:
    """An actions block (block_id clipped to 255)."""
    return {"type": "actions", "block_id": clip(block_id, MAX_ID), "elements": list(elements[:25])}


def cut(items: Sequence[T], limit: int, total: int | None = None) -> tuple[list[T], int]:
    """The first ``limit`` items and how many more there are (``total`` if known)."""
    total = len(items) if total is None else total
    shown = list(items[:limit])
    return shown, max(0, total - len(shown))


def more_line(hidden: int) -> str:
    """The "…and N more" line."""
    return f"{ELLIPSIS}and {hidden} more"


def lines_section(
    lines: Sequence[str], *, total: int | None = None, limit: int = MAX_SECTION_TEXT
) -> str:
    """Join lines into one section text within ``limit``, ending with "…and N more" when cut."""
    total = len(lines) if total is None else total
    out: list[str] = []
    used = 0
    for index, line in enumerate(lines):
        hidden = total - index
        room = limit - used - (len(more_line(hidden)) + 1 if hidden > 1 else 0)
        if len(line) + 1 > room:
            break
        out.append(line)
        used += len(line) + 1
    hidden = total - len(out)
    if hidden:
        out.append(more_line(hidden))
    return clip("\n".join(out), limit)


def fit_blocks(blocks: list[Block], *, limit: int = MAX_BLOCKS) -> list[Block]:
    """Keep at most ``limit`` blocks; the last says how many were left out."""
    if len(blocks) <= limit:
        return blocks
    hidden = len(blocks) - (limit - 1)
    return [*blocks[: limit - 1], context(f"{more_line(hidden)} blocks not shown")]


def message(text: str, blocks: list[Block], **extra: Any) -> dict[str, Any]:
    """A message payload: blocks within limits and a plain ``text`` fallback (never empty)."""
    fallback = clip(text.strip() or "FlakeGuard", MAX_FALLBACK)
    return {"text": fallback, "blocks": fit_blocks(blocks), **extra}


def slack_date(at: datetime | None, *, fallback: str | None = None) -> str:
    """A Slack date token that shows in each reader's time zone."""
    if at is None:
        return "never"
    aware = as_aware(at)
    plain = fallback or aware.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(aware.timestamp())}^{{date_short_pretty}} at {{time}}|{plain}>"


def who(actor: str | None, source: str | None = None) -> str:
    """A Slack mention for Slack users, else the actor's name."""
    if not actor:
        return "someone"
    if source == "slack" or (actor[:1] in ("U", "W") and actor[1:].isalnum() and actor.isupper()):
        return f"<@{actor}>"
    if actor == "flakeguard":
        return "FlakeGuard"
    return escape(actor)


def owners_line(owners: Sequence[str]) -> str:
    """``*Owners* `@org/payments`, `@octocat``` (CODEOWNERS), or "" when nobody owns it."""
    if not owners:
        return ""
    return "*Owners* " + ", ".join(f"`{escape(owner)}`" for owner in owners[:5])
