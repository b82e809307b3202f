"""A fake GitHub Actions OIDC issuer: its key set (JWKS) and the token endpoint a job asks.

A real HTTP server on 127.0.0.1. ``mint`` signs tokens as GitHub does (RS256, ``kid``
in the header, the claims of ``job`` by default); ``GET /token?audience=...`` answers
a job holding ``REQUEST_TOKEN`` the way ``ACTIONS_ID_TOKEN_REQUEST_URL`` does.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from flakeguard.settings import Settings
from tests.fakes.github import _Server

REQUEST_TOKEN = "fake-actions-request-token"
AUDIENCE = "https://flakeguard.test"
KID = "fake-actions-key-1"
SHA = "c" * 40


def new_key() -> rsa.RSAPrivateKey:
    """A fresh RSA key, as GitHub signs with."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class FakeActionsIssuer:
    """The issuer, serving its public key; ``job`` holds the claims of the job asking."""

    def __init__(self, key: rsa.RSAPrivateKey) -> None:
        self.key = key
        self.job: dict[str, Any] = {
            "repository": "acme/shop",
            "repository_id": "4242",
            "repository_owner": "acme",
            "ref": "refs/heads/main",
            "ref_type": "branch",
            "event_name": "push",
            "sha": SHA,
            "run_id": "77",
        }
        self.jwks_status = 200
        self.extra_keys: list[dict[str, Any]] = []  # served after the signing key
        self.calls: list[tuple[str, dict[str, str], dict[str, str]]] = []
        self._server = _Server(self._respond)

    @property
    def issuer(self) -> str:
        return self._server.url

    @property
    def jwks_url(self) -> str:
        return self._server.url + "/.well-known/jwks"

    @property
    def request_url(self) -> str:
        return self._server.url + "/token?api-version=2.0"

    def close(self) -> None:
        self._server.close()

    def mint(
        self,
        *,
        key: rsa.RSAPrivateKey | None = None,
        kid: str = KID,
        lifetime: int = 300,
        issued: int = 0,
        **claims: Any,
    ) -> str:
        """A token of ``job`` (``claims`` override; a claim given as None is left out)."""
        now = int(time.time()) + issued
        body = {
            "iss": self.issuer,
            "aud": AUDIENCE,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "jti": str(uuid.uuid4()),
            "sub": f"repo:{self.job['repository']}:ref:{self.job['ref']}",
            **self.job,
            **claims,
        }
        body = {name: value for name, value in body.items() if value is not None}
        return jwt.encode(body, key or self.key, algorithm="RS256", headers={"kid": kid})

    def _respond(
        self, method: str, target: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, dict[str, str], Any]:
        parts = urlsplit(target)
        query = dict(parse_qsl(parts.query))
        self.calls.append((parts.path, query, headers))
        if parts.path == "/.well-known/jwks":
            if self.jwks_status != 200:
                return self.jwks_status, {}, b"unavailable"
            public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
            signing = {**public, "kid": KID, "alg": "RS256", "use": "sig"}
            return 200, {}, {"keys": [signing, *self.extra_keys]}
        if parts.path == "/token" and method == "GET":
            if headers.get("Authorization") != f"bearer {REQUEST_TOKEN}":
                return 401, {}, {"message": "bad request token"}
            return 200, {}, {"value": self.mint(aud=query.get("audience", ""))}
        return 404, {}, {"message": "Not Found"}


def trusting(settings: Settings, issuer: FakeActionsIssuer) -> Settings:
    """``settings`` taking the fake issuer's tokens, for the audience ``AUDIENCE``."""
    return replace(
        settings,
        actions_oidc_issuer=issuer.issuer,
        actions_oidc_jwks_url=issuer.jwks_url,
        actions_oidc_audience=AUDIENCE,
    )


@pytest.fixture(scope="session")
def actions_key() -> rsa.RSAPrivateKey:
    """The issuer's signing key (one per session: RSA keys are slow to make)."""
    return new_key()


@pytest.fixture
def actions_issuer(actions_key: rsa.RSAPrivateKey) -> Iterator[FakeActionsIssuer]:
    """The fake issuer, fresh per test."""
    issuer = FakeActionsIssuer(actions_key)
    yield issuer
    issuer.close()
