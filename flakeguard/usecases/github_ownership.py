"""Who owns what on the GitHub side: installations belong to tenants, repositories to both.

The rules (each GitHub event passes through them before it acts):

- An installation belongs to one tenant, fixed when FlakeGuard first hears of
  it. One-workspace setups (``per_account=False``: a single Slack bot token, or
  no Slack) put every installation in the default tenant. With Slack OAuth
  (``per_account=True``) a reinstall by the same GitHub account (by its id,
  which survives renames) finds that account's tenant again; a new account gets
  a new tenant, its slug made from the account's login.
- A repository is found by GitHub's repository id within the installation's
  tenant, and by ``full_name`` only for a row of that tenant that has no id yet
  (one added with ``flakeguard repo add``). Nothing is ever found by name in
  another tenant, so a repository is never re-homed across tenants.
- An event acts only on a repository of the installation that sent it (or of
  no installation yet, in its tenant). Only GitHub's word that the repository
  now belongs to the installation (``installation`` created,
  ``installation_repositories`` added, ``repository`` transferred) moves it from
  another installation of the same tenant; a work event (workflow run, check
  run) for a repository held by another installation is ignored.
- A work event for a repository id that another tenant's live installation
  holds is ignored too (nothing is created): only a membership event starts a
  row for it in the sender's tenant, with no history.
"""

from __future__ import annotations

import re
from typing import Any

from flakeguard.usecases.payload import int_at as _int
from flakeguard.usecases.payload import str_at as _str
from models import Installation, Repository, Tenant, default_tenant, utcnow

Payload = dict[str, Any]
SLUG_MAX = 64
NOT_THIS_INSTALLATION = "the repository belongs to another installation"


# -- tenants and installations ------------------------------------------------------------


def unique_tenant_slug(login: str) -> str:
    """A tenant slug from a GitHub login (lower case, a-z 0-9 -), made unique with -2, -3..."""
    base = re.sub(r"[^a-z0-9]+", "-", login.lower()).strip("-")[: SLUG_MAX - 6] or "github"
    slug, number = base, 1
    while Tenant.select().where(Tenant.slug == slug).exists():
        number += 1
        slug = f"{base}-{number}"
    return slug


def tenant_for_account(account_id: int | None, login: str, *, per_account: bool) -> Tenant:
    """The tenant a new installation of ``account_id`` belongs to (see the module's rules)."""
    if not per_account:
        return default_tenant()
    if account_id is not None:
        known = (
            Installation.select()
            .where(Installation.account_id == account_id)
            .order_by(Installation.id)
            .first()
        )
        if known is not None:
            return known.tenant
    return Tenant.create(slug=unique_tenant_slug(login), name=login[:200])


def upsert_installation(payload: Payload, *, per_account: bool) -> Installation | None:
    """The Installation of an event, created in its tenant on first sight, account kept current."""
    installation_id = _int(payload, "installation", "id")
    if installation_id is None:
        return None
    account_id = _int(payload, "installation", "account", "id")
    login = (
        _str(payload, "installation", "account", "login")
        or _str(payload, "repository", "owner", "login")
        or ""
    )
    kind = _str(payload, "installation", "account", "type") or "Organization"
    inst = Installation.get_or_none(Installation.installation_id == installation_id)
    if inst is None:
        return Installation.create(
            tenant=tenant_for_account(account_id, login, per_account=per_account),
            installation_id=installation_id,
            account_id=account_id,
            account_login=login[:100],
            account_type=kind[:20],
        )
    changed = False
    # An installation id names one account for ever: the id is recorded once, never replaced.
    if account_id is not None and inst.account_id is None:
        inst.account_id, changed = account_id, True
    if login and (inst.account_login != login or inst.account_type != kind):
        inst.account_login, inst.account_type, changed = login[:100], kind[:20], True
    if changed:
        inst.updated_at = utcnow()
        inst.save()
    return inst


def live_installation(payload: Payload, *, per_account: bool) -> Installation | str:
    """The event's installation, or why there is none to act for (missing, suspended, deleted)."""
    inst = upsert_installation(payload, per_account=per_account)
    if inst is None:
        return "no installation in the payload"
    if inst.suspended_at is not None or inst.deleted_at is not None:
        return f"installation {inst.installation_id} is suspended or deleted"
    return inst


# -- repositories ---------------------------------------------------------------------------


def find_tenant_repository(
    tenant_id: int, github_id: int | None, full_name: str
) -> Repository | None:
    """A tenant's repository by GitHub id; by name only for a row that has no id yet."""
    in_tenant = Repository.tenant == tenant_id
    if github_id is not None:
        repo = Repository.get_or_none(in_tenant & (Repository.github_id == github_id))
        if repo is not None:
            return repo
        return Repository.get_or_none(
            in_tenant & (Repository.full_name == full_name) & Repository.github_id.is_null()
        )
    return Repository.get_or_none(in_tenant & (Repository.full_name == full_name))


def held_by_another_tenant(github_id: int | None, tenant_id: int) -> bool:
    """True when a live installation of another tenant holds the repository ``github_id``."""
    if github_id is None:
        return False
    return (
        Repository.select()
        .where(
            (Repository.github_id == github_id)
            & (Repository.tenant != tenant_id)
            & Repository.installation.is_null(False)
            & Repository.active
        )
        .exists()
    )


def _free_name(tenant_id: int, full_name: str, keep_id: int | None) -> None:
    # GitHub says ``full_name`` is now this repository: a stale row of the tenant under
    # that name (renamed or deleted on GitHub, missed by us) steps aside, history kept.
    query = Repository.select().where(
        (Repository.tenant == tenant_id) & (Repository.full_name == full_name)
    )
    if keep_id is not None:
        query = query.where(Repository.id != keep_id)
    for stale in query:
        stale.full_name = f"{full_name}~{stale.id}"[:200]
        stale.active = False
        stale.save()


def _name_held_by_another(
    tenant_id: int, full_name: str, repo: Repository | None, inst: Installation
) -> bool:
    # A work event never moves another installation's row out of the way.
    query = Repository.select().where(
        (Repository.tenant == tenant_id)
        & (Repository.full_name == full_name)
        & Repository.installation.is_null(False)
        & (Repository.installation != inst.id)
    )
    if repo is not None:
        query = query.where(Repository.id != repo.id)
    return query.exists()


def _repository_item(item: Any) -> tuple[int | None, str] | None:
    if not isinstance(item, dict):
        return None
    full_name = item.get("full_name")
    if not isinstance(full_name, str) or "/" not in full_name:
        return None
    return _int(item, "id"), full_name[:200]


def attach_repository(
    item: Any, inst: Installation, *, claim: bool = True
) -> tuple[Repository | None, str]:
    """The installation's row for a payload's repository (created, renamed, kept current).

    ``claim``: GitHub says the installation now holds the repository (membership
    events), so a row of another installation of the same tenant moves to it.
    Without it (work events) such a row is left alone and nothing is returned.
    """
    parsed = _repository_item(item)
    if parsed is None:
        return None, "no repository in the payload"
    github_id, full_name = parsed
    tenant_id = inst.tenant_id
    repo = find_tenant_repository(tenant_id, github_id, full_name)
    if repo is not None and repo.installation_id not in (None, inst.id) and not claim:
        return None, NOT_THIS_INSTALLATION
    if repo is None and not claim and held_by_another_tenant(github_id, tenant_id):
        return None, NOT_THIS_INSTALLATION
    if not claim and _name_held_by_another(tenant_id, full_name, repo, inst):
        return None, NOT_THIS_INSTALLATION
    branch = item.get("default_branch")
    branch = branch[:255] if isinstance(branch, str) and branch else None
    _free_name(tenant_id, full_name, repo.id if repo is not None else None)
    if repo is None:
        repo = Repository.create(
            tenant=tenant_id,
            full_name=full_name,
            github_id=github_id,
            installation=inst,
            default_branch=branch or "main",
        )
        return repo, ""
    repo.full_name = full_name
    repo.github_id = github_id if github_id is not None else repo.github_id
    repo.installation = inst
    repo.active = True
    if branch:
        repo.default_branch = branch
    repo.save()
    return repo, ""


def detach_repositories(items: list[Any], inst: Installation) -> int:
    """Deactivate the installation's own rows for the repositories removed from it."""
    count = 0
    for item in items:
        parsed = _repository_item(item)
        if parsed is None:
            continue
        repo = find_tenant_repository(inst.tenant_id, *parsed)
        if repo is None or repo.installation_id != inst.id:
            continue
        count += (
            Repository.update(active=False, installation=None)
            .where(Repository.id == repo.id)
            .execute()
        )
    return count
