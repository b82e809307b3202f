"""The pieces the OpenAPI document is built of: JSON-schema types, objects, parameters,
responses and operations, shared by ``openapi.py`` and ``openapi_v1.py``."""

from __future__ import annotations

from typing import Any

STR = {"type": "string"}
INT = {"type": "integer"}
NUM = {"type": "number"}
BOOL = {"type": "boolean"}
COUNT = {"type": "integer", "minimum": 0}
TIME = {"type": "string", "format": "date-time"}
NSTR = {"type": ["string", "null"]}
NINT = {"type": ["integer", "null"]}
NTIME = {"type": ["string", "null"], "format": "date-time"}
NNUM = {"type": ["number", "null"]}


def ref(name: str) -> dict[str, str]:
    """A reference to the schema ``name`` of the document's components."""
    return {"$ref": f"#/components/schemas/{name}"}


def json_of(schema: str) -> dict[str, Any]:
    """A JSON body of the component schema ``schema``."""
    return {"application/json": {"schema": ref(schema)}}


def response(description: str, schema: str) -> dict[str, Any]:
    """A response whose JSON body is the component schema ``schema``."""
    return {"description": description, "content": json_of(schema)}


def error(description: str) -> dict[str, Any]:
    """An error response: every error body is ``{"error": {"code", "message"}}``."""
    return response(description, "Error")


def rate_limited(description: str) -> dict[str, Any]:
    """The 429 response, with the Retry-After header it carries."""
    return {
        **error(description),
        "headers": {
            "Retry-After": {
                "description": "Seconds to wait before retrying.",
                "schema": {"type": "integer", "minimum": 1},
            }
        },
    }


def obj(optional: dict[str, Any] | None = None, **required: Any) -> dict[str, Any]:
    """An object with these properties, every one required but those in ``optional``."""
    return {
        "type": "object",
        "required": sorted(required),
        "properties": {**required, **(optional or {})},
    }


def array(schema: str) -> dict[str, Any]:
    """An array of the component schema ``schema``."""
    return {"type": "array", "items": ref(schema)}


def path_param(name: str, description: str | None = None, **schema: Any) -> dict[str, Any]:
    """A path parameter (a string unless ``schema`` says otherwise)."""
    described = {"description": description} if description else {}
    return {"name": name, "in": "path", "required": True, **described, "schema": schema or STR}


def query_param(name: str, description: str, **schema: Any) -> dict[str, Any]:
    """An optional query parameter."""
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


def get(operation_id: str, summary: str, responses: dict[str, Any], **more: Any) -> dict[str, Any]:
    """A path item with one GET operation (``more``: security, parameters, ...)."""
    return {
        "get": {"operationId": operation_id, "summary": summary, **more, "responses": responses}
    }
