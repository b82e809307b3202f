"""`flakeguard preview`: every Slack message of the demo data, as Slack would take it."""

from __future__ import annotations

import json
from urllib.parse import unquote

import pytest

from flakeguard.cli_status import BLOCK_KIT_BUILDER, builder_link, render_preview
from flakeguard.errors import NotFoundError
from flakeguard.usecases.demo import create_demo
from tests.bot.limits import all_text, problems


@pytest.fixture
def demo(app) -> None:  # type: ignore[no-untyped-def]
    create_demo(max_bytes=50 * 2**20)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("alert", "Approve quarantine"),
        ("broken", "First failing commit"),
        ("status", "demo/webshop"),
        ("digest", "test_payment_webhook_timeout"),
        ("home", "test_payment_webhook_timeout"),
    ],
)
def test_preview_renders_within_slack_limits(demo, kind: str, expected: str) -> None:  # type: ignore[no-untyped-def]
    """Each preview is a valid payload for Slack, shows the demo data, and opens in the Builder."""
    payload = render_preview(kind, "demo/webshop")
    assert problems(payload) == []
    assert expected in all_text(payload)
    link = builder_link(payload)
    assert link.startswith(BLOCK_KIT_BUILDER)
    assert json.loads(unquote(link[len(BLOCK_KIT_BUILDER) :]))["blocks"] == payload["blocks"]


def test_preview_without_data_says_what_to_do(app) -> None:  # type: ignore[no-untyped-def]
    """With no repository yet, preview asks for `flakeguard demo`."""
    with pytest.raises(NotFoundError, match="flakeguard demo"):
        render_preview("alert", None)
