"""The whole journey on PostgreSQL + Redis with gunicorn and a worker process, end to end.

CI uploads over HTTP -> the worker analyzes -> the alert reaches Slack with
buttons -> a signed Approve click -> the message is updated in place and an
issue is opened on GitHub -> a failure of that test alone gets a green check
run and passes the CI gate -> Undo -> the issue is closed and the next such
failure is red again. A second journey: a broken test is alerted with its
first failing commit and is never offered for quarantine.
"""

from __future__ import annotations

from typing import Any

import pytest

from bot.blocks.alerts import APPROVE, UNDO
from tests.e2e.conftest import Stack, eventually
from tests.fakes.slack import CHANNEL_ID

pytestmark = pytest.mark.slow

REPO = "acme/widgets"
TESTS = ("test_alpha", "test_beta", "test_gamma")


def junit(failing: tuple[str, ...] = ()) -> bytes:
    """A pytest-style report of the three tests; ``failing`` ones fail."""
    cases = []
    for name in TESTS:
        body = (
            '<failure message="AssertionError: boom">Traceback...</failure>'
            if name in failing
            else ""
        )
        cases.append(
            f'<testcase classname="tests.test_api" name="{name}" file="tests/test_api.py" '
            f'time="0.1">{body}</testcase>'
        )
    return (
        f'<?xml version="1.0"?><testsuites><testsuite name="pytest" tests="{len(TESTS)}" '
        f'failures="{len(failing)}">{"".join(cases)}</testsuite></testsuites>'
    ).encode()


def sha(n: int) -> str:
    return f"{n:040x}"


def _token(stack: Stack) -> str:
    issued = stack.cli("repo", "token", REPO)
    assert issued.returncode == 0, issued.stderr
    return issued.stdout.strip().rsplit(" ", 1)[-1]


def _say(stack: Stack, text: str) -> str:
    """Send a signed /flakeguard command and return what FlakeGuard answered (in the ack)."""
    response = stack.slack.command(text)
    assert response.status_code == 200, response.data
    body = response.get_json() or {}
    return str(body.get("text", "")) + str(body.get("blocks", ""))


def _alerts(stack: Stack) -> list[Any]:
    return [
        c
        for c in stack.fake_slack.called("chat.postMessage")
        if c.params.get("channel") == CHANNEL_ID
    ]


def _action(call: Any, action_id: str) -> tuple[str, str] | None:
    """(block_id, value) of a button in a posted or updated message."""
    for block in call.params.get("blocks") or []:
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            if element.get("action_id") == action_id:
                return block["block_id"], element["value"]
    return None


def _upload(stack: Stack, token: str, n: int, failing: tuple[str, ...] = (), **meta: str) -> None:
    """The report of CI run ``ci-n`` on main commit ``n``, with ``failing`` tests failed."""
    stack.upload(
        token,
        junit(failing),
        repo=REPO,
        sha=sha(n),
        branch="main",
        run_id=f"ci-{n}",
        job="pytest",
        **meta,
    )


def _check_run(stack: Stack, head_sha: str) -> dict[str, Any] | None:
    runs = [r for r in stack.fake_github.check_runs.values() if r.get("head_sha") == head_sha]
    finished = [r for r in runs if r.get("conclusion")]
    return finished[-1] if finished else None


def _gate(stack: Stack, token: str, n: int, tmp: Any) -> int:
    report = tmp / f"gate-{n}.xml"
    report.write_bytes(junit(("test_alpha",)))
    result = stack.cli(
        "upload",
        "--gate",
        "--repo",
        REPO,
        "--sha",
        sha(n),
        "--branch",
        "main",
        "--run-id",
        f"gate-{n}",
        "--job",
        "pytest",
        str(report),
        FLAKEGUARD_TOKEN=token,
    )
    return result.returncode


def test_flaky_test_journey(stack: Stack, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Upload → flaky alert → Approve → issue + green check + gate 0 → Undo → red again."""
    token = _token(stack)
    assert REPO in _say(stack, f"subscribe {REPO}")
    for n in range(1, 9):
        _upload(stack, token, n)
    _upload(stack, token, 9, ("test_alpha",), attempt="1")
    _upload(stack, token, 9, attempt="2")

    alert = eventually(
        lambda: [c for c in _alerts(stack) if _action(c, APPROVE)], "the flaky alert in the channel"
    )[0]
    assert "test_alpha" in str(alert.params["blocks"])
    assert "same commit" in str(alert.params["blocks"])
    assert "flaky" in _say(stack, "test test_alpha").lower()

    alert_ts = stack.fake_slack.ts_of(alert)
    assert alert_ts is not None
    block_id, value = _action(alert, APPROVE) or ("", "")
    clicked = stack.slack.click(APPROVE, value, block_id=block_id, message_ts=alert_ts)
    assert clicked.status_code == 200
    updated = eventually(
        lambda: [c for c in stack.fake_slack.called("chat.update") if _action(c, UNDO)],
        "the alert updated in place with Undo",
    )[-1]
    assert "Quarantined" in str(updated.params["blocks"])
    assert (updated.params["channel"], updated.params["ts"]) == (CHANNEL_ID, alert_ts)
    issue = eventually(lambda: stack.fake_github.open_issues(REPO), "the GitHub issue")[0]
    assert "test_alpha" in issue.title
    assert {"flaky-test", "quarantined"} <= set(issue.labels)
    assert "1 quarantined" in _say(stack, f"status {REPO}")
    assert "quarantined" in _say(stack, "test test_alpha")

    # Only the quarantined flake fails: green check run, and the CI gate passes.
    _upload(stack, token, 10, ("test_alpha",))
    check = eventually(lambda: _check_run(stack, sha(10)), "the check run of commit 10")
    assert check["conclusion"] == "success"
    assert _gate(stack, token, 10, tmp_path) == 0

    # Undo: the issue is closed, the message updated, and the same failure is red again.
    undo_block, undo_value = _action(updated, UNDO) or ("", "")
    undone = stack.slack.click(UNDO, undo_value, block_id=undo_block, message_ts=alert_ts)
    assert undone.status_code == 200
    eventually(lambda: not stack.fake_github.open_issues(REPO), "the issue closed")
    eventually(
        lambda: [
            c
            for c in stack.fake_slack.called("chat.update")
            if "undone" in str(c.params.get("blocks"))
        ],
        "the alert updated after Undo",
    )
    _upload(stack, token, 11, ("test_alpha",))
    check = eventually(lambda: _check_run(stack, sha(11)), "the check run of commit 11")
    assert check["conclusion"] == "failure"
    assert _gate(stack, token, 11, tmp_path) == 1


def test_broken_test_journey(stack: Stack) -> None:
    """A test failing on every commit since one change: alert with that commit, no quarantine."""
    token = _token(stack)
    _say(stack, f"subscribe {REPO}")
    for n in range(1, 11):
        _upload(stack, token, n)
    for n in range(11, 17):
        for attempt in ("1", "2"):
            _upload(stack, token, n, ("test_gamma",), attempt=attempt)
    alert = eventually(
        lambda: [c for c in _alerts(stack) if "Broken test" in str(c.params.get("blocks"))],
        "the broken-test alert",
    )[0]
    text = str(alert.params["blocks"])
    assert "test_gamma" in text and sha(11)[:10] in text
    assert _action(alert, APPROVE) is None
    assert "broken" in _say(stack, "test test_gamma").lower()
    assert not stack.fake_github.open_issues(REPO)
