"""Read a few files of a repository's default branch, and a team's members, through PyGithub."""

from __future__ import annotations

from collections.abc import Sequence

from github import Github, UnknownObjectException
from github.Repository import Repository as GhRepository

MAX_TEAM_MEMBERS = 500  # a team this big is routed by channel, not assigned by person


def read_files(
    repo: GhRepository, paths: Sequence[str], *, ref: str, max_bytes: int
) -> dict[str, str | None]:
    """Return each path's text on ``ref`` (None: no such file, not a file, or too big)."""
    found: dict[str, str | None] = {}
    for path in paths:
        try:
            content = repo.get_contents(path, ref=ref)
        except UnknownObjectException:
            found[path] = None
            continue
        if isinstance(content, list) or content.type != "file" or content.size > max_bytes:
            found[path] = None
            continue
        found[path] = content.decoded_content.decode("utf-8", "replace")
    return found


def team_logins(gh: Github, org: str, slug: str) -> list[str] | None:
    """Return the logins of team ``org/slug`` (None when GitHub does not show the team)."""
    try:
        team = gh.get_organization(org).get_team_by_slug(slug)
        logins = []
        for member in team.get_members():
            logins.append(member.login)
            if len(logins) >= MAX_TEAM_MEMBERS:
                break
    except UnknownObjectException:
        return None
    return logins
