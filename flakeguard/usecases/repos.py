"""Repositories and their ingest tokens."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from flakeguard.errors import AuthError, BadRequestError, ConflictError, NotFoundError
from models import IngestToken, Repository, Tenant, db, default_tenant, utcnow

TOKEN_PREFIX = "fgi_"
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
        repository=repo, token_hash=hash_token(token), prefix=token[:10], label=label
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
    IngestToken.update(last_used_at=utcnow()).where(IngestToken.id == row.id).execute()
    return row.repository
