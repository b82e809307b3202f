"""A repository's CODEOWNERS and .flakeguard.yml: stored as of its default branch, parsed.

The files are stored per repository (``RepoFile``) from the GitHub App
(``refresh_from_github``, on a push to the default branch) or from the CI client's
upload (``flakeguard.usecases.repo_file_uploads``). They are parsed by the pure
``engine.codeowners`` and ``engine.repo_config``; what is wrong in them is reported by
``problems`` (in ``/flakeguard status`` and the check run) and defaults are used.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

from peewee import IntegrityError

from engine import codeowners as co
from engine import repo_config as rc
from engine.scoring.config import ScoringConfig
from flakeguard.errors import BadRequestError, NotFoundError
from flakeguard.jobs import Job
from flakeguard.usecases import outbox
from flakeguard.usecases.github import GitHubGoneError, GitHubPort
from models import RepoFile, Repository, TeamMember, TestCase, db, utcnow

CODEOWNERS = "codeowners"
CONFIG = "config"
SOURCES = ("github", "actions", "upload")  # the App; CI proven by OIDC; CI by its token
WATCHED_PATHS = (*co.LOCATIONS, rc.FILENAME)
MAX_TEAMS = 50  # team owners whose members are looked up on a refresh
_CACHE_MAX = 256
Parsed = TypeVar("Parsed")
_codeowners_cache: dict[str, co.CodeOwners] = {}
_config_cache: dict[str, rc.ConfigResult] = {}


@dataclass(frozen=True)
class RepoFiles:
    """A repository's parsed files: what FlakeGuard uses, and where it came from."""

    codeowners: co.CodeOwners
    codeowners_path: str | None
    config: rc.ConfigResult
    config_present: bool
    source: str | None


# ----------------------------------------------------------------- storing the files


def _digest(text: str | None) -> str:
    return "" if text is None else hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()


def store_files(
    repository_id: int, files: Mapping[str, str | None], *, source: str, commit_sha: str = ""
) -> list[str]:
    """Store what ``files`` says of the repository's CODEOWNERS and .flakeguard.yml.

    ``files`` maps a repository path to its text, or None when it is known to be
    absent; only what it names is changed (CODEOWNERS when it names any of its
    locations). Returns the kinds that changed.
    """
    if source not in SOURCES:
        raise BadRequestError(f"unknown source {source!r}")
    rows: list[tuple[str, str, str | None]] = []
    if any(location in files for location in co.LOCATIONS):
        chosen = co.choose(files)
        rows.append((CODEOWNERS, *(chosen if chosen else ("", None))))
    if rc.FILENAME in files:
        rows.append((CONFIG, rc.FILENAME, files[rc.FILENAME]))
    for kind, _, content in rows:
        # parsed before anything is stored: a file is stored only once it is known to
        # parse (into rules or defaults and the problems reported)
        if content is not None:
            parse = _parsed_codeowners if kind == CODEOWNERS else _parsed_config
            parse(_digest(content), content)
    changed = []
    now = utcnow()
    with db.atomic():
        for kind, path, content in rows:
            digest = _digest(content)
            values = {
                "path": path,
                "content": content,
                "digest": digest,
                "source": source,
                "commit_sha": commit_sha[:40],
                "fetched_at": now,
            }
            row = RepoFile.get_or_none(RepoFile.repository == repository_id, RepoFile.kind == kind)
            if row is None:
                try:
                    with db.atomic():
                        RepoFile.create(repository=repository_id, kind=kind, **values)
                except IntegrityError:  # a concurrent refresh stored it first
                    continue
                changed.append(kind)
                continue
            if row.digest != digest or row.path != path:
                changed.append(kind)
            RepoFile.update(**values).where(RepoFile.id == row.id).execute()
    return changed


def refresh_from_github(repository_id: int, *, github: GitHubPort) -> list[str]:
    """Read CODEOWNERS and .flakeguard.yml from the default branch through the App; store them.

    Also refreshes the members of the teams CODEOWNERS names (for default assignees).
    Returns the kinds that changed. NotFoundError when the repository has no App.
    """
    repo = Repository.get_or_none(Repository.id == repository_id)
    if repo is None or repo.installation_id is None:
        raise NotFoundError(f"repository {repository_id} has no GitHub App installation")
    installation = repo.installation.installation_id
    paths = WATCHED_PATHS
    found = github.repo_files(
        installation,
        repo.full_name,
        paths,
        ref=repo.default_branch,
        max_bytes=max(co.MAX_BYTES, rc.MAX_BYTES),
    )
    changed = store_files(repo.id, {path: found.get(path) for path in paths}, source="github")
    teams = sorted(
        {owner.lower() for rule in files_of(repo.id).codeowners.rules for owner in rule.owners}
        - {""}
    )
    for team in [t for t in teams if "/" in t][:MAX_TEAMS]:
        org, slug = team[1:].split("/", 1)
        try:
            logins = github.team_members(installation, org, slug)
        except GitHubGoneError:
            continue  # the team stays as last seen; routing by channel still works
        if logins is not None:
            store_team_members(repo.tenant_id, team, logins)
    return changed


def store_team_members(tenant_id: int, team: str, logins: Sequence[str]) -> None:
    """Replace the members of GitHub team ``team`` (``@org/team``) known for a tenant."""
    team = team.lower()
    now = utcnow()
    with db.atomic():
        TeamMember.delete().where(TeamMember.tenant == tenant_id, TeamMember.team == team).execute()
        rows = [
            {"tenant": tenant_id, "team": team, "login": login.lower()[:100], "updated_at": now}
            for login in sorted(set(logins))
        ]
        if rows:
            TeamMember.insert_many(rows).on_conflict_ignore().execute()


def want_refresh(repository: Repository) -> outbox.Wanted:
    """The effect that re-reads a repository's files from GitHub."""
    return outbox.want(Job.REFRESH_REPO_FILES, repository_id=repository.id)


# ----------------------------------------------------------------- reading them


def _cached(cache: dict[str, Parsed], digest: str, parse: Callable[[], Parsed]) -> Parsed:
    """A file parsed once per content (by its digest), in a bounded cache."""
    found = cache.get(digest)
    if found is None:
        found = parse()
        if len(cache) >= _CACHE_MAX:
            cache.clear()
        cache[digest] = found
    return found


def _parsed_codeowners(digest: str, text: str | None) -> co.CodeOwners:
    return _cached(_codeowners_cache, digest, lambda: co.parse(text or ""))


def _parsed_config(digest: str, text: str | None) -> rc.ConfigResult:
    return _cached(_config_cache, digest, lambda: rc.parse(text or ""))


def files_of(repository_id: int) -> RepoFiles:
    """The parsed CODEOWNERS and .flakeguard.yml of a repository (empty ones when none)."""
    rows = {row.kind: row for row in RepoFile.select().where(RepoFile.repository == repository_id)}
    owners_row, config_row = rows.get(CODEOWNERS), rows.get(CONFIG)
    has_owners = owners_row is not None and owners_row.content is not None
    has_config = config_row is not None and config_row.content is not None
    return RepoFiles(
        codeowners=(
            _parsed_codeowners(owners_row.digest or _digest(owners_row.content), owners_row.content)
            if has_owners
            else co.CodeOwners()
        ),
        codeowners_path=owners_row.path if has_owners else None,
        config=(
            _parsed_config(config_row.digest or _digest(config_row.content), config_row.content)
            if has_config
            else rc.ConfigResult()
        ),
        config_present=has_config,
        source=(owners_row or config_row).source if (owners_row or config_row) else None,
    )


def config_of(repository_id: int) -> rc.RepoConfig:
    """The repository's .flakeguard.yml settings (defaults for what is missing or wrong)."""
    return files_of(repository_id).config.config


def scoring_config(repository_id: int, base: ScoringConfig) -> ScoringConfig:
    """``base`` with the repository's ``thresholds`` (.flakeguard.yml) applied.

    A higher flag score keeps the hysteresis: the clear score stays below it.
    """
    config = config_of(repository_id)
    changes: dict[str, float] = {}
    if config.flag_score is not None:
        changes["flag_score"] = config.flag_score
        changes["clear_score"] = min(base.clear_score, config.flag_score * 2 / 3)
    if config.min_runs is not None:
        changes["min_samples"] = float(config.min_runs)
    return replace(base, **changes) if changes else base


def problems(repository_id: int) -> list[str]:
    """What is wrong in a repository's files, one line each, for status and the check run."""
    files = files_of(repository_id)

    def named(line: str) -> str:
        return line if line.startswith(rc.FILENAME) else f"{rc.FILENAME}: {line}"

    lines = [f"{named(error)} (defaults used)" for error in files.config.errors]
    lines += [named(warning) for warning in files.config.warnings]
    if files.codeowners_path:
        lines += [
            f"{files.codeowners_path}: {error.message()} (skipped)"
            for error in files.codeowners.errors
        ]
    return lines


def owners_of_test(test: TestCase, files: RepoFiles | None = None) -> tuple[str, ...]:
    """The CODEOWNERS owners of a test's file (none when unknown or un-owned)."""
    path = co.file_of_test(file=test.file, classname=test.classname)
    if path is None:
        return ()
    files = files if files is not None else files_of(test.repository_id)
    return files.codeowners.owners_of(path)


def owners_of_test_id(test_case_id: int | None) -> tuple[str, ...]:
    """The owners of a test by its id (none for no test)."""
    test = TestCase.get_or_none(TestCase.id == test_case_id) if test_case_id else None
    return owners_of_test(test) if test is not None else ()


def is_exempt(test: TestCase, config: rc.RepoConfig) -> bool:
    """Whether .flakeguard.yml exempts a test from quarantine (by path or by name)."""
    if test.name in config.exempt_tests or test.key in config.exempt_tests:
        return True
    if not config.exempt_paths:
        return False
    path = co.file_of_test(file=test.file, classname=test.classname)
    if path is None:
        return False
    patterns = co.parse("\n".join(f"{pattern} @exempt" for pattern in config.exempt_paths))
    return bool(patterns.owners_of(path))
