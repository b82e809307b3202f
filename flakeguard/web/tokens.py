"""The "API tokens" page: the signed-in person's tokens for ``/api/v1``, created and revoked.

Through ``usecases.api_tokens`` with the person's tenant and their creator name:
a person sees and revokes only the tokens they made. A new token is shown once,
in the answer to the POST that made it (never stored in the session cookie).
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for

from flakeguard.errors import FlakeGuardError
from flakeguard.usecases import api_tokens, person_policy
from flakeguard.web.blueprint import person, signed_in_only, web


def _page(status: int = 200, **shown: Any) -> Any:
    who = person()
    found = api_tokens.list_tokens(tenant_id=who.tenant_id, created_by=who.creator)
    return render_template("tokens.html", title="API tokens", tokens=found, **shown), status


@web.get("/tokens")
@signed_in_only
def tokens() -> Any:
    """The person's API tokens and a form for a new one."""
    return _page()


@web.post("/tokens")
@signed_in_only
def create_token() -> Any:
    """Create a token and show it once."""
    who = person()
    can_act = request.form.get("can_act") == "yes"
    try:
        if can_act:
            # Only a person the workspace policies let act may hand that right to a token.
            person_policy.check_user(who.tenant_id, who)
        info, secret = api_tokens.create_token(
            request.form.get("name", ""),
            tenant_id=who.tenant_id,
            created_by=who.creator,
            can_act=can_act,
        )
    except FlakeGuardError as exc:
        return _page(exc.status if 400 <= exc.status < 500 else 400, error=exc.message)
    return _page(created=info, secret=secret)


@web.post("/tokens/<prefix>/revoke")
@signed_in_only
def revoke_token(prefix: str) -> Any:
    """Revoke one of the person's tokens (another's, or none, is "not found")."""
    who = person()
    info, revoked = api_tokens.revoke_token(prefix, tenant_id=who.tenant_id, created_by=who.creator)
    verb = "revoked" if revoked else "was already revoked"
    flash(f"The token {info.name} ({info.prefix}…) {verb}.", "success")
    return redirect(url_for("web.tokens"), 303)
