"""Repositories and their ingest tokens."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flakeguard.errors import AuthError, BadRequestError, ConflictError, NotFoundError
from models import IngestToken, Repository, Tenant, db, default_tenant, utcnow

TOKEN_PREFIX = "fgi_"
PREFIX_LENGTH = 10  # what is shown of a token: "fgi_" and six characters
# last_used_at is a "still in use" mark: written at most once a minute per token, so an
# upload reads its token and writes nothing in the common case.
LAST_USED_RESOLUTION = timedelta(minutes=1)
REPO_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")


def hash_token(token: str) -> str:
    """SHA-256 hex of a token: what the database keeps."""
    return hashlib.sha256(token.encode()).hexdigest()


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
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    IngestToken.create(
        repository=repo, token_hash=hash_token(token), prefix=token[:PREFIX_LENGTH], label=label
    )
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
    digest = hash_token(token)
    row = (
        IngestToken.select(IngestToken, Repository)
        .join(Repository)
        .where(IngestToken.token_hash == digest, IngestToken.revoked_at.is_null())
        .first()
    )
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        raise AuthError("invalid ingest token")
    now = utcnow()
    stale = now - LAST_USED_RESOLUTION
    if row.last_used_at is None or row.last_used_at < stale:
        # Conditional, so that concurrent uploads with one token write it once.
        IngestToken.update(last_used_at=now).where(
            IngestToken.id == row.id,
            IngestToken.last_used_at.is_null() | (IngestToken.last_used_at < stale),
        ).execute()
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
    value = prefix_or_token.strip()
    if len(value) > PREFIX_LENGTH:
        where = IngestToken.token_hash == hash_token(value)
    else:
        where = IngestToken.prefix == value
    with db.atomic():
        rows = list(
            IngestToken.select(IngestToken, Repository)
            .join(Repository)
            .where(where)
            .order_by(IngestToken.id)
        )
        if not rows:
            raise NotFoundError(f"no ingest token {value[:PREFIX_LENGTH]!r}")
        live = [row for row in rows if row.revoked_at is None]
        if len(live) > 1:
            names = ", ".join(sorted({row.repository.full_name for row in live}))
            raise ConflictError(
                f"{len(live)} ingest tokens start with {value!r} ({names}): give the whole token"
            )
        if not live:
            return _info(rows[-1], rows[-1].repository), False
        row = live[0]
        row.revoked_at = utcnow()
        IngestToken.update(revoked_at=row.revoked_at).where(IngestToken.id == row.id).execute()
    return _info(row, row.repository), True


def _info(row: IngestToken, repo: Repository) -> TokenInfo:
    return TokenInfo(
        prefix=row.prefix,
        repository=repo.full_name,
        label=row.label,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )
