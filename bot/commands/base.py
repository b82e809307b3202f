"""What every sub-command gets: who asked, where, and the rest of the text."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

from flakeguard.errors import BadRequestError


@dataclass(frozen=True)
class Invocation:
    """One /flakeguard call."""

    team_id: str
    channel_id: str
    user_id: str
    args: str
    members_of: Callable[[str], Collection[str]] | None = None

    @property
    def words(self) -> list[str]:
        return self.args.split()


class UsageError(BadRequestError):
    """A sub-command got a bad or missing argument; ``usage`` shows the right form."""

    def __init__(self, message: str, usage: str) -> None:
        super().__init__(message)
        self.usage = usage
