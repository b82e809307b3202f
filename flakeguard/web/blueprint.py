"""The dashboard blueprint: CSRF on every form, its own security headers, HTML error pages."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, Response, current_app, redirect, render_template, url_for
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException

from flakeguard.errors import FlakeGuardError
from flakeguard.settings import Settings
from flakeguard.usecases.web_auth import SignedIn
from flakeguard.web.sessions import current_person

web = Blueprint(
    "web",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/assets",
)

# Only our own stylesheet; no script runs; forms post here; images are ours or inline SVG.
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


def settings() -> Settings:
    """The app's settings."""
    return current_app.extensions["flakeguard"].settings


def person() -> SignedIn:
    """The signed-in person (only inside views decorated with :func:`signed_in_only`)."""
    found = current_person()
    assert found is not None
    return found


def signed_in_only(view: Callable[..., Any]) -> Callable[..., Any]:
    """Send a signed-out visitor to the sign-in page (nothing else is shown to them)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_person() is None:
            return redirect(url_for("web.index"))
        return view(*args, **kwargs)

    return wrapper


@web.before_request
def check_csrf() -> None:
    csrf: CSRFProtect = current_app.extensions["csrf"]
    csrf.protect()  # GET, HEAD and OPTIONS pass; a form without the session's token is 400


@web.after_request
def headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers.setdefault("Cache-Control", "no-store")  # pages show one tenant's data
    return response


@web.context_processor
def page_globals() -> dict[str, Any]:
    return {"person": current_person()}


@web.errorhandler(CSRFError)
def csrf_refused(exc: CSRFError) -> Any:
    return error_page(
        400,
        "This form has expired",
        "The form was not sent with this session's security token, so nothing was changed. "
        "Reload the page and try again.",
    )


@web.errorhandler(FlakeGuardError)
def refused(exc: FlakeGuardError) -> Any:
    status = exc.status if 400 <= exc.status < 500 else 503
    title = "Not found" if status == 404 else "That did not work"
    return error_page(status, title, exc.message)


@web.errorhandler(HTTPException)
def http_error(exc: HTTPException) -> Any:
    if exc.code == 404:
        return error_page(404, "Not found", "There is nothing here, or it is not yours to see.")
    return error_page(exc.code or 400, exc.name, exc.description or exc.name)


def error_page(status: int, title: str, message: str) -> Any:
    """An HTML page for a refusal; the message is escaped by the template."""
    return render_template("error.html", title=title, message=message), status
