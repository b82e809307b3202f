"""One error tree; each class maps to one HTTP status and one Slack reply at a boundary."""


class FlakeGuardError(Exception):
    """Base of every error FlakeGuard raises on purpose."""

    status = 500
    code = "internal"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(FlakeGuardError):
    """A setting is missing or malformed; the message names the variable."""

    code = "config"


class BadRequestError(FlakeGuardError):
    """The request is malformed (bad metadata, unreadable report)."""

    status = 400
    code = "bad_request"


class ReportRejectedError(BadRequestError):
    """An uploaded report is not a readable JUnit report."""

    code = "bad_report"


class AuthError(FlakeGuardError):
    """Missing or wrong credentials."""

    status = 401
    code = "unauthorized"


class ForbiddenError(FlakeGuardError):
    """Valid credentials that do not cover this resource."""

    status = 403
    code = "forbidden"


class NotFoundError(FlakeGuardError):
    """An unknown repository, test or quarantine."""

    status = 404
    code = "not_found"


class ConflictError(FlakeGuardError):
    """The action does not fit the current state."""

    status = 409
    code = "conflict"


class PayloadTooLargeError(FlakeGuardError):
    """The body is over the configured size limit."""

    status = 413
    code = "too_large"


class UnsupportedMediaError(FlakeGuardError):
    """The content type or encoding is not one we read."""

    status = 415
    code = "unsupported_media_type"


class NotConfiguredError(FlakeGuardError):
    """An integration (Slack, GitHub) is not configured."""

    status = 503
    code = "not_configured"


class UnavailableError(FlakeGuardError):
    """A service we depend on did not answer; the request may be tried again later."""

    status = 503
    code = "unavailable"


class SlackGoneError(FlakeGuardError):
    """Slack refused for good (channel gone, token revoked): record it, do not retry.

    ``message`` is Slack's error code (``channel_not_found``, ``token_revoked``, ...).
    """

    status = 502
    code = "slack_gone"
