"""The check run's requested actions: Quarantine, Dismiss, Open issue, from GitHub.

The webhook (``check_run`` ``requested_action``, signature verified, delivery recorded)
only checks that the quarantine is of the repository the event is about and records
the effect ``check_run_action``; the task runs :func:`run_action`, which acts through
the one quarantine use case (source ``github``, actor ``github:<login>``) so the audit
trail, the Slack alert and the issue are updated as for a click in Slack.

The acting GitHub user is held to the tenant's policy: when a Slack workspace of the
tenant restricts who may approve or dismiss, the GitHub login must be linked
(``/flakeguard link``) to a Slack user that the policy allows.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from peewee import fn

from flakeguard.errors import ConflictError, ForbiddenError, NotFoundError
from flakeguard.jobs import Job
from flakeguard.usecases import outbox, policy
from flakeguard.usecases import quarantine as quarantine_uc
from flakeguard.usecases.github import CHECK_ACTIONS
from models import CheckRun, Quarantine, Repository, SlackWorkspace, UserLink, db, utcnow

log = logging.getLogger(__name__)

IDENTIFIER = re.compile(r"(quarantine|dismiss|issue):([0-9]{1,10})")
LOGIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:\[bot\])?")


@dataclass(frozen=True)
class Requested:
    """A parsed requested action: what, on which quarantine, by whom."""

    verb: str
    quarantine_id: int
    login: str


def parse(identifier: str | None, login: str | None) -> Requested | None:
    """The action an identifier names (``quarantine:12``), or None when it is not ours."""
    match = IDENTIFIER.fullmatch(identifier or "")
    if match is None or not login or not LOGIN.fullmatch(login):
        return None
    return Requested(match.group(1), int(match.group(2)), login)


def want(
    requested: Requested, repository: Repository, sha: str, delivery_key: str
) -> outbox.Wanted | None:
    """The effect running ``requested``, or None when the quarantine is not the repository's."""
    found = Quarantine.select(Quarantine.id).where(
        Quarantine.id == requested.quarantine_id, Quarantine.repository == repository.id
    )
    if not found.exists():
        return None
    return outbox.want(
        Job.CHECK_RUN_ACTION,
        quarantine_id=requested.quarantine_id,
        verb=requested.verb,
        login=requested.login,
        sha=sha[:40],
        key=delivery_key[:64],
    )


def _linked_users(tenant_id: int, login: str) -> dict[str, str]:
    """The tenant's workspaces -> the Slack user linked to ``login`` there."""
    rows = (
        UserLink.select(UserLink.team_id, UserLink.slack_user_id)
        .join(SlackWorkspace, on=(SlackWorkspace.team_id == UserLink.team_id))
        .where(SlackWorkspace.tenant == tenant_id, fn.LOWER(UserLink.github_login) == login.lower())
        .tuples()
    )
    return dict(rows)


def check_policy(tenant_id: int, login: str) -> None:
    """ForbiddenError unless every workspace policy of the tenant lets ``login`` act."""
    linked = _linked_users(tenant_id, login)
    teams = [
        team
        for (team,) in SlackWorkspace.select(SlackWorkspace.team_id)
        .where(SlackWorkspace.tenant == tenant_id)
        .tuples()
    ]
    for team in teams:
        mode, _group, _users = policy.get_policy(team)
        if mode == "everyone":
            continue
        user = linked.get(team)
        if user is None:
            raise ForbiddenError(
                f"GitHub user {login} is not linked to a Slack user allowed to act "
                "(/flakeguard link)"
            )
        policy.check_allowed(team, user)


def run_action(quarantine_id: int, verb: str, login: str, sha: str, key: str) -> dict[str, object]:
    """Do a requested action of GitHub user ``login``; the result, or why nothing changed."""
    q = Quarantine.get_or_none(Quarantine.id == quarantine_id)
    if q is None:
        return {"skipped": "the quarantine is gone"}
    repo = Repository.get_by_id(q.repository_id)
    actor = f"github:{login}"
    try:
        check_policy(repo.tenant_id, login)
        if verb == "issue":
            return {"issue": _request_issue(q.id)}
        outcome = quarantine_uc.perform(
            None,
            CHECK_ACTIONS[verb],
            quarantine_id=q.id,
            tenant_id=repo.tenant_id,
            actor=actor,
            source="github",
            reason="from the check run" if verb == "quarantine" else "",
            idempotency_key=f"github-action:{key}",
        )
    except (ForbiddenError, ConflictError, NotFoundError) as exc:
        log.info("check run action %s on quarantine %s by %s: %s", verb, q.id, login, exc.message)
        return {"refused": exc.message}
    if outcome.changed and sha:
        _refresh_check_run(repo, sha)
    return {"changed": outcome.changed, "state": outcome.quarantine.state}


def _refresh_check_run(repo: Repository, sha: str) -> None:
    """The check run of ``sha`` is behind: its buttons were for the state before."""
    with db.atomic():
        CheckRun.update(version=CheckRun.version + 1, updated_at=utcnow()).where(
            CheckRun.repository == repo.id, CheckRun.head_sha == sha
        ).execute()
        effects = outbox.record([outbox.want(Job.UPDATE_CHECK_RUN, repository_id=repo.id, sha=sha)])
    outbox.dispatch(effects)


def _request_issue(quarantine_id: int) -> bool:
    """Ask for the quarantine's GitHub issue now (it is otherwise opened at approval)."""
    with db.atomic():
        changed = (
            Quarantine.update(
                issue_requested_at=utcnow(),
                version=Quarantine.version + 1,
                updated_at=utcnow(),
            )
            .where(Quarantine.id == quarantine_id, Quarantine.issue_requested_at.is_null())
            .execute()
        )
        effects = (
            outbox.record(
                [
                    outbox.want(Job.MIRROR_QUARANTINE, quarantine_id=quarantine_id),
                    outbox.want(Job.REFRESH_SLACK_QUARANTINE, quarantine_id=quarantine_id),
                ]
            )
            if changed
            else []
        )
    outbox.dispatch(effects)
    return bool(changed)
