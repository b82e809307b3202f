"""/api/v1 reads and quarantine actions with API tokens: data, pagination, errors, tenancy."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from flakeguard.usecases import api_tokens
from models import ApiToken, Effect, Quarantine, QuarantineEvent, Tenant, TestCase, default_tenant
from tests.api.conftest import snapshot
from tests.bot import factories as f


@dataclass
class Token:
    token: str
    info: api_tokens.ApiTokenInfo

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def token(tenant_id: int, *, can_act: bool = False, name: str = "ci") -> Token:
    info, text = api_tokens.create_token(
        name, tenant_id=tenant_id, created_by="test", can_act=can_act
    )
    return Token(text, info)


@pytest.fixture
def shop(database):  # type: ignore[no-untyped-def]
    """acme/shop of the default tenant: a proposed flaky test, a broken one, a healthy one."""
    repo = f.repo("acme/shop")
    flaky = f.test_case(repo, "test_cart")
    broken = f.test_case(repo, "test_login")
    healthy = f.test_case(repo, "test_search")
    f.score(flaky, value=0.2)
    f.score(broken, state="broken", value=1.0)
    f.score(healthy, state="healthy", value=0.0)
    f.propose(flaky.id)
    f.results(flaky, "+x+")
    return repo


@pytest.fixture
def reader(shop) -> Token:  # type: ignore[no-untyped-def]
    return token(default_tenant().id)


@pytest.fixture
def actor(shop) -> Token:  # type: ignore[no-untyped-def]
    return token(default_tenant().id, can_act=True, name="bot")


@pytest.fixture
def stranger(shop) -> Token:  # type: ignore[no-untyped-def]
    """A token of another tenant (with its own repository of the same name)."""
    globex = Tenant.create(slug="globex", name="Globex")
    return token(globex.id, can_act=True)


def quarantine_of(name: str) -> Quarantine:
    return Quarantine.get(Quarantine.test_case == TestCase.get(TestCase.name == name).id)


def error(response) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    return response.status_code, response.get_json()["error"]["code"]


def test_repos_lists_the_tenants_repositories(client, reader) -> None:  # type: ignore[no-untyped-def]
    """GET /repos: counts by state and 30 days of series per repository."""
    body = client.get("/api/v1/repos", headers=reader.headers).get_json()
    [repo] = body["repos"]
    assert repo["full_name"] == "acme/shop" and repo["owner"] == "acme"
    assert repo["counts"] == {
        "tests": 3,
        "flaky": 1,
        "broken": 1,
        "quarantined": 0,
        "healthy": 1,
        "proposed": 1,
    }
    assert len(repo["series"]) == 30 and "flake_rate" in repo["series"][0]
    assert body["window_start"] == repo["series"][0]["day"]


def test_tests_page_filters_and_paginates(client, reader) -> None:  # type: ignore[no-untyped-def]
    """GET .../tests: state filter, sort by name, a cursor to the next page."""
    url = "/api/v1/repos/acme/shop/tests"
    broken = client.get(url, query_string={"state": "broken"}, headers=reader.headers).get_json()
    [row] = broken["tests"]
    assert row["name"] == "tests.test_api.test_login" and row["first_failing_sha"]
    assert row["url"] == f"/api/v1/tests/{row['test_case_id']}"
    first = client.get(
        url, query_string={"sort": "name", "limit": 2}, headers=reader.headers
    ).get_json()
    assert [t["name"].rsplit(".", 1)[1] for t in first["tests"]] == ["test_cart", "test_login"]
    assert first["tests"][0]["quarantine_state"] == "proposed"
    second = client.get(
        url,
        query_string={"sort": "name", "limit": 2, "cursor": first["next_cursor"]},
        headers=reader.headers,
    ).get_json()
    assert [t["name"].rsplit(".", 1)[1] for t in second["tests"]] == ["test_search"]
    assert second["next_cursor"] is None


def test_test_detail(client, reader) -> None:  # type: ignore[no-untyped-def]
    """GET /tests/{id}: verdict, interval, history per run, quarantine timeline."""
    test = TestCase.get(TestCase.name == "test_cart")
    body = client.get(f"/api/v1/tests/{test.id}", headers=reader.headers).get_json()
    assert body["state"] == "flaky" and body["interval"] == [0.05, 0.25]
    assert [h["outcome"] for h in body["history"]] == ["passed", "failed", "passed"]
    assert body["history"][0]["at"].endswith("Z")
    assert [e["action"] for e in body["timeline"]] == ["propose"]
    assert body["repository"] == "acme/shop"


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("/api/v1/repos/acme/shop/tests?state=sad", "bad_request"),
        ("/api/v1/repos/acme/shop/tests?sort=colour", "bad_request"),
        ("/api/v1/repos/acme/shop/tests?limit=0", "bad_request"),
        ("/api/v1/repos/acme/shop/tests?limit=201", "bad_request"),
        ("/api/v1/repos/acme/shop/tests?limit=-1", "bad_request"),
        ("/api/v1/repos/acme/shop/tests?limit=abc", "bad_request"),
        ("/api/v1/repos/acme/shop/tests?cursor=%%%", "bad_cursor"),
        ("/api/v1/repos/acme/shop/tests?cursor=WyJ4Il0", "bad_cursor"),
        ("/api/v1/repos/acme/shop/tests?q=" + "x" * 201, "bad_request"),
        ("/api/v1/repos/acme/shop/quarantines?state=happy", "bad_request"),
        ("/api/v1/repos/acme/shop/quarantines?cursor=nope", "bad_cursor"),
        ("/api/v1/repos/acme/nope/tests", "not_found"),
        ("/api/v1/repos/-acme/sh%20op/tests", "not_found"),
        ("/api/v1/repos/acme/nope", "not_found"),
        ("/api/v1/tests/999999", "not_found"),
        ("/api/v1/tests/99999999999999999999", "not_found"),
    ],
)
def test_bad_requests_are_precise_4xx(client, reader, url, code) -> None:  # type: ignore[no-untyped-def]
    """Bad state, sort, limit, cursor or search; unknown repositories and tests: 4xx, no 500."""
    response = client.get(url, headers=reader.headers)
    assert 400 <= response.status_code < 500
    assert response.get_json()["error"]["code"] == code


def test_401_without_a_valid_token(client, shop) -> None:  # type: ignore[no-untyped-def]
    """No token, an ingest-looking token, a wrong or revoked API token: 401."""
    revoked = token(default_tenant().id)
    api_tokens.revoke_token(revoked.info.prefix, tenant_id=default_tenant().id)
    for headers in (
        {},
        {"Authorization": "Bearer fgi_notapitoken"},
        {"Authorization": "Bearer fga_wrong"},
        {"Authorization": "Basic abc"},
        revoked.headers,
    ):
        assert error(client.get("/api/v1/repos", headers=headers)) == (401, "unauthorized")
        assert error(client.post("/api/v1/quarantines/1/approve", headers=headers))[0] == 401


def test_another_tenant_sees_nothing(client, stranger) -> None:  # type: ignore[no-untyped-def]
    """Another tenant's token: no repositories; acme/shop, its tests and quarantines are 404."""
    assert client.get("/api/v1/repos", headers=stranger.headers).get_json()["repos"] == []
    test = TestCase.get(TestCase.name == "test_cart")
    q = quarantine_of("test_cart")
    before = snapshot()
    for url in (
        "/api/v1/repos/acme/shop",
        "/api/v1/repos/acme/shop/tests",
        "/api/v1/repos/acme/shop/quarantines",
        f"/api/v1/tests/{test.id}",
    ):
        assert error(client.get(url, headers=stranger.headers)) == (404, "not_found"), url
    theirs = client.post(f"/api/v1/quarantines/{q.id}/approve", headers=stranger.headers)
    missing = client.post("/api/v1/quarantines/999999/approve", headers=stranger.headers)
    assert error(theirs) == error(missing) == (404, "not_found")
    assert theirs.get_json()["error"]["message"].replace(str(q.id), "N") == missing.get_json()[
        "error"
    ]["message"].replace("999999", "N")
    assert Quarantine.get_by_id(q.id).state == "proposed"
    assert snapshot() == before


def test_quarantines_list(client, reader) -> None:  # type: ignore[no-untyped-def]
    """GET .../quarantines: each quarantine with the version an action should expect."""
    body = client.get("/api/v1/repos/acme/shop/quarantines", headers=reader.headers).get_json()
    [q] = body["quarantines"]
    assert (q["state"], q["version"], q["name"]) == ("proposed", 1, "tests.test_api.test_cart")
    none = client.get(
        "/api/v1/repos/acme/shop/quarantines?state=quarantined", headers=reader.headers
    )
    assert none.get_json()["quarantines"] == []


def test_read_only_token_may_not_act(client, reader) -> None:  # type: ignore[no-untyped-def]
    """A read token's POST is 403 and changes nothing."""
    q = quarantine_of("test_cart")
    before = snapshot()
    response = client.post(f"/api/v1/quarantines/{q.id}/approve", headers=reader.headers)
    assert error(response) == (403, "forbidden")
    assert snapshot() == before


def test_approve_then_undo_through_the_use_case(client, actor) -> None:  # type: ignore[no-untyped-def]
    """Approve is audited with source api and the token as actor; Slack and GitHub effects armed."""
    q = quarantine_of("test_cart")
    response = client.post(
        f"/api/v1/quarantines/{q.id}/approve",
        json={"expected_version": 1, "reason": "flaky on CI"},
        headers=actor.headers,
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["changed"] is True
    assert (body["quarantine"]["state"], body["quarantine"]["version"]) == ("quarantined", 2)
    event = QuarantineEvent.select().order_by(QuarantineEvent.id.desc()).first()
    assert (event.action, event.source) == ("approve", "api")
    assert event.actor == f"api-token {actor.info.prefix} (bot)"
    kinds = {e.kind for e in Effect.select()}
    assert {"refresh_slack_quarantine", "mirror_quarantine"} <= kinds
    undo = client.post(f"/api/v1/quarantines/{q.id}/undo", headers=actor.headers)
    assert undo.get_json()["quarantine"]["state"] == "proposed"


def test_stale_version_is_refused(client, actor) -> None:  # type: ignore[no-untyped-def]
    """An action expecting an old version: 409 stale_version with the current one, no change."""
    q = quarantine_of("test_cart")
    response = client.post(
        f"/api/v1/quarantines/{q.id}/dismiss", json={"expected_version": 0}, headers=actor.headers
    )
    assert error(response) == (409, "stale_version")
    assert response.get_json()["error"]["current_version"] == 1
    assert Quarantine.get_by_id(q.id).state == "proposed"


def test_idempotency_key_makes_a_retry_harmless(client, actor) -> None:  # type: ignore[no-untyped-def]
    """The same Idempotency-Key twice appends one event; the second says changed: false."""
    q = quarantine_of("test_cart")
    headers = {**actor.headers, "Idempotency-Key": "retry-1"}
    first = client.post(f"/api/v1/quarantines/{q.id}/approve", headers=headers)
    again = client.post(f"/api/v1/quarantines/{q.id}/approve", headers=headers)
    assert (first.get_json()["changed"], again.get_json()["changed"]) == (True, False)
    assert QuarantineEvent.select().where(QuarantineEvent.action == "approve").count() == 1
    bad = client.post(
        f"/api/v1/quarantines/{q.id}/undo", headers={**actor.headers, "Idempotency-Key": "a b"}
    )
    assert error(bad) == (400, "bad_request")


def test_assign_and_bad_action_bodies(client, actor) -> None:  # type: ignore[no-untyped-def]
    """Assign needs a Slack user id; bad actions and bodies are 4xx; a wrong transition 409."""
    q = quarantine_of("test_cart")
    url = f"/api/v1/quarantines/{q.id}"
    ok = client.post(f"{url}/assign", json={"assignee_slack": "U0BOB"}, headers=actor.headers)
    assert ok.get_json()["quarantine"]["assignee_slack"] == "U0BOB"
    before = snapshot()
    for response, expected in (
        (client.post(f"{url}/assign", json={}, headers=actor.headers), (400, "bad_request")),
        (client.post(f"{url}/explode", headers=actor.headers), (404, "not_found")),
        (client.post(f"{url}/approve", json={"x": 1}, headers=actor.headers), (400, "bad_request")),
        (client.post(f"{url}/approve", json=[1], headers=actor.headers), (400, "bad_request")),
        (
            client.post(f"{url}/approve", json={"expected_version": "1"}, headers=actor.headers),
            (400, "bad_request"),
        ),
        (
            client.post(
                f"{url}/approve",
                data="version=1",
                content_type="application/x-www-form-urlencoded",
                headers=actor.headers,
            ),
            (415, "unsupported_media_type"),
        ),
        (
            client.post("/api/v1/quarantines/99999999999/approve", headers=actor.headers),
            (404, "not_found"),
        ),
    ):
        assert error(response) == expected
    assert snapshot() == before
    assert client.post(f"{url}/dismiss", headers=actor.headers).status_code == 200
    assert error(client.post(f"{url}/undo", headers=actor.headers)) == (409, "conflict")


def test_failed_api_token_auth_is_rate_limited(settings, shop) -> None:  # type: ignore[no-untyped-def]
    """Guessing API tokens from one address hits the failed-authentication limit (429)."""
    from dataclasses import replace

    from flakeguard.app import create_app

    app = create_app(replace(settings, rate_limit_auth_failures="3/minute"))
    app.testing = True
    client = app.test_client()
    environ = {"REMOTE_ADDR": "10.9.9.9"}
    statuses = [
        client.get(
            "/api/v1/repos", headers={"Authorization": f"Bearer fga_x{i}"}, environ_base=environ
        ).status_code
        for i in range(5)
    ]
    assert statuses == [401, 401, 401, 429, 429]


def test_last_used_is_written_once_a_minute(client, reader) -> None:  # type: ignore[no-untyped-def]
    """Two reads in a row stamp last_used_at once (the second read writes nothing)."""
    client.get("/api/v1/repos", headers=reader.headers)
    first = ApiToken.get_by_id(reader.info.id).last_used_at
    assert first is not None
    client.get("/api/v1/repos", headers=reader.headers)
    assert ApiToken.get_by_id(reader.info.id).last_used_at == first
