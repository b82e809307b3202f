"""slack-manifest.yml matches what the code uses."""

from __future__ import annotations

from pathlib import Path

from bot.app import BOT_SCOPES, INSTALL_PATH, REDIRECT_PATH

MANIFEST = Path(__file__).resolve().parents[2] / "slack-manifest.yml"


def _bot_scopes(lines: list[str]) -> list[str]:
    start = next(i for i, line in enumerate(lines) if line.strip() == "bot:")
    indent = len(lines[start + 1]) - len(lines[start + 1].lstrip())
    scopes = []
    for line in lines[start + 1 :]:
        if len(line) - len(line.lstrip()) != indent or not line.strip().startswith("- "):
            break
        scopes.append(line.strip()[2:])
    return scopes


def test_manifest_scopes_are_the_code_scopes():
    """The bot scopes requested by OAuth are exactly the manifest's."""
    lines = MANIFEST.read_text().splitlines()
    assert _bot_scopes(lines) == BOT_SCOPES


def test_manifest_points_everything_at_one_endpoint():
    """Command, events and interactivity use /slack/events; OAuth uses our redirect path."""
    text = MANIFEST.read_text()
    assert text.count("url: https://YOUR_HOST/slack/events") == 3
    assert f"https://YOUR_HOST{REDIRECT_PATH}" in text and INSTALL_PATH == "/slack/install"
    assert "command: /flakeguard" in text and "- app_home_opened" in text
