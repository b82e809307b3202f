"""Bearer tokens we issue (ingest tokens, API tokens): minted, stored hashed, found, revoked.

One machinery for every kind of token: the plain text is shown once and only
its SHA-256 is kept; what a person sees of a token afterwards is its prefix
(the kind's marker and six characters); ``last_used_at`` is a "still in use"
mark written at most once a minute per token, so a request with a token reads
it and writes nothing in the common case; a token is revoked by its prefix or
by its whole text. The model of a kind has ``token_hash``, ``prefix``,
``last_used_at`` and ``revoked_at``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from typing import Any

from flakeguard.errors import ConflictError, NotFoundError
from models import db, utcnow

PREFIX_LENGTH = 10  # what is shown of a token: its marker ("fgi_") and six characters
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_token(token: str) -> str:
    """SHA-256 hex of a token: what the database keeps."""
    return hashlib.sha256(token.encode()).hexdigest()


def mint(marker: str) -> tuple[str, str, str]:
    """A new token ``marker`` + 43 random characters: (plain text, hash, shown prefix)."""
    token = marker + secrets.token_urlsafe(32)
    return token, hash_token(token), token[:PREFIX_LENGTH]


def find_live(query: Any, model: Any, token: str) -> Any:
    """The unrevoked row of ``query`` (a select on ``model``) holding ``token``, or None."""
    digest = hash_token(token)
    row = query.where(model.token_hash == digest, model.revoked_at.is_null()).first()
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return None
    return row


def mark_used(model: Any, row: Any) -> None:
    """Set ``last_used_at`` of ``row`` to now when it is older than the resolution."""
    now = utcnow()
    stale = now - LAST_USED_RESOLUTION
    if row.last_used_at is None or row.last_used_at < stale:
        # Conditional, so that concurrent requests with one token write it once.
        model.update(last_used_at=now).where(
            model.id == row.id,
            model.last_used_at.is_null() | (model.last_used_at < stale),
        ).execute()
        row.last_used_at = now


def revoke(query: Any, model: Any, prefix_or_token: str, *, kind: str, owner: Any) -> Any:
    """Revoke the token of ``query`` with this prefix (or this whole token).

    Returns (row, whether this call revoked it; False: it already was).
    NotFoundError when no token matches, ConflictError when more than one
    unrevoked token has this prefix (then give the whole token); ``owner(row)``
    names a row's owner in that message, ``kind`` the kind of token.
    """
    value = prefix_or_token.strip()
    if len(value) > PREFIX_LENGTH:
        where = model.token_hash == hash_token(value)
    else:
        where = model.prefix == value
    with db.atomic():
        rows = list(query.where(where).order_by(model.id))
        if not rows:
            raise NotFoundError(f"no {kind} {value[:PREFIX_LENGTH]!r}")
        live = [row for row in rows if row.revoked_at is None]
        if len(live) > 1:
            names = ", ".join(sorted({owner(row) for row in live}))
            raise ConflictError(
                f"{len(live)} {kind}s start with {value!r} ({names}): give the whole token"
            )
        if not live:
            return rows[-1], False
        row = live[0]
        row.revoked_at = utcnow()
        model.update(revoked_at=row.revoked_at).where(model.id == row.id).execute()
    return row, True
