"""The OpenAPI 3 document of the REST API, served at ``/api/openapi.json``.

Written by hand from the handlers (``flakeguard/api/reports.py``, the API index,
the health checks, and ``flakeguard/api/v1.py`` in ``openapi_v1.py``);
``tests/ops/test_openapi.py`` runs schemathesis against the app to keep the two in line.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify
from flask.wrappers import Response

from flakeguard.api import openapi_v1
from flakeguard.api.openapi_shapes import (
    BOOL,
    COUNT,
    INT,
    NSTR,
    NTIME,
    STR,
    array,
    error,
    get,
    obj,
    path_param,
    query_param,
    rate_limited,
    ref,
    response,
)

openapi = Blueprint("openapi", __name__)

REPO_NAME = r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$"


ERRORS = {
    "400": error("Malformed metadata or an unreadable report; nothing was stored."),
    "401": error("Missing, invalid or revoked ingest token."),
    "403": error("The token belongs to another repository."),
    "404": error("Unknown repository."),
    "413": error("The body is larger than the configured limit."),
    "415": error("Unsupported content type or encoding."),
    "429": rate_limited(
        "Rate limited (per client IP, per token, and failed authentications per client IP)."
    ),
}


def _meta_param(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return query_param(name, description, type="string", **schema)


UPLOAD_PARAMS = [
    _meta_param("repo", "owner/name (required here or as a multipart field).", pattern=REPO_NAME),
    _meta_param(
        "sha",
        "The 40-character commit SHA (required here or as a multipart field).",
        pattern="^[0-9a-fA-F]{40}$",
    ),
    _meta_param("branch", "Branch name.", maxLength=255),
    _meta_param(
        "run_id", "CI run id (with job and attempt, identifies the upload).", maxLength=100
    ),
    _meta_param("job", "CI job name.", maxLength=255),
    _meta_param("attempt", "Attempt number (1..10000), default 1.", pattern="^[0-9]{1,5}$"),
    _meta_param("pr", "Pull request number.", pattern="^[0-9]{1,10}$"),
    _meta_param(
        "started_at",
        "ISO 8601 start time of the run (UTC when no offset), from 2000-01-01 to one day ahead.",
    ),
]

SCHEMAS: dict[str, Any] = {
    "Error": obj(error=obj(code=STR, message=STR)),
    "Totals": obj(
        tests=COUNT,
        passed=COUNT,
        failures=COUNT,
        errors=COUNT,
        skipped=COUNT,
        duration={"type": "number", "minimum": 0},
    ),
    "UploadResult": obj(run_id=INT, totals=ref("Totals"), duplicate=BOOL),
    "QuarantinedTest": obj(
        {"issue_url": NSTR},
        key=STR,
        name=STR,
        classname=STR,
        file=NSTR,
        since=NTIME,
        reason=STR,
    ),
    "QuarantineList": obj(repo=STR, tests=array("QuarantinedTest")),
    "ApiIndex": obj(name=STR, version=INT, endpoints={"type": "array", "items": STR}),
    "Check": obj({"error": STR}, ok=BOOL),
    "Health": obj(status={"type": "string", "enum": ["ok", "unavailable"]}),
}


def build_document(*, server_url: str = "/") -> dict[str, Any]:
    """The OpenAPI 3.1 document (a plain dict)."""
    token = [{"ingestToken": []}]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "FlakeGuard REST API",
            "version": "1",
            "description": (
                "Upload JUnit XML reports from CI and read the quarantine list (ingest tokens); "
                "read repositories, tests and quarantines and act on quarantines (API tokens). "
                "Every error "
                'is `{"error": {"code", "message"}}`. `/api` is rate limited per client IP '
                "and per token, and failed authentications (401) per client IP have a much "
                "lower limit (429 with Retry-After)."
            ),
        },
        "servers": [{"url": server_url}],
        "components": {
            "securitySchemes": {
                "ingestToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A per-repository ingest token (`flakeguard repo add`).",
                },
                "apiToken": openapi_v1.SECURITY_SCHEME,
            },
            "schemas": {**SCHEMAS, **openapi_v1.SCHEMAS},
        },
        "paths": {
            **openapi_v1.PATHS,
            "/api/v1/reports": {
                "post": {
                    "operationId": "uploadReport",
                    "summary": "Store one CI job's JUnit report(s) as one run.",
                    "description": (
                        "Send one JUnit XML file as the body (optionally `Content-Encoding: "
                        "gzip`) with the metadata as query parameters, or `multipart/form-data` "
                        "with one or more report files and the metadata as fields. The same "
                        "upload twice is stored once (200, `duplicate: true`)."
                    ),
                    "security": token,
                    "parameters": UPLOAD_PARAMS,
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/xml": {"schema": {"type": "string"}},
                            "multipart/form-data": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "report": {"type": "string", "format": "binary"},
                                        "repo": {"type": "string"},
                                        "sha": {"type": "string"},
                                    },
                                }
                            },
                        },
                    },
                    "responses": {
                        "201": response("Stored as a new run.", "UploadResult"),
                        "200": response("The same upload was already stored.", "UploadResult"),
                        **{k: ERRORS[k] for k in ("400", "401", "403", "413", "415", "429")},
                    },
                }
            },
            "/api/v1/repos/{owner}/{repo}/quarantine": get(
                "listQuarantined",
                "The quarantined tests of a repository, for the CI gate.",
                {
                    "200": response("The quarantine list.", "QuarantineList"),
                    **{k: ERRORS[k] for k in ("400", "401", "403", "404", "429")},
                },
                security=token,
                parameters=[path_param("owner"), path_param("repo")],
            ),
            "/api/v1/": get(
                "apiIndex",
                "What the API offers.",
                {"200": response("The API index.", "ApiIndex"), "429": ERRORS["429"]},
            ),
            "/health": get(
                "health", "Liveness: the process is up.", {"200": response("Up.", "Health")}
            ),
            "/health/ready": get(
                "ready",
                "Readiness: the database is reachable and migrated.",
                {"200": response("Ready.", "Health"), "503": response("Not ready.", "Health")},
            ),
            "/health/deep": get(
                "deepHealth",
                "Database, queue and which integrations are configured.",
                {
                    "200": response("Every check passed.", "Health"),
                    "503": response("A check failed.", "Health"),
                },
            ),
        },
    }


@openapi.get("/api/openapi.json")
def openapi_json() -> Response:
    """The OpenAPI document, with this deployment's public URL as the server."""
    settings = current_app.extensions["flakeguard"].settings
    return jsonify(build_document(server_url=settings.public_url))
