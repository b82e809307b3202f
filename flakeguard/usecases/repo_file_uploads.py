"""Repository files uploaded by the CI client: stored only with proof of the default branch.

``PUT /api/v1/repository-files`` (``flakeguard/api/repo_files.py``) calls
``store_upload``. Files from a pull request or another branch, or for a repository the
GitHub App reads itself, are not used. What the CI run says of its own branch and pull
request is only its word: anyone who can run CI with the ingest token (a pull request
from a branch of the repository) can say ``main``. So a repository's trust decides:

- ``actions`` (the default): the upload carries a GitHub Actions OIDC token
  (``actions_oidc.verify``) of a job of this repository, on its default branch, started
  by a push, a schedule or a manual dispatch, at the uploaded commit;
- ``ingest-token``: for CI without such tokens, the ingest token is trusted, as the
  repository's operator chose (``flakeguard repo files OWNER/NAME --trust``).

Either way the commit must also be the head of the default branch as FlakeGuard knows
it (the newest report from it outside a pull request), so an older commit's files
never replace a newer one's.

An OIDC token proves one upload: its ``jti`` is kept until it expires and a replay is
refused (401). The first proven upload links a repository known only by name to the
GitHub id in its token; from then on a job of another repository of that name (renamed
away, or deleted and created again) is refused (403).
"""

from __future__ import annotations

from collections.abc import Mapping

from peewee import IntegrityError

from flakeguard.errors import AuthError, BadRequestError, ConflictError, ForbiddenError
from flakeguard.usecases.actions_oidc import ActionsIdentity, ActionsIssuer, verify
from flakeguard.usecases.repo_files import WATCHED_PATHS, store_files
from models import ActionsTokenUse, Repository, TestRun, db, utcnow
from models.base import is_postgres, locked_transaction

SETTING_KEY = "repo_files_trust"
ACTIONS = "actions"
INGEST_TOKEN = "ingest-token"
TRUST_MODES = (ACTIONS, INGEST_TOKEN)
UPLOAD_LOCK = 0x4647_5550 << 32  # + repository id: one upload of a repository's files at a time
PURGE_BATCH = 100  # expired spent tokens forgotten after an upload, at most
# Events whose runs execute the default branch's own workflow on its own code. Not
# pull_request_target or workflow_run: they run on the default branch for a pull
# request, and may check out its head.
TRUSTED_EVENTS = ("push", "schedule", "workflow_dispatch")
MISSING_TOKEN = (
    "files are taken only from a GitHub Actions job proven by its OIDC token: give the job "
    "`permissions: id-token: write` (flakeguard-ci sends the token), or, for CI without "
    "OIDC tokens, let the ingest token be trusted: flakeguard repo files {name} "
    "--trust ingest-token"
)


def trust_of(repo: Repository) -> str:
    """How files uploaded for ``repo`` are trusted: ``actions`` or ``ingest-token``."""
    mode = (repo.settings or {}).get(SETTING_KEY)
    return mode if mode in TRUST_MODES else ACTIONS


def set_trust(repo: Repository, mode: str) -> str:
    """Set how files uploaded for ``repo`` are trusted; BadRequestError for another mode."""
    if mode not in TRUST_MODES:
        raise BadRequestError(f"trust: one of {', '.join(TRUST_MODES)}, not {mode[:40]!r}")
    settings = {**(repo.settings or {}), SETTING_KEY: mode}
    Repository.update(settings=settings).where(Repository.id == repo.id).execute()
    return mode


def forget_github_id(repo: Repository) -> Repository:
    """Unlink ``repo`` from its GitHub id (an operator re-created it on purpose): the
    next proven upload links the id of its token. Return the repository as it is now."""
    Repository.update(github_id=None).where(Repository.id == repo.id).execute()
    return Repository.get_by_id(repo.id)


def store_upload(
    repository_id: int,
    files: Mapping[str, str | None],
    *,
    branch: str,
    pr: int | None,
    sha: str,
    actions_token: str | None,
    issuer: ActionsIssuer,
) -> tuple[list[str], str]:
    """Store the files the CI client sent with a run; return (kinds changed, source).

    Ignored (nothing stored) for a pull request or another branch, and when the GitHub
    App is installed on the repository. Otherwise AuthError / ForbiddenError when the
    proof is missing or does not hold (module docstring), ConflictError when ``sha`` is
    not the default branch's head as FlakeGuard knows it; nothing is stored then.
    """
    repo = Repository.get_by_id(repository_id)
    if not accepts_upload(repo, branch=branch, pr=pr):
        return [], ""
    identity = None
    if actions_token:
        identity = verify(actions_token, issuer)
        check_identity(identity, repo, sha=sha)
    elif trust_of(repo) == ACTIONS:
        raise AuthError(MISSING_TOKEN.format(name=repo.full_name))
    # The token is spent only with the files it brought. Reads come first and writes
    # after: a write transaction from the start (SQLite BEGIN IMMEDIATE), or a writer
    # committing in between fails it at once.
    with locked_transaction(UPLOAD_LOCK + repository_id):
        if identity is not None:
            spend_token(identity, repo)
        head = default_branch_head(repo)
        if head is None or sha.strip().lower() != head.lower():
            known = f"it is {head[:12]}" if head else "no run from it is known yet"
            raise ConflictError(
                f"sha {sha.strip()[:40] or '(none)'} is not the head of {repo.default_branch} "
                f"as FlakeGuard knows it ({known}); files are taken only from the commit of "
                f"the newest report uploaded from {repo.default_branch} outside a pull request"
            )
        wanted = {path: files.get(path) for path in WATCHED_PATHS}
        source = "actions" if identity is not None else "upload"
        changed = store_files(repository_id, wanted, source=source, commit_sha=sha)
    if identity is not None:
        purge_spent_tokens()
    return changed, source


def purge_spent_tokens(*, limit: int = PURGE_BATCH) -> int:
    """Forget up to ``limit`` spent tokens past their expiry (a replay of one is refused
    as expired); return how many. In a transaction of its own, after an upload's: the
    uploads of every tenant would otherwise queue on the same rows. On PostgreSQL rows
    another purge is deleting are skipped, not waited for."""
    expired = (
        ActionsTokenUse.select(ActionsTokenUse.id)
        .where(ActionsTokenUse.expires_at < utcnow())
        .order_by(ActionsTokenUse.expires_at)
        .limit(limit)
    )
    if is_postgres():
        expired = expired.for_update(skip_locked=True)
    with db.atomic():
        return ActionsTokenUse.delete().where(ActionsTokenUse.id.in_(expired)).execute()


def spend_token(identity: ActionsIdentity, repo: Repository) -> None:
    """Record the token's ``jti`` until it expires (AuthError if it was spent already),
    and link ``repo`` to the GitHub repository id the token proves, if it had none."""
    now = utcnow()
    try:
        with db.atomic():
            ActionsTokenUse.create(
                jti=identity.jti, repository=repo.id, expires_at=identity.expires_at, used_at=now
            )
    except IntegrityError:
        raise AuthError(
            "GitHub Actions OIDC token refused: it was used already (each token proves one "
            "upload; the job asks GitHub for a new one)"
        ) from None
    # The first proven upload links the name to GitHub's id for good: a repository
    # renamed away, or deleted and created again under this name, proves nothing.
    # Read again in this transaction: another upload may have linked another id since
    # check_identity read it.
    pinned = Repository.get_by_id(repo.id).github_id
    if pinned is None:
        linked = (
            Repository.update(github_id=identity.repository_id)
            .where(Repository.id == repo.id, Repository.github_id.is_null())
            .execute()
        )
        pinned = identity.repository_id if linked else Repository.get_by_id(repo.id).github_id
    if pinned != identity.repository_id:
        raise _namesake(identity, repo.full_name, pinned)


def check_identity(identity: ActionsIdentity, repo: Repository, *, sha: str) -> None:
    """ForbiddenError unless the token's job is of ``repo``'s default branch at ``sha``."""
    if identity.repository.lower() != repo.full_name.lower():
        raise ForbiddenError(
            f"the OIDC token is of a job of {identity.repository[:200]}, not {repo.full_name}"
        )
    if repo.github_id is not None and identity.repository_id != repo.github_id:
        raise _namesake(identity, repo.full_name, repo.github_id)
    expected = f"refs/heads/{repo.default_branch}"
    if identity.ref != expected:
        raise ForbiddenError(
            f"the OIDC token is of a job on {identity.ref[:200]}; files are taken from "
            f"{expected} only"
        )
    if identity.event_name not in TRUSTED_EVENTS:
        raise ForbiddenError(
            f"the OIDC token is of a job started by {identity.event_name[:60]}; files are "
            f"taken from jobs started by {', '.join(TRUSTED_EVENTS)}"
        )
    if identity.sha.lower() != sha.strip().lower():
        raise ForbiddenError(
            f"the OIDC token is of commit {identity.sha[:40]}, not {sha.strip()[:40] or '(none)'}"
        )


def _namesake(identity: ActionsIdentity, name: str, github_id: int | None) -> ForbiddenError:
    return ForbiddenError(
        f"the OIDC token is of another repository named {name} "
        f"(GitHub id {identity.repository_id}, not {github_id})"
    )


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
