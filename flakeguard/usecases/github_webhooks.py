"""GitHub webhook deliveries: record once, keep installations and repositories in sync, enqueue.

Each ``on_*`` function takes a parsed payload, changes the database and returns
an ``Outcome`` naming the effects it wants (outbox effects: jobs to run);
``process_delivery`` writes the change, the delivery record and the effects in
one transaction and enqueues only after the commit, so a redelivery is a no-op,
a failed handler leaves nothing half-written, and a job lost after the commit
is re-driven from its effect.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from peewee import IntegrityError

from flakeguard.jobs import Job
from flakeguard.usecases import check_actions, outbox, repo_files
from flakeguard.usecases import github_ownership as ownership
from flakeguard.usecases.github import CHECK_RUN_NAME, RERUN_ACTION
from flakeguard.usecases.github_actions import record_pending_run
from flakeguard.usecases.payload import int_at as _int
from flakeguard.usecases.payload import str_at as _str
from models import (
    CheckRun,
    Repository,
    WebhookDelivery,
    db,
    utcnow,
)

Payload = dict[str, Any]


@dataclass
class Outcome:
    """What a handler did: ``status`` ok | ignored | duplicate, a detail, the effects it wants."""

    status: str = "ok"
    detail: str = ""
    jobs: list[outbox.Wanted] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"status": self.status}
        if self.detail:
            body["detail"] = self.detail
        body.update(self.data)
        if self.jobs:
            body["enqueued"] = [str(wanted.job) for wanted in self.jobs]
        return body


def ignored(detail: str) -> Outcome:
    """An outcome for a payload we accept but have nothing to do with."""
    return Outcome(status="ignored", detail=detail)


def process_delivery(
    delivery_id: str, event: str, payload: Payload, handler: Callable[[Payload], Outcome]
) -> Outcome:
    """Record ``delivery_id`` and run ``handler`` in one transaction; a redelivery does nothing."""
    action = payload.get("action") if isinstance(payload.get("action"), str) else None
    with db.atomic():
        if WebhookDelivery.select().where(WebhookDelivery.delivery_id == delivery_id).exists():
            return Outcome(status="duplicate", detail=f"delivery {delivery_id} already handled")
        try:
            with db.atomic():
                delivery = WebhookDelivery.create(
                    delivery_id=delivery_id, event=event[:64], action=(action or "")[:64] or None
                )
        except IntegrityError:  # the same delivery raced in on another worker
            return Outcome(status="duplicate", detail=f"delivery {delivery_id} already handled")
        outcome = handler(payload)
        WebhookDelivery.update(processed_at=utcnow()).where(
            WebhookDelivery.id == delivery.id
        ).execute()
        outbox.record(outcome.jobs)
    outbox.dispatch(outcome.jobs)
    return outcome


# -- payload access: optional parts are missing in real payloads; never KeyError -----------


def _list(payload: Payload, key: str) -> list[Any]:
    value = payload.get(key)
    return value if isinstance(value, list) else []


# -- installations and repositories (who owns what: flakeguard.usecases.github_ownership) ---


def on_ping(payload: Payload, *, per_account: bool = False) -> Outcome:
    """Answer GitHub's ping."""
    return Outcome(detail="pong", data={"zen": _str(payload, "zen") or ""})


def on_installation(payload: Payload, *, per_account: bool = False) -> Outcome:
    """Keep the Installation row (and its repositories) in line with an ``installation`` event."""
    action = _str(payload, "action") or ""
    inst = ownership.upsert_installation(payload, per_account=per_account)
    if inst is None:
        return ignored("no installation in the payload")
    now = utcnow()
    if action == "deleted":
        inst.deleted_at, inst.updated_at = now, now
        inst.save()
        detached = (
            Repository.update(active=False, installation=None)
            .where(Repository.installation == inst)
            .execute()
        )
        return Outcome(
            detail=f"installation {inst.installation_id} deleted", data={"repositories": detached}
        )
    if action == "suspend":
        inst.suspended_at, inst.updated_at = now, now
        inst.save()
        return Outcome(detail=f"installation {inst.installation_id} suspended")
    inst.suspended_at = None
    inst.deleted_at = None
    inst.updated_at = now
    inst.save()
    repos = [ownership.attach_repository(item, inst)[0] for item in _list(payload, "repositories")]
    count = sum(1 for repo in repos if repo is not None)
    return Outcome(
        detail=f"installation {inst.installation_id} {action or 'updated'}",
        data={"repositories": count},
    )


def on_installation_repositories(payload: Payload, *, per_account: bool = False) -> Outcome:
    """Add or detach repositories on an ``installation_repositories`` event."""
    inst = ownership.upsert_installation(payload, per_account=per_account)
    if inst is None:
        return ignored("no installation in the payload")
    added = [
        ownership.attach_repository(item, inst)[0] for item in _list(payload, "repositories_added")
    ]
    removed = ownership.detach_repositories(_list(payload, "repositories_removed"), inst)
    return Outcome(data={"added": sum(1 for repo in added if repo is not None), "removed": removed})


def on_repository(payload: Payload, *, per_account: bool = False) -> Outcome:
    """``repository`` renamed, transferred or edited: follow it by its GitHub id, history kept.

    A rename (or a new default branch) applies only to a repository of the
    sending installation. A transfer is sent to the installation that now holds
    the repository: within one tenant its row moves there with its history; a
    transfer into another tenant starts a new row there and leaves the old
    tenant's row (and its history) alone.
    """
    action = _str(payload, "action") or ""
    if action not in ("renamed", "transferred", "edited"):
        return ignored(f"repository {action} is not handled")
    inst = ownership.live_installation(payload, per_account=per_account)
    if isinstance(inst, str):
        return ignored(inst)
    claim = action == "transferred"
    repo, why = ownership.attach_repository(payload.get("repository"), inst, claim=claim)
    if repo is None:
        return ignored(why)
    return Outcome(detail=f"repository {action}", data={"repository": repo.full_name})


# -- work: Actions ingestion and check runs ------------------------------------------------


def _repository_for(payload: Payload, per_account: bool) -> tuple[Repository | None, str]:
    inst = ownership.live_installation(payload, per_account=per_account)
    if isinstance(inst, str):
        return None, inst
    return ownership.attach_repository(payload.get("repository"), inst, claim=False)


def on_workflow_run(payload: Payload, *, per_account: bool = False) -> Outcome:
    """A completed workflow run: record it as pending and enqueue artifact ingestion."""
    if _str(payload, "action") != "completed":
        return ignored("only completed workflow runs are ingested")
    run_id = _int(payload, "workflow_run", "id")
    if run_id is None:
        return ignored("no workflow_run id in the payload")
    attempt = _int(payload, "workflow_run", "run_attempt") or 1
    repo, why = _repository_for(payload, per_account)
    if repo is None:
        return ignored(why)
    record_pending_run(repo, run_id, attempt)
    job = outbox.want(
        Job.INGEST_WORKFLOW_RUN, repository_id=repo.id, workflow_run_id=run_id, run_attempt=attempt
    )
    return Outcome(jobs=[job])


def request_check_run(repository: Repository, sha: str, *, new_run: bool = False) -> CheckRun:
    """Mark our check run on ``sha`` as behind (a new GitHub check run when ``new_run``)."""
    row, _ = CheckRun.get_or_create(repository=repository, head_sha=sha)
    fields: dict[Any, Any] = {CheckRun.version: CheckRun.version + 1, CheckRun.updated_at: utcnow()}
    if new_run:
        fields[CheckRun.github_id] = None
    CheckRun.update(fields).where(CheckRun.id == row.id).execute()
    return row


def on_check_suite(payload: Payload, *, per_account: bool = False) -> Outcome:
    """``check_suite`` rerequested: recompute our check run for the suite's head SHA."""
    if _str(payload, "action") != "rerequested":
        return ignored("only rerequested check suites are handled")
    return _recompute_check_run(
        payload, _str(payload, "check_suite", "head_sha"), new_run=True, per_account=per_account
    )


def on_check_run(payload: Payload, *, per_account: bool = False) -> Outcome:
    """``check_run`` rerequested or our "Re-run analysis" action: recompute the check run."""
    action = _str(payload, "action")
    if action not in ("rerequested", "requested_action"):
        return ignored(f"check_run {action} is not handled")
    if _str(payload, "check_run", "name") not in (None, CHECK_RUN_NAME):
        return ignored("not our check run")
    if action == "requested_action":
        identifier = _str(payload, "requested_action", "identifier")
        requested = check_actions.parse(identifier, _str(payload, "sender", "login"))
        if requested is not None:
            return _requested_action(payload, requested, per_account=per_account)
        if identifier != RERUN_ACTION:
            return ignored(f"unknown requested action {identifier!r}")
    sha = _str(payload, "check_run", "head_sha")
    return _recompute_check_run(
        payload, sha, new_run=action == "rerequested", per_account=per_account
    )


def _requested_action(
    payload: Payload, requested: check_actions.Requested, *, per_account: bool
) -> Outcome:
    """Quarantine / Dismiss / Open issue from the check run: run it as a job."""
    repo, why = _repository_for(payload, per_account)
    if repo is None:
        return ignored(why)
    sha = _str(payload, "check_run", "head_sha") or ""
    key = f"{_int(payload, 'check_run', 'id') or 0}:{requested.verb}:{requested.login}"
    job = check_actions.want(requested, repo, sha, key)
    if job is None:
        return ignored(f"quarantine {requested.quarantine_id} is not of {repo.full_name}")
    return Outcome(detail=f"{requested.verb} requested by {requested.login}", jobs=[job])


def _recompute_check_run(
    payload: Payload, sha: str | None, *, new_run: bool, per_account: bool
) -> Outcome:
    """Mark the check run of ``sha`` behind and want it updated."""
    if sha is None:
        return ignored("no head_sha in the payload")
    repo, why = _repository_for(payload, per_account)
    if repo is None:
        return ignored(why)
    request_check_run(repo, sha, new_run=new_run)
    return Outcome(jobs=[outbox.want(Job.UPDATE_CHECK_RUN, repository_id=repo.id, sha=sha)])


def on_push(payload: Payload, *, per_account: bool = False) -> Outcome:
    """A push to the default branch that touches CODEOWNERS or .flakeguard.yml: re-read them.

    Pushes to other branches are ignored: what a branch or pull request says of its
    owners or settings never applies before it is merged.
    """
    repo, why = _repository_for(payload, per_account)
    if repo is None:
        return ignored(why)
    if _str(payload, "ref") != f"refs/heads/{repo.default_branch}":
        return ignored("not a push to the default branch")
    commits = [c for c in _list(payload, "commits") if isinstance(c, dict)]
    # GitHub lists at most 20 commits; a longer push may touch the files unseen.
    if commits and len(commits) < 20:
        touched = {
            path
            for commit in commits
            for key in ("added", "modified", "removed")
            for path in (commit.get(key) if isinstance(commit.get(key), list) else [])
        }
        if not touched & set(repo_files.WATCHED_PATHS):
            return ignored("the push does not change CODEOWNERS or .flakeguard.yml")
    return Outcome(detail="repository files refreshed", jobs=[repo_files.want_refresh(repo)])
