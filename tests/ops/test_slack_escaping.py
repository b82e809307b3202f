"""The ephemeral replies of `/flakeguard quarantine` and `/flakeguard test` escape a test
name's `<`, `>` and `&` for Slack's mrkdwn, in the blocks and in the fallback `text`."""

from __future__ import annotations

from typing import Any

import pytest

from tests.bot import factories as f

HOSTILE = "test_ping_<!channel>_<@U0BOSS>_<https://evil.test|login>_&amp"


@pytest.fixture
def hostile_test(slack_app: Any) -> Any:
    repo = f.repo("acme/widgets")
    test = f.test_case(repo, HOSTILE)
    f.score(test, value=0.2)
    f.results(test, "+x+x+")
    return test


def _texts(payload: dict[str, Any]) -> list[str]:
    """The fallback text and every section's mrkdwn text."""
    texts = [payload.get("text", "")]
    texts += [b["text"]["text"] for b in payload.get("blocks", []) if b.get("type") == "section"]
    return texts


@pytest.mark.parametrize("command", ["quarantine ping_", "test ping_"])
def test_reply_escapes_a_hostile_test_name_in_text_and_blocks(slack, hostile_test, command):
    """Attack: a test named with <!channel>, a user mention and a link: the reply (fallback
    text included) shows them as text, never as a Slack mention or link."""
    response = slack.command(command)
    assert response.status_code == 200
    payload = response.get_json()
    assert "&lt;!channel&gt;" in payload["text"]
    for text in _texts(payload):
        assert "<!channel>" not in text and "<@U0BOSS>" not in text and "<https://" not in text
        assert "_&amp_" not in text  # a bare & is escaped too (&amp;amp)
