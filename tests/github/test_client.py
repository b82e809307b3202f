"""Our GitHub client on the fake: App JWT, cached installation tokens, retries, the breaker."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from flakeguard.usecases.github import GitHubGoneError, GitHubUnavailableError
from integrations.github.auth import InstallationTokens, now_utc
from integrations.github.client import CircuitBreaker, GitHubClient, default_retry
from tests.fakes.github import GHES_PREFIX, INSTALLATION_ID, REPO


def list_labels(client: GitHubClient) -> list[str]:
    return client.call(
        INSTALLATION_ID, "labels", lambda gh: [x.name for x in gh.get_repo(REPO).get_labels()]
    )


def test_app_jwt_is_exchanged_for_an_installation_token_used_on_api_calls(
    fake_github, github_client
):
    """The App JWT (verified by the fake with the public key) buys the token API calls carry."""
    list_labels(github_client)
    [grant] = fake_github.calls_to("POST", r"^/app/installations/777/access_tokens$")
    assert grant.headers["Authorization"].startswith("Bearer ")
    [api] = fake_github.calls_to("GET", r"/labels$")
    token = api.headers["Authorization"].removeprefix("token ")
    assert fake_github.tokens[token] == INSTALLATION_ID


def test_installation_token_is_cached_until_shortly_before_it_expires(fake_github, github_client):
    """Many calls share one token; a token within 5 minutes of expiry is replaced."""
    now = [now_utc()]
    github_client.tokens = InstallationTokens(github_client.fetch_token, clock=lambda: now[0])
    for _ in range(3):
        list_labels(github_client)
    assert len(fake_github.calls_to("POST", r"access_tokens$")) == 1
    now[0] += timedelta(minutes=54)  # the fake's tokens live one hour
    list_labels(github_client)
    assert len(fake_github.calls_to("POST", r"access_tokens$")) == 1
    now[0] += timedelta(minutes=2)
    list_labels(github_client)
    assert len(fake_github.calls_to("POST", r"access_tokens$")) == 2


def test_a_jwt_signed_with_another_key_is_refused(github_settings, fake_github):
    """A wrong private key: GitHub refuses the JWT, reported as a refusal, not retried."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    client = GitHubClient.from_settings(
        dataclasses.replace(github_settings, github_app_private_key=other.decode()),
        retry=default_retry(total=2, backoff_factor=0),
        throttle=False,
    )
    with pytest.raises(GitHubGoneError, match="401"):
        list_labels(client)
    assert len(fake_github.calls) == 1


def test_ghes_base_url_prefixes_every_call(github_settings, fake_github):
    """With GITHUB_API_URL on a GHES host (…/api/v3), tokens and API calls go under it."""
    client = GitHubClient.from_settings(
        dataclasses.replace(github_settings, github_api_url=fake_github.url + GHES_PREFIX),
        retry=default_retry(total=2, backoff_factor=0),
        throttle=False,
    )
    list_labels(client)
    assert [c.raw_path for c in fake_github.calls] == [
        f"{GHES_PREFIX}/app/installations/{INSTALLATION_ID}/access_tokens",
        f"{GHES_PREFIX}/repos/{REPO}/labels",
    ]


def test_429_with_retry_after_is_retried(fake_github, github_client):
    """A 429 with Retry-After is retried by GithubRetry and the call succeeds."""
    list_labels(github_client)
    fake_github.rate_limited = 1
    assert list_labels(github_client) == []
    assert len(fake_github.calls_to("GET", r"/labels$")) == 3  # ok, 429, ok


def test_secondary_rate_limit_is_retried(fake_github, github_client):
    """A 403 secondary rate limit with Retry-After is retried and the call succeeds."""
    list_labels(github_client)
    fake_github.secondary_limited = 1
    assert list_labels(github_client) == []
    assert len(fake_github.calls_to("GET", r"/labels$")) == 3


def test_persistent_429_becomes_unavailable(fake_github, github_client):
    """Rate limited beyond the retries: GitHubUnavailableError, for the task to retry later."""
    list_labels(github_client)
    fake_github.rate_limited = 10
    with pytest.raises(GitHubUnavailableError):
        list_labels(github_client)
    assert fake_github.rate_limited == 7  # the try and 2 retries


def test_404_is_gone_and_not_retried(fake_github, github_client):
    """A 404 maps to GitHubGoneError after one request."""
    list_labels(github_client)
    fake_github.gone_repos.add(REPO)
    with pytest.raises(GitHubGoneError, match="404"):
        list_labels(github_client)
    assert len(fake_github.calls_to("GET", r"/labels$")) == 2


def test_breaker_opens_after_threshold_and_half_opens_after_cooldown():
    """Three failures in a row open the breaker for the cooldown; then one try is let through."""
    now = [0.0]
    breaker = CircuitBreaker(threshold=3, cooldown=30, clock=lambda: now[0])
    for _ in range(2):
        breaker.failed()
    breaker.check()  # still closed
    breaker.failed()
    with pytest.raises(GitHubUnavailableError, match="paused"):
        breaker.check()
    now[0] = 31
    breaker.check()  # half-open: a try is allowed
    breaker.failed()
    assert breaker.is_open  # and failing again reopens it at once
    breaker.succeeded()
    assert not breaker.is_open


def test_default_retry_covers_5xx_429_and_writes():
    """The one retry policy retries 5xx and 429 on GET/POST/PATCH and caps Retry-After."""
    retry = default_retry()
    assert {429, 500, 502, 503} <= set(retry.status_forcelist)
    assert {"GET", "POST", "PATCH"} <= set(retry.allowed_methods)
    assert retry.new().max_retry_after == retry.max_retry_after


def test_issue_web_urls_for_github_and_ghes():
    """Issue links point at github.com, or at the GHES host behind GITHUB_API_URL."""
    from flakeguard.usecases.github import issue_url

    assert issue_url("https://api.github.com", REPO, 3) == f"https://github.com/{REPO}/issues/3"
    assert issue_url("https://ghe.example/api/v3", REPO, 3) == (
        f"https://ghe.example/{REPO}/issues/3"
    )


def test_worker_threads_share_the_client_safely(fake_github, github_client):
    """Concurrent calls from several threads each get their own answer (one token for all)."""
    from concurrent.futures import ThreadPoolExecutor

    from tests.fakes.github import Issue

    fake_github.issues[REPO] = {n: Issue(n, f"issue {n}", "") for n in range(1, 9)}

    def title(n: int) -> str:
        return github_client.call(
            INSTALLATION_ID, "issue", lambda gh: gh.get_repo(REPO).get_issue(n).title
        )

    list_labels(github_client)  # one token, fetched before the threads start
    numbers = [1 + i % 8 for i in range(160)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        titles = list(pool.map(title, numbers))
    assert titles == [f"issue {n}" for n in numbers]
    assert len(fake_github.calls_to("POST", r"access_tokens$")) == 1
