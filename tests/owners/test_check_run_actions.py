"""Quarantine / Dismiss / Open issue on the check run: a signed requested_action webhook."""

from __future__ import annotations

from typing import Any

from flakeguard import jobs
from flakeguard.jobs import Job
from flakeguard.usecases import policy
from flakeguard.usecases.github_webhooks import request_check_run
from models import Quarantine, QuarantineEvent, Repository, SlackMessage, UserLink, default_tenant
from tests.bot import factories as f
from tests.bot.limits import all_text
from tests.fakes.github import INSTALLATION_ID
from tests.fakes.slack import CHANNEL_ID, TEAM_ID
from tests.owners.conftest import REPO_ID, World


def _proposed_failure(world: World) -> tuple[Quarantine, str, dict[str, Any]]:
    """A proposed flaky test, alerted in Slack, failing on a commit with our check run."""
    f.subscription(world.repo)
    test = f.test_case(world.repo, "test_checkout")
    f.score(test, value=0.3)
    [run] = f.results(test, "x")
    q = f.act(test.id, "propose", actor="flakeguard", source="system")
    jobs.enqueue(Job.NOTIFY_SLACK, event_id=f.event(test, "flaky").id)
    request_check_run(world.repo, run.sha)
    jobs.enqueue(Job.UPDATE_CHECK_RUN, repository_id=world.repo.id, sha=run.sha)
    [check] = [c for c in world.fake_github.check_runs.values() if c["head_sha"] == run.sha]
    return q, run.sha, check


def _action(check: dict[str, Any], identifier: str, login: str = "octo-dev") -> dict[str, Any]:
    return {
        "action": "requested_action",
        "requested_action": {"identifier": identifier},
        "check_run": {"id": check["id"], "name": "FlakeGuard", "head_sha": check["head_sha"]},
        "installation": {"id": INSTALLATION_ID},
        "repository": {"id": REPO_ID, "full_name": "org/shop", "owner": {"login": "org"}},
        "sender": {"login": login},
    }


def test_check_run_offers_the_three_actions_for_the_top_proposal(world: World) -> None:
    q, _sha, check = _proposed_failure(world)
    assert [a["identifier"] for a in check["actions"]] == [
        f"quarantine:{q.id}",
        f"dismiss:{q.id}",
        f"issue:{q.id}",
    ]
    assert all(len(a["label"]) <= 20 and len(a["description"]) <= 40 for a in check["actions"])


def test_quarantine_action_quarantines_and_updates_the_slack_alert(world: World) -> None:
    """Source github, the GitHub user recorded; the alert shows it; the check run moves on."""
    q, _sha, check = _proposed_failure(world)
    alert = SlackMessage.get(SlackMessage.quarantine == q.id)
    world.fake_slack.reset()
    response = world.hook.send("check_run", _action(check, f"quarantine:{q.id}"))
    assert response.status_code == 200, response.get_json()

    q = Quarantine.get_by_id(q.id)
    assert (q.state, q.quarantined_by) == ("quarantined", "github:octo-dev")
    event = QuarantineEvent.get(QuarantineEvent.action == "approve")
    assert (event.actor, event.source) == ("github:octo-dev", "github")
    [update] = [
        u
        for u in world.fake_slack.called("chat.update")
        if (u.params["channel"], u.params["ts"]) == (CHANNEL_ID, alert.ts)
    ]
    assert "Quarantined" in all_text(update.params) and "octo-dev" in all_text(update.params)
    assert [a["identifier"] for a in world.fake_github.check_runs[check["id"]]["actions"]] == [
        "rerun-analysis"
    ]
    assert len(world.fake_github.open_issues("org/shop")) == 1

    # GitHub redelivers the same delivery: nothing new (the delivery id is recorded).
    again = world.hook.send("check_run", _action(check, f"quarantine:{q.id}"), delivery="d-1")
    world.hook.send("check_run", _action(check, f"quarantine:{q.id}"), delivery="d-1")
    assert again.status_code == 200
    assert QuarantineEvent.select().where(QuarantineEvent.action == "approve").count() == 1


def test_dismiss_and_open_issue(world: World) -> None:
    q, _sha, check = _proposed_failure(world)
    world.hook.send("check_run", _action(check, f"issue:{q.id}"))
    [issue] = world.fake_github.open_issues("org/shop")
    assert Quarantine.get_by_id(q.id).state == "proposed"
    world.hook.send("check_run", _action(check, f"dismiss:{q.id}"))
    q = Quarantine.get_by_id(q.id)
    assert q.state == "dismissed"
    assert QuarantineEvent.get(QuarantineEvent.action == "dismiss").source == "github"
    assert issue.number >= 1


def test_policy_holds_for_github_users(world: World) -> None:
    """A workspace allowing only some users: an unlinked GitHub user changes nothing;
    one linked to an allowed Slack user may act."""
    q, _sha, check = _proposed_failure(world)
    policy.set_policy(TEAM_ID, "users", users=["U0LEAD"])
    world.hook.send("check_run", _action(check, f"quarantine:{q.id}", login="stranger"))
    assert Quarantine.get_by_id(q.id).state == "proposed"
    UserLink.create(team_id=TEAM_ID, slack_user_id="U0LEAD", github_login="lead")
    world.hook.send("check_run", _action(check, f"quarantine:{q.id}", login="lead"))
    assert Quarantine.get_by_id(q.id).state == "quarantined"


def test_another_repositorys_quarantine_is_ignored(world: World) -> None:
    """An identifier naming a quarantine of another repository (or tenant) does nothing."""
    _q, _sha, check = _proposed_failure(world)
    other = Repository.create(tenant=default_tenant(), full_name="org/other")
    test = f.test_case(other, "test_x")
    foreign = f.act(test.id, "propose", actor="flakeguard", source="system")
    response = world.hook.send("check_run", _action(check, f"quarantine:{foreign.id}"))
    assert response.get_json()["status"] == "ignored"
    assert Quarantine.get_by_id(foreign.id).state == "proposed"
