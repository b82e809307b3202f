"""HTTP helpers shared by every blueprint: the JSON error shape."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from flakeguard.errors import FlakeGuardError


def error_response(status: int, code: str, message: str, **extra: Any) -> tuple[Response, int]:
    """``{"error": {"code", "message"}}`` with ``status``."""
    body: dict[str, Any] = {"code": code, "message": message}
    body.update(extra)
    return jsonify({"error": body}), status


def from_error(exc: FlakeGuardError) -> tuple[Response, int]:
    """Render a FlakeGuardError as its JSON error."""
    return error_response(exc.status, exc.code, exc.message)
