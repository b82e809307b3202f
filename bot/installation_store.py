"""slack_sdk's InstallationStore and OAuthStateStore on our peewee models.

slack_sdk ships SQLAlchemy, SQLite and file stores but none for peewee; these
keep installations in ``SlackInstallation`` and OAuth states in
``SlackOAuthState`` (consumed once, expiring after ``expiration_seconds``).
The tokens are encrypted at rest by the model's fields (models.crypto). An
install also records the workspace (``SlackWorkspace``), unlinked: it sees
nothing until someone links it to a tenant (``/flakeguard connect``).
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta
from logging import Logger
from typing import Any

from peewee import IntegrityError
from slack_sdk.oauth.installation_store import Bot, Installation, InstallationStore
from slack_sdk.oauth.state_store import OAuthStateStore

from flakeguard.usecases.tenant_links import record_workspace
from models import SlackInstallation, SlackOAuthState, db, utcnow

STATE_TTL_SECONDS = 600


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.timestamp() if isinstance(v, datetime) else v) for k, v in data.items()}


class PeeweeInstallationStore(InstallationStore):
    """Installations (bot and installer) per (enterprise, team, user); the latest wins."""

    def __init__(self, *, logger: Logger | None = None) -> None:
        self._logger = logger or logging.getLogger(__name__)

    @property
    def logger(self) -> Logger:
        return self._logger

    def save(self, installation: Installation) -> None:
        """Store an installation twice: as the installer's row and as the workspace's latest row."""
        data = _jsonable(installation.to_dict_for_copying())
        enterprise = installation.enterprise_id or ""
        team = "" if installation.is_enterprise_install else (installation.team_id or "")
        with db.atomic():
            for user in ("", installation.user_id or ""):
                self._upsert(enterprise, team, user, installation, data)
            if team:
                record_workspace(team, enterprise_id=enterprise, name=installation.team_name or "")

    def save_bot(self, bot: Bot) -> None:
        """Bots are saved with their installation (see save)."""

    def _upsert(
        self,
        enterprise: str,
        team: str,
        user: str,
        installation: Installation,
        data: dict[str, Any],
    ) -> None:
        values = {
            "bot_token": installation.bot_token,
            "bot_user_id": installation.bot_user_id,
            "data": data,
            "installed_at": utcnow(),
        }
        where = (
            (SlackInstallation.enterprise_id == enterprise)
            & (SlackInstallation.team_id == team)
            & (SlackInstallation.user_id == user)
        )
        if SlackInstallation.update(**values).where(where).execute():
            return
        try:
            with db.atomic():
                SlackInstallation.create(
                    enterprise_id=enterprise, team_id=team, user_id=user, **values
                )
        except IntegrityError:
            SlackInstallation.update(**values).where(where).execute()

    def _row(
        self,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None,
        is_enterprise_install: bool | None,
    ) -> SlackInstallation | None:
        team = "" if is_enterprise_install else (team_id or "")
        return SlackInstallation.get_or_none(
            (SlackInstallation.enterprise_id == (enterprise_id or ""))
            & (SlackInstallation.team_id == team)
            & (SlackInstallation.user_id == (user_id or ""))
        )

    def find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        """The installation for a workspace (or one installer in it)."""
        row = self._row(enterprise_id, team_id, user_id, is_enterprise_install)
        if row is None:
            return None
        data = dict(row.data)
        custom = data.pop("custom_values", None) or {}
        installation = Installation(**data, custom_values=custom)
        if user_id is not None:
            # The bot token is the workspace's latest, whoever installed last.
            latest = self._row(enterprise_id, team_id, None, is_enterprise_install)
            if latest is not None and latest.bot_token:
                installation.bot_token = latest.bot_token
                installation.bot_user_id = latest.bot_user_id
        return installation

    def find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        """The bot of a workspace, or None when it is not installed (or uninstalled)."""
        installation = self.find_installation(
            enterprise_id=enterprise_id,
            team_id=team_id,
            is_enterprise_install=is_enterprise_install,
        )
        if installation is None or not installation.bot_token:
            return None
        return installation.to_bot()

    def delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        """Forget the workspace's bot token (tokens_revoked, app_uninstalled)."""
        SlackInstallation.update(bot_token=None, bot_user_id=None).where(
            (SlackInstallation.enterprise_id == (enterprise_id or ""))
            & (SlackInstallation.team_id == (team_id or ""))
        ).execute()
        for row in SlackInstallation.select().where(
            (SlackInstallation.enterprise_id == (enterprise_id or ""))
            & (SlackInstallation.team_id == (team_id or ""))
        ):
            data = dict(row.data)
            data.update(bot_token=None, bot_id=None, bot_user_id=None)
            SlackInstallation.update(data=data).where(SlackInstallation.id == row.id).execute()

    def delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        """Delete the installation rows of a workspace (or of one installer)."""
        query = SlackInstallation.delete().where(
            (SlackInstallation.enterprise_id == (enterprise_id or ""))
            & (SlackInstallation.team_id == (team_id or ""))
        )
        if user_id is not None:
            query = query.where(SlackInstallation.user_id == user_id)
        query.execute()


class PeeweeOAuthStateStore(OAuthStateStore):
    """OAuth ``state`` values: random, stored, consumed exactly once before they expire."""

    def __init__(
        self, *, expiration_seconds: int = STATE_TTL_SECONDS, logger: Logger | None = None
    ) -> None:
        self.expiration_seconds = expiration_seconds
        self._logger = logger or logging.getLogger(__name__)

    @property
    def logger(self) -> Logger:
        return self._logger

    def issue(self, *args: Any, **kwargs: Any) -> str:
        """A new state value."""
        state = secrets.token_urlsafe(32)
        now = utcnow()
        with db.atomic():
            SlackOAuthState.delete().where(SlackOAuthState.expires_at < now).execute()
            SlackOAuthState.create(
                state=state, expires_at=now + timedelta(seconds=self.expiration_seconds)
            )
        return state

    def consume(self, state: str) -> bool:
        """True once for a state we issued that has not expired."""
        if not state:
            return False
        deleted = (
            SlackOAuthState.delete()
            .where(SlackOAuthState.state == state, SlackOAuthState.expires_at >= utcnow())
            .execute()
        )
        return deleted == 1
