"""The quarantine mirror against the fake GitHub: one issue per test, labels, assignee, undo."""

from __future__ import annotations

from typing import Any

import pytest

from flakeguard.usecases.github import GitHubUnavailableError
from flakeguard.usecases.github_mirror import issue_marker, mirror_quarantine
from models import FlakeScore, Installation, Quarantine, QuarantineEvent, UserLink, utcnow
from tests.fakes.github import REPO
from tests.github.helpers import add_result, installed_repo


def quarantine(repo, name="test_fail_0", *, state="quarantined", version=1, **fields):  # type: ignore[no-untyped-def]
    case = add_result(repo, name, "failed", file="tests/test_mod.py", line=12)
    FlakeScore.create(
        test_case=case,
        repository=repo,
        state="flaky",
        score=0.3,
        low=0.1,
        high=0.5,
        reason="failed and passed on the same commit",
        evidence={"same_commit_conflicts": 4},
    )
    q = Quarantine.create(test_case=case, repository=repo, state=state, version=version, **fields)
    QuarantineEvent.create(quarantine=q, action="approve", actor="U0ALICE", source="slack")
    return q


def mirrored(github_client: Any) -> Quarantine:
    """A quarantined test of a fresh installed repository, mirrored once to GitHub."""
    q = quarantine(installed_repo())
    mirror_quarantine(q.id, github=github_client)
    return q


def move(q: Quarantine, state: str, action: str) -> Quarantine:
    """Change a quarantine as the quarantine use case would (state, event, version)."""
    Quarantine.update(state=state, version=Quarantine.version + 1).where(
        Quarantine.id == q.id
    ).execute()
    QuarantineEvent.create(quarantine=q, action=action, actor="U0BOB", source="slack")
    return Quarantine.get_by_id(q.id)


def test_approve_opens_one_issue_with_labels_marker_and_linked_assignee(
    database, fake_github, github_client
):
    """An approved quarantine gets one labelled issue, assigned to the linked GitHub login."""
    repo = installed_repo()
    UserLink.create(slack_user_id="U0ALICE", github_login="alice")
    q = quarantine(repo, assignee_slack="U0ALICE")
    done = mirror_quarantine(q.id, github=github_client, public_url="http://fg.test")
    [issue] = fake_github.issues[REPO].values()
    assert issue.title == "Flaky test: tests.mod.test_fail_0"
    assert set(issue.labels) == {"flaky-test", "quarantined"}
    assert issue.assignees == ["alice"]
    assert f"<!-- {issue_marker(repo, q.test_case)} -->" in issue.body
    assert "30%" in issue.body and "same_commit_conflicts" in issue.body
    assert set(fake_github.labels[REPO]) >= {"flaky-test", "quarantined"}
    assert len(fake_github.calls_to("POST", r"/labels$")) == 2
    assert (done.github_issue_number, done.github_synced_version, done.github_error) == (1, 1, None)


def test_a_label_created_meanwhile_is_not_an_error(database, fake_github, github_client):
    """Another worker creating the label between list and create (422) is fine."""
    repo = installed_repo()
    q = quarantine(repo)
    fake_github.labels[REPO] = {}
    fake_github.hidden_labels = {"flaky-test"}  # exists, but the listing missed it
    done = mirror_quarantine(q.id, github=github_client)
    assert done.github_error is None and done.github_issue_number == 1


def test_mirror_twice_and_lost_number_never_duplicate_the_issue(
    database, fake_github, github_client
):
    """A repeat, and a quarantine whose issue number was lost, find the same issue again."""
    q = mirrored(github_client)
    mirror_quarantine(q.id, github=github_client)  # synced: nothing to do
    Quarantine.update(
        github_issue_number=None, github_synced_version=0, version=Quarantine.version + 1
    ).where(Quarantine.id == q.id).execute()
    again = mirror_quarantine(q.id, github=github_client)
    assert len(fake_github.issues[REPO]) == 1
    assert again.github_issue_number == 1
    assert len(fake_github.calls_to("POST", r"/issues$")) == 1


def test_a_deleted_issue_is_opened_again(database, fake_github, github_client):
    """When the recorded issue was deleted on GitHub, the mirror opens a new one."""
    q = mirrored(github_client)
    del fake_github.issues[REPO][1]
    Quarantine.update(version=Quarantine.version + 1).where(Quarantine.id == q.id).execute()
    done = mirror_quarantine(q.id, github=github_client)
    assert done.github_issue_number == 1 and done.github_error is None
    assert len(fake_github.open_issues()) == 1


def test_an_unassignable_login_does_not_block_the_issue(database, fake_github, github_client):
    """GitHub refusing the assignee (422) still opens the issue, unassigned."""
    repo = installed_repo()
    fake_github.unassignable.add("ghost")
    q = quarantine(repo, assignee_github="ghost")
    done = mirror_quarantine(q.id, github=github_client)
    issue = fake_github.issues[REPO][1]
    assert issue.assignees == [] and set(issue.labels) == {"flaky-test", "quarantined"}
    assert done.github_error is None and done.github_synced_version == done.version


def test_suspended_installation_keeps_the_mirror_pending(database, fake_github, github_client):
    """While the installation is suspended nothing is sent and the quarantine stays behind."""
    repo = installed_repo()
    q = quarantine(repo)
    Installation.update(suspended_at=Installation.created_at).execute()
    pending = mirror_quarantine(q.id, github=github_client)
    assert "suspended" in pending.github_error and pending.github_synced_version == 0
    assert fake_github.calls == []
    Installation.update(suspended_at=None).execute()
    assert mirror_quarantine(q.id, github=github_client).github_issue_number == 1


def test_assign_updates_the_assignees(database, fake_github, github_client):
    """Assigning the quarantine changes the issue's assignees."""
    q = mirrored(github_client)
    Quarantine.update(assignee_github="bob", version=Quarantine.version + 1).where(
        Quarantine.id == q.id
    ).execute()
    mirror_quarantine(q.id, github=github_client)
    assert fake_github.issues[REPO][1].assignees == ["bob"]


def test_undo_comments_removes_the_label_and_closes_then_requarantine_reopens(
    database, fake_github, github_client
):
    """Undo closes the issue with a comment and without the label; approve reopens the same one."""
    q = mirrored(github_client)
    q = move(q, "proposed", "undo")
    mirror_quarantine(q.id, github=github_client)
    issue = fake_github.issues[REPO][1]
    assert issue.state == "closed"
    assert issue.labels == ["flaky-test"]
    assert len(issue.comments) == 1 and "undone by U0BOB" in issue.comments[0]
    mirror_quarantine(q.id, github=github_client)  # a repeat adds no second comment
    assert len(issue.comments) == 1
    q = move(q, "quarantined", "approve")
    mirror_quarantine(q.id, github=github_client)
    assert len(fake_github.issues[REPO]) == 1
    assert issue.state == "open"
    assert set(issue.labels) == {"flaky-test", "quarantined"}
    assert "Quarantined again" in issue.comments[-1]


def test_lifted_quarantine_closes_the_issue_as_fixed(database, fake_github, github_client):
    """A lifted (fixed) quarantine closes its issue with a comment saying so."""
    q = mirrored(github_client)
    q = move(q, "lifted", "lift")
    mirror_quarantine(q.id, github=github_client)
    issue = fake_github.issues[REPO][1]
    assert issue.state == "closed" and "fixed" in issue.comments[0]


def test_a_proposal_never_reaches_github(database, fake_github, github_client):
    """A quarantine that was only proposed is marked synced without any GitHub call."""
    repo = installed_repo()
    case = add_result(repo, "test_x", "failed")
    q = Quarantine.create(test_case=case, repository=repo, state="proposed", version=1)
    done = mirror_quarantine(q.id, github=github_client)
    assert done.github_synced_version == 1
    assert fake_github.calls == []


def test_repository_gone_stops_and_records_why(database, fake_github, github_client):
    """A 404 from GitHub is recorded on the quarantine and the work is not retried."""
    repo = installed_repo()
    q = quarantine(repo)
    fake_github.gone_repos.add(REPO)
    done = mirror_quarantine(q.id, github=github_client)
    assert done.github_synced_version == done.version
    assert "404" in done.github_error
    assert len(fake_github.calls_to("GET", r"^/repos/")) == 1  # a 404 is not retried


def test_removed_installation_stops_and_records_why(database, fake_github, github_client):
    """An installation token refused with 404 (App uninstalled) stops the mirror with a reason."""
    repo = installed_repo()
    q = quarantine(repo)
    fake_github.removed_installations.add(repo.installation.installation_id)
    done = mirror_quarantine(q.id, github=github_client)
    assert "installation" in done.github_error and "404" in done.github_error
    assert fake_github.issues.get(REPO, {}) == {}


def test_500_storm_retries_opens_the_breaker_keeps_work_pending_then_succeeds_once(
    database, fake_github, github_client, breaker_clock
):
    """A 500 storm: retried, breaker opens (no calls), work stays pending, later one issue."""
    repo = installed_repo()
    q = quarantine(repo)
    fake_github.storm = True
    for _ in range(3):
        with pytest.raises(GitHubUnavailableError):
            mirror_quarantine(q.id, github=github_client)
    attempts = len(fake_github.calls)
    assert attempts == 3 * 3  # each operation: the first try and GithubRetry's 2 retries
    assert github_client.breaker.is_open
    with pytest.raises(GitHubUnavailableError, match="paused"):
        mirror_quarantine(q.id, github=github_client)
    assert len(fake_github.calls) == attempts  # the open breaker made no call
    pending = Quarantine.get_by_id(q.id)
    assert pending.github_synced_version < pending.version
    assert "paused" in pending.github_error
    fake_github.storm = False
    breaker_clock.advance(61)
    done = mirror_quarantine(q.id, github=github_client)
    assert done.github_synced_version == done.version and done.github_error is None
    assert len(fake_github.issues[REPO]) == 1


def test_issue_link_points_at_the_github_host(database, fake_github, github_client):
    """The recorded issue URL is on the configured host (GitHub Enterprise too), not github.com."""
    from flakeguard.usecases.testcases import test_detail

    repo = installed_repo()
    q = quarantine(repo)
    done = mirror_quarantine(q.id, github=github_client, api_url="https://ghe.example.com/api/v3")
    assert done.github_issue_url == f"https://ghe.example.com/{REPO}/issues/1"
    detail = test_detail(q.test_case_id, tenant_id=repo.tenant_id)
    assert detail.github_issue_url == done.github_issue_url


def test_a_withdrawn_proposal_closes_its_issue_saying_the_test_recovered(
    database, fake_github, github_client
):
    """A proposal with an issue asked for, withdrawn as the test recovered, closes the issue."""
    repo = installed_repo()
    q = quarantine(repo, state="proposed", issue_requested_at=utcnow())
    mirror_quarantine(q.id, github=github_client)
    assert fake_github.issues[REPO][1].state == "open"
    q = move(q, "lifted", "withdraw")
    mirror_quarantine(q.id, github=github_client)
    issue = fake_github.issues[REPO][1]
    assert issue.state == "closed"
    assert "recovered" in issue.comments[-1] and "lifted" not in issue.comments[-1]
