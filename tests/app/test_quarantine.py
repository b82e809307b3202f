"""The quarantine use case: transitions, audit events, idempotency, permissions."""

from __future__ import annotations

import pytest

from flakeguard.errors import BadRequestError, ConflictError, ForbiddenError, NotFoundError
from flakeguard.usecases import quarantine as uc
from flakeguard.usecases.policy import set_policy
from models import FlakeScore, Quarantine, QuarantineEvent, UserLink
from tests.bot import factories as f


@pytest.fixture
def flaky_test(database):  # type: ignore[no-untyped-def]
    test = f.test_case(f.repo())
    f.score(test, conflicts=2)
    return test


def events(q: Quarantine) -> list[str]:
    return [
        e.action
        for e in QuarantineEvent.select()
        .where(QuarantineEvent.quarantine == q.id)
        .order_by(QuarantineEvent.id)
    ]


def test_propose_then_approve_appends_events_and_bumps_version(flaky_test):
    """Propose and approve each append one audit event and bump the projection's version."""
    q = f.act(flaky_test.id, "propose", actor="flakeguard", source="system", reason="flaky")
    assert (q.state, q.version) == ("proposed", 1)
    q = f.act(flaky_test.id, "approve", actor="U0ALICE", source="slack")
    assert (q.state, q.version, q.quarantined_by) == ("quarantined", 2, "U0ALICE")
    assert q.rate_at_quarantine == pytest.approx(0.05)  # the score interval's lower bound
    assert events(q) == ["propose", "approve"]
    last = QuarantineEvent.select().order_by(QuarantineEvent.id.desc()).first()
    assert last.data["from"] == "proposed" and last.data["to"] == "quarantined"


def test_double_click_with_same_key_is_one_event(flaky_test):
    """The same idempotency key twice (a double click) appends one event."""
    f.propose(flaky_test.id)
    first = uc.perform(
        flaky_test.id, "approve", actor="U1", source="slack", idempotency_key="k1", tenant_id=None
    )
    second = uc.perform(
        flaky_test.id, "approve", actor="U1", source="slack", idempotency_key="k1", tenant_id=None
    )
    assert first.changed and not second.changed
    assert events(second.quarantine) == ["propose", "approve"]


def test_repeating_an_action_in_its_target_state_changes_nothing(flaky_test):
    """Approving a quarantined test again appends nothing and keeps the version."""
    f.act(flaky_test.id, "approve", actor="U1", source="slack")
    outcome = uc.perform(flaky_test.id, "approve", actor="U2", source="slack", tenant_id=None)
    assert not outcome.changed
    assert outcome.quarantine.version == 1 and outcome.quarantine.quarantined_by == "U1"


def test_proposing_a_quarantined_test_changes_nothing(flaky_test):
    """The analysis proposing a test that is already quarantined is a no-op, not an error."""
    f.act(flaky_test.id, "approve", actor="U1", source="slack")
    outcome = uc.perform(
        flaky_test.id, "propose", actor="flakeguard", source="system", tenant_id=None
    )
    assert not outcome.changed and outcome.quarantine.state == "quarantined"


def test_undo_returns_to_proposed_and_clears_who(flaky_test):
    """Undo moves a quarantined test back to proposed and forgets who quarantined it."""
    f.propose(flaky_test.id)
    f.act(flaky_test.id, "approve", actor="U1", source="slack")
    q = f.act(flaky_test.id, "undo", actor="U2", source="slack")
    assert (q.state, q.quarantined_by, q.quarantined_at) == ("proposed", None, None)
    assert events(q) == ["propose", "approve", "undo"]


def test_dismissed_test_is_not_reproposed_without_new_evidence(flaky_test):
    """After 'not flaky' the analysis re-proposes only with new same-commit conflicts."""
    f.propose(flaky_test.id)
    q = f.act(flaky_test.id, "dismiss", actor="U1", source="slack")
    assert (q.state, q.dismissed_conflicts) == ("dismissed", 2)
    again = uc.perform(
        flaky_test.id, "propose", actor="flakeguard", source="system", tenant_id=None
    )
    assert not again.changed and again.quarantine.state == "dismissed"
    FlakeScore.update(evidence={"same_commit_conflicts": 3}).execute()
    again = uc.perform(
        flaky_test.id, "propose", actor="flakeguard", source="system", tenant_id=None
    )
    assert again.changed and again.quarantine.state == "proposed"


def test_lift_needs_a_quarantined_test(flaky_test):
    """Lifting a proposed quarantine is refused and changes nothing; a quarantined one is lifted."""
    f.propose(flaky_test.id)
    with pytest.raises(ConflictError, match="only a quarantined test can be lifted"):
        f.act(flaky_test.id, "lift", actor="U1", source="slack")
    assert Quarantine.get().version == 1
    f.act(flaky_test.id, "approve", actor="U1", source="slack")
    assert f.act(flaky_test.id, "lift", actor="U1", source="slack").state == "lifted"


def test_assign_records_slack_user_and_linked_github_login(flaky_test):
    """Assigning stores the Slack user and the GitHub login linked to them."""
    UserLink.create(team_id="T0TEST", slack_user_id="U0BOB", github_login="bob")
    f.propose(flaky_test.id)
    q = f.act(flaky_test.id, "assign", actor="U1", source="slack", assignee_slack="U0BOB")
    assert (q.assignee_slack, q.assignee_github, q.state) == ("U0BOB", "bob", "proposed")
    again = uc.perform(
        flaky_test.id, "assign", actor="U1", source="slack", assignee_slack="U0BOB", tenant_id=None
    )
    assert not again.changed


def test_stale_version_is_refused(flaky_test):
    """An action on an out-of-date message (another version) is refused, nothing changes."""
    f.propose(flaky_test.id)
    f.act(flaky_test.id, "approve", actor="U1", source="slack")
    with pytest.raises(ConflictError, match="out of date"):
        f.act(flaky_test.id, "dismiss", actor="U2", source="slack", expected_version=1)
    assert Quarantine.get().state == "quarantined"


def test_users_policy_refuses_others_and_changes_nothing(flaky_test):
    """With a users policy, someone not listed may not approve; nothing is recorded."""
    set_policy("T0TEST", "users", users=["U0ALICE"])
    f.propose(flaky_test.id)
    with pytest.raises(ForbiddenError):
        f.act(flaky_test.id, "approve", actor="U0MALLORY", source="slack", team_id="T0TEST")
    assert Quarantine.get().state == "proposed"
    q = f.act(flaky_test.id, "approve", actor="U0ALICE", source="slack", team_id="T0TEST")
    assert q.state == "quarantined"


def test_usergroup_policy_asks_membership(flaky_test):
    """With a usergroup policy, membership comes from the given lookup."""
    set_policy("T0TEST", "usergroup", usergroup_id="S0QA")
    asked = []

    def members_of(group: str) -> set[str]:
        asked.append(group)
        return {"U0QA"}

    def approve(actor: str) -> Quarantine:
        return f.act(
            flaky_test.id,
            "approve",
            actor=actor,
            source="slack",
            team_id="T0TEST",
            members_of=members_of,
        )

    with pytest.raises(ForbiddenError, match="subteam"):
        approve("U0DEV")
    assert approve("U0QA").state == "quarantined" and asked == ["S0QA", "S0QA"]


def test_assign_is_open_to_everyone_under_a_policy(flaky_test):
    """The policy restricts approve/undo, not assigning."""
    set_policy("T0TEST", "users", users=["U0ALICE"])
    f.propose(flaky_test.id)
    q = f.act(
        flaky_test.id,
        "assign",
        actor="U0DEV",
        source="slack",
        assignee_slack="U0DEV",
        team_id="T0TEST",
    )
    assert q.assignee_slack == "U0DEV"


def test_approve_all_skips_quarantines_that_moved_on(database):
    """Approve-all approves what is still proposed at the version shown, and skips the rest."""
    repo = f.repo()
    tests = [f.test_case(repo, f"test_{i}") for i in range(3)]
    qs = [f.propose(t.id) for t in tests]
    f.act(tests[2].id, "dismiss", actor="U2", source="slack")
    approved = uc.approve_all(
        [(q.id, q.version) for q in qs],
        actor="U1",
        source="slack",
        key_prefix="d1",
        tenant_id=qs[0].repository.tenant_id,
        repository_id=qs[0].repository_id,
    )
    assert sorted(q.id for q in approved) == [qs[0].id, qs[1].id]
    assert Quarantine.get_by_id(qs[2].id).state == "dismissed"


def test_bad_input_is_refused(flaky_test):
    """Unknown tests, actions and a missing assignee are clear errors."""
    with pytest.raises(NotFoundError):
        f.act(999_999, "approve", actor="U1", source="slack")
    with pytest.raises(BadRequestError):
        f.act(flaky_test.id, "explode", actor="U1", source="slack")
    with pytest.raises(BadRequestError):
        f.act(flaky_test.id, "assign", actor="U1", source="slack")
    assert Quarantine.select().count() == 0


def test_policy_needs_valid_settings(database):
    """A usergroup policy without a group, or an unknown mode, is refused."""
    with pytest.raises(BadRequestError):
        set_policy("T1", "usergroup")
    with pytest.raises(BadRequestError):
        set_policy("T1", "admins")


@pytest.mark.parametrize(
    "assignee", ["U1> <!channel>", "<!here>", "u0bob", "U0", "U" + "A" * 40, "U0BOB\n", "B0BOT"]
)
def test_assignee_must_be_a_slack_user_id(flaky_test, assignee):
    """A mention injection or an over-long value: BadRequestError from every source, no change."""
    f.propose(flaky_test.id)
    before = Quarantine.get(Quarantine.test_case == flaky_test.id)
    with pytest.raises(BadRequestError, match="Slack user id"):
        uc.perform(
            flaky_test.id,
            "assign",
            actor="U1",
            source="web",
            assignee_slack=assignee,
            tenant_id=None,
        )
    after = Quarantine.get_by_id(before.id)
    assert (after.assignee_slack, after.version) == (before.assignee_slack, before.version)
