"""The session secret, and who is signed in (``current_person``, ``sign_in``, ``sign_out``).

The session is Flask's signed cookie holding the person's ``WebUser`` id and
tenant id; every request re-reads that row (``web_auth.signed_in``), so a person
whose row or tenant is gone is signed out. Signing in clears the old session
first (no fixation: a new CSRF token too).
"""

from __future__ import annotations

import secrets
from pathlib import Path

from flask import g, session

from flakeguard.errors import ConfigError
from flakeguard.secrets import create_key_file
from flakeguard.settings import Settings
from flakeguard.usecases import web_auth


def session_secret(settings: Settings) -> str:
    """FLAKEGUARD_SESSION_SECRET, else the embedded default's key file (made on first start).

    Production (PostgreSQL) without the variable refuses to start: several workers and
    restarts must share one secret, and a generated one would sign nothing anyone kept.
    """
    if settings.session_secret:
        return settings.session_secret
    path = settings.session_key_file()
    if path is None:
        raise ConfigError(
            "FLAKEGUARD_SESSION_SECRET: required with PostgreSQL (it signs the dashboard's "
            "session cookies); make one with `flakeguard secrets new-key`"
        )
    return _key_file_secret(path)


def _key_file_secret(path: Path) -> str:
    create_key_file(path, "FLAKEGUARD_SESSION_SECRET", lambda: secrets.token_urlsafe(48))
    try:
        secret = path.read_text().strip()
    except OSError as exc:
        raise ConfigError(
            f"FLAKEGUARD_SESSION_SECRET: not set, and {path} cannot be read "
            f"({exc.strerror or type(exc).__name__})"
        ) from None
    if len(secret) < 32:
        raise ConfigError(f"FLAKEGUARD_SESSION_SECRET: not set, and {path} holds no secret")
    return secret


def current_person() -> web_auth.SignedIn | None:
    """The signed-in person of this request, or None."""
    if "person" not in g:
        uid, tid = session.get("uid"), session.get("tid")
        person = None
        if isinstance(uid, int) and isinstance(tid, int):
            person = web_auth.signed_in(uid, tid)
            if person is not None and person.generation != session.get("gen", 0):
                person = None  # the person signed out since this session began
            if person is None:
                session.clear()
        g.person = person
    return g.person


def sign_in(person: web_auth.SignedIn) -> None:
    """Start a fresh session for ``person``."""
    session.clear()
    session.permanent = True
    session["uid"] = person.user_id
    session["tid"] = person.tenant_id
    session["gen"] = person.generation
    g.person = person


def sign_out() -> None:
    """End the session, and (on the server) every other session of the person."""
    person = current_person()
    if person is not None:
        web_auth.end_sessions(person.user_id)
    session.clear()
    g.person = None
