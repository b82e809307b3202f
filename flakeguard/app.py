"""The app factory: Flask, Bolt, the database handle, the queue and the blueprints."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from flask import Flask, g, request
from werkzeug.exceptions import HTTPException

from flakeguard.api import api
from flakeguard.api.repo_files import repo_files
from flakeguard.api.reports import reports
from flakeguard.api.v1 import v1
from flakeguard.errors import FlakeGuardError
from flakeguard.health import health
from flakeguard.http import error_response, from_error
from flakeguard.secrets import configure_secrets
from flakeguard.settings import Settings
from models import db, init_db
from models.migrate import apply_migrations

log = logging.getLogger("flakeguard")


@dataclass
class Services:
    """What request handlers need, built once per app."""

    settings: Settings
    queue: Any
    slack: Any = None
    github: Any = None
    bolt: Any = None


def create_app(settings: Settings | None = None, *, slack: Any = None, github: Any = None) -> Flask:
    """Build the WSGI app. ``slack`` (a WebClient) and ``github`` (our client) may be injected."""
    import tasks  # registers every job with flakeguard.jobs

    settings = settings or Settings.from_env()
    logging.basicConfig(level=settings.log_level, format="%(levelname)s %(name)s: %(message)s")
    configure_secrets(settings)
    init_db(settings.database_url)
    if settings.is_sqlite:
        applied = apply_migrations()
        if applied:
            log.info("database migrated: %s", ", ".join(applied))
    queue = tasks.configure(settings)

    app = Flask("flakeguard")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_report_bytes + 1024 * 1024
    services = Services(settings=settings, queue=queue, slack=slack, github=github)
    app.extensions["flakeguard"] = services

    _wire_database(app)
    _wire_errors(app)
    app.register_blueprint(health)
    app.register_blueprint(api)
    app.register_blueprint(reports)
    app.register_blueprint(v1)
    app.register_blueprint(repo_files)
    _wire_slack(app, services)
    _wire_github(app, services)
    _wire_ops(app, services)
    _wire_web(app, services)
    return app


def _wire_web(app: Flask, services: Services) -> None:
    """The dashboard at /: sign-in, sessions, CSRF, pages."""
    from flakeguard import web

    web.wire(app, services)


def _wire_database(app: Flask) -> None:
    @app.before_request
    def open_connection() -> None:
        if request.blueprint == health.name:
            return  # liveness never waits on the database; readiness opens its own
        ctx = db.connection_context()
        ctx.__enter__()
        g.db_ctx = ctx

    @app.teardown_request
    def close_connection(exc: BaseException | None) -> None:
        ctx = g.pop("db_ctx", None)
        if ctx is not None:
            ctx.__exit__(None, None, None)


def _wire_errors(app: Flask) -> None:
    @app.errorhandler(FlakeGuardError)
    def flakeguard_error(exc: FlakeGuardError) -> Any:
        return from_error(exc)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        code = (exc.name or "error").lower().replace(" ", "_")
        return error_response(exc.code or 500, code, exc.description or exc.name)


def _wire_slack(app: Flask, services: Services) -> None:
    from bot.app import build_bolt_app, register_routes

    settings = services.settings
    if settings.slack_enabled:
        services.bolt = build_bolt_app(settings, client=services.slack)
    else:
        log.info(
            "Slack is off: set SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN "
            "(or SLACK_CLIENT_ID and SLACK_CLIENT_SECRET) to turn it on"
        )
    register_routes(app, services.bolt)


def _wire_github(app: Flask, services: Services) -> None:
    from integrations.github.link import link_blueprint
    from integrations.github.webhook import webhook_blueprint
    from tasks import github as github_tasks

    settings = services.settings
    # An injected client (tests, embedding) serves the GitHub tasks of this process too;
    # otherwise the tasks build one from settings when they first need it.
    github_tasks.use_client(services.github)
    if not settings.github_enabled:
        log.info(
            "GitHub is off: set GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY and "
            "GITHUB_WEBHOOK_SECRET to turn it on"
        )
    app.register_blueprint(webhook_blueprint(settings))
    app.register_blueprint(link_blueprint(settings))


def _wire_ops(app: Flask, services: Services) -> None:
    """Operations: JSON logs and correlation ids, /metrics, rate limits, headers, body limits,
    and the OpenAPI document at /api/openapi.json."""
    from flakeguard import observability, security
    from flakeguard.api.openapi import openapi

    observability.wire(app, services)
    security.wire(app, services.settings)
    app.register_blueprint(openapi)
