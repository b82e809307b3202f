"""Failed authentication has its own low limit per client address (token guessing is slow)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from flakeguard.app import create_app
from flakeguard.errors import ConfigError
from flakeguard.settings import Settings
from tests.api import samples

ATTACKER = {"REMOTE_ADDR": "10.9.9.9"}
CI = {"REMOTE_ADDR": "10.1.1.1"}


def limited_client(settings, **changes):  # type: ignore[no-untyped-def]
    app = create_app(replace(settings, **changes))
    app.testing = True
    return app.test_client()


def upload(client, token: str, environ: dict[str, str], run_id: str = "1"):  # type: ignore[no-untyped-def]
    """POST a small report for acme/shop with ``token`` from the address in ``environ``."""
    return client.post(
        "/api/v1/reports",
        query_string={"repo": "acme/shop", "sha": samples.SHA, "run_id": run_id, "job": "unit"},
        data=samples.simple(passed=1),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/xml"},
        environ_base=environ,
    )


def test_300_wrong_tokens_from_one_address_get_429_after_20(settings, acme) -> None:  # type: ignore[no-untyped-def]
    """An attacker guessing tokens gets 20 answers of 401 a minute, then 429 with Retry-After."""
    client = limited_client(settings)
    statuses = [upload(client, f"fgi_guess{i:04d}", ATTACKER).status_code for i in range(300)]
    assert statuses[:20] == [401] * 20
    assert statuses[20:] == [429] * 280
    refused = upload(client, "fgi_guess9999", ATTACKER)
    assert refused.get_json()["error"]["code"] == "rate_limited"
    assert "failed authentications" in refused.get_json()["error"]["message"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60


def test_the_limit_counts_only_failures_and_only_that_address(settings, acme) -> None:  # type: ignore[no-untyped-def]
    """Good uploads never count; a locked-out address does not lock out another one."""
    client = limited_client(settings, rate_limit_auth_failures="3/minute")
    for run_id in range(10):
        assert upload(client, acme.token, CI, run_id=str(run_id)).status_code == 201
    missing = client.get("/api/v1/repos/acme/shop/quarantine", environ_base=ATTACKER)
    assert missing.status_code == 401  # no token at all is a failure too
    assert [upload(client, "fgi_wrong", ATTACKER).status_code for _ in range(3)] == [401, 401, 429]
    # Once locked out, the address is refused before any token is looked at.
    assert upload(client, acme.token, ATTACKER).status_code == 429
    assert upload(client, acme.token, CI, run_id="99").status_code == 201


def test_failed_auth_limit_is_a_validated_setting() -> None:
    """FLAKEGUARD_RATE_LIMIT_AUTH_FAILURES defaults to 20/minute; a malformed one is named."""
    assert Settings.from_env({}).rate_limit_auth_failures == "20/minute"
    assert (
        Settings.from_env(
            {"FLAKEGUARD_RATE_LIMIT_AUTH_FAILURES": "5/minute"}
        ).rate_limit_auth_failures
        == "5/minute"
    )
    with pytest.raises(ConfigError, match=r"^FLAKEGUARD_RATE_LIMIT_AUTH_FAILURES: "):
        Settings.from_env({"FLAKEGUARD_RATE_LIMIT_AUTH_FAILURES": "often"})
