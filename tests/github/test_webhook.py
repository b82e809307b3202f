"""/github/webhook: signatures, deliveries, installation sync, and the events that enqueue work."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models import CheckRun, IngestedArtifact, Installation, Repository, TestRun, WebhookDelivery
from tests.fakes.github import INSTALLATION_ID, REPO, make_zip, sign_webhook
from tests.github.helpers import SHA, add_result, installed_repo, junit

INSTALLATION = {"id": INSTALLATION_ID, "account": {"login": "acme", "type": "Organization"}}
REPOSITORY = {"id": 55, "full_name": REPO, "default_branch": "trunk", "owner": {"login": "acme"}}


def workflow_run(run_id: int = 31, attempt: int = 1, **extra):  # type: ignore[no-untyped-def]
    payload = {
        "action": "completed",
        "workflow_run": {
            "id": run_id,
            "run_attempt": attempt,
            "head_sha": SHA,
            "pull_requests": [],
        },
        "repository": REPOSITORY,
        "installation": INSTALLATION,
    }
    payload.update(extra)
    return payload


def rerequested(
    kind: str = "check_suite", repository: dict[str, Any] = REPOSITORY, **event: Any
) -> dict[str, Any]:
    """A ``rerequested`` check_suite (or check_run) event of ``SHA`` with ``event``'s fields."""
    return {
        "action": "rerequested",
        kind: {"head_sha": SHA, **event},
        "repository": repository,
        "installation": INSTALLATION,
    }


def test_missing_or_wrong_signature_is_401_and_stores_nothing(database, github_hook):
    """No signature, a wrong one, or one made with another secret: 401 and no row."""
    payload = {"action": "created", "installation": INSTALLATION}
    for kwargs in ({"signature": ""}, {"signature": "sha256=" + "0" * 64}, {"secret": "other"}):
        response = github_hook.send("installation", payload, **kwargs)
        assert response.status_code == 401
        assert response.get_json()["error"]["code"] == "bad_signature"
    assert WebhookDelivery.select().count() == 0 and Installation.select().count() == 0


def test_non_ascii_signature_is_401_with_one_warning_never_500(database, github_hook, caplog):
    """Attack: a non-ASCII X-Hub-Signature-256 (compare_digest raises on such a str) gets 401,
    one warning line, and stores nothing."""
    payload = {"action": "created", "installation": INSTALLATION}
    for forged in ("sha256=" + "\u00e9" * 64, "sha256=\u00ff" + "0" * 63):
        caplog.clear()
        response = github_hook.send("installation", payload, signature=forged)
        assert response.status_code == 401
        assert response.get_json()["error"]["code"] == "bad_signature"
        warnings = [r for r in caplog.records if r.levelname == "WARNING"]
        assert [r.getMessage() for r in warnings] == [
            "webhook refused: X-Hub-Signature-256 is not ASCII"
        ]
        assert not any(r.exc_info for r in caplog.records)
    assert WebhookDelivery.select().count() == 0 and Installation.select().count() == 0


def test_signature_is_checked_on_the_raw_body(database, github_http):
    """A body re-serialized after signing (same JSON, other bytes) fails the check."""
    body = json.dumps({"zen": "hi"}).encode()
    response = github_http.post(
        "/github/webhook",
        data=json.dumps({"zen": "hi"}, indent=2),
        headers={
            "X-GitHub-Event": "ping",
            "X-GitHub-Delivery": "d-1",
            "X-Hub-Signature-256": sign_webhook(body),
        },
    )
    assert response.status_code == 401


def test_ping_answers_and_records_the_delivery(database, github_hook):
    """ping: 200 and the delivery id is recorded as processed."""
    response = github_hook.send("ping", {"zen": "Keep it logically awesome."}, delivery="d-ping")
    assert response.status_code == 200 and response.get_json()["zen"].startswith("Keep")
    row = WebhookDelivery.get(WebhookDelivery.delivery_id == "d-ping")
    assert row.event == "ping" and row.processed_at is not None


def test_a_redelivery_is_a_no_op(database, github_hook, fake_github):
    """The same delivery id again answers 200 and enqueues nothing more."""
    repo = installed_repo()
    fake_github.add_workflow_run(31, head_sha=SHA)
    first = github_hook.send("workflow_run", workflow_run(), delivery="d-1")
    again = github_hook.send("workflow_run", workflow_run(), delivery="d-1")
    assert first.status_code == again.status_code == 200
    assert again.get_json()["status"] == "duplicate"
    assert len(fake_github.calls_to("GET", r"/actions/runs/31$")) == 1
    assert IngestedArtifact.select().where(IngestedArtifact.repository == repo).count() == 1


def test_unhandled_events_answer_204(database, github_hook):
    """An event FlakeGuard does not handle: 204, nothing stored."""
    response = github_hook.send("star", {"action": "created"})
    assert response.status_code == 204 and WebhookDelivery.select().count() == 0


def test_installation_lifecycle_keeps_rows_in_sync(database, github_hook):
    """created adds the installation and its repositories; suspend, unsuspend, delete follow."""
    created = {"action": "created", "installation": INSTALLATION, "repositories": [REPOSITORY]}
    assert github_hook.send("installation", created).status_code == 200
    inst = Installation.get(Installation.installation_id == INSTALLATION_ID)
    repo = Repository.get(Repository.full_name == REPO)
    assert (inst.account_login, repo.installation_id, repo.github_id, repo.active) == (
        "acme",
        inst.id,
        55,
        True,
    )
    github_hook.send("installation", {"action": "suspend", "installation": INSTALLATION})
    assert Installation.get_by_id(inst.id).suspended_at is not None
    github_hook.send("installation", {"action": "unsuspend", "installation": INSTALLATION})
    assert Installation.get_by_id(inst.id).suspended_at is None
    github_hook.send("installation", {"action": "deleted", "installation": INSTALLATION})
    assert Installation.get_by_id(inst.id).deleted_at is not None
    gone = Repository.get(Repository.full_name == REPO)
    assert (gone.active, gone.installation_id) == (False, None)


def test_installation_repositories_added_and_removed(database, github_hook):
    """Repositories added to the installation are attached; removed ones are detached."""
    other = {"id": 56, "full_name": "acme/gears"}
    github_hook.send(
        "installation_repositories",
        {
            "action": "added",
            "installation": INSTALLATION,
            "repositories_added": [REPOSITORY, other],
        },
    )
    assert {r.full_name for r in Repository.select().where(Repository.active)} == {
        REPO,
        "acme/gears",
    }
    github_hook.send(
        "installation_repositories",
        {"action": "removed", "installation": INSTALLATION, "repositories_removed": [other]},
    )
    assert {r.full_name for r in Repository.select().where(Repository.active)} == {REPO}


def test_payloads_without_optional_parts_are_ignored_never_500(database, github_hook):
    """No installation, no repository, no workflow_run, junk types: 200 ignored, no work."""
    cases = [
        (
            "workflow_run",
            {"action": "completed", "workflow_run": {"id": 5}, "repository": REPOSITORY},
        ),
        ("workflow_run", {"action": "completed", "installation": INSTALLATION}),
        ("workflow_run", {"action": "completed", "workflow_run": "nope", "installation": 3}),
        ("check_suite", {"action": "rerequested", "installation": INSTALLATION}),
        (
            "check_run",
            {
                "action": "requested_action",
                "check_run": {"head_sha": SHA},
                "requested_action": {"identifier": "other"},
                "installation": INSTALLATION,
            },
        ),
        ("installation", {"action": "created"}),
        ("installation_repositories", {"action": "added", "installation": {"id": "x"}}),
    ]
    for event, payload in cases:
        response = github_hook.send(event, payload)
        assert response.status_code == 200, (event, payload)
        assert response.get_json()["status"] == "ignored", (event, payload)
    assert IngestedArtifact.select().count() == 0 and CheckRun.select().count() == 0


def test_not_json_is_400(database, github_http):
    """A signed body that is not JSON is a 400, not a 500."""
    body = b"not json"
    response = github_http.post(
        "/github/webhook",
        data=body,
        headers={
            "X-GitHub-Event": "ping",
            "X-GitHub-Delivery": "d-x",
            "X-Hub-Signature-256": sign_webhook(body),
        },
    )
    assert response.status_code == 400


def test_workflow_run_completed_ingests_the_artifacts(database, github_hook, fake_github):
    """A completed workflow run is ingested by its task, analyzed, and gets its check run."""
    installed_repo()
    fake_github.add_workflow_run(31, head_sha=SHA, attempt=2)
    fake_github.add_artifact(31, "junit-report", make_zip({"r.xml": junit(2, 1)}))
    response = github_hook.send("workflow_run", workflow_run(attempt=2))
    assert response.get_json()["enqueued"] == ["ingest_workflow_run"]
    [run] = TestRun.select()
    assert (run.sha, run.attempt, run.source) == (SHA, 2, "github_actions")
    assert {a.status for a in IngestedArtifact.select()} == {"done"}
    # the analysis of the new run asks for the commit's check run: one, failing
    [check] = fake_github.check_runs.values()
    assert (check["head_sha"], check["conclusion"]) == (SHA, "failure")


def test_workflow_run_in_progress_is_ignored(database, github_hook):
    """Only completed workflow runs are ingested."""
    response = github_hook.send("workflow_run", workflow_run(action="requested"))
    assert response.get_json()["status"] == "ignored"


def test_check_suite_rerequested_recomputes_the_check_run(database, github_hook, fake_github):
    """check_suite rerequested: the FlakeGuard check run is computed and sent."""
    repo = installed_repo()
    add_result(repo, "test_a", "failed")
    assert github_hook.send("check_suite", rerequested()).status_code == 200
    [run] = fake_github.check_runs.values()
    assert (run["head_sha"], run["conclusion"]) == (SHA, "failure")
    row = CheckRun.get(CheckRun.head_sha == SHA)
    assert row.synced_version == row.version and row.github_id == run["id"]


def test_rerun_analysis_action_updates_the_same_check_run(database, github_hook, fake_github):
    """The "Re-run analysis" requested action updates our check run in place."""
    repo = installed_repo()
    add_result(repo, "test_a", "passed")
    github_hook.send("check_suite", rerequested())
    [run_id] = fake_github.check_runs
    action = {
        "action": "requested_action",
        "check_run": {"name": "FlakeGuard", "head_sha": SHA},
        "requested_action": {"identifier": "rerun-analysis"},
        "repository": REPOSITORY,
        "installation": INSTALLATION,
    }
    response = github_hook.send("check_run", action)
    assert response.get_json()["enqueued"] == ["update_check_run"]
    assert list(fake_github.check_runs) == [run_id]
    assert len(fake_github.calls_to("PATCH", rf"/check-runs/{run_id}$")) == 1


def test_another_apps_check_run_is_ignored(database, github_hook):
    """check_run events for other check runs are left alone."""
    installed_repo()
    payload = rerequested("check_run", name="build")
    assert github_hook.send("check_run", payload).get_json()["status"] == "ignored"


def test_a_renamed_repository_keeps_its_row(database, github_hook):
    """The same GitHub repository id under a new name renames the row (history kept)."""
    repo = installed_repo()
    renamed = dict(REPOSITORY, full_name="acme/sprockets")
    github_hook.send("workflow_run", workflow_run(repository=renamed, action="requested"))
    github_hook.send("check_suite", rerequested(repository=renamed))
    assert Repository.get_by_id(repo.id).full_name == "acme/sprockets"
    assert Repository.select().count() == 1


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
KEYS = (
    "action",
    "installation",
    "repository",
    "repositories",
    "repositories_added",
    "repositories_removed",
    "workflow_run",
    "check_suite",
    "check_run",
    "requested_action",
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    event=st.sampled_from(
        [
            "ping",
            "installation",
            "installation_repositories",
            "workflow_run",
            "check_suite",
            "check_run",
        ]
    ),
    payload=st.dictionaries(st.sampled_from(KEYS), JSON | st.just(INSTALLATION), max_size=6),
)
def test_any_json_object_gets_an_answer_never_a_500(database, github_hook, event, payload):
    """Whatever shape a signed payload has, the webhook answers 200 (handled or ignored)."""
    response = github_hook.send(event, payload)
    assert response.status_code == 200, (event, payload, response.get_data())
