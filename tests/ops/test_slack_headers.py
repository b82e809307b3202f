"""Hostile Slack signature headers at /slack/events: 401 and one warning line, never 500."""

from __future__ import annotations

import pytest

from models import Repository

FORGED = [
    ("X-Slack-Signature", "v0=" + "\u00e9" * 64),
    ("X-Slack-Signature", "v0=\u00ff" + "0" * 63),
    ("X-Slack-Request-Timestamp", "not-a-number"),
    ("X-Slack-Request-Timestamp", "9" * 5000),
    ("X-Slack-Request-Timestamp", "17e8"),
]


@pytest.mark.parametrize(("header", "value"), FORGED)
def test_malformed_signature_header_is_401_with_one_warning(slack, header, value, caplog):
    """Attack: a non-ASCII X-Slack-Signature or a non-integer timestamp (slack_sdk's verifier
    raises on both) gets 401 with one warning line naming the header, and does nothing."""
    response = slack.command("repo add acme/forged", headers={header: value})
    assert response.status_code == 401
    warnings = [r.getMessage() for r in caplog.records if r.levelname in ("WARNING", "ERROR")]
    assert warnings == [f"Slack request refused: {header} is malformed"]
    assert not any(r.exc_info for r in caplog.records)
    assert slack.fake.calls == []
    assert Repository.select().count() == 0


def test_a_well_formed_request_still_passes(slack):
    """The guard lets Slack's own header shapes through to Bolt's verification."""
    response = slack.command("help")
    assert response.status_code == 200
