"""Whether a dashboard person, or an API token through its creator, may take guarded actions.

The workspace policies of the tenant (``flakeguard/usecases/policy.py``) guard
approve, undo, dismiss, lift and extend wherever the action comes from:

- a person signed in with Slack is held to their own workspace's policy, as in Slack;
- a person signed in with GitHub is held to every workspace policy of the tenant
  through the Slack user their login is linked to, as the check-run buttons are;
- the local administrator (a one-time link from ``flakeguard login``) is an
  operator, like the CLI, and may act.

An acting API token acts for its creator: a token made on the dashboard
(``created_by`` "web:<id>") is checked against that person at every use; a
token made by an operator (``flakeguard api-token create``) may act.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flakeguard.errors import ForbiddenError
from flakeguard.usecases import policy
from flakeguard.usecases.check_actions import check_policy
from flakeguard.usecases.web_auth import GITHUB, LOCAL, SLACK
from models import WebUser

WEB_CREATOR = "web:"

# A workspace -> its user-group membership lookup (None when it cannot be asked).
MembersFor = Callable[[str], policy.MembersOf | None]


def check_person(
    tenant_id: int,
    *,
    provider: str,
    subject: str,
    login: str,
    team_id: str,
    members_for: MembersFor | None = None,
) -> None:
    """ForbiddenError unless the tenant's workspace policies let this person act."""
    if provider == LOCAL:
        return
    if provider == SLACK:
        if not team_id:
            raise ForbiddenError("your Slack sign-in names no workspace; sign in again")
        members = members_for(team_id) if members_for is not None else None
        policy.check_allowed(team_id, subject, members_of=members)
        return
    if provider == GITHUB:
        check_policy(tenant_id, login)
        return
    raise ForbiddenError(f"people signed in with {provider[:20]!r} may not act")


def check_token_creator(
    tenant_id: int, created_by: str, *, members_for: MembersFor | None = None
) -> None:
    """ForbiddenError unless the creator of an acting token may still act."""
    if not created_by.startswith(WEB_CREATOR):
        return  # an operator's token (the CLI)
    raw = created_by[len(WEB_CREATOR) :]
    user = None
    if raw.isascii() and raw.isdigit() and len(raw) <= 18:
        user = WebUser.get_or_none(WebUser.id == int(raw), WebUser.tenant == tenant_id)
    if user is None:
        raise ForbiddenError("the person who created this API token is gone; it may only read")
    check_user(tenant_id, user, members_for=members_for)


def check_user(tenant_id: int, user: Any, *, members_for: MembersFor | None = None) -> None:
    """``check_person`` for a ``WebUser`` or a signed-in person (provider, subject, name
    as the login, team_id)."""
    check_person(
        tenant_id,
        provider=user.provider,
        subject=user.subject,
        login=user.name,
        team_id=user.team_id,
        members_for=members_for,
    )
