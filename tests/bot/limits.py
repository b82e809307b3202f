"""Slack's documented Block Kit limits, checked over a whole payload."""

from __future__ import annotations

from typing import Any

LIMITS = {"blocks": 50, "section_text": 3000, "button_text": 75, "id": 255, "value": 2000}


def problems(payload: dict[str, Any], *, max_blocks: int = LIMITS["blocks"]) -> list[str]:
    """Every way ``payload`` breaks Slack's limits (empty when it is fine)."""
    found: list[str] = []
    if payload.get("type") not in ("modal", "home") and not (payload.get("text") or "").strip():
        found.append("no plain text fallback")
    blocks = payload.get("blocks") or []
    if len(blocks) > max_blocks:
        found.append(f"{len(blocks)} blocks")
    for block in blocks:
        _check_block(block, found)
    return found


def _check_block(block: dict[str, Any], found: list[str]) -> None:
    if len(block.get("block_id", "")) > LIMITS["id"]:
        found.append("block_id too long")
    text = block.get("text") or {}
    if block.get("type") == "section" and len(text.get("text", "")) > LIMITS["section_text"]:
        found.append(f"section text of {len(text['text'])} characters")
    if block.get("type") == "header" and len(text.get("text", "")) > 150:
        found.append("header too long")
    for element in block.get("elements") or []:
        if len(element.get("action_id", "")) > LIMITS["id"]:
            found.append("action_id too long")
        if element.get("type") == "button":
            if len(element["text"]["text"]) > LIMITS["button_text"]:
                found.append("button text too long")
            if len(element.get("value", "")) > LIMITS["value"]:
                found.append("button value too long")
        if block.get("type") == "context" and len(element.get("text", "")) > LIMITS["section_text"]:
            found.append("context text too long")
    if len(block.get("elements") or []) > 25:
        found.append("too many elements")


def all_text(payload: dict[str, Any]) -> str:
    """Every text of a payload joined, for 'the message says X' assertions."""
    parts = [payload.get("text") or ""]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "text" and isinstance(value, str):
                    parts.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(payload.get("blocks") or [])
    return "\n".join(parts)


def action_ids(payload: dict[str, Any]) -> list[str]:
    """The action_ids of every interactive element, in order."""
    return [
        element["action_id"]
        for block in payload.get("blocks") or []
        if block.get("type") == "actions"
        for element in block["elements"]
    ]
