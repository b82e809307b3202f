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
from flakeguard.usecases import outbox
from flakeguard.usecases.github import CHECK_RUN_NAME, RERUN_ACTION
from flakeguard.usecases.github_actions import record_pending_run
from models import (
    CheckRun,
    Installation,
    Repository,
    WebhookDelivery,
    db,
    default_tenant,
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


def _dig(payload: Payload, *path: str) -> Any:
    value: Any = payload
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _int(payload: Payload, *path: str) -> int | None:
    value = _dig(payload, *path)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _list(payload: Payload, key: str) -> list[Any]:
    value = payload.get(key)
    return value if isinstance(value, list) else []


def _str(payload: Payload, *path: str) -> str | None:
    value = _dig(payload, *path)
    return value if isinstance(value, str) and value else None


# -- installations and repositories ---------------------------------------------------------


def on_ping(payload: Payload) -> Outcome:
    """Answer GitHub's ping."""
    return Outcome(detail="pong", data={"zen": _str(payload, "zen") or ""})


def _upsert_installation(payload: Payload) -> Installation | None:
    installation_id = _int(payload, "installation", "id")
    if installation_id is None:
        return None
    login = (
        _str(payload, "installation", "account", "login")
        or _str(payload, "repository", "owner", "login")
        or ""
    )
    kind = _str(payload, "installation", "account", "type") or "Organization"
    inst = Installation.get_or_none(Installation.installation_id == installation_id)
    if inst is None:
        return Installation.create(
            tenant=default_tenant(),
            installation_id=installation_id,
            account_login=login[:100],
            account_type=kind[:20],
        )
    if login and (inst.account_login != login or inst.account_type != kind):
        inst.account_login, inst.account_type, inst.updated_at = login[:100], kind[:20], utcnow()
        inst.save()
    return inst


def _upsert_repository(item: Any, inst: Installation | None) -> Repository | None:
    if not isinstance(item, dict):
        return None
    full_name = item.get("full_name")
    if not isinstance(full_name, str) or "/" not in full_name:
        return None
    github_id = _int(item, "id")
    full_name = full_name[:200]
    repo = Repository.get_or_none(Repository.full_name == full_name)
    if github_id is not None:
        by_id = Repository.get_or_none(Repository.github_id == github_id)
        if by_id is not None and repo is None:
            repo = by_id  # renamed on GitHub: keep its history under the new name
        elif by_id is not None and repo is not None and by_id.id != repo.id:
            by_id.github_id = None  # the name now belongs to this repository id
            by_id.save()
    branch = item.get("default_branch")
    if repo is None:
        return Repository.create(
            tenant=inst.tenant if inst is not None else default_tenant(),
            full_name=full_name,
            github_id=github_id,
            installation=inst,
            default_branch=branch[:255] if isinstance(branch, str) and branch else "main",
        )
    repo.full_name = full_name
    repo.github_id = github_id if github_id is not None else repo.github_id
    if inst is not None:
        repo.installation = inst
    repo.active = True
    if isinstance(branch, str) and branch:
        repo.default_branch = branch[:255]
    repo.save()
    return repo


def _detach_repositories(items: list[Any], inst: Installation | None) -> int:
    names = [
        item["full_name"]
        for item in items
        if isinstance(item, dict) and isinstance(item.get("full_name"), str)
    ]
    if not names:
        return 0
    query = Repository.update(active=False, installation=None).where(
        Repository.full_name.in_(names)
    )
    if inst is not None:
        query = query.where((Repository.installation == inst) | Repository.installation.is_null())
    return query.execute()


def on_installation(payload: Payload) -> Outcome:
    """Keep the Installation row (and its repositories) in line with an ``installation`` event."""
    action = _str(payload, "action") or ""
    inst = _upsert_installation(payload)
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
    repos = [_upsert_repository(item, inst) for item in _list(payload, "repositories")]
    count = sum(1 for repo in repos if repo is not None)
    return Outcome(
        detail=f"installation {inst.installation_id} {action or 'updated'}",
        data={"repositories": count},
    )


def on_installation_repositories(payload: Payload) -> Outcome:
    """Add or detach repositories on an ``installation_repositories`` event."""
    inst = _upsert_installation(payload)
    if inst is None:
        return ignored("no installation in the payload")
    added = [_upsert_repository(item, inst) for item in _list(payload, "repositories_added")]
    removed = _detach_repositories(_list(payload, "repositories_removed"), inst)
    return Outcome(data={"added": sum(1 for repo in added if repo is not None), "removed": removed})


# -- work: Actions ingestion and check runs ------------------------------------------------


def _repository_for(payload: Payload) -> tuple[Repository | None, str]:
    inst = _upsert_installation(payload)
    if inst is None:
        return None, "no installation in the payload"
    if inst.suspended_at is not None or inst.deleted_at is not None:
        return None, f"installation {inst.installation_id} is suspended or deleted"
    repo = _upsert_repository(payload.get("repository"), inst)
    if repo is None:
        return None, "no repository in the payload"
    return repo, ""


def on_workflow_run(payload: Payload) -> Outcome:
    """A completed workflow run: record it as pending and enqueue artifact ingestion."""
    if _str(payload, "action") != "completed":
        return ignored("only completed workflow runs are ingested")
    run_id = _int(payload, "workflow_run", "id")
    if run_id is None:
        return ignored("no workflow_run id in the payload")
    attempt = _int(payload, "workflow_run", "run_attempt") or 1
    repo, why = _repository_for(payload)
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


def on_check_suite(payload: Payload) -> Outcome:
    """``check_suite`` rerequested: recompute our check run for the suite's head SHA."""
    if _str(payload, "action") != "rerequested":
        return ignored("only rerequested check suites are handled")
    return _recompute_check_run(payload, _str(payload, "check_suite", "head_sha"), new_run=True)


def on_check_run(payload: Payload) -> Outcome:
    """``check_run`` rerequested or our "Re-run analysis" action: recompute the check run."""
    action = _str(payload, "action")
    if action not in ("rerequested", "requested_action"):
        return ignored(f"check_run {action} is not handled")
    if _str(payload, "check_run", "name") not in (None, CHECK_RUN_NAME):
        return ignored("not our check run")
    if action == "requested_action":
        identifier = _str(payload, "requested_action", "identifier")
        if identifier != RERUN_ACTION:
            return ignored(f"unknown requested action {identifier!r}")
    sha = _str(payload, "check_run", "head_sha")
    return _recompute_check_run(payload, sha, new_run=action == "rerequested")


def _recompute_check_run(payload: Payload, sha: str | None, *, new_run: bool) -> Outcome:
    """Mark the check run of ``sha`` behind and want it updated."""
    if sha is None:
        return ignored("no head_sha in the payload")
    repo, why = _repository_for(payload)
    if repo is None:
        return ignored(why)
    request_check_run(repo, sha, new_run=new_run)
    return Outcome(jobs=[outbox.want(Job.UPDATE_CHECK_RUN, repository_id=repo.id, sha=sha)])
