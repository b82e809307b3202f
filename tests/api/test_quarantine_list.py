"""GET /api/v1/repos/<owner>/<repo>/quarantine: the quarantined tests, for the CI gate."""

from __future__ import annotations

from models import Quarantine, TestCase, utcnow
from tests.api.conftest import snapshot
from tests.conftest import RepoToken

URL = "/api/v1/repos/acme/shop/quarantine"


def add_test(acme: RepoToken, name: str, state: str | None) -> TestCase:
    """A test case of acme/shop with a quarantine in ``state`` (None: no quarantine)."""
    test = TestCase.create(repository=acme.repo, key=f"tests.mod::{name}", name=name)
    if state is not None:
        Quarantine.create(
            test_case=test,
            repository=acme.repo,
            state=state,
            reason="flaky",
            quarantined_at=utcnow() if state == "quarantined" else None,
        )
    return test


def test_lists_only_quarantined_tests(client, acme, other) -> None:  # type: ignore[no-untyped-def]
    """Only tests whose quarantine is in force are listed, with key and name."""
    add_test(acme, "test_a", "quarantined")
    add_test(acme, "test_b", "proposed")
    add_test(acme, "test_c", "lifted")
    add_test(acme, "test_d", None)
    elsewhere = TestCase.create(repository=other.repo, key="tests.mod::test_x", name="test_x")
    Quarantine.create(test_case=elsewhere, repository=other.repo, state="quarantined")
    response = client.get(URL, headers=acme.headers)
    assert response.status_code == 200
    body = response.get_json()
    assert body["repo"] == "acme/shop"
    assert [(t["key"], t["name"]) for t in body["tests"]] == [("tests.mod::test_a", "test_a")]
    assert body["tests"][0]["since"].endswith("Z")


def test_empty_list(client, acme) -> None:  # type: ignore[no-untyped-def]
    """A repository with no quarantine answers an empty list."""
    assert client.get(URL, headers=acme.headers).get_json()["tests"] == []


def test_needs_the_repository_token(client, acme, other) -> None:  # type: ignore[no-untyped-def]
    """No token is 401, another repository's token 403, and nothing changes."""
    before = snapshot()
    missing = client.get(URL)
    assert (missing.status_code, missing.get_json()["error"]["code"]) == (401, "unauthorized")
    forbidden = client.get(URL, headers=other.headers)
    assert (forbidden.status_code, forbidden.get_json()["error"]["code"]) == (403, "forbidden")
    assert snapshot() == before
