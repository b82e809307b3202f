"""The dashboard's pages: overview, repository, test; and the quarantine actions."""

from __future__ import annotations

from typing import Any

from flask import render_template

from flakeguard.web import sign_in as _sign_in  # noqa: F401 - registers the sign-in routes
from flakeguard.web.blueprint import person, web

__all__ = ["web"]


def overview() -> Any:
    """The tenant's repositories (shown at / to a signed-in person)."""
    return render_template("overview.html", title="Overview", who=person())
