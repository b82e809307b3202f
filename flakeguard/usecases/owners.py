"""Owners: a repository's CODEOWNERS and .flakeguard.yml, owner routes, default assignees.

The files are stored per repository as of its default branch (``RepoFile``), from the
GitHub App (``refresh_from_github``, on a push to the default branch) or from the CI
client's upload (``store_upload``; ignored when the App is installed, the App being the
one source that cannot come from a pull request). They are parsed by the pure
``engine.codeowners`` and ``engine.repo_config``; what is wrong in them is reported by
``problems`` (in ``/flakeguard status`` and the check run) and defaults are used.

An alert for a test owned by an owner with a route (``/flakeguard route``, or the
file's ``routing``) goes to that channel; other alerts go to the repository's
subscribed channels. The alert is assigned by default to the first owner's linked
Slack user (a user owner, or a member of a team owner who linked their account).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from peewee import IntegrityError, fn

from engine import codeowners as co
from engine import repo_config as rc
from engine.quarantine import ASSIGNABLE
from engine.scoring.config import ScoringConfig
from flakeguard.errors import BadRequestError, ConflictError, NotFoundError
from flakeguard.jobs import Job
from flakeguard.usecases import outbox
from flakeguard.usecases.github import GitHubGoneError, GitHubPort
from flakeguard.usecases.slack_scope import same_tenant_subscriptions
from models import (
    ChannelSubscription,
    OwnerRoute,
    Quarantine,
    RepoFile,
    Repository,
    SlackWorkspace,
    TeamMember,
    TestCase,
    TestRun,
    UserLink,
    db,
    utcnow,
)

CODEOWNERS = "codeowners"
CONFIG = "config"
SOURCES = ("github", "upload")
WATCHED_PATHS = (*co.LOCATIONS, rc.FILENAME)
MAX_TEAMS = 50  # team owners whose members are looked up on a refresh
# A route's owner: "@user" or "@org/team" (the same names CODEOWNERS uses).
OWNER = re.compile(r"@[A-Za-z0-9][A-Za-z0-9-]{0,38}(?:/[A-Za-z0-9][A-Za-z0-9._-]{0,99})?")
CHANNEL_ID = re.compile(r"[CG][A-Z0-9]{2,20}")
_CACHE_MAX = 256
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


def store_upload(
    repository_id: int, files: Mapping[str, str | None], *, branch: str, pr: int | None, sha: str
) -> list[str]:
    """Store the files the CI client sent with a run; only from the default branch.

    Ignored (returns []) for a pull request or another branch, and when the GitHub
    App is installed on the repository (it reads the default branch itself).

    The branch and pull request are what the CI run says of itself, and anyone who can
    run CI with the ingest token (a pull request's branch) can say ``main``. So the
    files are stored only when ``sha`` is the head of the default branch as FlakeGuard
    knows it (:func:`default_branch_head`); otherwise ConflictError and nothing stored.
    """
    repo = Repository.get_by_id(repository_id)
    if not accepts_upload(repo, branch=branch, pr=pr):
        return []
    head = default_branch_head(repo)
    if head is None or sha.strip().lower() != head.lower():
        known = f"it is {head[:12]}" if head else "no run from it is known yet"
        raise ConflictError(
            f"sha {sha.strip()[:40] or '(none)'} is not the head of {repo.default_branch} "
            f"as FlakeGuard knows it ({known}); files are taken only from the commit of "
            f"the newest report uploaded from {repo.default_branch} outside a pull request"
        )
    wanted = {path: files.get(path) for path in WATCHED_PATHS}
    return store_files(repository_id, wanted, source="upload", commit_sha=sha)


def default_branch_head(repo: Repository) -> str | None:
    """The commit of the newest run reported from the default branch outside a pull
    request: the head of the default branch as FlakeGuard knows it (None: no such run)."""
    run = (
        TestRun.select(TestRun.sha)
        .where(
            TestRun.repository == repo.id,
            TestRun.branch == repo.default_branch,
            TestRun.pr.is_null(),
        )
        .order_by(TestRun.received_at.desc(), TestRun.id.desc())
        .first()
    )
    return run.sha if run is not None and run.sha else None


def accepts_upload(repo: Repository, *, branch: str, pr: int | None) -> bool:
    """Whether files uploaded from this branch and pull request are stored for ``repo``."""
    return pr is None and branch == repo.default_branch and repo.installation_id is None


def upload_refusal(repo: Repository, *, branch: str, pr: int | None) -> str:
    """Why uploaded files are not stored ("" when they are)."""
    if repo.installation_id is not None:
        return "the GitHub App reads these files from the default branch"
    if pr is not None or branch != repo.default_branch:
        return f"files are read from the default branch ({repo.default_branch}) only"
    return ""


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


def _parsed_codeowners(digest: str, text: str | None) -> co.CodeOwners:
    found = _codeowners_cache.get(digest)
    if found is None:
        found = co.parse(text or "")
        if len(_codeowners_cache) >= _CACHE_MAX:
            _codeowners_cache.clear()
        _codeowners_cache[digest] = found
    return found


def _parsed_config(digest: str, text: str | None) -> rc.ConfigResult:
    found = _config_cache.get(digest)
    if found is None:
        found = rc.parse(text or "")
        if len(_config_cache) >= _CACHE_MAX:
            _config_cache.clear()
        _config_cache[digest] = found
    return found


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


# ----------------------------------------------------------------- routes


def normalize_owner(owner: str) -> str:
    """``@org/team`` or ``@user``, lower-cased; BadRequestError for anything else."""
    cleaned = owner.strip()
    if not cleaned.startswith("@"):
        cleaned = "@" + cleaned
    if not OWNER.fullmatch(cleaned):
        raise BadRequestError(f"{owner[:60]!r} is not a GitHub @user or @org/team")
    return cleaned.lower()


def set_route(
    *, tenant_id: int, team_id: str, owner: str, channel_id: str, actor: str
) -> tuple[str, str | None]:
    """Send ``owner``'s alerts in the tenant's repositories to a channel; return (owner, old)."""
    name = normalize_owner(owner)
    if not CHANNEL_ID.fullmatch(channel_id):
        raise BadRequestError("name the channel as #channel")
    linked = SlackWorkspace.select().where(
        SlackWorkspace.team_id == team_id, SlackWorkspace.tenant == tenant_id
    )
    if not linked.exists():
        raise NotFoundError("this workspace is not linked to the repositories' organisation")
    with db.atomic():
        row = OwnerRoute.get_or_none(OwnerRoute.tenant == tenant_id, OwnerRoute.owner == name)
        previous = row.channel_id if row else None
        if row is None:
            OwnerRoute.create(
                tenant=tenant_id,
                owner=name,
                team_id=team_id,
                channel_id=channel_id,
                created_by=actor[:100],
            )
        else:
            OwnerRoute.update(team_id=team_id, channel_id=channel_id, created_by=actor[:100]).where(
                OwnerRoute.id == row.id
            ).execute()
    return name, previous


def remove_route(*, tenant_id: int, owner: str) -> str:
    """Stop routing ``owner``'s alerts; NotFoundError when there was no route."""
    name = normalize_owner(owner)
    deleted = (
        OwnerRoute.delete()
        .where(OwnerRoute.tenant == tenant_id, OwnerRoute.owner == name)
        .execute()
    )
    if not deleted:
        raise NotFoundError(f"{name} has no route")
    return name


def routes(tenant_id: int) -> list[tuple[str, str, str]]:
    """The tenant's routes as (owner, team id, channel id), by owner."""
    return [
        (row.owner, row.team_id, row.channel_id)
        for row in OwnerRoute.select()
        .where(OwnerRoute.tenant == tenant_id)
        .order_by(OwnerRoute.owner)
    ]


def _default_team(repository: Repository) -> str | None:
    """The workspace of the repository's subscriptions, else the tenant's only workspace."""
    sub = (
        same_tenant_subscriptions()
        .where(ChannelSubscription.repository == repository.id)
        .order_by(ChannelSubscription.id)
        .first()
    )
    if sub is not None:
        return sub.team_id
    teams = list(
        SlackWorkspace.select(SlackWorkspace.team_id)
        .where(SlackWorkspace.tenant == repository.tenant_id)
        .limit(2)
    )
    return teams[0].team_id if len(teams) == 1 else None


def route_of(
    repository: Repository, owners: Sequence[str], config: rc.RepoConfig
) -> tuple[str, str] | None:
    """(team id, channel) the first routed owner's alerts go to, or None (unrouted)."""
    for owner in owners:
        name = owner.lower()
        row = OwnerRoute.get_or_none(
            OwnerRoute.tenant == repository.tenant_id, OwnerRoute.owner == name
        )
        if row is not None:
            return row.team_id, row.channel_id
        channel = config.channel_for(name)
        if channel is not None:
            team = _default_team(repository)
            if team is not None:
                return team, channel
    return None


def alert_targets(repository_id: int, test_case_id: int | None) -> list[tuple[str, str]]:
    """The (team id, channel) pairs an alert about a test goes to.

    The route of the test's owner when there is one (only to workspaces linked to
    the repository's tenant); else every subscribed channel of the repository.
    """
    repo = Repository.get_by_id(repository_id)
    if test_case_id is not None:
        files = files_of(repo.id)
        test = TestCase.get_or_none(TestCase.id == test_case_id)
        owners = owners_of_test(test, files) if test is not None else ()
        target = route_of(repo, owners, files.config.config) if owners else None
        if target is not None:
            linked = SlackWorkspace.select().where(
                SlackWorkspace.team_id == target[0], SlackWorkspace.tenant == repo.tenant_id
            )
            if linked.exists():
                return [target]
    return [
        (sub.team_id, sub.channel_id)
        for sub in same_tenant_subscriptions()
        .where(ChannelSubscription.repository == repo.id)
        .order_by(ChannelSubscription.id)
    ]


def default_assignee(team_id: str, tenant_id: int, owners: Sequence[str]) -> str | None:
    """The Slack user of workspace ``team_id`` who owns by default: the first owner linked.

    A user owner by their own link; a team owner by its first member (by login) who
    linked. Emails are not matched.
    """
    for owner in owners:
        name = owner.lower()
        if not name.startswith("@"):
            continue
        if "/" in name:
            logins = [
                member.login
                for member in TeamMember.select(TeamMember.login)
                .where(TeamMember.tenant == tenant_id, TeamMember.team == name)
                .order_by(TeamMember.login)
            ]
        else:
            logins = [name[1:]]
        if not logins:
            continue
        link = (
            UserLink.select()
            .where(UserLink.team_id == team_id, fn.LOWER(UserLink.github_login).in_(logins))
            .order_by(fn.LOWER(UserLink.github_login), UserLink.id)
            .first()
        )
        if link is not None:
            return link.slack_user_id
    return None


def assign_default(quarantine_id: int, team_id: str) -> bool:
    """Assign a quarantine nobody is assigned to its owner's linked user; True when it did.

    Through the one quarantine use case (audit: actor ``flakeguard``, source
    ``system``), once per quarantine (its idempotency key).
    """
    from flakeguard.usecases import quarantine as quarantine_uc

    q = Quarantine.get_or_none(Quarantine.id == quarantine_id)
    if q is None or q.assignee_slack or q.state not in ASSIGNABLE:
        return False
    repo = Repository.get_by_id(q.repository_id)
    user = default_assignee(team_id, repo.tenant_id, owners_of_test_id(q.test_case_id))
    if user is None:
        return False
    outcome = quarantine_uc.perform(
        None,
        "assign",
        quarantine_id=q.id,
        tenant_id=repo.tenant_id,
        actor="flakeguard",
        source="system",
        assignee_slack=user,
        reason="code owner",
        team_id=team_id,
        idempotency_key=f"owner-assign:{q.id}",
    )
    return outcome.changed
