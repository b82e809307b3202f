"""Single-use secrets (sign-in links, workspace-link states and confirmations): stored as their
SHA-256, spent by one conditional UPDATE so that of two racing requests exactly one wins."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, TypeVar

from peewee import Field, Model

from flakeguard.errors import BadRequestError

M = TypeVar("M", bound=Model)


def secret_hash(secret: str) -> str:
    """What is stored of a single-use secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


def spend_once(
    model: type[M], *match: Any, used: Field, expires: Field, now: datetime, refusal: str
) -> M:
    """Mark the row of ``model`` matching ``match`` used at ``now`` if it is neither used nor
    expired, and return it; BadRequestError(``refusal``) when no row was spent."""
    spent = model.update({used: now}).where(*match, used.is_null(), expires >= now).execute()
    if spent != 1:
        raise BadRequestError(refusal)
    return model.get(*match)
