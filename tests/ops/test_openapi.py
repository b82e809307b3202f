"""The OpenAPI document matches the app: a bounded schemathesis run finds no 5xx, no drift."""

from __future__ import annotations

import re

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from flakeguard.api.openapi import build_document
from flakeguard.usecases import api_tokens
from models import FlakeScore, Quarantine, TestCase, TestRun, utcnow
from tests.stored import add_result

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
EXAMPLES = 25  # per operation and backend: bounded, deterministic (derandomize)


def test_document_lists_the_rest_api(client) -> None:  # type: ignore[no-untyped-def]
    """/api/openapi.json is an OpenAPI 3 document naming every REST endpoint."""
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    doc = response.get_json()
    assert doc["openapi"].startswith("3.")
    assert set(doc["paths"]) >= {
        "/api/v1/reports",
        "/api/v1/repos/{owner}/{repo}/quarantine",
        "/api/v1/",
        "/api/v1/repos",
        "/api/v1/repos/{owner}/{repo}/tests",
        "/api/v1/repos/{owner}/{repo}/quarantines",
        "/api/v1/tests/{test_id}",
        "/api/v1/quarantines/{quarantine_id}/{action}",
        "/health",
        "/health/ready",
        "/health/deep",
    }
    assert doc["servers"] == [{"url": "http://flakeguard.test"}]
    assert build_document()["paths"].keys() == doc["paths"].keys()


def test_every_documented_path_is_routed(app) -> None:  # type: ignore[no-untyped-def]
    """Each documented path and method exists in the app's URL map."""
    routed = {
        (re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule).replace("{name}", "{repo}"), method)
        for rule in app.url_map.iter_rules()
        for method in rule.methods
    }
    for path, operations in build_document()["paths"].items():
        for method in operations:
            assert (path, method.upper()) in routed, (method, path)


def test_schemathesis_finds_no_server_error_and_no_drift(app, acme) -> None:  # type: ignore[no-untyped-def]
    """Generated requests to every operation get documented statuses, types and bodies, no 5xx."""
    case = TestCase.create(repository=acme.repo, key="t.mod::test_x", name="test_x")
    Quarantine.create(
        test_case=case, repository=acme.repo, state="quarantined", quarantined_at=utcnow()
    )
    FlakeScore.create(test_case=case, repository=acme.repo, state="flaky", score=0.2)
    run = TestRun.create(repository=acme.repo, sha="a" * 40, content_digest="d")
    add_result(run, case, "failed", message="boom")
    _, api_token = api_tokens.create_token(
        "schemathesis", tenant_id=acme.repo.tenant_id, created_by="test", can_act=True
    )
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 12
    checked: list[str] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def call(case) -> None:  # type: ignore[no-untyped-def]
            ingest = case.path in ("/api/v1/reports", "/api/v1/repos/{owner}/{repo}/quarantine")
            token = acme.token if ingest else api_token
            case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)

        call()
        checked.append(operation.label)
    assert len(checked) == 12
