"""A flaky test that recovers without a quarantine: its alert is updated in place."""

from __future__ import annotations

from datetime import timedelta

from engine.scoring import Result
from flakeguard.usecases.analysis import analyze_run
from models import DomainEvent, FlakeScore, SlackMessage, TestRun
from tests.app.analysis_helpers import T0, make_run, store_run
from tests.bot import factories as f
from tests.bot.limits import all_text, problems

FILLER = [f"stable_{i}" for i in range(5)]


def _analyze(repo, n: int, statuses: list[str], hours: float):  # type: ignore[no-untyped-def]
    results = [Result(k, "passed") for k in FILLER]
    results += [Result("test_flaky_upload", s, retry=i) for i, s in enumerate(statuses)]
    row = store_run(repo, make_run(n, results, hours=hours))
    return analyze_run(row.id, now=T0 + timedelta(hours=hours))


def test_recovered_test_updates_its_flaky_alert_in_place(slack_app, fake_slack) -> None:  # type: ignore[no-untyped-def]
    """flaky -> alert posted; 30% flake fixed -> 'recovered' event -> the same message updated."""
    repo = f.repo("acme/widgets")
    f.subscription(repo)
    n = 0
    for k in range(24):  # a 30% flake: fails (and passes on retry) every third run
        n += 1
        _analyze(repo, n, ["failed", "passed"] if k % 3 == 1 else ["passed"], hours=n)
    [post] = fake_slack.called("chat.postMessage")
    assert "is flaky" in all_text(post.params)
    alert = SlackMessage.get(SlackMessage.kind == "flaky")
    fake_slack.reset()

    while FlakeScore.get(FlakeScore.state != "healthy").state == "flaky":
        n += 1
        _analyze(repo, n, ["passed"], hours=n)
        assert n < 200, "a fixed 30% flake must recover"
    score = FlakeScore.get(FlakeScore.state == "recovered")
    assert score.reason.startswith("no failure in ")
    assert "; was " in score.reason
    [event] = DomainEvent.select().where(DomainEvent.kind == "recovered")
    assert event.test_case_id == score.test_case_id

    assert fake_slack.called("chat.postMessage") == []  # nothing new posted ...
    [update] = fake_slack.called("chat.update")  # ... the alert is edited
    assert update.params["ts"] == alert.ts and update.params["channel"] == alert.channel
    assert problems(update.params) == []
    text = all_text(update.params)
    assert "recovered" in text and "is flaky" not in text
    assert score.reason in text
    assert "fg_approve" not in str(update.params["blocks"])  # no quarantine of a recovered test
    assert TestRun.select().where(TestRun.analyzed_at.is_null()).count() == 0
