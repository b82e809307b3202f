"""Status summaries: counts, top flaky, finding tests with near matches, test detail."""

from __future__ import annotations

import pytest

from flakeguard.usecases import status as uc
from flakeguard.usecases import testcases as tc
from models import ChannelSubscription, Quarantine, SlackMessage, default_tenant
from tests.bot import factories as f


def own() -> int:
    """The tenant these tests' repositories belong to (a one-workspace setup's)."""
    return default_tenant().id


@pytest.fixture
def repo(database):  # type: ignore[no-untyped-def]
    return f.repo("acme/widgets")


def test_status_counts_states_and_orders_top_by_score(repo):
    """Status counts flaky/broken/quarantined tests and lists the flakiest first."""
    a = f.test_case(repo, "test_a")
    b = f.test_case(repo, "test_b")
    c = f.test_case(repo, "test_c")
    f.score(a, value=0.1)
    f.score(b, value=0.3, days_ago=30)
    f.score(c, state="broken")
    f.act(a.id, "approve", actor="U1", source="slack")
    f.results(a, "+x")
    [st] = uc.status_for("acme/widgets", tenant_id=own())
    assert (st.flaky, st.broken, st.quarantined, st.new_this_week) == (2, 1, 1, 1)
    assert [e.name for e in st.top] == ["tests.test_api.test_b", "tests.test_api.test_a"]
    assert st.top[1].quarantine_state == "quarantined"
    assert st.last_analysis_at is not None


def test_status_without_repo_uses_channel_subscriptions(repo):
    """Without a repository, status covers the channel's subscriptions."""
    other = f.repo("acme/other")
    f.subscription(other, channel="C1")
    assert [
        s.repository for s in uc.status_for(team_id="T0TEST", channel_id="C1", tenant_id=own())
    ] == ["acme/other"]
    assert len(uc.status_for(team_id="T0TEST", channel_id="C2", tenant_id=own())) == 2


def test_unknown_repository_lists_near_names(repo):
    """An unknown repository raises NoMatchError with near names."""
    with pytest.raises(uc.NoMatchError) as info:
        uc.status_for("acme/widget", tenant_id=own())
    assert info.value.suggestions[0] == "acme/widgets"


def test_find_tests_by_part_of_name_and_near_matches(repo):
    """A substring finds tests; a typo finds near names instead."""
    f.test_case(repo, "test_upload_retries")
    f.test_case(repo, "test_download")
    assert [m.name for m in tc.find_tests("upload", tenant_id=own())] == [
        "tests.test_api.test_upload_retries"
    ]
    with pytest.raises(uc.NoMatchError) as info:
        tc.find_tests("test_uplaod_retries", tenant_id=own())
    assert "tests.test_api.test_upload_retries" in info.value.suggestions


def test_exact_name_wins_over_longer_matches(repo):
    """An exact name is chosen over tests that merely contain it."""
    f.test_case(repo, "test_login_slow")
    f.test_case(repo, "test_login")
    assert tc.find_test("test_login", tenant_id=own()).name == "tests.test_api.test_login"
    assert (
        tc.find_test("tests.test_api.test_login_slow", tenant_id=own()).name
        == "tests.test_api.test_login_slow"
    )
    assert tc.find_test("TEST_LOGIN_S", tenant_id=own()).name == "tests.test_api.test_login_slow"


def test_detail_has_history_strip_and_quarantine(repo):
    """Test detail shows the recent history oldest first and the quarantine with its issue."""
    t = f.test_case(repo, "test_x")
    f.score(t)
    f.results(t, "++x-+")
    f.act(t.id, "approve", actor="U1", source="slack")
    f.act(t.id, "assign", actor="U1", source="slack", assignee_slack="U02")
    Quarantine.update(github_issue_number=42).execute()
    d = tc.test_detail(t.id, tenant_id=own())
    assert d.history == "++x-+"
    assert (d.state, d.quarantine_state, d.assignee_slack) == ("flaky", "quarantined", "U02")
    assert d.github_issue_url == "https://github.com/acme/widgets/issues/42"


def test_history_strip_is_capped(repo):
    """Only the latest results make the strip."""
    t = f.test_case(repo, "test_y")
    f.results(t, "x" + "+" * 25)
    assert tc.history_strip(t, limit=20) == "+" * 20


def test_top_is_bounded(repo):
    """top_flaky clamps N and can span every repository."""
    for i in range(3):
        f.score(f.test_case(repo, f"t{i}"), value=0.1 * (i + 1))
    assert len(uc.top_flaky(None, 2, tenant_id=own())) == 2
    assert len(uc.top_flaky("acme/widgets", 500, tenant_id=own())) == 3


def test_slack_errors_are_reported(repo):
    """Delivery errors recorded on subscriptions and messages show in status."""
    ChannelSubscription.create(
        team_id="T", channel_id="C9", repository=repo, last_error="not_in_channel"
    )
    SlackMessage.create(channel="C8", kind="flaky", repository=repo, last_error="channel_not_found")
    [st] = uc.status_for("acme/widgets", tenant_id=own())
    assert st.slack_errors == ["<#C9>: not_in_channel", "<#C8>: channel_not_found"]


def test_find_by_part_of_key_and_any_case(repo):
    """Part of the file or class (the key) finds a test, and so does the wrong case."""
    f.test_case(repo, "test_refund", classname="billing.TestStripe")
    assert tc.find_test("TestStripe", tenant_id=own()).name == "billing.TestStripe.test_refund"
    assert tc.find_test("TEST_REFUND", tenant_id=own()).name == "billing.TestStripe.test_refund"
    with pytest.raises(uc.NoMatchError):
        tc.find_tests("50%_off", tenant_id=own())
