"""Alerts of recovery and of clusters: a recovered test's alert updated in place, one per cause."""

from __future__ import annotations

from datetime import timedelta

from engine.scoring import Result
from flakeguard.usecases.analysis import analyze_run
from flakeguard.usecases.quarantine import perform
from models import (
    DomainEvent,
    FlakeScore,
    Quarantine,
    QuarantineEvent,
    SlackMessage,
    TestCase,
    TestRun,
)
from tests.app.analysis_helpers import T0, make_run, store_run
from tests.bot import factories as f
from tests.bot.limits import all_text, problems

FILLER = [f"stable_{i}" for i in range(5)]


def _analyze(repo, n: int, statuses: list[str], hours: float):  # type: ignore[no-untyped-def]
    results = [Result(k, "passed") for k in FILLER]
    results += [Result("test_flaky_upload", s, retry=i) for i, s in enumerate(statuses)]
    row = store_run(repo, make_run(n, results, hours=hours))
    return analyze_run(row.id, now=T0 + timedelta(hours=hours))


def _flaky_then_recovered(repo, fake_slack):  # type: ignore[no-untyped-def]
    """A 30% flake alerted, then fixed until it recovers; returns (run count, alert, score)."""
    n = 0
    for k in range(24):  # a 30% flake: fails (and passes on retry) every third run
        n += 1
        _analyze(repo, n, ["failed", "passed"] if k % 3 == 1 else ["passed"], hours=n)
    [post] = fake_slack.called("chat.postMessage")
    assert "is flaky" in all_text(post.params)
    alert = SlackMessage.get(SlackMessage.kind == "flaky")
    assert Quarantine.get().state == "proposed"
    fake_slack.reset()

    while FlakeScore.get(FlakeScore.state != "healthy").state == "flaky":
        n += 1
        _analyze(repo, n, ["passed"], hours=n)
        assert n < 200, "a fixed 30% flake must recover"
    return n, alert, FlakeScore.get(FlakeScore.state == "recovered")


def _withdrawn(test_case_id: int) -> Quarantine:
    """The test's quarantine, asserted withdrawn by the system with its audit event."""
    q = Quarantine.get(Quarantine.test_case == test_case_id)
    assert q.state == "lifted"
    [event] = QuarantineEvent.select().where(
        QuarantineEvent.quarantine == q.id, QuarantineEvent.action == "withdraw"
    )
    assert (event.actor, event.source) == ("flakeguard", "system")
    assert event.data["from"] == "proposed" and event.data["to"] == "lifted"
    return q


def test_recovered_test_updates_its_flaky_alert_in_place(slack_app, fake_slack) -> None:  # type: ignore[no-untyped-def]
    """flaky -> alert posted; 30% flake fixed -> 'recovered' event -> the same message updated."""
    repo = f.repo("acme/widgets")
    f.subscription(repo)
    n, alert, score = _flaky_then_recovered(repo, fake_slack)
    assert score.reason.startswith("no failure in ")
    assert "; was " in score.reason
    [event] = DomainEvent.select().where(DomainEvent.kind == "recovered")
    assert event.test_case_id == score.test_case_id
    _withdrawn(score.test_case_id)  # nobody is asked to quarantine a recovered test

    assert fake_slack.called("chat.postMessage") == []  # nothing new posted ...
    [update] = fake_slack.called("chat.update")  # ... the alert is edited
    assert update.params["ts"] == alert.ts and update.params["channel"] == alert.channel
    assert problems(update.params) == []
    text = all_text(update.params)
    assert "recovered" in text and "is flaky" not in text
    assert score.reason in text
    assert "fg_approve" not in str(update.params["blocks"])  # no quarantine of a recovered test
    assert TestRun.select().where(TestRun.analyzed_at.is_null()).count() == 0

    # It flakes again: proposed anew, alerted in the first alert's thread, buttons back.
    fake_slack.reset()
    n += 1
    _analyze(repo, n, ["failed", "passed"], hours=n)
    assert FlakeScore.get_by_id(score.id).state == "flaky"
    assert Quarantine.get(Quarantine.test_case == score.test_case_id).state == "proposed"
    [again] = fake_slack.called("chat.postMessage")
    assert again.params["thread_ts"] == alert.ts
    assert "is flaky" in all_text(again.params) and "fg_approve" in str(again.params["blocks"])


def test_a_recovered_test_turning_healthy_keeps_its_alert_resolved(slack_app, fake_slack) -> None:  # type: ignore[no-untyped-def]
    """31 days after recovering the test is healthy: its alert stays without buttons."""
    repo = f.repo("acme/widgets")
    f.subscription(repo)
    n, alert, score = _flaky_then_recovered(repo, fake_slack)
    fake_slack.reset()

    n += 1
    _analyze(repo, n, ["passed"], hours=n + 31 * 24)
    assert FlakeScore.get_by_id(score.id).state == "healthy"
    assert fake_slack.called("chat.postMessage") == []
    [update] = fake_slack.called("chat.update")
    assert update.params["ts"] == alert.ts
    assert problems(update.params) == []
    text = all_text(update.params)
    assert "no longer flaky" in text and "is flaky" not in text
    blocks = str(update.params["blocks"])
    assert "fg_approve" not in blocks and "fg_dismiss" not in blocks
    q = _withdrawn(score.test_case_id)
    assert Quarantine.select().where(Quarantine.state == "proposed").count() == 0
    assert q.version == 2  # proposed, withdrawn: nothing more


def test_three_tests_failing_with_one_cause_are_one_alert(slack_app, fake_slack) -> None:  # type: ignore[no-untyped-def]
    """Three tests turn flaky in one run with one signature: one Slack message names all three."""
    repo = f.repo("acme/widgets")
    f.subscription(repo)
    names = ["test_cart_total", "test_checkout", "test_login"]
    for n in range(1, 12):
        results = [Result(k, "passed") for k in [*FILLER, *names, "test_odd"]]
        analyze_run(store_run(repo, make_run(n, results, hours=n)).id, now=T0)
    reset = "ConnectionResetError: Connection reset by peer while reading from redis://cache:{port}"
    results = [Result(k, "passed") for k in FILLER]
    for name in [*names, "test_odd"]:
        results += [Result(name, "failed"), Result(name, "passed", retry=1)]
    messages = {name: reset.format(port=6379 + i) for i, name in enumerate(names)}
    messages["test_odd"] = "AssertionError: assert 3 == 4"
    row = store_run(repo, make_run(12, results, hours=12), messages)
    fake_slack.reset()
    outcome = analyze_run(row.id, now=T0 + timedelta(hours=12))

    kinds = sorted(e["kind"] for e in outcome.events)
    assert kinds == ["cluster", "flaky", "flaky", "flaky", "flaky"]
    posts = fake_slack.called("chat.postMessage")
    assert len(posts) == 2  # the cluster, and the odd one out on its own
    [cluster] = [p for p in posts if "same cause" in all_text(p.params)]
    assert problems(cluster.params) == []
    text = all_text(cluster.params)
    assert "3 tests" in text and "ConnectionResetError … redis" in text
    assert all(name in text for name in names) and "test_odd" not in text
    # Each clustered test still has its quarantine proposed, and its event is handled.
    for name in names:
        case = TestCase.get(TestCase.key == name)
        assert Quarantine.get(Quarantine.test_case == case.id).state == "proposed"
        event = DomainEvent.get(DomainEvent.test_case == case.id, DomainEvent.kind == "flaky")
        assert event.slack_done_at is not None
    [odd] = [p for p in posts if p is not cluster]
    assert "test_odd" in all_text(odd.params) and "is flaky" in all_text(odd.params)


def test_a_cluster_alert_shows_where_each_of_its_tests_is_now(slack_app, fake_slack) -> None:  # type: ignore[no-untyped-def]
    """Approving or dismissing a clustered test re-renders the cluster's one message in place."""
    repo = f.repo("acme/widgets")
    f.subscription(repo)
    names = ["test_cart_total", "test_checkout", "test_login"]
    for n in range(1, 12):
        results = [Result(k, "passed") for k in [*FILLER, *names]]
        analyze_run(store_run(repo, make_run(n, results, hours=n)).id, now=T0)
    reset = "ConnectionResetError: Connection reset by peer while reading from redis://cache:{port}"
    results = [Result(k, "passed") for k in FILLER]
    for name in names:
        results += [Result(name, "failed"), Result(name, "passed", retry=1)]
    messages = {name: reset.format(port=6379 + i) for i, name in enumerate(names)}
    row = store_run(repo, make_run(12, results, hours=12), messages)
    fake_slack.reset()
    analyze_run(row.id, now=T0 + timedelta(hours=12))
    [post] = fake_slack.called("chat.postMessage")
    assert "same cause" in all_text(post.params)
    cluster = SlackMessage.get(SlackMessage.kind == "cluster")
    assert all_text(post.params).count("(proposed)") == 3

    def line_of(params: dict, name: str) -> str:  # type: ignore[type-arg]
        [line] = [x for x in all_text(params).splitlines() if f"`{name}`" in x]
        return line

    fake_slack.reset()
    checkout = TestCase.get(TestCase.key == "test_checkout")
    perform(checkout.id, "approve", tenant_id=None, actor="U0ALICE", source="cli")
    [update] = fake_slack.called("chat.update")
    assert update.params["ts"] == cluster.ts and update.params["channel"] == cluster.channel
    assert problems(update.params) == []
    assert "(:lock: quarantined)" in line_of(update.params, "test_checkout")
    assert "(proposed)" in line_of(update.params, "test_login")

    fake_slack.reset()
    login = TestCase.get(TestCase.key == "test_login")
    perform(login.id, "dismiss", tenant_id=None, actor="U0ALICE", source="cli")
    [update] = fake_slack.called("chat.update")
    assert update.params["ts"] == cluster.ts
    assert "(not flaky)" in line_of(update.params, "test_login")
    assert "(:lock: quarantined)" in line_of(update.params, "test_checkout")
    assert "(proposed)" in line_of(update.params, "test_cart_total")
    assert fake_slack.called("chat.postMessage") == []
