"""API tokens: a tenant's bearer tokens for ``/api/v1``, created, listed, revoked, checked.

Operators create them with ``flakeguard api-token create``; signed-in people
on the dashboard's "API tokens" page. A token is shown once and stored hashed
(``flakeguard.usecases.tokens``, the machinery of ingest tokens too). A
read-only token reads its tenant's data; a token with ``can_act`` may also
approve, assign, undo and dismiss quarantines. Every read and act is scoped
to the token's tenant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flakeguard.errors import AuthError, BadRequestError
from flakeguard.usecases import tokens
from models import ApiToken, Tenant

TOKEN_MARKER = "fga_"
NAME_MAX = 100
CREATED_BY_MAX = 200


@dataclass(frozen=True)
class ApiTokenInfo:
    """What may be shown of an API token (never the token or its hash)."""

    id: int
    prefix: str
    name: str
    tenant: str  # the tenant's slug
    created_by: str
    can_act: bool
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class ApiPrincipal:
    """Who calls the API: a token of one tenant, allowed to act or only to read."""

    tenant_id: int
    token_id: int
    name: str
    prefix: str
    can_act: bool
    created_by: str = ""

    @property
    def actor(self) -> str:
        """How the audit trail names actions taken with this token."""
        return f"api-token {self.prefix} ({self.name})"[:100]


def _clean(value: str, what: str, width: int, *, required: bool) -> str:
    value = value.strip()
    if required and not value:
        raise BadRequestError(f"an API token needs a {what}")
    if len(value) > width:
        raise BadRequestError(f"the {what} is longer than {width} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise BadRequestError(f"the {what} has control characters")
    return value


def create_token(
    name: str, *, tenant_id: int, created_by: str, can_act: bool = False
) -> tuple[ApiTokenInfo, str]:
    """Create an API token of the tenant; returns it and its plain text (shown once)."""
    name = _clean(name, "name", NAME_MAX, required=True)
    created_by = _clean(created_by, "creator", CREATED_BY_MAX, required=False)
    tenant = Tenant.get_or_none(Tenant.id == tenant_id)
    if tenant is None:
        raise BadRequestError(f"unknown tenant {tenant_id}")
    token, digest, prefix = tokens.mint(TOKEN_MARKER)
    row = ApiToken.create(
        tenant=tenant.id,
        name=name,
        token_hash=digest,
        prefix=prefix,
        created_by=created_by,
        can_act=can_act,
    )
    return _info(row, tenant.slug), token


def list_tokens(*, tenant_id: int | None, created_by: str | None = None) -> list[ApiTokenInfo]:
    """The tenant's API tokens, oldest first, revoked ones included (None: every tenant's);
    ``created_by`` keeps only one creator's (a person on the dashboard sees their own)."""
    query = (
        ApiToken.select(ApiToken, Tenant.slug)
        .join(Tenant, on=(ApiToken.tenant == Tenant.id))
        .order_by(ApiToken.id)
    )
    if tenant_id is not None:
        query = query.where(ApiToken.tenant == tenant_id)
    if created_by is not None:
        query = query.where(ApiToken.created_by == created_by)
    return [_info(row, row.tenant.slug) for row in query]


def revoke_token(
    prefix_or_token: str, *, tenant_id: int | None, created_by: str | None = None
) -> tuple[ApiTokenInfo, bool]:
    """Revoke the tenant's API token with this prefix (or this whole token).

    ``tenant_id`` None is the operator's CLI: any tenant's token. Returns the
    token and whether this call revoked it. NotFoundError when no token of the
    tenant matches (another tenant's is unknown too), ConflictError when
    several unrevoked ones share the prefix.
    """
    query = ApiToken.select(ApiToken, Tenant.slug).join(Tenant, on=(ApiToken.tenant == Tenant.id))
    if tenant_id is not None:
        query = query.where(ApiToken.tenant == tenant_id)
    if created_by is not None:  # a person on the dashboard revokes only their own
        query = query.where(ApiToken.created_by == created_by)
    row, revoked = tokens.revoke(
        query, ApiToken, prefix_or_token, kind="API token", owner=lambda row: row.tenant.slug
    )
    return _info(row, row.tenant.slug), revoked


def authenticate(token: str | None) -> ApiPrincipal:
    """The principal an API token stands for, or AuthError (missing, unknown or revoked)."""
    if not token:
        raise AuthError("missing API token: send Authorization: Bearer <token>")
    if not token.startswith(TOKEN_MARKER):
        raise AuthError("invalid API token (create one with `flakeguard api-token create`)")
    row = tokens.find_live(ApiToken.select(), ApiToken, token)
    if row is None:
        raise AuthError("invalid API token")
    tokens.mark_used(ApiToken, row)
    return ApiPrincipal(
        tenant_id=row.tenant_id,
        token_id=row.id,
        name=row.name,
        prefix=row.prefix,
        can_act=row.can_act,
        created_by=row.created_by,
    )


def _info(row: ApiToken, tenant_slug: str) -> ApiTokenInfo:
    return ApiTokenInfo(
        id=row.id,
        prefix=row.prefix,
        name=row.name,
        tenant=tenant_slug,
        created_by=row.created_by,
        can_act=row.can_act,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )
