"""CODEOWNERS routing: the owning team's channel hears about its flake, assigned to its member."""

from __future__ import annotations

from flakeguard import jobs
from flakeguard.jobs import Job
from flakeguard.usecases import owner_routes
from models import (
    Quarantine,
    QuarantineEvent,
    RepoFile,
    SlackMessage,
    TeamMember,
    TestCase,
    UserLink,
)
from tests.bot import factories as f
from tests.bot.limits import all_text, problems
from tests.fakes.slack import CHANNEL_ID, TEAM_ID
from tests.owners.conftest import REPO, World, push_payload

CODEOWNERS = """\
# default owners
*                  @org/core
/tests/payments/   @org/payments
"""
PAYMENTS = "C0PAY"
MEMBER = "U0PAYDEV"


def _setup(world: World) -> TestCase:
    """CODEOWNERS on main, the payments team with one linked member, the repo's channel."""
    world.fake_github.put_file(".github/CODEOWNERS", CODEOWNERS, repo=REPO)
    world.fake_github.put_file("CODEOWNERS", "* @someone-else\n", repo=REPO)  # not used
    world.fake_github.add_team("org", "payments", ["pay-dev", "pay-lead"])
    f.subscription(world.repo)  # C0ALERTS gets the repository's alerts
    UserLink.create(team_id=TEAM_ID, slack_user_id=MEMBER, github_login="Pay-Dev")
    test = TestCase.create(
        repository=world.repo,
        key="tests.payments.test_x::test_refund",
        classname="tests.payments.test_x",
        name="test_refund",
    )
    f.score(test, value=0.2)
    f.results(test, "+x+x")
    return test


def test_push_to_default_branch_reads_codeowners_and_team_members(world: World) -> None:
    """A push touching CODEOWNERS on main: the App reads .github/CODEOWNERS (first found)."""
    _setup(world)
    response = world.hook.send("push", push_payload(world.repo, ".github/CODEOWNERS"))
    assert response.status_code == 200, response.get_json()
    stored = RepoFile.get(RepoFile.kind == "codeowners")
    assert (stored.path, stored.source) == (".github/CODEOWNERS", "github")
    assert stored.content == CODEOWNERS
    reads = world.fake_github.calls_to("GET", r"/contents/")
    assert reads and all(call.query.get("ref") == "main" for call in reads)
    members = {m.login for m in TeamMember.select().where(TeamMember.team == "@org/payments")}
    assert members == {"pay-dev", "pay-lead"}


def test_push_to_another_branch_reads_nothing(world: World) -> None:
    """A branch (or a pull request's head) never changes the owners."""
    _setup(world)
    payload = push_payload(world.repo, ".github/CODEOWNERS", ref="refs/heads/feature")
    assert world.hook.send("push", payload).get_json()["status"] == "ignored"
    payload = push_payload(world.repo, "src/app.py")
    assert world.hook.send("push", payload).get_json()["status"] == "ignored"
    assert not world.fake_github.calls_to("GET", r"/contents/")
    assert RepoFile.select().count() == 0


def test_alert_for_payments_test_goes_to_payments_channel_assigned_to_its_member(
    world: World,
) -> None:
    """tests/payments/test_x.py -> @org/payments -> #payments; its linked member is assigned,
    and the GitHub issue gets that member as assignee."""
    test = _setup(world)
    world.hook.send("push", push_payload(world.repo, ".github/CODEOWNERS"))
    answer = world.slack.command(f"route @org/payments <#{PAYMENTS}|payments>", channel=PAYMENTS)
    assert answer.status_code == 200
    reply = all_text(answer.get_json())
    assert "`@org/payments`" in reply and f"now go to <#{PAYMENTS}>" in reply
    assert owner_routes.routes(world.repo.tenant_id) == [("@org/payments", TEAM_ID, PAYMENTS, None)]

    f.act(test.id, "propose", actor="flakeguard", source="system")
    event = f.event(test, "flaky")
    world.fake_slack.reset()
    jobs.enqueue(Job.NOTIFY_SLACK, event_id=event.id)

    posts = world.fake_slack.called("chat.postMessage")
    assert [p.params["channel"] for p in posts] == [PAYMENTS]  # not the repo's C0ALERTS
    assert problems(posts[0].params) == []
    text = all_text(posts[0].params)
    assert "`@org/payments`" in text and f"<@{MEMBER}>" in text and "`Pay-Dev`" in text
    assert not SlackMessage.select().where(SlackMessage.channel == CHANNEL_ID).exists()

    q = Quarantine.get(Quarantine.test_case == test.id)
    assert (q.assignee_slack, q.assignee_github) == (MEMBER, "Pay-Dev")
    assign = QuarantineEvent.get(QuarantineEvent.action == "assign")
    assert (assign.actor, assign.source, assign.data["assignee_slack"]) == (
        "flakeguard",
        "system",
        MEMBER,
    )

    f.act(test.id, "approve", actor="U0ALICE", source="slack")
    [issue] = world.fake_github.open_issues(REPO)
    assert issue.assignees == ["Pay-Dev"]


def test_unrouted_owner_goes_to_the_repository_channels(world: World) -> None:
    """A test owned by a team without a route alerts the subscribed channels as before."""
    _setup(world)
    world.hook.send("push", push_payload(world.repo, ".github/CODEOWNERS"))
    other = TestCase.create(
        repository=world.repo, key="tests.test_api::t", classname="tests.test_api", name="t"
    )
    f.score(other, value=0.2)
    f.act(other.id, "propose", actor="flakeguard", source="system")
    world.slack.command(f"route @org/payments <#{PAYMENTS}|payments>", channel=PAYMENTS)
    world.fake_slack.reset()
    jobs.enqueue(Job.NOTIFY_SLACK, event_id=f.event(other, "flaky").id)
    posts = world.fake_slack.called("chat.postMessage")
    assert [p.params["channel"] for p in posts] == [CHANNEL_ID]
    assert "`@org/core`" in all_text(posts[0].params)
    assert Quarantine.get(Quarantine.test_case == other.id).assignee_slack is None
