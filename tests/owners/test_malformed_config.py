"""A malformed .flakeguard.yml: a clear message in status and the check run, defaults used."""

from __future__ import annotations

from flakeguard import jobs
from flakeguard.jobs import Job
from flakeguard.usecases import repo_files
from flakeguard.usecases.github_webhooks import request_check_run
from tests.bot import factories as f
from tests.bot.limits import all_text, problems
from tests.owners.conftest import REPO, World, push_payload

BROKEN = "quarantine:\n  expiry_days: [30\nalerts:\n  max_per_run: 3\n"
MESSAGE = ".flakeguard.yml is not valid YAML: line 3, column 7: expected ',' or ']'"


def _push_broken_config(world: World) -> None:
    world.fake_github.put_file(".flakeguard.yml", BROKEN, repo=REPO)
    world.fake_github.put_file("CODEOWNERS", "/tests/ @org/qa\n", repo=REPO)
    response = world.hook.send("push", push_payload(world.repo, ".flakeguard.yml"))
    assert response.status_code == 200


def test_defaults_are_used_and_the_rest_still_works(world: World) -> None:
    """Every setting takes its default; CODEOWNERS from the same push still applies."""
    _push_broken_config(world)
    config = repo_files.config_of(world.repo.id)
    assert (config.expiry_days, config.max_alerts_per_run) == (30, 10)
    assert config.auto_quarantine is False
    assert repo_files.files_of(world.repo.id).codeowners.owners_of("tests/a.py") == ("@org/qa",)
    [line] = repo_files.problems(world.repo.id)
    assert line.startswith(MESSAGE) and line.endswith("(defaults used)")


def test_slack_status_shows_the_message(world: World) -> None:
    """/flakeguard status names the file, the line and the problem."""
    _push_broken_config(world)
    f.subscription(world.repo)
    response = world.slack.command(f"status {REPO}")
    payload = response.get_json()
    assert problems(payload) == []
    text = all_text(payload)
    assert "Repository files" in text and MESSAGE in text and "(defaults used)" in text


def test_check_run_shows_the_message(world: World) -> None:
    """The commit's check run summary carries the warning; the check itself is computed."""
    _push_broken_config(world)
    test = f.test_case(world.repo, "test_ok")
    [run] = f.results(test, "+")
    request_check_run(world.repo, run.sha)
    jobs.enqueue(Job.UPDATE_CHECK_RUN, repository_id=world.repo.id, sha=run.sha)
    [check] = [c for c in world.fake_github.check_runs.values() if c["head_sha"] == run.sha]
    summary = check["output"]["summary"]
    assert check["conclusion"] == "success"
    assert "> [!WARNING]" in summary and MESSAGE in summary
