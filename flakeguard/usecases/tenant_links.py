"""Linking a Slack workspace to a tenant: by an operator, or with proof from GitHub.

A workspace installed through Slack OAuth starts unlinked and sees nothing.
It is linked either by an operator (``flakeguard tenant link TEAM SLUG``) or by
``/flakeguard connect``: the Slack user gets a single-use link, expiring after
``STATE_TTL``, bound to their team and user; it leads through GitHub's
user-to-server OAuth for FlakeGuard's GitHub App, and the workspace is linked to
the tenant of an installation of this App whose account the GitHub user
administers (an organisation: an active ``admin`` membership; a user account:
their own). The callback links nothing: it issues a single-use confirmation
token (``CONFIRM_TTL``, bound to the state row, tenant and GitHub login) and
only ``confirm_link`` with it links, so a link sent to someone else's admin
cannot silently attach the sender's workspace to the admin's tenant. Every
refusal changes nothing but the (spent) state.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from flakeguard.errors import BadRequestError, ConflictError, ForbiddenError, NotFoundError
from flakeguard.usecases.one_time import secret_hash as _hash
from flakeguard.usecases.one_time import spend_once
from models import Installation, SlackWorkspace, Tenant, WorkspaceLinkState, db, utcnow
from models.base import as_aware

STATE_TTL = timedelta(minutes=10)
CONFIRM_TTL = timedelta(minutes=10)
OPERATOR = "operator"
BAD_STATE = (
    "This link is not valid: it expired, was already used, or was never issued. "
    "Run /flakeguard connect in Slack for a new one."
)
BAD_CONFIRMATION = (
    "This confirmation is not valid: it expired, was already used, or was never issued. "
    "Nothing was linked. Run /flakeguard connect in Slack to start again."
)
LINKED_ELSEWHERE = (
    "Nothing was linked: this Slack workspace is already linked to another "
    "tenant. An operator can unlink it first (flakeguard tenant unlink)."
)
NOT_ADMIN = (
    "Nothing was linked: your GitHub account does not administer an account where "
    "FlakeGuard's GitHub App is installed."
)


@dataclass(frozen=True)
class GitHubUser:
    """The GitHub user who signed in."""

    login: str
    id: int


@dataclass(frozen=True)
class UserInstallation:
    """One installation listed by ``GET /user/installations``."""

    id: int
    app_id: int | None
    account_login: str
    account_id: int | None
    account_type: str


class GitHubUserPort(Protocol):
    """What the link flow asks GitHub, as the signed-in user (the adapter implements it)."""

    def exchange_code(self, code: str) -> str:
        """The user's access token for an OAuth ``code`` (BadRequestError when refused)."""
        ...

    def user(self, token: str) -> GitHubUser: ...

    def installations(self, token: str) -> list[UserInstallation]: ...

    def org_membership(self, token: str, org: str) -> tuple[str, str] | None:
        """(role, state) of the user in ``org``, or None when they are not a member."""
        ...


@dataclass(frozen=True)
class LinkResult:
    """What a link did: which workspace, which tenant, on whose proof."""

    team_id: str
    workspace_name: str
    tenant_slug: str
    tenant_name: str
    account_login: str
    linked_by: str
    already: bool = False


@dataclass(frozen=True)
class PendingLink:
    """What a confirmation would link, and the single-use token that confirms it."""

    team_id: str
    workspace_name: str
    account_login: str
    github_login: str
    confirm_token: str


# -- workspaces and tenants (operator) -------------------------------------------------------


def record_workspace(team_id: str, *, enterprise_id: str = "", name: str = "") -> SlackWorkspace:
    """The workspace row of an OAuth install: created unlinked, name kept current."""
    workspace, created = SlackWorkspace.get_or_create(
        team_id=team_id[:32], defaults={"enterprise_id": enterprise_id[:32], "name": name[:200]}
    )
    if not created and name and workspace.name != name[:200]:
        workspace.name = name[:200]
        workspace.save()
    return workspace


def list_tenants() -> list[tuple[Tenant, list[SlackWorkspace], list[Installation]]]:
    """Every tenant with its workspaces and installations, then the unlinked workspaces."""
    rows = []
    for tenant in Tenant.select().order_by(Tenant.slug):
        workspaces = list(tenant.workspaces.order_by(SlackWorkspace.team_id))
        installations = list(tenant.installations.order_by(Installation.installation_id))
        rows.append((tenant, workspaces, installations))
    return rows


def unlinked_workspaces() -> list[SlackWorkspace]:
    """Workspaces nobody linked yet (they see nothing)."""
    return list(
        SlackWorkspace.select()
        .where(SlackWorkspace.tenant.is_null())
        .order_by(SlackWorkspace.team_id)
    )


def create_tenant(slug: str, *, name: str = "") -> Tenant:
    """A new tenant; ConflictError when the slug is taken, BadRequestError when malformed."""
    slug = slug.strip().lower()
    if not slug or len(slug) > 64 or not all(c.isalnum() or c in "-_." for c in slug):
        raise BadRequestError("a tenant slug is 1-64 letters, digits, '-', '_' or '.'")
    if Tenant.select().where(Tenant.slug == slug).exists():
        raise ConflictError(f"tenant {slug} already exists")
    return Tenant.create(slug=slug, name=(name or slug)[:200])


def tenant_by_slug(slug: str) -> Tenant:
    """The tenant ``slug``, or NotFoundError."""
    tenant = Tenant.get_or_none(Tenant.slug == slug.strip().lower())
    if tenant is None:
        raise NotFoundError(f"no tenant {slug}")
    return tenant


def link_workspace(team_id: str, slug: str, *, linked_by: str = OPERATOR) -> SlackWorkspace:
    """Link workspace ``team_id`` to tenant ``slug`` (the workspace row is made if new)."""
    tenant = tenant_by_slug(slug)
    with db.atomic():
        workspace, _ = SlackWorkspace.get_or_create(team_id=team_id.strip()[:32])
        workspace.tenant, workspace.linked_by, workspace.linked_at = tenant, linked_by, utcnow()
        workspace.save()
    return workspace


def unlink_workspace(team_id: str) -> SlackWorkspace:
    """Unlink workspace ``team_id``: it sees nothing until linked again."""
    workspace = SlackWorkspace.get_or_none(SlackWorkspace.team_id == team_id.strip())
    if workspace is None:
        raise NotFoundError(f"no Slack workspace {team_id}")
    workspace.tenant, workspace.linked_by, workspace.linked_at = None, "", None
    workspace.save()
    return workspace


def workspace_tenant(team_id: str) -> Tenant | None:
    """The tenant workspace ``team_id`` is linked to, if any."""
    workspace = SlackWorkspace.get_or_none(SlackWorkspace.team_id == team_id)
    return workspace.tenant if workspace is not None and workspace.tenant_id else None


# -- the link flow ---------------------------------------------------------------------------


def issue_link_state(
    team_id: str,
    user_id: str,
    *,
    enterprise_id: str = "",
    account: str = "",
    now: datetime | None = None,
) -> str:
    """A new single-use state bound to the Slack team and user (only its hash is stored)."""
    now = now or utcnow()
    state = secrets.token_urlsafe(32)
    with db.atomic():
        WorkspaceLinkState.delete().where(WorkspaceLinkState.expires_at < now).execute()
        WorkspaceLinkState.create(
            state_hash=_hash(state),
            team_id=team_id[:32],
            enterprise_id=enterprise_id[:32],
            user_id=user_id[:32],
            account=account[:100],
            expires_at=now + STATE_TTL,
            created_at=now,
        )
    return state


def check_link_state(state: str, *, now: datetime | None = None) -> WorkspaceLinkState:
    """The pending state (not used, not expired), without spending it; BadRequestError else."""
    now = now or utcnow()
    row = WorkspaceLinkState.get_or_none(WorkspaceLinkState.state_hash == _hash(state or ""))
    if row is None or row.used_at is not None or as_aware(row.expires_at) < as_aware(now):
        raise BadRequestError(BAD_STATE)
    return row


def spend_link_state(state: str, *, now: datetime | None = None) -> WorkspaceLinkState:
    """Spend the state exactly once (a race between two callbacks has one winner)."""
    now = now or utcnow()
    return spend_once(
        WorkspaceLinkState,
        WorkspaceLinkState.state_hash == _hash(state or ""),
        used=WorkspaceLinkState.used_at,
        expires=WorkspaceLinkState.expires_at,
        now=now,
        refusal=BAD_STATE,
    )


def _administers(
    port: GitHubUserPort, token: str, user: GitHubUser, inst: UserInstallation
) -> bool:
    if inst.account_type == "User":
        return _is_account(user, inst)
    membership = port.org_membership(token, inst.account_login)
    return membership is not None and membership == ("admin", "active")


def is_member(port: GitHubUserPort, token: str, user: GitHubUser, inst: UserInstallation) -> bool:
    """Whether ``user`` belongs to the installation's account: is it, or an active org member.

    ``GET /user/installations`` also lists installations the user reaches only
    as an outside collaborator on one repository; those are not theirs.
    """
    if inst.account_type == "User":
        return _is_account(user, inst)
    membership = port.org_membership(token, inst.account_login)
    return membership is not None and membership[1] == "active"


def _is_account(user: GitHubUser, inst: UserInstallation) -> bool:
    return inst.account_id == user.id and inst.account_login.lower() == user.login.lower()


def verify_link(
    state: str,
    code: str,
    port: GitHubUserPort,
    *,
    app_id: int | None,
    now: datetime | None = None,
) -> PendingLink:
    """Spend ``state``, prove who the GitHub user administers; link nothing, issue a token."""
    pending = spend_link_state(state)
    if not code:
        raise BadRequestError("GitHub sent no sign-in code back. Nothing was linked.")
    token = port.exchange_code(code)
    user = port.user(token)
    listed = [i for i in port.installations(token) if app_id is not None and i.app_id == app_id]
    if pending.account:
        listed = [i for i in listed if i.account_login.lower() == pending.account.lower()]
    known = {
        inst.installation_id: inst
        for inst in Installation.select().where(
            Installation.installation_id.in_([i.id for i in listed] or [0])
            & Installation.deleted_at.is_null()
        )
    }
    proven = [
        (i, known[i.id]) for i in listed if i.id in known and _administers(port, token, user, i)
    ]
    if not proven:
        raise ForbiddenError(NOT_ADMIN)
    tenants = {inst.tenant_id for _, inst in proven}
    if len(tenants) > 1:
        accounts = ", ".join(sorted(i.account_login for i, _ in proven))
        raise BadRequestError(
            "Nothing was linked: you administer several accounts with FlakeGuard installed "
            f"({accounts}). Run /flakeguard connect ACCOUNT with the one to link."
        )
    listed_inst, inst = proven[0]
    _refuse_if_linked_elsewhere(pending.team_id, inst.tenant_id)
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    pending.confirm_hash = _hash(token)
    pending.confirm_tenant_id = inst.tenant_id
    pending.confirm_account = listed_inst.account_login[:100]
    pending.confirm_login = user.login[:200]
    pending.confirm_expires_at = now + CONFIRM_TTL
    pending.save()
    workspace = SlackWorkspace.get_or_none(SlackWorkspace.team_id == pending.team_id)
    return PendingLink(
        team_id=pending.team_id,
        workspace_name=workspace.name if workspace is not None else "",
        account_login=pending.confirm_account,
        github_login=pending.confirm_login,
        confirm_token=token,
    )


def confirm_link(state: str, token: str, *, now: datetime | None = None) -> LinkResult:
    """Spend the confirmation ``token`` of ``state`` exactly once, then link the workspace."""
    now = now or utcnow()
    pending = spend_once(
        WorkspaceLinkState,
        WorkspaceLinkState.state_hash == _hash(state or ""),
        WorkspaceLinkState.confirm_hash == _hash(token or ""),
        used=WorkspaceLinkState.confirmed_at,
        expires=WorkspaceLinkState.confirm_expires_at,
        now=now,
        refusal=BAD_CONFIRMATION,
    )
    tenant = Tenant.get_or_none(Tenant.id == pending.confirm_tenant_id)
    if tenant is None:  # removed by an operator since the callback
        raise BadRequestError(BAD_CONFIRMATION)
    return _link(pending, tenant, pending.confirm_account, pending.confirm_login)


def cancel_link(state: str) -> None:
    """Drop the pending confirmation of ``state`` (nothing else changes)."""
    WorkspaceLinkState.update(confirm_hash=None).where(
        (WorkspaceLinkState.state_hash == _hash(state or ""))
        & WorkspaceLinkState.confirmed_at.is_null()
    ).execute()


def _refuse_if_linked_elsewhere(team_id: str, tenant_id: int) -> None:
    workspace = SlackWorkspace.get_or_none(SlackWorkspace.team_id == team_id)
    if workspace is not None and workspace.tenant_id not in (None, tenant_id):
        raise ConflictError(LINKED_ELSEWHERE)


def _link(pending: WorkspaceLinkState, tenant: Tenant, account: str, login: str) -> LinkResult:
    linked_by = f"github:{login}"[:200]
    with db.atomic():
        workspace, _ = SlackWorkspace.get_or_create(
            team_id=pending.team_id, defaults={"enterprise_id": pending.enterprise_id}
        )
        if workspace.tenant_id is not None and workspace.tenant_id != tenant.id:
            raise ConflictError(LINKED_ELSEWHERE)
        already = workspace.tenant_id == tenant.id
        if not already:
            workspace.tenant, workspace.linked_by, workspace.linked_at = tenant, linked_by, utcnow()
            workspace.save()
    return LinkResult(
        team_id=workspace.team_id,
        workspace_name=workspace.name,
        tenant_slug=tenant.slug,
        tenant_name=tenant.name,
        account_login=account,
        linked_by=workspace.linked_by,
        already=already,
    )
