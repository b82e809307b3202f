"""Who may approve, undo, dismiss or lift quarantines in a Slack workspace.

A workspace's policy is one of ``POLICY_MODES``: everyone (the default), the
members of one user group, or a list of users. It guards the ``GUARDED``
actions of requests from that workspace; assigning and proposing are open to
everyone. Set by ``flakeguard policy`` (the CLI), checked by
``flakeguard/usecases/quarantine.py:perform`` and by the digest's
"Approve all".
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

from flakeguard.errors import BadRequestError, ForbiddenError
from models import WorkspacePolicy, db, utcnow

# Actions a workspace policy restricts; assigning and proposing are open to everyone.
GUARDED = frozenset({"approve", "undo", "dismiss", "lift"})
POLICY_MODES = ("everyone", "usergroup", "users")

MembersOf = Callable[[str], Collection[str]]


def check_allowed(team_id: str, user_id: str, *, members_of: MembersOf | None = None) -> None:
    """Raise ForbiddenError unless the workspace policy lets ``user_id`` approve or undo."""
    policy = WorkspacePolicy.get_or_none(WorkspacePolicy.team_id == team_id)
    if policy is None or policy.mode == "everyone":
        return
    if policy.mode == "users":
        if user_id in (policy.users or []):
            return
        raise ForbiddenError("you are not allowed to approve or undo quarantines in this workspace")
    if policy.mode == "usergroup":
        if (
            policy.usergroup_id
            and members_of is not None
            and user_id in members_of(policy.usergroup_id)
        ):
            return
        group = f"<!subteam^{policy.usergroup_id}>" if policy.usergroup_id else "a user group"
        raise ForbiddenError(f"only members of {group} may approve or undo quarantines")
    raise ForbiddenError(f"unknown workspace policy {policy.mode!r}; ask an admin to fix it")


def get_policy(team_id: str) -> tuple[str, str | None, list[str]]:
    """(mode, usergroup id, users) of a workspace; everyone may act by default."""
    policy = WorkspacePolicy.get_or_none(WorkspacePolicy.team_id == team_id)
    if policy is None:
        return "everyone", None, []
    return policy.mode, policy.usergroup_id, list(policy.users or [])


def set_policy(
    team_id: str, mode: str, *, usergroup_id: str | None = None, users: Sequence[str] = ()
) -> WorkspacePolicy:
    """Set who may approve or undo in a workspace: everyone, a user group, or a list of users."""
    if mode not in POLICY_MODES:
        raise BadRequestError(f"policy mode must be one of {', '.join(POLICY_MODES)}")
    if mode == "usergroup" and not usergroup_id:
        raise BadRequestError("a usergroup policy needs the user group id (S...)")
    if mode == "users" and not users:
        raise BadRequestError("a users policy needs at least one Slack user id")
    values = {
        "mode": mode,
        "usergroup_id": usergroup_id if mode == "usergroup" else None,
        "users": list(users) if mode == "users" else [],
        "updated_at": utcnow(),
    }
    with db.atomic():
        policy = WorkspacePolicy.get_or_none(WorkspacePolicy.team_id == team_id)
        if policy is None:
            return WorkspacePolicy.create(team_id=team_id, **values)
        WorkspacePolicy.update(**values).where(WorkspacePolicy.id == policy.id).execute()
    return WorkspacePolicy.get_by_id(policy.id)
