"""Untrusted failure text printed by the CLI: no control characters reach the terminal."""

from __future__ import annotations

import sqlite3

from flakeguard.text import terminal_safe
from tests.cli.conftest import run_cli

HOSTILE = "boom\x1b[2J\x1b]0;owned\x07\r\n\tnext\u202eline\x9b31m  end"


def test_terminal_safe_drops_control_characters_and_collapses_whitespace() -> None:
    """ESC, BEL, CR, C1 and bidi characters become spaces; runs of spaces become one."""
    assert terminal_safe(HOSTILE) == "boom [2J ]0;owned next line 31m end"
    assert terminal_safe("a  \n\n b", 3) == "a b"
    assert terminal_safe("plain: assert 3 == 4") == "plain: assert 3 == 4"
    assert terminal_safe("é ü 漢字") == "é ü 漢字"


def test_flakeguard_test_prints_a_hostile_failure_message_inert(workdir) -> None:  # type: ignore[no-untyped-def]
    """A failure message with an escape sequence is printed without its control characters."""
    assert run_cli("demo", cwd=workdir).returncode == 0
    with sqlite3.connect(workdir / "flakeguard.db") as conn:
        changed = conn.execute(  # the messages of the test's failures (status 2, 3)
            "UPDATE failure_message SET message = ? WHERE id IN (SELECT message_id FROM "
            "result_attempt WHERE status IN (2, 3) AND test_case_id IN "
            "(SELECT id FROM test_case WHERE name LIKE '%payment_webhook%'))",
            ("TimeoutError: " + HOSTILE,),
        ).rowcount
    assert changed > 0
    result = run_cli("test", "payment_webhook", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert "failures by cause" in result.stdout
    assert "owned" in result.stdout  # the message is shown ...
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout  # ... inert
    assert "\r" not in result.stdout and "\u202e" not in result.stdout
