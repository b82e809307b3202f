"""GitHub ownership: an installation acts only on its own repositories; history follows GitHub ids.

Every webhook here is signed exactly as GitHub signs it. "Acts on nothing,
changes nothing" is checked on a snapshot of every row the handlers could touch.
"""

from __future__ import annotations

from typing import Any

import pytest

from models import (
    CheckRun,
    IngestedArtifact,
    Installation,
    Repository,
    Tenant,
    TestRun,
    default_tenant,
)
from tests.fakes.github import INSTALLATION_ID, REPO, WebhookSender
from tests.fakes.slack import with_slack_oauth
from tests.github.helpers import SHA, add_result, installed_repo

OWNER = {"id": INSTALLATION_ID, "account": {"login": "acme", "id": 9001, "type": "Organization"}}
STRANGER_ID = 888
STRANGER = {"id": STRANGER_ID, "account": {"login": "evil", "id": 6666, "type": "Organization"}}
REPOSITORY = {"id": 55, "full_name": REPO, "default_branch": "trunk", "owner": {"login": "acme"}}


@pytest.fixture(params=["one-workspace", "oauth"])
def hook(request, github_settings, github_client, database) -> Any:  # type: ignore[no-untyped-def]
    """Webhooks to an app in both tenancy modes: one shared tenant, or one per GitHub account."""
    import tasks
    from flakeguard.app import create_app
    from flakeguard.settings import Settings
    from tasks import github as github_tasks

    settings = github_settings
    if request.param == "oauth":
        settings = with_slack_oauth(github_settings)
    app = create_app(settings, github=github_client)
    app.testing = True
    sender = WebhookSender(app.test_client())
    sender.mode = request.param  # type: ignore[attr-defined]
    yield sender
    github_tasks.use_client(None)
    tasks.configure(Settings(queue_mode="immediate"))


def snapshot() -> dict[str, Any]:
    """Every row a GitHub event could change (the attacker's installation row left out)."""
    repos = [
        (r.id, r.tenant_id, r.full_name, r.github_id, r.installation_id, r.active, r.default_branch)
        for r in Repository.select().order_by(Repository.id)
    ]
    return {
        "repositories": repos,
        "runs": TestRun.select().count(),
        "artifacts": [(a.repository_id, a.status) for a in IngestedArtifact.select()],
        "check_runs": [(c.repository_id, c.version) for c in CheckRun.select()],
    }


def stranger_events(repository: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every event type the webhook handles, sent by installation 888 naming ``repository``."""
    base = {"repository": repository, "installation": STRANGER}
    return [
        ("workflow_run", {"action": "completed", "workflow_run": {"id": 31}, **base}),
        ("check_suite", {"action": "rerequested", "check_suite": {"head_sha": SHA}, **base}),
        (
            "check_run",
            {"action": "rerequested", "check_run": {"name": "FlakeGuard", "head_sha": SHA}, **base},
        ),
        (
            "check_run",
            {
                "action": "requested_action",
                "check_run": {"name": "FlakeGuard", "head_sha": SHA},
                "requested_action": {"identifier": "rerun-analysis"},
                **base,
            },
        ),
        ("repository", {"action": "renamed", **base}),
        ("repository", {"action": "edited", **base}),
        (
            "installation_repositories",
            {"action": "removed", "installation": STRANGER, "repositories_removed": [repository]},
        ),
    ]


def owned_repository() -> Repository:
    repo = installed_repo()
    add_result(repo, "test_a", "failed")
    return repo


def introduce_stranger(hook: WebhookSender) -> None:
    created = {"action": "created", "installation": STRANGER, "repositories": []}
    assert hook.send("installation", created).status_code == 200


def test_another_installation_naming_an_existing_repository_changes_nothing(hook, fake_github):
    """Attack: installation 888 sends every event naming acme/widgets (id 55, installation 777).

    Each is answered 200 "ignored"; no row moves, nothing is enqueued, GitHub is not called.
    """
    repo = owned_repository()
    introduce_stranger(hook)
    before = snapshot()
    calls = len(fake_github.calls)
    for event, payload in stranger_events(REPOSITORY):
        body = hook.send(event, payload).get_json()
        assert body["status"] in ("ignored", "ok"), (event, body)
        assert "enqueued" not in body, (event, body)
    assert snapshot() == before
    assert len(fake_github.calls) == calls
    assert Repository.get_by_id(repo.id).installation_id == repo.installation_id


def test_another_installation_reusing_the_name_with_another_id_changes_nothing(hook):
    """Attack: installation 888 names acme/widgets with another repository id (99)."""
    owned_repository()
    introduce_stranger(hook)
    before = snapshot()
    other = dict(REPOSITORY, id=99)
    for event, payload in stranger_events(other)[:4]:
        body = hook.send(event, payload).get_json()
        assert "enqueued" not in body or hook.mode == "oauth", (event, body)
    after = snapshot()
    # The owner's row is untouched; with one tenant per account the stranger got its own row.
    assert after["repositories"][0] == before["repositories"][0]
    assert after["runs"] == before["runs"]
    if hook.mode == "one-workspace":
        assert after == before
    else:
        [theirs] = after["repositories"][1:]
        assert theirs[1] != before["repositories"][0][1]  # another tenant


def test_a_membership_event_of_another_tenant_does_not_rehome(hook):
    """Attack: with a tenant per account, 888 says it was given repository 55 (added, transferred).

    The owner's row keeps its tenant, installation and history; 888's tenant gets a new,
    empty row. (With one shared tenant both installations are the operator's, and
    GitHub's word that the repository moved is followed: see the transfer test.)
    """
    if hook.mode != "oauth":
        pytest.skip("one shared tenant: both installations belong to the same owner")
    repo = owned_repository()
    introduce_stranger(hook)
    hook.send(
        "installation_repositories",
        {"action": "added", "installation": STRANGER, "repositories_added": [REPOSITORY]},
    )
    hook.send(
        "repository", {"action": "transferred", "repository": REPOSITORY, "installation": STRANGER}
    )
    kept = Repository.get_by_id(repo.id)
    assert (kept.tenant_id, kept.installation_id, kept.active) == (
        repo.tenant_id,
        repo.installation_id,
        True,
    )
    assert TestRun.select().where(TestRun.repository == repo.id).count() == 1
    [theirs] = Repository.select().where(Repository.id != repo.id)
    assert theirs.tenant_id != repo.tenant_id
    assert TestRun.select().where(TestRun.repository == theirs.id).count() == 0


def test_a_rename_within_the_installation_keeps_history(hook):
    """repository renamed (same id, same installation): the row is renamed, its runs kept."""
    repo = owned_repository()
    renamed = dict(REPOSITORY, full_name="acme/sprockets")
    body = hook.send(
        "repository", {"action": "renamed", "repository": renamed, "installation": OWNER}
    ).get_json()
    assert body["status"] == "ok"
    row = Repository.get_by_id(repo.id)
    assert row.full_name == "acme/sprockets" and Repository.select().count() == 1
    assert TestRun.select().where(TestRun.repository == repo.id).count() == 1


def test_a_transfer_within_the_tenant_keeps_history(hook):
    """repository transferred to another installation of the same tenant: row and runs move."""
    repo = owned_repository()
    # The second account is the same owner's: its installation is in the repository's tenant.
    Installation.create(
        tenant=repo.tenant_id, installation_id=999, account_login="acme-labs", account_id=9002
    )
    moved = dict(REPOSITORY, full_name="acme-labs/widgets", owner={"login": "acme-labs"})
    labs = {"id": 999, "account": {"login": "acme-labs", "id": 9002, "type": "Organization"}}
    body = hook.send(
        "repository",
        {
            "action": "transferred",
            "changes": {"owner": {"from": {"organization": {"login": "acme"}}}},
            "repository": moved,
            "installation": labs,
        },
    ).get_json()
    assert body["status"] == "ok"
    row = Repository.get_by_id(repo.id)
    assert (row.full_name, row.installation.installation_id) == ("acme-labs/widgets", 999)
    assert TestRun.select().where(TestRun.repository == repo.id).count() == 1
    assert Repository.select().count() == 1


def test_a_reinstall_by_the_same_account_reuses_its_tenant(hook):
    """A new installation id for a known account id lands in that account's tenant."""
    hook.send("installation", {"action": "created", "installation": OWNER, "repositories": []})
    first = Installation.get(Installation.installation_id == INSTALLATION_ID)
    hook.send("installation", {"action": "deleted", "installation": OWNER})
    again = dict(OWNER, id=4321)
    hook.send("installation", {"action": "created", "installation": again, "repositories": []})
    second = Installation.get(Installation.installation_id == 4321)
    assert second.tenant_id == first.tenant_id and second.account_id == 9001


def test_new_accounts_get_their_own_tenant_only_with_oauth(hook):
    """One-workspace: every installation is the default tenant's; OAuth: a tenant per account."""
    hook.send("installation", {"action": "created", "installation": OWNER, "repositories": []})
    introduce_stranger(hook)
    ours = Installation.get(Installation.installation_id == INSTALLATION_ID)
    theirs = Installation.get(Installation.installation_id == STRANGER_ID)
    if hook.mode == "one-workspace":
        assert ours.tenant_id == theirs.tenant_id == default_tenant().id
    else:
        assert ours.tenant_id != theirs.tenant_id
        assert {t.slug for t in Tenant.select()} >= {"acme", "evil"}


def test_a_login_that_is_taken_as_a_slug_gets_a_unique_one(database):
    """An account named "default" does not join the default tenant: its slug is default-2."""
    from flakeguard.usecases.github_ownership import tenant_for_account

    default_tenant()
    tenant = tenant_for_account(1, "Default", per_account=True)
    assert tenant.slug == "default-2" and tenant.id != default_tenant().id


def test_a_cli_added_repository_is_adopted_by_name_only_in_its_tenant(hook):
    """A row with no GitHub id yet is found by name, in the installation's tenant only."""
    cli_repo = Repository.create(tenant=default_tenant(), full_name=REPO)
    hook.send(
        "installation", {"action": "created", "installation": OWNER, "repositories": [REPOSITORY]}
    )
    inst = Installation.get(Installation.installation_id == INSTALLATION_ID)
    row = Repository.get_by_id(cli_repo.id)
    if inst.tenant_id == default_tenant().id:
        assert (row.github_id, row.installation_id) == (55, inst.id)
    else:
        assert (row.github_id, row.installation_id) == (None, None)
        assert Repository.select().count() == 2
