"""Hardening: API rate limits, security headers, body size limits on every endpoint.

- ``/api/...`` is rate limited per client IP and per bearer token (Flask-Limiter;
  Redis storage when ``REDIS_URL`` is set, memory otherwise). Failed
  authentication (a 401: a missing, wrong or revoked token) has its own, much
  lower limit per client IP, ``FLAKEGUARD_RATE_LIMIT_AUTH_FAILURES``: only 401
  answers count, and past the limit that address gets 429 before its token is
  even looked at, so guessing tokens costs a minute per handful of tries. A
  refused request gets 429, ``Retry-After`` and the JSON error shape. When Redis does not answer
  the limits fall back to memory: uploads are never refused because Redis is down.
- Every response carries the usual security headers.
- Every endpoint has a body size limit, checked on ``Content-Length`` before
  the handler runs and enforced while reading a chunked body: uploads
  ``FLAKEGUARD_MAX_REPORT_BYTES`` (plus multipart overhead), GitHub webhooks
  25 MB (GitHub's own cap), everything else ``FLAKEGUARD_MAX_BODY_BYTES``.
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
import time
from typing import Any

from flask import Flask, Response, request
from flask_limiter import ApplicationLimit, Limiter, RateLimitExceeded, RequestLimit
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix

from flakeguard import metrics
from flakeguard.http import error_response
from flakeguard.settings import Settings

log = logging.getLogger(__name__)

API_PREFIX = "/api/"
UPLOAD_ENDPOINT = "reports.upload_report"
WEBHOOK_ENDPOINT = "github.webhook"
WEBHOOK_MAX_BYTES = 25 * 2**20
UPLOAD_OVERHEAD = 2**20  # multipart boundaries, part headers, metadata fields
AUTH_FAILURES_SCOPE = "api-auth-failures"

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    # JSON everywhere; the Slack install page only shows Slack's button image.
    "Content-Security-Policy": (
        "default-src 'none'; img-src 'self' https:; style-src 'unsafe-inline'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
}
HSTS = "max-age=31536000; includeSubDomains"


def wire(app: Flask, settings: Settings) -> Limiter:
    """Install rate limits, security headers and body limits on ``app``."""
    if settings.trusted_proxies:
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]
    _wire_body_limits(app, settings)
    _wire_headers(app, settings)
    return _wire_rate_limits(app, settings)


# -- rate limits -----------------------------------------------------------------------------


def client_ip() -> str:
    """The client address (after ProxyFix when FLAKEGUARD_TRUSTED_PROXIES is set)."""
    return request.remote_addr or "unknown"


def bearer_token() -> str | None:
    """The bearer token of the request, if any."""
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def token_key() -> str:
    """A rate-limit key for the bearer token: a hash, so no token is ever stored in Redis."""
    token = bearer_token() or ""
    return "token:" + hashlib.sha256(token.encode()).hexdigest()[:32]


def _not_api() -> bool:
    return not request.path.startswith(API_PREFIX)


def _no_token() -> bool:
    return _not_api() or bearer_token() is None


def storage_uri(redis_url: str | None) -> str:
    """The ``limits`` storage URI for ``REDIS_URL`` (memory when unset)."""
    if not redis_url:
        return "memory://"
    if redis_url.startswith("unix://"):
        return "redis+unix://" + redis_url.removeprefix("unix://")
    return redis_url


def _auth_failed(response: Response) -> bool:
    return response.status_code == 401


def redis_storage_options(settings: Settings) -> dict[str, float]:
    """Timeouts for the limits' Redis client: a frozen Redis fails fast, then memory is used."""
    if not settings.redis_url:
        return {}
    return {
        "socket_connect_timeout": settings.redis_connect_timeout,
        "socket_timeout": settings.redis_timeout,
    }


def _on_breach(limit: RequestLimit) -> Response:
    retry_after = max(1, math.ceil(limit.reset_at - time.time()))
    if AUTH_FAILURES_SCOPE in limit.key:
        which, what = "auth", "failed authentications per address"
    elif "api-token" in limit.key:
        which, what = "token", "requests per token"
    else:
        which, what = "ip", "requests per ip"
    metrics.count("rate_limited", limit=which)
    response, status = error_response(
        429,
        "rate_limited",
        f"too many {what} (limit {limit.limit}); retry in {retry_after} s",
    )
    response.status_code = status
    response.headers["Retry-After"] = str(retry_after)
    return response


def _wire_rate_limits(app: Flask, settings: Settings) -> Limiter:
    limiter = Limiter(
        client_ip,
        app=app,
        storage_uri=storage_uri(settings.redis_url),
        storage_options=redis_storage_options(settings),
        strategy="sliding-window-counter",
        key_prefix="flakeguard",
        application_limits=[
            ApplicationLimit(
                settings.rate_limit_ip, key_function=client_ip, scope="api-ip", exempt_when=_not_api
            ),
            ApplicationLimit(
                settings.rate_limit_token,
                key_function=token_key,
                scope="api-token",
                exempt_when=_no_token,
            ),
            # Checked before the request, counted after it only when it answered 401.
            ApplicationLimit(
                settings.rate_limit_auth_failures,
                key_function=client_ip,
                scope=AUTH_FAILURES_SCOPE,
                exempt_when=_not_api,
                deduct_when=_auth_failed,
            ),
        ],
        headers_enabled=True,
        swallow_errors=True,
        in_memory_fallback_enabled=bool(settings.redis_url),
        on_breach=_on_breach,
    )

    # Outside /api nothing is limited: such requests never reach the limits' storage, not
    # even the periodic "is Redis back?" check Flask-Limiter makes while it is down (so
    # /health never waits on Redis).
    limiter.request_filter(_not_api)

    @app.errorhandler(RateLimitExceeded)
    def rate_limited(exc: RateLimitExceeded) -> Any:
        # The app's generic HTTPException handler would drop on_breach's response.
        return exc.response or error_response(429, "rate_limited", exc.description or "")

    return limiter


# -- headers ---------------------------------------------------------------------------------


def _wire_headers(app: Flask, settings: Settings) -> None:
    hsts = settings.public_url.startswith("https://")

    @app.after_request
    def security_headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if hsts:
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        if request.path.startswith(API_PREFIX):
            response.headers.setdefault("Cache-Control", "no-store")
        if response.status_code != 429:
            response.headers.pop("Retry-After", None)  # Flask-Limiter adds it to every answer
        return response


# -- body limits -----------------------------------------------------------------------------


def body_limit(settings: Settings, endpoint: str | None) -> int:
    """The largest body (bytes) the endpoint accepts."""
    if endpoint == UPLOAD_ENDPOINT:
        return settings.max_report_bytes + UPLOAD_OVERHEAD
    if endpoint == WEBHOOK_ENDPOINT:
        return WEBHOOK_MAX_BYTES
    return settings.max_body_bytes


def _wire_body_limits(app: Flask, settings: Settings) -> None:
    @app.before_request
    def limit_body() -> Any:
        limit = body_limit(settings, request.endpoint)
        length = request.content_length
        if length is not None and length > limit:
            return _too_large(limit)
        request.max_content_length = limit
        environ = request.environ
        if environ.get("wsgi.input_terminated") and not environ.get("CONTENT_LENGTH"):
            if request.endpoint == UPLOAD_ENDPOINT:
                return None  # the upload handler streams it under its own budget (413)
            # A chunked body: werkzeug would cut it at the limit without a word; read it
            # here (at most limit + 1 bytes) and refuse it whole when it is too large.
            body = environ["wsgi.input"].read(limit + 1)
            if len(body) > limit:
                return _too_large(limit)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            environ.pop("wsgi.input_terminated", None)
            environ.pop("HTTP_TRANSFER_ENCODING", None)
        return None

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(exc: RequestEntityTooLarge) -> Any:
        return _too_large(body_limit(settings, request.endpoint))


def _too_large(limit: int) -> Any:
    return error_response(413, "too_large", f"the request body is larger than {limit} bytes")
