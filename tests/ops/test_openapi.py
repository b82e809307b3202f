"""The OpenAPI document matches the app: a bounded schemathesis run finds no 5xx, no drift."""

from __future__ import annotations

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
from models import Quarantine, TestCase, utcnow

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
        "/health",
        "/health/ready",
        "/health/deep",
    }
    assert doc["servers"] == [{"url": "http://flakeguard.test"}]
    assert build_document()["paths"].keys() == doc["paths"].keys()


def test_every_documented_path_is_routed(app) -> None:  # type: ignore[no-untyped-def]
    """Each documented path and method exists in the app's URL map."""
    routed = {
        (rule.rule.replace("<owner>", "{owner}").replace("<name>", "{repo}"), method)
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
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 6
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
        def run(case) -> None:  # type: ignore[no-untyped-def]
            case.call_and_validate(headers=acme.headers, checks=CHECKS)

        run()
        checked.append(operation.label)
    assert len(checked) == 6
