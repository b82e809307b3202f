"""``flakeguard route`` and ``flakeguard owners``: CODEOWNERS routing from the terminal."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from flakeguard.cli_status import TENANT_HELP, open_for_tenant
from flakeguard.errors import FlakeGuardError


def cmd_route(args: argparse.Namespace) -> int:
    """Send a CODEOWNERS owner's alerts to a Slack channel; list or remove routes."""
    from flakeguard.usecases import owner_routes

    tenant = open_for_tenant(args)
    if tenant is None:
        return 2
    try:
        if args.remove:
            name = owner_routes.remove_route(tenant_id=tenant.id, owner=args.remove)
            print(f"{name}: alerts go to their repositories' channels again")
            return 0
        if args.owner and args.owner != "list":
            if not (args.team_id and args.channel_id):
                print("flakeguard: route OWNER TEAM_ID CHANNEL_ID", file=sys.stderr)
                return 2
            name, previous = owner_routes.set_route(
                tenant_id=tenant.id,
                team_id=args.team_id,
                owner=args.owner,
                channel_id=args.channel_id,
                actor="cli",
            )
            was = f" (was {previous})" if previous and previous != args.channel_id else ""
            print(f"{name}: alerts go to {args.channel_id} in {args.team_id}{was}")
            return 0
    except FlakeGuardError as exc:
        print(f"flakeguard: {exc.message}", file=sys.stderr)
        return 1
    found = owner_routes.routes(tenant.id)
    if not found:
        print("no routes: every alert goes to its repository's channels")
    for route in found:
        failing = f" [last post failed: {route.last_error}]" if route.last_error else ""
        print(f"{route.owner} -> {route.channel} ({route.team_id}){failing}")
    return 0


def _repository(args: argparse.Namespace) -> Any:
    """The repository ``args.repo`` in the CLI's tenant, or the exit status (after one line)."""
    from flakeguard.usecases.status import resolve_repository

    tenant = open_for_tenant(args)
    if tenant is None:
        return 2
    try:
        return resolve_repository(args.repo, tenant_id=tenant.id)
    except FlakeGuardError as exc:
        print(f"flakeguard: {exc.message}", file=sys.stderr)
        return 1


def cmd_owners(args: argparse.Namespace) -> int:
    """Who owns a path of a repository (its CODEOWNERS), and what is wrong in its files."""
    from flakeguard.usecases import repo_files

    repo = _repository(args)
    if isinstance(repo, int):
        return repo
    files = repo_files.files_of(repo.id)
    where = files.codeowners_path or "no CODEOWNERS"
    print(f"{repo.full_name}: {where} (from {files.source or 'nowhere yet'})")
    for path in args.paths:
        rule = files.codeowners.rule_for(path)
        if rule is None:
            print(f"  {path}: no owner (no pattern matches)")
        elif not rule.owners:
            print(f"  {path}: no owner (line {rule.line}, {rule.pattern}, names none)")
        else:
            print(f"  {path}: {', '.join(rule.owners)} (line {rule.line}, {rule.pattern})")
    for line in repo_files.problems(repo.id):
        print(f"  problem: {line}")
    return 0


def cmd_repo_files(args: argparse.Namespace) -> int:
    """Show or set how CODEOWNERS and .flakeguard.yml uploaded from CI are trusted."""
    from flakeguard.usecases import repo_file_uploads, repo_files

    repo = _repository(args)
    if isinstance(repo, int):
        return repo
    if args.trust:  # one of the modes: argparse checked it
        repo_file_uploads.set_trust(repo, args.trust)
    if args.forget_github_id:
        repo = repo_file_uploads.forget_github_id(repo)
    mode = args.trust or repo_file_uploads.trust_of(repo)
    files = repo_files.files_of(repo.id)
    print(f"{repo.full_name}: files from {files.source or 'nowhere yet'}")
    if repo.github_id is not None:
        print(f"  GitHub repository id {repo.github_id}: a job of a namesake is refused")
    if repo.installation_id is not None:
        print("  the GitHub App reads them from the default branch; uploads are not used")
    elif mode == repo_file_uploads.ACTIONS:
        print("  uploads are taken from GitHub Actions jobs proven by their OIDC token")
    else:
        print("  uploads are taken on the word of the ingest token (any CI job holding it)")
    return 0


def register_repo_files(repo_sub: Any) -> None:
    """Add ``repo files`` to the ``repo`` command."""
    files = repo_sub.add_parser(
        "files",
        help="how CODEOWNERS and .flakeguard.yml uploaded from CI are trusted",
        description=cmd_repo_files.__doc__
        + " actions (the default): only from a GitHub Actions job of the default branch, proven"
        " by its OIDC token. ingest-token: from any CI job holding the ingest token that says"
        " it runs the default branch's head (for CI without OIDC tokens).",
    )
    files.add_argument("repo", metavar="OWNER/NAME")
    files.add_argument("--trust", choices=("actions", "ingest-token"), help="set the trust")
    files.add_argument(
        "--forget-github-id",
        action="store_true",
        help="unlink the GitHub repository id (the repository was created again on "
        "purpose); the next proven upload links the new one",
    )
    files.add_argument("--tenant", metavar="SLUG", help=TENANT_HELP)
    files.set_defaults(handler=cmd_repo_files)


def register(sub: Any) -> None:
    """Add ``route`` and ``owners``."""
    route = sub.add_parser(
        "route",
        help="send a CODEOWNERS owner's alerts to a Slack channel",
        description=cmd_route.__doc__
        + " Examples: `flakeguard route @acme/payments T0123 C0456`, `flakeguard route list`, "
        "`flakeguard route --remove @acme/payments`.",
    )
    route.add_argument("owner", nargs="?", metavar="OWNER", help="@org/team or @user")
    route.add_argument("team_id", nargs="?", metavar="TEAM_ID", help="the Slack workspace (T...)")
    route.add_argument("channel_id", nargs="?", metavar="CHANNEL_ID", help="the channel (C...)")
    route.add_argument("--remove", metavar="OWNER", help="remove OWNER's route")
    route.add_argument("--tenant", metavar="SLUG", help=TENANT_HELP)
    route.set_defaults(handler=cmd_route)

    who = sub.add_parser(
        "owners", help="who owns a path (CODEOWNERS)", description=cmd_owners.__doc__
    )
    who.add_argument("repo", metavar="OWNER/NAME")
    who.add_argument("paths", nargs="*", metavar="PATH", help="repository paths")
    who.add_argument("--tenant", metavar="SLUG", help=TENANT_HELP)
    who.set_defaults(handler=cmd_owners)
