"""Render-ready views of the Slack messages for a repository's current data (no Slack needed).

``flakeguard preview`` renders these with the same Block Kit builders the bot
uses, so a person can see the messages without installing the app.
"""

from __future__ import annotations

from flakeguard.errors import NotFoundError
from flakeguard.usecases.alerts import AlertView, failing_runs, quarantine_view
from flakeguard.usecases.app_home import HomeView
from flakeguard.usecases.digest import DigestView, digest_view, owned_digest_view
from flakeguard.usecases.github import web_url
from flakeguard.usecases.owner_routes import normalize_owner, routed_owners
from flakeguard.usecases.plan import quarantine_plan
from flakeguard.usecases.status import RepoStatus, display_name, repo_status, resolve_repository
from models import DomainEvent, FlakeScore, Quarantine, Repository, TestCase

PREVIEW_USER = "U0PREVIEW"


def _repository(full_name: str | None, tenant_id: int) -> Repository:
    if full_name:
        return resolve_repository(full_name, tenant_id=tenant_id)
    repo = Repository.select().where(Repository.tenant == tenant_id).order_by(Repository.id).first()
    if repo is None:
        raise NotFoundError("no repositories yet: run `flakeguard demo` first")
    return repo


def alert(full_name: str | None, kind: str = "flaky", *, tenant_id: int) -> AlertView:
    """The alert a channel would get for the newest ``kind`` event (flaky, broken or fixed)."""
    repo = _repository(full_name, tenant_id)
    event = (
        DomainEvent.select()
        .where(DomainEvent.repository == repo.id, DomainEvent.kind == kind)
        .order_by(DomainEvent.id.desc())
        .first()
    )
    if event is None or event.test_case_id is None:
        raise NotFoundError(f"no {kind} test in {repo.full_name} to preview")
    test = TestCase.get_by_id(event.test_case_id)
    score = FlakeScore.get_or_none(FlakeScore.test_case == test.id)
    q = Quarantine.get_or_none(Quarantine.test_case == test.id)
    data = event.data or {}
    evidence = (score.evidence if score else None) or {}
    first_failing = data.get("first_failing_sha") or evidence.get("first_failing_sha")
    return AlertView(
        message_id=0,
        kind=kind,
        repository=repo.full_name,
        test_case_id=test.id,
        test_name=display_name(test),
        state=score.state if score else kind,
        score=score.score if score else float(data.get("score", 0.0)),
        low=score.low if score else 0.0,
        high=score.high if score else 1.0,
        reason=(score.reason if score else "") or str(data.get("reason", "")),
        since=score.state_since if score else event.created_at,
        first_failing_sha=first_failing,
        failing_runs=failing_runs(test.id, repo.full_name),
        quarantine=quarantine_view(q) if q and kind != "broken" else None,
        first_failing_url=web_url(repo.full_name, "commit", first_failing)
        if first_failing
        else None,
    )


def status(full_name: str | None, *, tenant_id: int) -> list[RepoStatus]:
    """What `/flakeguard status` answers."""
    return [repo_status(_repository(full_name, tenant_id))]


def digest(full_name: str | None, *, tenant_id: int) -> DigestView:
    """The weekly digest of the repository."""
    return digest_view(_repository(full_name, tenant_id).id)


def owner_digest(owner: str, *, tenant_id: int) -> DigestView:
    """The weekly digest of a routed owner's channel; unrouted, of every repository."""
    name = normalize_owner(owner)
    routed = sorted(
        ((key.team_id, key.channel), repository_ids)
        for key, repository_ids in routed_owners(tenant_id).items()
        if key.owner == name
    )
    if routed:
        return owned_digest_view(name, routed[0][1])
    everywhere = Repository.select(Repository.id).where(Repository.tenant == tenant_id)
    return owned_digest_view(name, [repo.id for repo in everywhere])


def home(full_name: str | None, *, tenant_id: int) -> HomeView:
    """An App Home as a user of a channel subscribed to the repository would see it."""
    repo = _repository(full_name, tenant_id)
    items, total = quarantine_plan(repo.id)
    return HomeView(
        user_id=PREVIEW_USER,
        github_login=None,
        assigned=items[:1],
        flaky=items,
        recent=[],
        flaky_total=total,
        assigned_total=min(1, total),
        repositories=[repo.full_name],
    )
