"""One error tree; each class maps to one HTTP status and one Slack reply at a boundary."""


class FlakeGuardError(Exception):
    """Base of every error FlakeGuard raises on purpose."""

    status = 500
    code = "internal"

    def __init_subclass__(cls, *, status: int | None = None, code: str | None = None) -> None:
        """Take the HTTP status and error code from the class line (inherited when absent)."""
        super().__init_subclass__()
        if status is not None:
            cls.status = status
        if code is not None:
            cls.code = code

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(FlakeGuardError, code="config"):
    """A setting is missing or malformed; the message names the variable."""


class BadRequestError(FlakeGuardError, status=400, code="bad_request"):
    """The request is malformed (bad metadata, unreadable report)."""


class ReportRejectedError(BadRequestError, code="bad_report"):
    """An uploaded report is not a readable JUnit report."""


class AuthError(FlakeGuardError, status=401, code="unauthorized"):
    """Missing or wrong credentials."""


class ForbiddenError(FlakeGuardError, status=403, code="forbidden"):
    """Valid credentials that do not cover this resource."""


class NotFoundError(FlakeGuardError, status=404, code="not_found"):
    """An unknown repository, test or quarantine."""


class ConflictError(FlakeGuardError, status=409, code="conflict"):
    """The action does not fit the current state."""


class PayloadTooLargeError(FlakeGuardError, status=413, code="too_large"):
    """The body is over the configured size limit."""


class UnsupportedMediaError(FlakeGuardError, status=415, code="unsupported_media_type"):
    """The content type or encoding is not one we read."""


class NotConfiguredError(FlakeGuardError, status=503, code="not_configured"):
    """An integration (Slack, GitHub) is not configured."""


class UnavailableError(FlakeGuardError, status=503, code="unavailable"):
    """A service we depend on did not answer; the request may be tried again later."""


class SlackGoneError(FlakeGuardError, status=502, code="slack_gone"):
    """Slack refused for good (channel gone, token revoked): record it, do not retry.

    ``message`` is Slack's error code (``channel_not_found``, ``token_revoked``, ...).
    """
