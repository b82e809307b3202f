"""Repositories and ingest tokens: the token is shown once and stored only as a hash."""

from __future__ import annotations

import pytest

from flakeguard.errors import AuthError, BadRequestError, ConflictError
from flakeguard.usecases.repos import add_repository, authenticate, hash_token
from models import IngestToken


def test_token_stored_only_as_hash(database) -> None:  # type: ignore[no-untyped-def]
    """The plain token never reaches the database; its SHA-256 does."""
    repo, token = add_repository("acme/widgets")
    row = IngestToken.get(IngestToken.repository == repo)
    assert row.token_hash == hash_token(token)
    assert token not in (row.token_hash, row.prefix)
    assert authenticate(token).id == repo.id


@pytest.mark.parametrize("token", [None, "", "fgi_wrong"])
def test_wrong_or_missing_token_is_refused(database, token) -> None:  # type: ignore[no-untyped-def]
    """A missing or unknown token raises AuthError."""
    add_repository("acme/widgets")
    with pytest.raises(AuthError):
        authenticate(token)


@pytest.mark.parametrize("name", ["acme", "acme/", "/widgets", "a b/c", "acme/widgets/x"])
def test_bad_repository_names_are_refused(database, name) -> None:  # type: ignore[no-untyped-def]
    """Only owner/name is accepted."""
    with pytest.raises(BadRequestError):
        add_repository(name)


def test_duplicate_repository_is_a_conflict(database) -> None:  # type: ignore[no-untyped-def]
    """Adding the same repository twice fails and keeps one token."""
    add_repository("acme/widgets")
    with pytest.raises(ConflictError):
        add_repository("acme/widgets")
    assert IngestToken.select().count() == 1
