"""Hostile values in the dashboard's action forms and URLs: a precise 4xx or a clear message."""

from __future__ import annotations

import pytest

from models import Quarantine, QuarantineEvent, TestCase
from tests.web.conftest import csrf_of

FLAKY = "test_payment_webhook_timeout"


@pytest.mark.parametrize("assignee", ["U1> <!channel>", "U" + "A" * 40])
def test_assign_refuses_what_is_not_a_slack_user_id(admin, assignee) -> None:  # type: ignore[no-untyped-def]
    """A mention injection or a value too long for the column: a message, nothing changes."""
    tid = TestCase.get(TestCase.name == FLAKY).id
    token = csrf_of(admin.get(f"/tests/{tid}").get_data(as_text=True))
    q = Quarantine.get(Quarantine.test_case == tid)
    events = QuarantineEvent.select().count()
    answer = admin.post(
        f"/tests/{tid}/actions",
        data={"action": "assign", "assignee": assignee, "version": q.version, "csrf_token": token},
    )
    assert answer.status_code == 303
    html = admin.get(f"/tests/{tid}").get_data(as_text=True)
    assert "Nothing changed: the assignee must be a Slack user id such as U012ABCDEF" in html
    assert Quarantine.get_by_id(q.id).assignee_slack == q.assignee_slack
    assert QuarantineEvent.select().count() == events


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", f"/tests/{2**70}"),
        ("post", f"/tests/{2**70}/actions"),
        ("get", f"/tests/{2**31}"),
        ("get", "/repos/a%00b/c"),
        ("get", "/repos/acme/sh%00op"),
        ("get", "/repos/-acme/sh%20op"),
    ],
)
def test_ids_and_names_no_row_can_have_are_404(admin, method, url) -> None:  # type: ignore[no-untyped-def]
    """An id past 32 bits or a name with a NUL is unknown: 404, not a database error."""
    token = csrf_of(admin.get("/").get_data(as_text=True)) if method == "post" else ""
    data = {"action": "approve", "version": "1", "csrf_token": token}
    answer = admin.post(url, data=data) if method == "post" else admin.get(url)
    assert answer.status_code == 404, answer.get_data(as_text=True)[:300]
