"""A routed team's weekly digest: in its channel, the proposals it owns across repositories."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from flakeguard import jobs
from flakeguard.cli_status import render_preview
from flakeguard.jobs import Job
from flakeguard.usecases import digest, outbox, owner_routes, quarantine, repo_files
from models import (
    OwnerRoute,
    Quarantine,
    Repository,
    SlackMessage,
    Tenant,
    TestCase,
    WeeklyDigest,
    db,
    utcnow,
)
from models.base import is_postgres
from tests.bot import factories as f
from tests.bot.limits import all_text, problems
from tests.fakes.slack import CHANNEL_ID, TEAM_ID
from tests.owners.conftest import World, write_from_another_connection

CODEOWNERS = "*  @org/core\n/tests/payments/  @org/payments\n"
PAYMENTS = "C0PAY"
RIVAL_TEAM = "T0RIVAL"


def _owned_test(repo: Repository, module: str, name: str, failures: str) -> TestCase:
    """A proposed flaky test of ``repo`` in ``tests/<module>.py``, failing per ``failures``."""
    test = TestCase.create(
        repository=repo,
        key=f"tests.{module}::{name}",
        classname=f"tests.{module}",
        name=name,
    )
    f.score(test, value=0.2)
    f.results(test, failures)
    f.propose(test.id)
    return test


def _setup(world: World) -> dict[str, TestCase]:
    """Two repositories with CODEOWNERS; payments routed to #payments; shop subscribed."""
    api = Repository.create(tenant=world.repo.tenant_id, full_name="org/api")
    for repo in (world.repo, api):
        repo_files.store_files(repo.id, {"CODEOWNERS": CODEOWNERS}, source="github")
    f.subscription(world.repo)  # C0ALERTS follows org/shop
    tests = {
        "refund": _owned_test(world.repo, "payments.test_x", "test_refund", "+x+x+x"),
        "charge": _owned_test(api, "payments.test_y", "test_charge", "xxxx+"),
        "login": _owned_test(world.repo, "test_login", "test_login", "+x"),
    }
    answer = world.slack.command(f"route @org/payments <#{PAYMENTS}|payments>", channel=PAYMENTS)
    assert answer.status_code == 200
    world.fake_slack.reset()
    return tests


def _posts_to(world: World, channel: str) -> list[dict[str, object]]:
    return [
        call.params
        for call in world.fake_slack.called("chat.postMessage")
        if call.params["channel"] == channel
    ]


def test_team_channel_gets_one_digest_naming_only_its_tests(world: World) -> None:
    """#payments gets one message: the payments tests of both repositories, ranked by cost
    (the one that turned more runs red first), not the login test; the repository's channel
    keeps its own digest with every proposal of org/shop; a second run that week posts
    nothing more."""
    _setup(world)
    jobs.enqueue(Job.WEEKLY_DIGEST)

    [team] = _posts_to(world, PAYMENTS)
    assert problems(team) == []
    text = all_text(team)
    assert "@org/payments" in text and "org/shop" in text and "org/api" in text
    assert "test_charge" in text and "test_refund" in text and "test_login" not in text
    assert text.index("test_charge") < text.index("test_refund")  # 4 red runs before 3
    assert "2 flaky, 0 quarantined, 2 waiting for a decision" in text

    [shop] = _posts_to(world, CHANNEL_ID)
    shop_text = all_text(shop)
    assert "test_refund" in shop_text and "test_login" in shop_text
    assert "test_charge" not in shop_text  # org/api has no subscription

    jobs.enqueue(Job.WEEKLY_DIGEST)
    assert len(world.fake_slack.called("chat.postMessage")) == 2
    assert WeeklyDigest.select().count() == 2


def test_a_new_week_gets_a_new_digest(world: World) -> None:
    """The week is part of a digest's identity: next week's planning posts again."""
    _setup(world)
    tenant = world.repo.tenant_id
    assert len(digest.plan_digests(tenant)) == 2
    assert digest.plan_digests(tenant) == []
    later = digest.plan_digests(tenant, now=utcnow() + timedelta(days=7))
    assert len(later) == 2
    weeks = {row.week for row in WeeklyDigest.select()}
    assert len(weeks) == 2


def test_approve_all_in_the_team_digest_approves_only_its_tests(world: World) -> None:
    """Approve all from #payments approves both payments proposals (two repositories); a
    submission with an id of another test smuggled in is refused whole, saying so, and
    approves nothing; both digests are re-rendered after the genuine one."""
    tests = _setup(world)
    jobs.enqueue(Job.WEEKLY_DIGEST)
    team = SlackMessage.get(SlackMessage.channel == PAYMENTS, SlackMessage.kind == "digest")
    world.slack.click("fg_approve_all", str(team.id), channel=PAYMENTS, message_ts=team.ts)
    [opened] = world.fake_slack.called("views.open")
    view = opened.params["view"]
    assert "Approve 2" in view["submit"]["text"] and "@org/payments" in all_text(view)

    login = Quarantine.get(Quarantine.test_case == tests["login"].id)
    metadata = json.loads(view["private_metadata"])
    smuggled = {**metadata, "q": [*metadata["q"], [login.id, login.version]]}
    refused = world.slack.submit_view("fg_approve_all_view", json.dumps(smuggled)).get_json()
    assert refused["response_action"] == "update"
    assert "1 of the 3 proposals submitted are not in this digest; nothing was approved" in (
        all_text(refused["view"])
    )
    assert {q.state for q in Quarantine.select()} == {"proposed"}
    world.fake_slack.reset()
    answer = world.slack.submit_view("fg_approve_all_view", json.dumps(metadata))
    assert answer.status_code == 200

    states = {name: Quarantine.get(Quarantine.test_case == t.id).state for name, t in tests.items()}
    assert states == {"refund": "quarantined", "charge": "quarantined", "login": "proposed"}
    updates = world.fake_slack.called("chat.update")
    updated = {call.params["channel"]: call.params for call in updates}
    assert "Nothing waiting" in all_text(updated[PAYMENTS])
    shop_now = all_text(updated[CHANNEL_ID])  # the shop digest listed test_refund: re-rendered
    assert "test_refund" not in shop_now and "test_login" in shop_now


def test_another_tenants_routes_never_get_anything(world: World) -> None:
    """A rival tenant routing @org/payments (to its own channel, or to ours) gets no digest of
    our tests, and our route to a channel of the rival's workspace gets nothing either."""
    _setup(world)
    rival = Tenant.create(slug="rival", name="Rival")
    f.workspace(RIVAL_TEAM, tenant_id=rival.id)
    secret = Repository.create(tenant=rival, full_name="rival/secret")
    repo_files.store_files(secret.id, {"CODEOWNERS": "* @rival/team\n"}, source="github")
    _owned_test(secret, "test_secret", "test_secret", "+x")
    OwnerRoute.create(tenant=rival, owner="@org/payments", team_id=RIVAL_TEAM, channel_id="C0SPY")
    OwnerRoute.create(tenant=rival, owner="@rival/team", team_id=TEAM_ID, channel_id="C0OURS")
    OwnerRoute.create(
        tenant=world.repo.tenant_id, owner="@org/core", team_id=RIVAL_TEAM, channel_id="C0LEAK"
    )

    jobs.enqueue(Job.WEEKLY_DIGEST)
    channels = [call.params["channel"] for call in world.fake_slack.called("chat.postMessage")]
    assert sorted(channels) == sorted([PAYMENTS, CHANNEL_ID])
    assert "test_secret" not in json.dumps(
        [call.params for call in world.fake_slack.called("chat.postMessage")]
    )


def test_preview_digest_of_an_owner(world: World) -> None:
    """`flakeguard preview digest --owner @org/payments` shows what #payments would get."""
    _setup(world)
    payload = render_preview("digest", None, owner="@org/payments", tenant_id=world.repo.tenant_id)
    assert problems(payload) == []
    text = all_text(payload)
    assert "test_charge" in text and "test_refund" in text and "test_login" not in text


def test_a_workspace_of_another_tenant_cannot_act_on_the_team_digest(world: World) -> None:
    """Attack: a rival workspace clicks Approve all on our team digest, then submits a modal
    naming it with every proposal: no modal, a refusal, nothing approved."""
    _setup(world)
    jobs.enqueue(Job.WEEKLY_DIGEST)
    team = SlackMessage.get(SlackMessage.channel == PAYMENTS, SlackMessage.kind == "digest")
    rival = Tenant.create(slug="rival", name="Rival")
    f.workspace(RIVAL_TEAM, tenant_id=rival.id)
    world.fake_slack.reset()

    world.slack.click(
        "fg_approve_all", str(team.id), team=RIVAL_TEAM, channel=PAYMENTS, message_ts=team.ts
    )
    assert world.fake_slack.called("views.open") == []
    items = [[q.id, q.version] for q in Quarantine.select()]
    metadata = json.dumps({"m": team.id, "c": PAYMENTS, "q": items})
    refused = world.slack.submit_view("fg_approve_all_view", metadata, team=RIVAL_TEAM)
    assert refused.get_json()["response_action"] == "update"
    assert {q.state for q in Quarantine.select()} == {"proposed"}
    assert world.fake_slack.called("chat.update") == []


def test_a_big_owner_digest_stays_within_slacks_limits() -> None:
    """Long names in many repositories: the digest and its modal fit Slack; markup in a
    repository or owner name is shown, not interpreted."""
    from bot.blocks.digest import approve_all_modal, render_digest
    from flakeguard.usecases.plan import PlanItem

    items = [
        PlanItem(i, 1, i, f"test_{i}" + "w" * 150, 0.3, "r" * 100, 4, why="w" * 90)
        for i in range(10)
    ]
    places = {i: f"org/<!channel>repo-{i}" + "n" * 90 for i in range(10)}
    repositories = tuple(f"org/repo-{i}" + "n" * 90 for i in range(300))
    view = digest.DigestView(
        7, "", 40, 3, items, 200, owner="@org/<b>team", places=places, repositories=repositories
    )
    payload = render_digest(view)
    assert problems(payload) == []
    text = all_text(payload)
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text and "and 290 more" in text
    modal = approve_all_modal(view, channel=PAYMENTS)
    assert problems(modal) == [] and len(modal["private_metadata"]) <= 3000


def _rival_with_the_same_team(world: World) -> Tenant:
    """A rival tenant whose own repository routes the same @org/payments to its workspace."""
    rival = Tenant.create(slug="rival", name="Rival")
    f.workspace(RIVAL_TEAM, tenant_id=rival.id)
    theirs = Repository.create(tenant=rival, full_name="rival/payments")
    repo_files.store_files(theirs.id, {"CODEOWNERS": CODEOWNERS}, source="github")
    _owned_test(theirs, "payments.test_z", "test_their_charge", "+x+x")
    OwnerRoute.create(tenant=rival, owner="@org/payments", team_id=RIVAL_TEAM, channel_id="C0RIV")
    return rival


def test_each_tenant_plans_its_own_digests_from_its_own_rows(world: World) -> None:
    """Planning one tenant's week creates that tenant's digests only, from its own
    repositories and routes, even for an owner both tenants route."""
    _setup(world)
    rival = _rival_with_the_same_team(world)
    assert digest.tenants_with_proposals() == sorted([world.repo.tenant_id, rival.id])
    ours = digest.plan_digests(world.repo.tenant_id)
    assert {row.tenant_id for row in WeeklyDigest.select()} == {world.repo.tenant_id}
    assert {SlackMessage.get_by_id(i).channel for i in ours} == {PAYMENTS, CHANNEL_ID}
    [theirs] = digest.plan_digests(rival.id)
    view = digest.digest_of_message(theirs)
    assert [item.test_name.endswith("test_their_charge") for item in view.items] == [True]
    assert view.repositories == ("rival/payments",)


def test_a_route_moved_mid_week_does_not_post_the_weeks_digest_again(world: World) -> None:
    _setup(world)
    tenant = world.repo.tenant_id
    assert len(digest.plan_digests(tenant)) == 2
    world.slack.command("route @org/payments <#C0MOVED|moved>", channel="C0MOVED")
    assert digest.plan_digests(tenant) == []


def test_a_digest_post_that_fails_is_retried_until_slack_takes_it(world: World) -> None:
    """Slack failing the team's post (a transient error): the post stays a pending
    effect, and the reconcile job posts it once, later."""
    from flakeguard.usecases import reconcile
    from models import Effect

    _setup(world)
    world.fake_slack.fail("chat.postMessage", "internal_error", times=2)
    jobs.enqueue(Job.WEEKLY_DIGEST)
    pending = Effect.select().where(
        Effect.kind == str(Job.REFRESH_SLACK_MESSAGE), Effect.done_at.is_null()
    )
    assert pending.count() >= 1
    reconcile.reconcile(grace=timedelta(0))
    assert pending.count() == 0
    assert len(_posts_to(world, PAYMENTS)) >= 1
    team = SlackMessage.get(SlackMessage.channel == PAYMENTS, SlackMessage.kind == "digest")
    assert team.ts is not None and team.last_error is None


def test_a_channel_slack_refuses_is_shown_on_the_route_until_a_post_goes_through(
    world: World,
) -> None:
    """channel_not_found for the team's digest: recorded on the route (which
    `flakeguard route list` prints) and shown by Slack's `route list`; the next post
    there clears it."""
    _setup(world)
    world.fake_slack.fail("chat.postMessage", "channel_not_found")
    world.fake_slack.fail("chat.postMessage", "channel_not_found")
    jobs.enqueue(Job.WEEKLY_DIGEST)
    route = OwnerRoute.get(OwnerRoute.owner == "@org/payments")
    assert route.last_error == "channel_not_found"
    assert owner_routes.routes(world.repo.tenant_id)[0].last_error == "channel_not_found"
    listed = world.slack.command("route list")
    assert "last post failed" in str(listed.get_json())
    later = digest.plan_digests(world.repo.tenant_id, now=utcnow() + timedelta(days=7))
    outbox_dispatch(later)
    assert OwnerRoute.get(OwnerRoute.owner == "@org/payments").last_error is None


def outbox_dispatch(message_ids: list[int]) -> None:
    from flakeguard.usecases import outbox

    outbox.dispatch(digest.digest_posts(message_ids))


def test_approve_all_approves_in_the_order_of_the_tests_keys(world: World) -> None:
    """The approvals are made in the order of the tests' keys, whatever the order
    submitted: their audit events come out in key order."""
    from models import QuarantineEvent

    tests = _setup(world)
    jobs.enqueue(Job.WEEKLY_DIGEST)
    shop = SlackMessage.get(SlackMessage.channel == CHANNEL_ID, SlackMessage.kind == "digest")
    shown = [Quarantine.get(Quarantine.test_case == tests[n].id) for n in ("refund", "login")]
    items = [(q.id, q.version) for q in sorted(shown, key=lambda q: -q.id)]
    digest.approve_shown(
        shop.id, items, actor="U0ADMIN", tenant_id=world.repo.tenant_id, team_id=TEAM_ID
    )
    events = (
        QuarantineEvent.select(QuarantineEvent, Quarantine)
        .join(Quarantine)
        .where(QuarantineEvent.action == "approve")
        .order_by(QuarantineEvent.id)
    )
    keys = [TestCase.get_by_id(e.quarantine.test_case_id).key for e in events]
    assert keys == [tests["refund"].key, tests["login"].key]  # submitted login first


def test_an_owners_digest_breaks_ties_by_test_key_like_a_repositorys_plan(world: World) -> None:
    """Two payments proposals of equal cost in two repositories: ranked by their keys
    (as each repository's plan ranks its own), not by their ids."""
    api = Repository.create(tenant=world.repo.tenant_id, full_name="org/api")
    for repo in (world.repo, api):
        repo_files.store_files(repo.id, {"CODEOWNERS": CODEOWNERS}, source="github")
    later_key = _owned_test(world.repo, "payments.test_b", "test_b", "+x+x")
    earlier_key = _owned_test(api, "payments.test_a", "test_a", "+x+x")
    assert later_key.id < earlier_key.id
    world.slack.command(f"route @org/payments <#{PAYMENTS}|payments>", channel=PAYMENTS)
    view = digest.owned_digest_view("@org/payments", [world.repo.id, api.id])
    first, second = view.items
    assert (first.impact, first.score) == (second.impact, second.score)
    assert [item.test_case_id for item in view.items] == [earlier_key.id, later_key.id]


def test_approve_all_is_a_write_transaction_from_its_start(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite: the approvals read before they write. A writer committing in between
    would fail a deferred transaction at once ("database is locked"); it waits for
    the approval instead, which goes through."""
    if is_postgres():
        pytest.skip("SQLite's deferred BEGIN only")
    tests = _setup(world)
    jobs.enqueue(Job.WEEKLY_DIGEST)
    shop = SlackMessage.get(SlackMessage.channel == CHANNEL_ID, SlackMessage.kind == "digest")
    shown = Quarantine.get(Quarantine.test_case == tests["refund"].id)
    concurrent: list[bool] = []
    approve_all = quarantine.approve_all

    def racing(*args: object, **kwargs: object) -> list[Quarantine]:
        Quarantine.select().count()  # the transaction's first statement, a read
        concurrent.append(write_from_another_connection())
        return approve_all(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(quarantine, "approve_all", racing)
    approved = digest.approve_shown(
        shop.id,
        [(shown.id, shown.version)],
        actor="U0ADMIN",
        tenant_id=world.repo.tenant_id,
        team_id=TEAM_ID,
    )
    assert concurrent == [False]
    assert [q.id for q in approved] == [shown.id]


def test_a_stale_approval_inside_a_callers_transaction_defers_its_refresh(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A quarantine that moved on under an "Approve all" is re-rendered: the refresh
    goes into the caller's effects, for after its commit. Nothing is enqueued before
    (a job for a transaction that may yet roll back)."""
    tests = _setup(world)
    shown = Quarantine.get(Quarantine.test_case == tests["refund"].id)
    enqueued: list[Job] = []
    enqueue = jobs.enqueue

    def spy(job: Job, /, **kwargs: object) -> bool:
        enqueued.append(job)
        return enqueue(job, **kwargs)

    monkeypatch.setattr(jobs, "enqueue", spy)
    deferred: list[outbox.Wanted] = []
    with db.atomic() as transaction:
        with pytest.raises(quarantine.StaleVersionError):
            quarantine.perform(
                None,
                "approve",
                quarantine_id=shown.id,
                tenant_id=world.repo.tenant_id,
                actor="U0ADMIN",
                source="slack",
                expected_version=shown.version + 1,
                deferred=deferred,
            )
        transaction.rollback()
    assert enqueued == []
    refresh = outbox.want(Job.REFRESH_SLACK_QUARANTINE, quarantine_id=shown.id)
    assert [w.key for w in deferred] == [refresh.key]


def test_one_tenant_failing_to_plan_leaves_the_others_digests_going_out(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The first tenant's planning raises: the rival's digest still goes out, the
    failure is logged, and the next run plans the first tenant's week."""
    from tasks.slack import weekly_digest

    _setup(world)
    rival = _rival_with_the_same_team(world)
    ours = world.repo.tenant_id
    plan = digest.plan_digests

    def failing_for_ours(tenant_id: int, **kwargs: Any) -> list[int]:
        if tenant_id == ours:
            raise RuntimeError("planning broke")
        return plan(tenant_id, **kwargs)

    monkeypatch.setattr(digest, "plan_digests", failing_for_ours)
    assert weekly_digest.call_local() == {"planned": 1, "failed": 1}
    assert {row.tenant_id for row in WeeklyDigest.select()} == {rival.id}
    assert [call.params["channel"] for call in world.fake_slack.called("chat.postMessage")] == [
        "C0RIV"
    ]
    assert f"weekly digest of tenant {ours} not planned" in caplog.text
    monkeypatch.setattr(digest, "plan_digests", plan)
    assert weekly_digest.call_local() == {"planned": 2, "failed": 0}
    assert {row.tenant_id for row in WeeklyDigest.select()} == {ours, rival.id}
