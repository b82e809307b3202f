"""The Actions issuer's keys: cached, refetched at most once a cooldown, fetched within a
bounded time, served stale through an outage, only over https (or loopback http)."""

from __future__ import annotations

import base64
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from flakeguard.errors import AuthError, ConfigError, UnavailableError
from flakeguard.settings import Settings
from flakeguard.usecases.actions_oidc import verify
from integrations.github.actions_issuer import COOLDOWN, LIFESPAN, STALE_LIMIT, JwksIssuer
from tests.fakes.actions_oidc import AUDIENCE, FakeActionsIssuer, new_key


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def keys(actions_issuer: FakeActionsIssuer, clock: Clock) -> JwksIssuer:
    return JwksIssuer(
        issuer=actions_issuer.issuer,
        audience=AUDIENCE,
        jwks_url=actions_issuer.jwks_url,
        clock=clock,
    )


def _jwks_fetches(issuer: FakeActionsIssuer) -> int:
    return sum(1 for path, _query, _headers in issuer.calls if path == "/.well-known/jwks")


def test_tokens_naming_made_up_keys_fetch_the_key_set_once_per_cooldown(
    keys: JwksIssuer, actions_issuer: FakeActionsIssuer, clock: Clock
) -> None:
    """Within the cooldown an unknown key cannot be looked for again: 503 (it may be
    a key the issuer just rotated in); past it, the set is fetched and, the key still
    missing, the token is refused (401)."""
    assert verify(actions_issuer.mint(), keys).repository == "acme/shop"
    for n in range(20):
        with pytest.raises(UnavailableError, match="try again later"):
            verify(actions_issuer.mint(key=new_key(), kid=f"made-up-{n}"), keys)
    assert _jwks_fetches(actions_issuer) == 1
    clock.now += COOLDOWN
    with pytest.raises(AuthError, match="not signed with a key of the issuer"):
        verify(actions_issuer.mint(key=new_key(), kid="made-up-again"), keys)
    assert _jwks_fetches(actions_issuer) == 2


def _jwk(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, kid: object) -> dict[str, Any]:
    algorithm = jwt.algorithms.RSAAlgorithm if isinstance(key, rsa.RSAPrivateKey) else None
    raw = (algorithm or jwt.algorithms.ECAlgorithm).to_jwk(key.public_key())
    return {**json.loads(raw), "kid": kid, "use": "sig"}


def test_a_key_rotated_in_during_the_cooldown_is_retryable_then_verifies(
    keys: JwksIssuer, actions_issuer: FakeActionsIssuer, clock: Clock
) -> None:
    verify(actions_issuer.mint(), keys)
    rotated = new_key()
    actions_issuer.extra_keys.append(_jwk(rotated, "rotated-in"))
    with pytest.raises(UnavailableError) as refused:
        verify(actions_issuer.mint(key=rotated, kid="rotated-in"), keys)
    assert refused.value.status == 503
    clock.now += COOLDOWN
    assert verify(actions_issuer.mint(key=rotated, kid="rotated-in"), keys).repository_id == 4242


def test_keys_a_token_cannot_name_or_rs256_cannot_use_are_left_out_of_the_set(
    keys: JwksIssuer, actions_issuer: FakeActionsIssuer
) -> None:
    """A kid that is not a string, and an EC key: the rest of the set still serves, and
    a token naming the EC key is refused (401), not a crash."""
    actions_issuer.extra_keys += [
        _jwk(new_key(), ["a", "list"]),
        _jwk(new_key(), 7),
        _jwk(ec.generate_private_key(ec.SECP256R1()), "ec-key"),
    ]
    with pytest.raises(AuthError, match="not signed with a key of the issuer"):
        verify(actions_issuer.mint(kid="ec-key"), keys)
    assert verify(actions_issuer.mint(), keys).repository == "acme/shop"
    assert _jwks_fetches(actions_issuer) == 1


class ElsewhereIssuer:
    """An issuer whose key for every token is an EC key: RS256 cannot verify with it."""

    def __init__(self, issuer: str) -> None:
        self.issuer = issuer
        self.audience = AUDIENCE

    def signing_key(self, token: str) -> Any:
        return ec.generate_private_key(ec.SECP256R1()).public_key()


def test_a_key_of_another_kind_than_rs256_needs_is_a_refusal(
    actions_issuer: FakeActionsIssuer,
) -> None:
    with pytest.raises(AuthError, match="RS256 can verify"):
        verify(actions_issuer.mint(), ElsewhereIssuer(actions_issuer.issuer))


def test_an_outage_of_the_issuer_keeps_the_known_keys_and_asks_once_per_cooldown(
    keys: JwksIssuer, actions_issuer: FakeActionsIssuer, clock: Clock
) -> None:
    """Past the keys' lifespan with the JWKS down: tokens still verify with the keys
    known, and the issuer is asked once, not by every request."""
    verify(actions_issuer.mint(), keys)
    actions_issuer.jwks_status = 500
    clock.now += LIFESPAN + 1
    for _ in range(5):
        assert verify(actions_issuer.mint(), keys).repository_id == 4242
    assert _jwks_fetches(actions_issuer) == 2
    clock.now += STALE_LIMIT
    with pytest.raises(UnavailableError, match="try again later"):
        verify(actions_issuer.mint(), keys)


def test_no_key_set_yet_and_the_issuer_down_is_unavailable_without_asking_again(
    keys: JwksIssuer, actions_issuer: FakeActionsIssuer
) -> None:
    actions_issuer.jwks_status = 503
    for _ in range(3):
        with pytest.raises(UnavailableError):
            verify(actions_issuer.mint(), keys)
    assert _jwks_fetches(actions_issuer) == 1


class DrippingJwks:
    """A JWKS endpoint that sends a valid key set one byte at a time, each byte well
    within a read timeout, the whole far beyond any request's patience."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.stop = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}/jwks"

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        with conn:
            conn.recv(65536)
            head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(self.body)}\r\n\r\n"
            try:
                conn.sendall(head.encode())
                for byte in self.body:
                    if self.stop.wait(0.05):
                        return
                    conn.sendall(bytes([byte]))
            except OSError:
                return  # the client gave up, as it should

    def close(self) -> None:
        self.stop.set()
        self.listener.close()
        self.thread.join()


@pytest.fixture
def dripping(actions_issuer: FakeActionsIssuer) -> Iterator[DrippingJwks]:
    public = actions_issuer.key.public_key()
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(public))
    body = json.dumps({"keys": [{**jwk, "kid": "fake-actions-key-1", "use": "sig"}]})
    server = DrippingJwks(body.encode())
    yield server
    server.close()


def test_a_slow_key_set_is_given_up_after_the_timeout_in_all_not_per_read(
    actions_issuer: FakeActionsIssuer, dripping: DrippingJwks
) -> None:
    keys = JwksIssuer(
        issuer=actions_issuer.issuer, audience=AUDIENCE, jwks_url=dripping.url, timeout=0.5
    )
    with pytest.raises(UnavailableError):
        verify(actions_issuer.mint(), keys)


def test_a_deeply_nested_token_is_refused_as_not_a_jwt(keys: JwksIssuer) -> None:
    """A 13 KB token whose payload nests 5000 arrays: a clear refusal, not a crash."""

    def part(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    header = part(json.dumps({"alg": "RS256", "kid": "fake-actions-key-1"}).encode())
    token = f"{header}.{part(b'[' * 5000 + b']' * 5000)}.c2ln"
    with pytest.raises(AuthError, match="not a JWT"):
        verify(token, keys)


@pytest.mark.parametrize(
    "url",
    ["http://token.example", "http://10.0.0.5/jwks", "ftp://token.example", "file:///etc/jwks"],
)
def test_the_issuer_and_its_keys_are_taken_over_https_only(url: str) -> None:
    with pytest.raises(ConfigError, match="https"):
        Settings.from_env({"FLAKEGUARD_ACTIONS_OIDC_ISSUER": url})
    with pytest.raises(ConfigError, match="FLAKEGUARD_ACTIONS_OIDC_JWKS_URL"):
        Settings.from_env({"FLAKEGUARD_ACTIONS_OIDC_JWKS_URL": url})
    with pytest.raises(ConfigError, match="https"):
        JwksIssuer(issuer="https://token.example", audience="a", jwks_url=url)


@pytest.mark.parametrize("url", ["https://token.example:abc/jwks", "https://token.example:99999"])
def test_a_url_whose_port_is_not_a_port_is_refused_at_load(url: str) -> None:
    with pytest.raises(ConfigError, match="FLAKEGUARD_ACTIONS_OIDC_JWKS_URL: the port"):
        Settings.from_env({"FLAKEGUARD_ACTIONS_OIDC_JWKS_URL": url})
    with pytest.raises(ConfigError, match="the port"):
        JwksIssuer(issuer="https://token.example", audience="a", jwks_url=url)


def test_http_is_taken_for_a_loopback_issuer() -> None:
    settings = Settings.from_env(
        {
            "FLAKEGUARD_ACTIONS_OIDC_ISSUER": "http://127.0.0.1:8081/",
            "FLAKEGUARD_ACTIONS_OIDC_JWKS_URL": "http://localhost:8081/jwks",
        }
    )
    assert settings.actions_oidc_issuer == "http://127.0.0.1:8081"
    assert settings.actions_oidc_keys_url == "http://localhost:8081/jwks"
