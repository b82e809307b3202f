"""Hardening: rate limits per token and per IP, security headers, 413 on every endpoint."""

from __future__ import annotations

import io
import uuid
from dataclasses import replace

import pytest

from flakeguard.app import create_app
from flakeguard.usecases.repos import add_repository
from tests.ops.conftest import upload

QUARANTINE = "/api/v1/repos/acme/shop/quarantine"


def limited_app(settings, **changes):  # type: ignore[no-untyped-def]
    app = create_app(replace(settings, **changes))
    app.testing = True
    return app


def assert_rate_limited(response) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 429
    assert response.get_json()["error"]["code"] == "rate_limited"
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= 60


def test_token_over_its_limit_gets_429_with_retry_after(settings, database, acme) -> None:  # type: ignore[no-untyped-def]
    """The third call of a token allowed 2/minute is refused; another token still passes."""
    app = limited_app(settings, rate_limit_token="2/minute", rate_limit_ip="100/minute")
    client = app.test_client()
    assert client.get(QUARANTINE, headers=acme.headers).status_code == 200
    assert client.get(QUARANTINE, headers=acme.headers).status_code == 200
    third = client.get(QUARANTINE, headers=acme.headers)
    assert_rate_limited(third)
    assert "token" in third.get_json()["error"]["message"]
    _, other_token = add_repository("acme/other")
    other = client.get(
        "/api/v1/repos/acme/other/quarantine", headers={"Authorization": f"Bearer {other_token}"}
    )
    assert other.status_code == 200


def test_ip_over_its_limit_gets_429_and_other_ips_pass(settings, database) -> None:  # type: ignore[no-untyped-def]
    """Per client address: 10.0.0.1 is refused after 3 calls; 10.0.0.2 and /health are not."""
    app = limited_app(settings, rate_limit_ip="3/minute")
    client = app.test_client()
    one = {"REMOTE_ADDR": "10.0.0.1"}
    for _ in range(3):
        assert client.get("/api/v1/", environ_base=one).status_code == 200
    assert_rate_limited(client.get("/api/v1/", environ_base=one))
    assert_rate_limited(client.get("/api/openapi.json", environ_base=one))  # all of /api
    assert client.get("/api/v1/", environ_base={"REMOTE_ADDR": "10.0.0.2"}).status_code == 200
    for _ in range(5):
        assert client.get("/health", environ_base=one).status_code == 200


def test_rate_limits_are_shared_through_redis(settings, database, redis_url) -> None:  # type: ignore[no-untyped-def]
    """With REDIS_URL two app processes (here two apps) share one count per IP."""
    ip = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.7"
    first = limited_app(settings, redis_url=redis_url, rate_limit_ip="2/minute")
    second = limited_app(settings, redis_url=redis_url, rate_limit_ip="2/minute")
    env = {"REMOTE_ADDR": ip}
    assert first.test_client().get("/api/v1/", environ_base=env).status_code == 200
    assert second.test_client().get("/api/v1/", environ_base=env).status_code == 200
    assert_rate_limited(first.test_client().get("/api/v1/", environ_base=env))


def test_rate_limit_setting_is_validated() -> None:
    """A malformed rate names its variable."""
    from flakeguard.errors import ConfigError
    from flakeguard.settings import Settings

    with pytest.raises(ConfigError, match="FLAKEGUARD_RATE_LIMIT_TOKEN"):
        Settings.from_env({"FLAKEGUARD_RATE_LIMIT_TOKEN": "fast"})


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/health"),
        ("GET", "/api/v1/"),
        ("GET", "/api/openapi.json"),
        ("GET", "/metrics"),
        ("GET", "/nowhere"),
        ("POST", "/slack/events"),
        ("POST", "/github/webhook"),
        ("POST", "/api/v1/reports"),
    ],
)
def test_every_response_has_security_headers(client, method: str, path: str) -> None:  # type: ignore[no-untyped-def]
    """Success, error and 503 answers all carry the security headers."""
    response = client.open(path, method=method)
    headers = response.headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert "Strict-Transport-Security" not in headers  # the test public URL is http
    if response.status_code != 429:
        assert "Retry-After" not in headers


def test_https_deployment_sends_hsts(settings, database) -> None:  # type: ignore[no-untyped-def]
    """When FlakeGuard is served over https, responses carry Strict-Transport-Security."""
    app = limited_app(settings, public_url="https://flakeguard.example.com")
    assert "max-age=" in app.test_client().get("/health").headers["Strict-Transport-Security"]


def _urls(app) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """(method, url) of every route of the app, path parameters filled in."""
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        url = rule.rule
        for arg in rule.arguments:
            url = url.replace(f"<{arg}>", "x").replace(f"<string:{arg}>", "x")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((method, url))
    return found


@pytest.fixture
def small_app(settings, database):  # type: ignore[no-untyped-def]
    """The app with the smallest body limit and a 4 KiB report limit."""
    return limited_app(settings, max_body_bytes=1024, max_report_bytes=4096)


def test_every_endpoint_refuses_a_body_over_its_limit_with_413(small_app) -> None:  # type: ignore[no-untyped-def]
    """A Content-Length over the endpoint's limit gets 413 JSON before any handler runs."""
    client = small_app.test_client()
    urls = _urls(small_app)
    assert ("POST", "/slack/events") in urls and ("POST", "/github/webhook") in urls
    assert ("POST", "/api/v1/reports") in urls
    for method, url in urls:
        huge = 64 * 2**20  # over every limit (uploads 4 KiB + overhead, webhooks 25 MB)
        response = client.open(
            url,
            method=method,
            input_stream=io.BytesIO(b"x" * 16),
            environ_overrides={"CONTENT_LENGTH": str(huge)},
        )
        assert response.status_code == 413, (method, url, response.status_code)
        assert response.get_json()["error"]["code"] == "too_large", (method, url)


def test_a_chunked_body_over_the_limit_is_refused_while_reading(settings, database) -> None:  # type: ignore[no-untyped-def]
    """Without Content-Length (chunked) the limit is enforced while Slack's body is read."""
    app = limited_app(
        settings,
        max_body_bytes=1024,
        slack_signing_secret="0123456789abcdef0123456789abcdef",
        slack_bot_token="xoxb-0000-test",
    )
    response = app.test_client().post(
        "/slack/events",
        input_stream=io.BytesIO(b"a=" + b"x" * 4096),
        content_type="application/x-www-form-urlencoded",
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True, "CONTENT_LENGTH": ""},
    )
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "too_large"


def test_a_body_under_the_limit_is_served(small_app, acme) -> None:  # type: ignore[no-untyped-def]
    """An upload within the report limit is stored as usual."""
    assert upload(small_app.test_client(), acme).status_code == 201
