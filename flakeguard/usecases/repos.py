"""Repositories and their ingest tokens."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from flakeguard.errors import AuthError, BadRequestError, ConflictError, NotFoundError
from flakeguard.usecases import tokens
from flakeguard.usecases.tokens import LAST_USED_RESOLUTION, PREFIX_LENGTH, hash_token
from models import IngestToken, Repository, Tenant, db, default_tenant

__all__ = ["LAST_USED_RESOLUTION", "PREFIX_LENGTH", "hash_token"]  # and the functions below

TOKEN_PREFIX = "fgi_"
REPO_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")


def check_repo_name(full_name: str) -> str:
    """Validate ``owner/name`` and return it, or raise BadRequestError saying why."""
    full_name = full_name.strip()
    if not REPO_NAME.match(full_name) or full_name.endswith((".git", "/.", "/..")):
        raise BadRequestError(f"{full_name!r} is not a repository name of the form owner/name")
    return full_name


def add_repository(
    full_name: str, *, tenant: Tenant | None = None, default_branch: str = "main"
) -> tuple[Repository, str]:
    """Create a repository of ``tenant`` (default: the default tenant) and its first ingest token.

    The token is returned once, never stored.
    """
    full_name = check_repo_name(full_name)
    with db.atomic():
        tenant = tenant or default_tenant()
        taken = Repository.select().where(
            (Repository.tenant == tenant) & (Repository.full_name == full_name)
        )
        if taken.exists():
            raise ConflictError(f"repository {full_name} already exists")
        repo = Repository.create(tenant=tenant, full_name=full_name, default_branch=default_branch)
        token = issue_token(repo)
    return repo, token


def issue_token(repo: Repository, *, label: str = "") -> str:
    """Create a new ingest token for ``repo`` and return its plain text (shown once)."""
    token, digest, prefix = tokens.mint(TOKEN_PREFIX)
    IngestToken.create(repository=repo, token_hash=digest, prefix=prefix, label=label)
    return token


def get_repository(full_name: str) -> Repository:
    """The repository named ``owner/name`` or NotFoundError."""
    repo = Repository.get_or_none(Repository.full_name == full_name)
    if repo is None:
        raise NotFoundError(f"unknown repository {full_name}")
    return repo


def authenticate(token: str | None) -> Repository:
    """The repository an ingest token belongs to, or AuthError."""
    if not token:
        raise AuthError("missing ingest token: send Authorization: Bearer <token>")
    query = IngestToken.select(IngestToken, Repository).join(Repository)
    row = tokens.find_live(query, IngestToken, token)
    if row is None:
        raise AuthError("invalid ingest token")
    tokens.mark_used(IngestToken, row)
    return row.repository


@dataclass(frozen=True)
class TokenInfo:
    """What may be shown of an ingest token (never the token or its hash)."""

    prefix: str
    repository: str
    label: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def list_tokens(full_name: str) -> list[TokenInfo]:
    """The ingest tokens of a repository, oldest first, revoked ones included."""
    repo = get_repository(full_name)
    rows = IngestToken.select().where(IngestToken.repository == repo.id).order_by(IngestToken.id)
    return [_info(row, repo) for row in rows]


def revoke_token(prefix_or_token: str) -> tuple[TokenInfo, bool]:
    """Revoke the ingest token with this prefix (or this whole token).

    Returns the token and whether this call revoked it (False: it already was).
    NotFoundError when no token matches, ConflictError when more than one
    unrevoked token has this prefix (then give the whole token).
    """
    row, revoked = tokens.revoke(
        IngestToken.select(IngestToken, Repository).join(Repository),
        IngestToken,
        prefix_or_token,
        kind="ingest token",
        owner=lambda row: row.repository.full_name,
    )
    return _info(row, row.repository), revoked


def _info(row: IngestToken, repo: Repository) -> TokenInfo:
    return TokenInfo(
        prefix=row.prefix,
        repository=repo.full_name,
        label=row.label,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )
