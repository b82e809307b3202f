"""Who may sign in to the dashboard, and as whom: one-time links, Slack and GitHub identities.

Every way in ends in a :class:`WebUser` row of exactly one tenant; the session
keeps its id and the tenant id, and :func:`signed_in` re-reads the row (so a
person removed with their tenant is signed out at the next request).

- ``flakeguard login`` (:func:`issue_login_link`): a local administrator of a
  tenant gets a single-use secret for the sign-in URL; only its SHA-256 is
  stored, it expires after ``LOGIN_TTL`` and :func:`redeem_login_link` spends
  it exactly once (a race between two clicks has one winner).
- Slack (OpenID Connect): the Slack user's workspace must be linked to a
  tenant (``SlackWorkspace``); the person acts as their Slack user id, so the
  workspace policy applies to their quarantine actions as to a click.
- GitHub (the App's user-to-server OAuth): the tenants of the App's
  installations the user can reach (``GET /user/installations``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from peewee import IntegrityError

from flakeguard.errors import BadRequestError, ForbiddenError
from flakeguard.usecases import tenant_links
from flakeguard.usecases.one_time import secret_hash as _hash
from flakeguard.usecases.one_time import spend_once
from flakeguard.usecases.tenancy import tenant_of_team
from models import Installation, Tenant, WebLoginToken, WebUser, db, utcnow

LOGIN_TTL = timedelta(minutes=10)
LOCAL = "local"
SLACK = "slack"
GITHUB = "github"
LOCAL_ADMIN = "admin"
BAD_LINK = (
    "This sign-in link is not valid: it expired, was already used, or was never issued. "
    "Run `flakeguard login` for a new one."
)
UNLINKED_WORKSPACE = (
    "Your Slack workspace is not linked to a FlakeGuard organisation yet. "
    "Run /flakeguard connect in Slack, or ask an operator (flakeguard tenant link)."
)
NO_INSTALLATION = (
    "Your GitHub account cannot reach an installation of FlakeGuard's GitHub App, "
    "so there is nothing for you to see here."
)


@dataclass(frozen=True)
class SlackIdentity:
    """What Slack's ``openid.connect.userInfo`` says about the person."""

    user_id: str
    team_id: str
    name: str


class SlackSignInPort(Protocol):
    """What Slack sign-in asks Slack (the web adapter implements it over slack_sdk)."""

    def identity(self, code: str, redirect_uri: str) -> SlackIdentity:
        """Exchange ``code`` and read the user (BadRequestError when Slack refuses)."""
        ...


@dataclass(frozen=True)
class SignedIn:
    """A signed-in person: whose tenant, who, and how they act on quarantines."""

    user_id: int
    tenant_id: int
    tenant_slug: str
    tenant_name: str
    provider: str
    subject: str
    name: str
    team_id: str
    generation: int = 0  # the session generation: sessions of an older one are over

    @property
    def creator(self) -> str:
        """How the API tokens this person creates name their creator (stable across renames)."""
        return f"web:{self.user_id}"

    @property
    def actor(self) -> str:
        """The actor of their quarantine actions: a Slack user id acts as in Slack."""
        return self.subject if self.provider == SLACK else f"{self.provider}:{self.name}"[:100]


def _person(
    tenant_id: int, provider: str, subject: str, *, name: str, team_id: str = ""
) -> WebUser:
    """The WebUser row of this identity in this tenant, created or refreshed; sign-in time set."""
    now = utcnow()
    subject = subject[:100]  # the column's width: looked up as it is stored
    with db.atomic():
        user = WebUser.get_or_none(
            WebUser.tenant == tenant_id, WebUser.provider == provider, WebUser.subject == subject
        )
        if user is None:
            try:
                with db.atomic():  # a savepoint: a lost race leaves the transaction usable
                    return WebUser.create(
                        tenant=tenant_id,
                        provider=provider,
                        subject=subject,
                        name=name[:200],
                        team_id=team_id[:32],
                        created_at=now,
                        last_sign_in_at=now,
                    )
            except IntegrityError:  # the same person's first sign-in, at the same time
                user = WebUser.get(
                    WebUser.tenant == tenant_id,
                    WebUser.provider == provider,
                    WebUser.subject == subject,
                )
        WebUser.update(name=name[:200], team_id=team_id[:32], last_sign_in_at=now).where(
            WebUser.id == user.id
        ).execute()
    return WebUser.get_by_id(user.id)


def issue_login_link(tenant: Tenant, *, now: datetime | None = None) -> str:
    """A new single-use sign-in secret for the local administrator of ``tenant``."""
    now = now or utcnow()
    secret = secrets.token_urlsafe(32)
    with db.atomic():
        WebLoginToken.delete().where(WebLoginToken.expires_at < now).execute()
        admin = _person(tenant.id, LOCAL, LOCAL_ADMIN, name="administrator")
        WebLoginToken.create(
            token_hash=_hash(secret), user=admin, expires_at=now + LOGIN_TTL, created_at=now
        )
    return secret


def redeem_login_link(secret: str, *, now: datetime | None = None) -> SignedIn:
    """Spend the sign-in secret exactly once; BadRequestError when it is not valid any more."""
    now = now or utcnow()
    row = spend_once(
        WebLoginToken,
        WebLoginToken.token_hash == _hash(secret or ""),
        used=WebLoginToken.used_at,
        expires=WebLoginToken.expires_at,
        now=now,
        refusal=BAD_LINK,
    )
    WebUser.update(last_sign_in_at=now).where(WebUser.id == row.user_id).execute()
    found = signed_in(row.user_id, None)
    if found is None:  # the tenant was removed in between
        raise BadRequestError(BAD_LINK)
    return found


def sign_in_slack(port: SlackSignInPort, code: str, redirect_uri: str) -> SignedIn:
    """The person Slack vouches for, in the tenant their workspace is linked to."""
    if not code:
        raise BadRequestError("Slack sent no sign-in code back. You are not signed in.")
    who = port.identity(code, redirect_uri)
    tenant_id = tenant_of_team(who.team_id) if who.team_id else None
    if tenant_id is None:
        raise ForbiddenError(UNLINKED_WORKSPACE)
    user = _person(tenant_id, SLACK, who.user_id, name=who.name or who.user_id, team_id=who.team_id)
    return _signed_in_row(user)


def github_tenants(
    port: tenant_links.GitHubUserPort, code: str, *, app_id: int | None
) -> tuple[tenant_links.GitHubUser, list[Tenant]]:
    """The GitHub user and the tenants of the App installations they can reach."""
    if not code:
        raise BadRequestError("GitHub sent no sign-in code back. You are not signed in.")
    token = port.exchange_code(code)
    user = port.user(token)
    # Only installations of an account the user belongs to: an outside collaborator
    # on one repository of an organisation is no person of its tenant.
    ours = [i for i in port.installations(token) if app_id is not None and i.app_id == app_id]
    ids = [i.id for i in ours if tenant_links.is_member(port, token, user, i)]
    tenants = list(
        Tenant.select()
        .join(Installation)
        .where(Installation.installation_id.in_(ids or [0]), Installation.deleted_at.is_null())
        .distinct()
        .order_by(Tenant.slug)
    )
    if not user.id or not tenants:
        raise ForbiddenError(NO_INSTALLATION)
    return user, tenants


def sign_in_github(user: tenant_links.GitHubUser, tenant_id: int) -> SignedIn:
    """The GitHub user as a person of tenant ``tenant_id`` (one :func:`github_tenants` gave)."""
    if not Tenant.select().where(Tenant.id == tenant_id).exists():
        raise BadRequestError("That organisation is gone. Sign in again.")
    return _signed_in_row(_person(tenant_id, GITHUB, str(user.id), name=user.login))


def signed_in(user_id: int, tenant_id: int | None) -> SignedIn | None:
    """The person of a session (None when the row or its tenant is gone, or the tenant differs)."""
    query = WebUser.select(WebUser, Tenant).join(Tenant).where(WebUser.id == user_id)
    if tenant_id is not None:
        query = query.where(WebUser.tenant == tenant_id)
    user = query.first()
    return _signed_in_row(user) if user is not None else None


def _signed_in_row(user: WebUser) -> SignedIn:
    tenant = user.tenant
    return SignedIn(
        user_id=user.id,
        tenant_id=tenant.id,
        tenant_slug=tenant.slug,
        tenant_name=tenant.name or tenant.slug,
        provider=user.provider,
        subject=user.subject,
        name=user.name,
        team_id=user.team_id,
        generation=user.session_generation,
    )


def end_sessions(user_id: int) -> None:
    """Sign the person out everywhere: every session they have begun is over."""
    WebUser.update(session_generation=WebUser.session_generation + 1).where(
        WebUser.id == user_id
    ).execute()
