"""The dashboard's pages on the demo data, and the quarantine actions from them."""

from __future__ import annotations

from flakeguard.usecases.demo import DEMO_REPO
from models import Quarantine, QuarantineEvent, TestCase
from tests.fakes.slack import TEAM_ID, USER_ID
from tests.web.conftest import OTHER_REPO, csrf_of

FLAKY = "test_payment_webhook_timeout"
BROKEN = "test_stock_reservation_expires"


def case_id(name: str) -> int:
    return TestCase.get(TestCase.name == name).id


def test_overview_lists_the_repositories_with_counts_and_charts(admin) -> None:  # type: ignore[no-untyped-def]
    """The demo repository with its counts, two SVG sparklines with words, the week's changes."""
    html = admin.get("/").get_data(as_text=True)
    assert "<title>Overview · FlakeGuard</title>" in html
    assert f'href="/repos/{DEMO_REPO}"' in html and OTHER_REPO not in html
    assert html.count('<svg class="spark') == 2 and 'aria-label="Flake rate per day' in html
    assert "What changed this week" in html and BROKEN in html


def test_repository_page_filters_searches_and_sorts(admin) -> None:  # type: ignore[no-untyped-def]
    """Flaky by default; broken with its first failing commit; search narrows by name."""
    flaky = admin.get(f"/repos/{DEMO_REPO}").get_data(as_text=True)
    assert f"<title>{DEMO_REPO} · FlakeGuard</title>" in flaky
    assert FLAKY in flaky and "test_search_results_sorted" in flaky and BROKEN not in flaky
    assert "Approve quarantine of" in flaky and "Dismiss" in flaky
    broken = admin.get(f"/repos/{DEMO_REPO}?state=broken").get_data(as_text=True)
    assert BROKEN in broken and "first failing commit" in broken and FLAKY not in broken
    found = admin.get(f"/repos/{DEMO_REPO}?state=&q=payment&sort=name").get_data(as_text=True)
    assert FLAKY in found and "test_search_results_sorted" not in found
    assert 'aria-sort="ascending"' in found
    bad = admin.get(f"/repos/{DEMO_REPO}?sort=nonsense")
    assert bad.status_code == 400 and "sort must be one of" in bad.get_data(as_text=True)


def test_repository_pages_through_all_tests(admin) -> None:  # type: ignore[no-untyped-def]
    """With every state shown, a next page link leads to more tests (keyset cursor)."""
    first = admin.get(f"/repos/{DEMO_REPO}?state=&sort=name").get_data(as_text=True)
    assert "Next page" not in first  # the demo has fewer tests than a page
    assert first.count('href="/tests/') >= 29


def test_test_page_shows_history_reason_failures_and_timeline(admin) -> None:  # type: ignore[no-untyped-def]
    """History strip with symbols and words, reason, grouped failure message, timeline."""
    html = admin.get(f"/tests/{case_id(FLAKY)}").get_data(as_text=True)
    assert f"<title>tests.test_checkout.{FLAKY} · FlakeGuard</title>" in html
    assert 'class="strip"' in html and "✗" in html and "✓" in html
    assert 'aria-label="failed, commit ' in html
    assert "TimeoutError: payment provider did not answer within 2s" in html
    assert "propose</strong> by flakeguard" in html and "Median" in html
    assert "flaky alert in Slack" in html and "slack.com/archives/C0ALERTS/p" in html


def test_approve_from_the_test_page_goes_through_the_use_case(admin, fake_slack) -> None:  # type: ignore[no-untyped-def]
    """Approve: quarantined, audit source web, the Slack alert updated; then back, flashed."""
    tid = case_id(FLAKY)
    page = admin.get(f"/tests/{tid}").get_data(as_text=True)
    q = Quarantine.get(Quarantine.test_case == tid)
    answer = admin.post(
        f"/tests/{tid}/actions",
        data={"action": "approve", "version": q.version, "csrf_token": csrf_of(page)},
    )
    assert answer.status_code == 303 and answer.headers["Location"] == f"/tests/{tid}"
    assert Quarantine.get_by_id(q.id).state == "quarantined"
    event = QuarantineEvent.select().order_by(QuarantineEvent.id.desc()).get()
    assert (event.action, event.source, event.actor) == ("approve", "web", "local:administrator")
    assert fake_slack.called("chat.update")
    after = admin.get(f"/tests/{tid}").get_data(as_text=True)
    assert "Quarantined: the quarantine is now quarantined." in after
    assert "Undo quarantine of" in after


def test_stale_form_is_refused_with_a_clear_message(admin) -> None:  # type: ignore[no-untyped-def]
    """A form showing an older version changes nothing and says why."""
    tid = case_id(FLAKY)
    page = admin.get(f"/tests/{tid}").get_data(as_text=True)
    q = Quarantine.get(Quarantine.test_case == tid)
    answer = admin.post(
        f"/tests/{tid}/actions",
        data={"action": "dismiss", "version": q.version - 1, "csrf_token": csrf_of(page)},
    )
    assert answer.status_code == 303
    assert Quarantine.get_by_id(q.id).state == "proposed"
    assert "this page was out of date" in admin.get(f"/tests/{tid}").get_data(as_text=True)


def test_assign_and_a_refused_action(admin) -> None:  # type: ignore[no-untyped-def]
    """Assign sets the assignee; dismissing a quarantined test is refused in words."""
    tid = case_id(FLAKY)
    token = csrf_of(admin.get(f"/tests/{tid}").get_data(as_text=True))
    q = Quarantine.get(Quarantine.test_case == tid)
    admin.post(
        f"/tests/{tid}/actions",
        data={"action": "assign", "assignee": "U0BOB", "version": q.version, "csrf_token": token},
    )
    q = Quarantine.get_by_id(q.id)
    assert q.assignee_slack == "U0BOB"
    for action in ("approve", "dismiss"):
        version = Quarantine.get_by_id(q.id).version
        admin.post(
            f"/tests/{tid}/actions",
            data={"action": action, "version": version, "csrf_token": token},
        )
    html = admin.get(f"/tests/{tid}").get_data(as_text=True)
    assert "Nothing changed: only a proposed quarantine can be dismissed" in html
    assert Quarantine.get_by_id(q.id).state == "quarantined"


def test_action_without_csrf_token_is_refused(admin) -> None:  # type: ignore[no-untyped-def]
    """No token: 400 and the quarantine stays as it was."""
    tid = case_id(FLAKY)
    q = Quarantine.get(Quarantine.test_case == tid)
    answer = admin.post(f"/tests/{tid}/actions", data={"action": "approve", "version": q.version})
    assert answer.status_code == 400
    assert Quarantine.get_by_id(q.id).state == "proposed"


def test_another_tenants_repository_and_test_are_not_found(admin, demo) -> None:  # type: ignore[no-untyped-def]
    """The rival's repository, test and actions: 404 like a missing one, nothing changed."""
    missing = admin.get("/repos/nobody/nothing")
    rival = admin.get(f"/repos/{OTHER_REPO}")
    assert rival.status_code == missing.status_code == 404
    assert admin.get(f"/tests/{demo.rival_test_id}").status_code == 404
    assert admin.get("/tests/999999").status_code == 404
    token = csrf_of(admin.get("/").get_data(as_text=True))
    acted = admin.post(
        f"/tests/{demo.rival_test_id}/actions",
        data={"action": "approve", "version": 0, "csrf_token": token},
    )
    assert acted.status_code == 404
    assert not Quarantine.select().where(Quarantine.test_case == demo.rival_test_id).exists()
    assert "text/html" in rival.headers["Content-Type"]


def test_next_never_leaves_the_site(admin) -> None:  # type: ignore[no-untyped-def]
    """A ``next`` to another host is ignored: back to the test page."""
    tid = case_id(FLAKY)
    token = csrf_of(admin.get(f"/tests/{tid}").get_data(as_text=True))
    q = Quarantine.get(Quarantine.test_case == tid)
    answer = admin.post(
        f"/tests/{tid}/actions",
        data={
            "action": "approve",
            "version": q.version,
            "csrf_token": token,
            "next": "//evil.example/x",
        },
    )
    assert answer.headers["Location"] == f"/tests/{tid}"


def test_malformed_action_is_a_400_page(admin) -> None:  # type: ignore[no-untyped-def]
    """An unknown action or a version that is not a number: 400, an HTML page, nothing done."""
    tid = case_id(FLAKY)
    token = csrf_of(admin.get(f"/tests/{tid}").get_data(as_text=True))
    for data in ({"action": "explode", "version": "1"}, {"action": "approve", "version": "x"}):
        answer = admin.post(f"/tests/{tid}/actions", data={**data, "csrf_token": token})
        assert answer.status_code == 400 and answer.mimetype == "text/html"
    assert Quarantine.get(Quarantine.test_case == tid).state == "proposed"


def test_workspace_policy_applies_to_a_person_signed_in_with_slack(
    web_app, demo, fake_slack
) -> None:  # type: ignore[no-untyped-def]
    """Only U0BOSS may approve in the workspace: Alice, signed in with Slack, is refused."""
    from flakeguard.usecases.policy import set_policy
    from tests.web.test_sign_in import _slack_round_trip

    set_policy(TEAM_ID, "users", users=["U0BOSS"])
    client = web_app.test_client()
    assert _slack_round_trip(client, fake_slack).status_code == 302
    tid = case_id(FLAKY)
    page = client.get(f"/tests/{tid}").get_data(as_text=True)
    assert f'value="{USER_ID}"' in page  # Assign offers the person themselves
    q = Quarantine.get(Quarantine.test_case == tid)
    client.post(
        f"/tests/{tid}/actions",
        data={"action": "approve", "version": q.version, "csrf_token": csrf_of(page)},
    )
    assert Quarantine.get_by_id(q.id).state == "proposed"
    assert "not allowed to approve" in client.get(f"/tests/{tid}").get_data(as_text=True)
