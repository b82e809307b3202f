"""Who is asking and whose data they may see: a Slack request resolved into a Principal.

The workspace whose data is in scope is the workspace of the installation
that received the request (Bolt's ``context.authorize_result``: the bot
token's own workspace from ``auth.test`` with one token, the stored
installation with OAuth), never a team id the payload merely names.

- One bot token: the token's workspace is the only one. On first use it is
  linked to the default tenant (``linked_by="single-token"``), which owns
  every repository of such a setup; a request naming any other team, or an
  enterprise the token is not part of, is refused.
- OAuth: a workspace's tenant is ``SlackWorkspace.tenant``; a workspace
  nobody has linked yet resolves to a Principal without a tenant, which
  sees nothing.
- A user whose own team is neither the workspace nor its enterprise (a
  Slack Connect guest from another organisation) is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from flakeguard.errors import ForbiddenError
from models import SlackWorkspace, Tenant, db, default_tenant, utcnow

SINGLE_TOKEN = "single-token"
# Say nothing about what exists: the same words for every refused request.
REFUSED = "FlakeGuard does not serve this request here"


class RefusedError(ForbiddenError):
    """A request from outside the workspace it names: the reply reveals nothing, the log why."""

    def __init__(self, why: str) -> None:
        super().__init__(REFUSED)
        self.why = why


@dataclass(frozen=True)
class Principal:
    """Who is asking: the workspace's tenant (None: not linked yet), workspace, enterprise, user."""

    tenant_id: int | None
    team_id: str
    enterprise_id: str
    user_id: str
    user_team_id: str
    source: str = "slack"

    @property
    def linked(self) -> bool:
        """True when the workspace belongs to a tenant (it sees that tenant's repositories)."""
        return self.tenant_id is not None


def resolve_slack(
    *,
    installed_team_id: str,
    installed_enterprise_id: str,
    team_id: str,
    enterprise_id: str,
    user_id: str,
    user_team_id: str,
    single_token: bool,
) -> Principal:
    """Resolve a signed Slack request into a Principal, or raise RefusedError.

    ``installed_*`` name the installation that received the request; the
    others are what the payload says (``user_team_id`` is ``user.team_id`` of
    interactive payloads; slash commands carry none: pass "").
    """
    installed_team_id = installed_team_id or ""
    installed_enterprise_id = installed_enterprise_id or ""
    team_id, enterprise_id = team_id or "", enterprise_id or ""
    if not installed_team_id:
        raise RefusedError("no workspace installation received the request")
    if not team_id or team_id != installed_team_id:
        raise RefusedError(f"request names team {team_id!r}, installed in {installed_team_id!r}")
    if enterprise_id != installed_enterprise_id:
        raise RefusedError(
            f"request names enterprise {enterprise_id!r}, installation is in "
            f"{installed_enterprise_id!r}"
        )
    if not user_id:
        raise RefusedError("request names no user")
    workspace = (
        ensure_single_token_workspace(team_id, enterprise_id)
        if single_token
        else SlackWorkspace.get_or_none(SlackWorkspace.team_id == team_id)
    )
    known_enterprise = (workspace.enterprise_id if workspace else "") or enterprise_id
    if (
        workspace is not None
        and workspace.enterprise_id
        and workspace.enterprise_id != enterprise_id
    ):
        raise RefusedError(
            f"workspace {team_id} belongs to enterprise {workspace.enterprise_id!r}, "
            f"request names {enterprise_id!r}"
        )
    # Enterprise Grid reports user.team_id as the org id (E...): that is the same organisation.
    if user_team_id and user_team_id not in {team_id, known_enterprise} - {""}:
        raise RefusedError(f"user {user_id} of team {user_team_id!r} is a guest of {team_id}")
    return Principal(
        tenant_id=workspace.tenant_id if workspace else None,
        team_id=team_id,
        enterprise_id=enterprise_id,
        user_id=user_id,
        user_team_id=user_team_id or team_id,
    )


def ensure_single_token_workspace(team_id: str, enterprise_id: str = "") -> SlackWorkspace:
    """The bot token's workspace, linked to the default tenant on first use."""
    workspace = SlackWorkspace.get_or_none(SlackWorkspace.team_id == team_id)
    if workspace is not None and workspace.tenant_id is not None:
        return workspace
    with db.atomic():
        tenant = default_tenant()
        if workspace is None:
            return SlackWorkspace.create(
                team_id=team_id,
                enterprise_id=enterprise_id,
                tenant=tenant,
                linked_by=SINGLE_TOKEN,
                linked_at=utcnow(),
            )
        SlackWorkspace.update(tenant=tenant, linked_by=SINGLE_TOKEN, linked_at=utcnow()).where(
            SlackWorkspace.id == workspace.id, SlackWorkspace.tenant.is_null()
        ).execute()
    return SlackWorkspace.get_by_id(workspace.id)


def tenant_of_team(team_id: str) -> int | None:
    """The tenant id a workspace is linked to, or None (unknown or not linked yet)."""
    workspace = SlackWorkspace.get_or_none(SlackWorkspace.team_id == team_id)
    return workspace.tenant_id if workspace else None


def tenant_for_cli(slug: str | None) -> Tenant:
    """The tenant a terminal command acts for: ``slug``, else the only tenant there is.

    Raises LookupError with one line when the slug is unknown or, with no
    slug, when there are several tenants to choose from.
    """
    if slug:
        tenant = Tenant.get_or_none(Tenant.slug == slug)
        if tenant is None:
            raise LookupError(f"unknown tenant {slug!r} (see `flakeguard tenant list`)")
        return tenant
    tenants = list(Tenant.select().order_by(Tenant.id).limit(2))
    if not tenants:
        return default_tenant()
    if len(tenants) > 1:
        raise LookupError("several tenants: say which with --tenant SLUG")
    return tenants[0]
