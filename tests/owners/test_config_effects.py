""".flakeguard.yml in the analysis: exempt tests are not proposed; auto_quarantine approves."""

from __future__ import annotations

from engine.scoring import Result
from engine.scoring.config import DEFAULT_CONFIG
from flakeguard import jobs
from flakeguard.jobs import Job
from flakeguard.usecases import outbox, repo_files
from flakeguard.usecases.analysis import analyze_run
from flakeguard.usecases.quarantine import propose_flaky
from models import (
    FlakeScore,
    Quarantine,
    QuarantineEvent,
    Repository,
    TestCase,
    db,
    default_tenant,
)
from tests.app.analysis_helpers import T0, make_run, store_run
from tests.bot import factories as f
from tests.bot.limits import action_ids
from tests.owners.conftest import World


def _flaky(world: World, name: str, classname: str) -> TestCase:
    test = TestCase.create(
        repository=world.repo, key=f"{classname}::{name}", classname=classname, name=name
    )
    f.score(test, value=0.2)
    return test


def _propose(test: TestCase) -> None:
    with db.atomic():
        effects = propose_flaky(test.id)
    outbox.dispatch(effects)


def test_exempt_paths_and_tests_are_not_proposed(world: World) -> None:
    config = 'exempt:\n  paths: ["tests/e2e/"]\n  tests: ["test_known_slow"]\n'
    repo_files.store_files(world.repo.id, {".flakeguard.yml": config}, source="github")
    e2e = _flaky(world, "test_login", "tests.e2e.test_browser")
    named = _flaky(world, "test_known_slow", "tests.unit.test_api")
    other = _flaky(world, "test_cart", "tests.unit.test_cart")
    for test in (e2e, named, other):
        _propose(test)
    proposed = {q.test_case_id for q in Quarantine.select()}
    assert proposed == {other.id}


def test_auto_quarantine_approves_at_once_and_still_alerts(world: World) -> None:
    repo_files.store_files(
        world.repo.id, {".flakeguard.yml": "auto_quarantine: true\n"}, source="github"
    )
    f.subscription(world.repo)
    test = _flaky(world, "test_cart", "tests.unit.test_cart")
    _propose(test)
    q = Quarantine.get(Quarantine.test_case == test.id)
    assert (q.state, q.quarantined_by) == ("quarantined", "flakeguard")
    actions = [e.action for e in QuarantineEvent.select().order_by(QuarantineEvent.id)]
    assert actions == ["propose", "approve"]
    world.fake_slack.reset()
    jobs.enqueue(Job.NOTIFY_SLACK, event_id=f.event(test, "flaky").id)
    [post] = world.fake_slack.called("chat.postMessage")
    assert "fg_undo" in action_ids(post.params)


def test_off_by_default_a_person_approves(world: World) -> None:
    test = _flaky(world, "test_cart", "tests.unit.test_cart")
    _propose(test)
    assert Quarantine.get(Quarantine.test_case == test.id).state == "proposed"


def _flaky_history(repo) -> None:  # type: ignore[no-untyped-def]
    """Twenty runs on twenty commits, t::a failing in one of four (no retries: no conflict)."""
    for n in range(20):
        status = "failed" if n % 4 == 1 else "passed"
        analyze_run(store_run(repo, make_run(n, [Result("t::a", status)])).id, now=T0)


def test_thresholds_from_the_file_are_used_by_the_analysis(world: World) -> None:
    """The same history is flaky by the default threshold, not with flag_score 0.5."""
    _flaky_history(world.repo)
    assert FlakeScore.get().state == "flaky"
    strict = Repository.create(tenant=default_tenant(), full_name="org/strict")
    repo_files.store_files(
        strict.id, {".flakeguard.yml": "thresholds:\n  flag_score: 0.5\n"}, source="github"
    )
    _flaky_history(strict)
    assert FlakeScore.get(FlakeScore.repository == strict.id).state != "flaky"
    config = repo_files.scoring_config(strict.id, DEFAULT_CONFIG)
    assert config.flag_score == 0.5 and config.clear_score < config.flag_score
