"""An upload keeps the request's correlation id on its run, for the jobs that follow it."""

from __future__ import annotations

from models import TestRun
from tests.api import samples
from tests.api.test_reports import XML, meta
from tests.conftest import RepoToken


def test_run_records_the_request_correlation_id(client, acme: RepoToken) -> None:  # type: ignore[no-untyped-def]
    """X-Request-Id of the upload is stored on the TestRun (reconcile re-uses it)."""
    response = client.post(
        "/api/v1/reports",
        query_string=meta(),
        data=samples.report([samples.case("test_ok")]),
        headers={**acme.headers, **XML, "X-Request-Id": "req-upload-42"},
    )
    assert response.status_code == 201, response.get_json()
    assert TestRun.get_by_id(response.get_json()["run_id"]).correlation_id == "req-upload-42"
