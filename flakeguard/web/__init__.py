"""The dashboard: a Flask blueprint of server-rendered pages, sign-in, sessions and CSRF.

``wire(app, services)`` configures the signed session cookie (HttpOnly,
SameSite=Lax, Secure behind https), turns CSRF protection on for the
dashboard's forms (Flask-WTF's CSRFProtect, checked in the blueprint: the
webhooks and the API authenticate otherwise and are never asked for a form
token) and registers the blueprint. Pages work without JavaScript.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask
from flask_wtf.csrf import CSRFProtect

from flakeguard.web.sessions import session_secret

SESSION_LIFETIME = timedelta(hours=12)


def wire(app: Flask, services: Any) -> None:
    """Sessions, CSRF and the dashboard's routes on ``app``."""
    from flakeguard.web.pages import web

    settings = services.settings
    app.secret_key = session_secret(settings)
    app.config.update(
        SESSION_COOKIE_NAME="flakeguard_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.public_url.startswith("https://"),
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
        # Checked by the dashboard blueprint only (see pages.py): no other route has a form.
        WTF_CSRF_CHECK_DEFAULT=False,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        WTF_CSRF_SSL_STRICT=True,
    )
    CSRFProtect(app)
    app.register_blueprint(web)
