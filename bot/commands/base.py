"""What every sub-command gets: who asked (a resolved Principal), where, and the text."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

from flakeguard.errors import BadRequestError
from flakeguard.usecases import quarantine as quarantine_uc
from flakeguard.usecases.tenancy import Principal


@dataclass(frozen=True)
class Invocation:
    """One /flakeguard call."""

    team_id: str
    channel_id: str
    user_id: str
    args: str
    members_of: Callable[[str], Collection[str]] | None = None
    principal: Principal | None = None

    @property
    def words(self) -> list[str]:
        return self.args.split()

    @property
    def tenant_id(self) -> int:
        """The caller's tenant; dispatch runs data commands only for a linked workspace."""
        if self.principal is None or self.principal.tenant_id is None:
            raise LookupError("this invocation has no tenant (the workspace is not linked)")
        return self.principal.tenant_id

    def act(self, test_case_id: int, action: str, *, reason: str = "") -> quarantine_uc.Outcome:
        """A quarantine action by the caller, under their workspace's policy."""
        return quarantine_uc.perform(
            test_case_id,
            action,
            tenant_id=self.tenant_id,
            actor=self.user_id,
            source="slack",
            reason=reason,
            team_id=self.team_id,
            members_of=self.members_of,
        )


class UsageError(BadRequestError):
    """A sub-command got a bad or missing argument; ``usage`` shows the right form."""

    def __init__(self, message: str, usage: str) -> None:
        super().__init__(message)
        self.usage = usage
