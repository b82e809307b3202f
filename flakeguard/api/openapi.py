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

openapi = Blueprint("openapi", __name__)

REPO_NAME = r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref("Error")}}}


ERRORS = {
    "400": _error("Malformed metadata or an unreadable report; nothing was stored."),
    "401": _error("Missing, invalid or revoked ingest token."),
    "403": _error("The token belongs to another repository."),
    "404": _error("Unknown repository."),
    "413": _error("The body is larger than the configured limit."),
    "415": _error("Unsupported content type or encoding."),
    "429": {
        "description": (
            "Rate limited (per client IP, per token, and failed authentications per client IP)."
        ),
        "headers": {
            "Retry-After": {
                "description": "Seconds to wait before retrying.",
                "schema": {"type": "integer", "minimum": 1},
            }
        },
        "content": {"application/json": {"schema": _ref("Error")}},
    },
}


def _meta_param(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": "string", **schema},
    }


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
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            }
        },
    },
    "Totals": {
        "type": "object",
        "required": ["tests", "passed", "failures", "errors", "skipped", "duration"],
        "properties": {
            "tests": {"type": "integer", "minimum": 0},
            "passed": {"type": "integer", "minimum": 0},
            "failures": {"type": "integer", "minimum": 0},
            "errors": {"type": "integer", "minimum": 0},
            "skipped": {"type": "integer", "minimum": 0},
            "duration": {"type": "number", "minimum": 0},
        },
    },
    "UploadResult": {
        "type": "object",
        "required": ["run_id", "totals", "duplicate"],
        "properties": {
            "run_id": {"type": "integer"},
            "totals": _ref("Totals"),
            "duplicate": {"type": "boolean"},
        },
    },
    "QuarantinedTest": {
        "type": "object",
        "required": ["key", "name", "classname", "file", "since", "reason"],
        "properties": {
            "key": {"type": "string"},
            "name": {"type": "string"},
            "classname": {"type": "string"},
            "file": {"type": ["string", "null"]},
            "since": {"type": ["string", "null"], "format": "date-time"},
            "reason": {"type": "string"},
            "issue_url": {"type": ["string", "null"]},
        },
    },
    "QuarantineList": {
        "type": "object",
        "required": ["repo", "tests"],
        "properties": {
            "repo": {"type": "string"},
            "tests": {"type": "array", "items": _ref("QuarantinedTest")},
        },
    },
    "ApiIndex": {
        "type": "object",
        "required": ["name", "version", "endpoints"],
        "properties": {
            "name": {"type": "string"},
            "version": {"type": "integer"},
            "endpoints": {"type": "array", "items": {"type": "string"}},
        },
    },
    "Check": {
        "type": "object",
        "required": ["ok"],
        "properties": {"ok": {"type": "boolean"}, "error": {"type": "string"}},
    },
    "Health": {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"type": "string", "enum": ["ok", "unavailable"]}},
    },
}


def build_document(*, server_url: str = "/") -> dict[str, Any]:
    """The OpenAPI 3.1 document (a plain dict)."""
    token = [{"ingestToken": []}]
    json_of = lambda name: {"application/json": {"schema": _ref(name)}}  # noqa: E731
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
                        "201": {
                            "description": "Stored as a new run.",
                            "content": json_of("UploadResult"),
                        },
                        "200": {
                            "description": "The same upload was already stored.",
                            "content": json_of("UploadResult"),
                        },
                        **{k: ERRORS[k] for k in ("400", "401", "403", "413", "415", "429")},
                    },
                }
            },
            "/api/v1/repos/{owner}/{repo}/quarantine": {
                "get": {
                    "operationId": "listQuarantined",
                    "summary": "The quarantined tests of a repository, for the CI gate.",
                    "security": token,
                    "parameters": [
                        {
                            "name": "owner",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        },
                        {
                            "name": "repo",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "The quarantine list.",
                            "content": json_of("QuarantineList"),
                        },
                        **{k: ERRORS[k] for k in ("400", "401", "403", "404", "429")},
                    },
                }
            },
            "/api/v1/": {
                "get": {
                    "operationId": "apiIndex",
                    "summary": "What the API offers.",
                    "responses": {
                        "200": {"description": "The API index.", "content": json_of("ApiIndex")},
                        "429": ERRORS["429"],
                    },
                }
            },
            "/health": {
                "get": {
                    "operationId": "health",
                    "summary": "Liveness: the process is up.",
                    "responses": {"200": {"description": "Up.", "content": json_of("Health")}},
                }
            },
            "/health/ready": {
                "get": {
                    "operationId": "ready",
                    "summary": "Readiness: the database is reachable and migrated.",
                    "responses": {
                        "200": {"description": "Ready.", "content": json_of("Health")},
                        "503": {"description": "Not ready.", "content": json_of("Health")},
                    },
                }
            },
            "/health/deep": {
                "get": {
                    "operationId": "deepHealth",
                    "summary": "Database, queue and which integrations are configured.",
                    "responses": {
                        "200": {"description": "Every check passed.", "content": json_of("Health")},
                        "503": {"description": "A check failed.", "content": json_of("Health")},
                    },
                }
            },
        },
    }


@openapi.get("/api/openapi.json")
def openapi_json() -> Response:
    """The OpenAPI document, with this deployment's public URL as the server."""
    settings = current_app.extensions["flakeguard"].settings
    return jsonify(build_document(server_url=settings.public_url))
