"""The ``flakeguard`` command line: serve, worker, migrate, repo, and the commands plugged in."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

from flakeguard.errors import ConfigError, FlakeGuardError
from flakeguard.settings import Settings
from models.crypto import SecretKeyError

# Modules that add sub-commands: each has ``register(subparsers)``.
COMMAND_MODULES: list[str] = [
    "flakeguard.cli_ingest",
    "flakeguard.cli_owners",
    "flakeguard.cli_status",
    "flakeguard.cli_tenant",
    "flakeguard.cli_web",
    "flakeguard.cli_api",
]

Handler = Callable[[argparse.Namespace], int]


def add_command(
    sub: Any, name: str, handler: Handler, help: str, *, more: str = ""
) -> argparse.ArgumentParser:
    """Add the sub-command ``name`` run by ``handler``, described by its docstring (+ ``more``)."""
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=help, description=(handler.__doc__ or "") + more
    )
    parser.set_defaults(handler=handler)
    return parser


def add_group(sub: Any, name: str, help: str, description: str) -> Any:
    """Add ``name``, a sub-command with actions of its own; return their subparsers.

    Without an action it prints its help and exits 2.
    """
    group: argparse.ArgumentParser = sub.add_parser(name, help=help, description=description)
    group.set_defaults(handler=lambda args: _usage(group))
    return group.add_subparsers(dest=name.replace("-", "_") + "_command", metavar="ACTION")


def refused(exc: FlakeGuardError) -> int:
    """Print why a command was refused; exit status 2."""
    print(f"flakeguard: {exc.message}", file=sys.stderr)
    return 2


def load_settings() -> Settings:
    """Settings from the environment (ConfigError propagates to main)."""
    return Settings.from_env()


def open_configured(*, migrate: bool | None = None) -> Settings:
    """Settings from the environment and the database they name (migrated on SQLite)."""
    settings = load_settings()
    open_database(settings, migrate=settings.is_sqlite if migrate is None else migrate)
    return settings


def open_database(settings: Settings, *, migrate: bool) -> None:
    """Point the models at the configured database, migrating when asked."""
    from flakeguard.secrets import configure_secrets
    from models import init_db
    from models.migrate import apply_migrations

    configure_secrets(settings)
    init_db(settings.database_url)
    if migrate:
        apply_migrations()


def cmd_serve(args: argparse.Namespace) -> int:
    """Web server plus an in-process worker, for the embedded default."""
    from werkzeug.serving import make_server

    from flakeguard.app import create_app

    settings = open_configured(migrate=True)
    app = create_app(settings)
    queue = app.extensions["flakeguard"].queue
    server = make_server(args.host, args.port or settings.port, app, threaded=True)
    url = f"http://{args.host}:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, name="web", daemon=True)
    thread.start()
    print(f"FlakeGuard is running at {url}  (health: {url}/health/ready, API: {url}/api/v1/)")
    print(f"database: {settings.database_url}   queue: {type(queue.storage).__name__}")
    print(f"Dashboard: {url}/  (to sign in, run `flakeguard login` and open the link it prints)")
    print("Press Ctrl+C to stop.", flush=True)
    if queue.immediate:
        thread.join()
        return 0
    consumer = queue.create_consumer(workers=args.workers, worker_type="thread")
    try:
        consumer.run()
    finally:
        server.shutdown()
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """Run the Huey consumer (periodic jobs included unless --no-periodic)."""
    import tasks
    from flakeguard import logs

    settings = load_settings()
    logs.configure_logging(
        level=settings.log_level, fmt=settings.log_format, secrets=logs.settings_secrets(settings)
    )
    open_database(settings, migrate=settings.is_sqlite)
    queue = tasks.configure(settings)
    if queue.immediate:
        raise ConfigError("FLAKEGUARD_QUEUE: a worker needs a real queue, not 'immediate'")
    queue.create_consumer(
        workers=args.workers, worker_type="thread", periodic=not args.no_periodic
    ).run()
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    """Apply pending migrations (idempotent)."""
    from flakeguard.secrets import configure_secrets
    from models import init_db
    from models.migrate import apply_migrations

    settings = load_settings()
    configure_secrets(settings)  # a migration encrypts tokens stored in plain text
    init_db(settings.database_url, pooled=False)
    applied = apply_migrations()
    print("applied: " + ", ".join(applied) if applied else "database is up to date")
    return 0


def cmd_repo_add(args: argparse.Namespace) -> int:
    """Create a repository and print its ingest token once."""
    from flakeguard.cli_status import cli_tenant
    from flakeguard.usecases.repos import add_repository

    open_configured()
    tenant = cli_tenant(args)
    if tenant is None:
        return 2
    repo, token = add_repository(args.full_name, tenant=tenant, default_branch=args.default_branch)
    print(
        f"repository {repo.full_name} created for tenant {tenant.slug} "
        f"(default branch {repo.default_branch})"
    )
    print(f"ingest token (shown once, only its hash is stored): {token}")
    return 0


def cmd_repo_token(args: argparse.Namespace) -> int:
    """Issue a new ingest token for an existing repository and print it once."""
    from flakeguard.usecases.repos import get_repository, issue_token

    open_configured()
    repo = get_repository(args.full_name)
    token = issue_token(repo, label=args.label)
    print(f"new ingest token for {repo.full_name} (shown once, only its hash is stored): {token}")
    return 0


def cmd_repo_tokens(args: argparse.Namespace) -> int:
    """List a repository's ingest tokens: prefix, label, created, last used, revoked."""
    from flakeguard.usecases.repos import list_tokens

    open_configured()
    tokens = list_tokens(args.full_name)
    if not tokens:
        print(f"{args.full_name} has no ingest token")
        return 0

    def when(value: Any) -> str:
        return value.strftime("%Y-%m-%d %H:%M") if value else "-"

    rows = [("PREFIX", "LABEL", "CREATED", "LAST USED", "REVOKED")]
    rows += [
        (t.prefix, t.label or "-", when(t.created_at), when(t.last_used_at), when(t.revoked_at))
        for t in tokens
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip())
    return 0


def cmd_repo_revoke_token(args: argparse.Namespace) -> int:
    """Revoke an ingest token by its prefix (as `repo tokens` lists it); refused at once."""
    from flakeguard.errors import ConflictError, NotFoundError
    from flakeguard.usecases.repos import revoke_token

    open_configured()
    try:
        token, revoked = revoke_token(args.prefix)
    except (NotFoundError, ConflictError) as exc:
        print(f"flakeguard: {exc.message}", file=sys.stderr)
        return 2
    if revoked:
        print(f"revoked ingest token {token.prefix} of {token.repository}")
    else:
        print(f"ingest token {token.prefix} of {token.repository} was already revoked")
    return 0


def cmd_repo_artifacts(args: argparse.Namespace) -> int:
    """Show or set which GitHub Actions artifacts hold a repository's JUnit reports."""
    from flakeguard.usecases.github_actions import (
        artifact_patterns,
        set_artifact_patterns,
    )
    from flakeguard.usecases.repos import get_repository

    open_configured()
    if args.patterns or args.reset:
        patterns = set_artifact_patterns(args.full_name, [] if args.reset else args.patterns)
    else:
        patterns = artifact_patterns(get_repository(args.full_name))
    print(f"{args.full_name}: artifacts whose name contains or matches: " + ", ".join(patterns))
    return 0


def cmd_policy(args: argparse.Namespace) -> int:
    """Show or set who may approve or undo quarantines in a Slack workspace."""
    from flakeguard.usecases.policy import get_policy, set_policy

    open_configured()
    if args.mode:
        values = args.values or []
        set_policy(
            args.team_id,
            args.mode,
            usergroup_id=values[0] if args.mode == "usergroup" and values else None,
            users=values if args.mode == "users" else (),
        )
    mode, usergroup, users = get_policy(args.team_id)
    who = {"everyone": "everyone", "usergroup": f"members of user group {usergroup}"}.get(
        mode, "only " + ", ".join(users)
    )
    print(f"workspace {args.team_id}: {who} may approve or undo quarantines")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command."""
    parser = argparse.ArgumentParser(
        prog="flakeguard",
        description="FlakeGuard: find flaky tests in CI and manage them from Slack.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = add_command(sub, "serve", cmd_serve, "run the web server and a worker in one process")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port (default $PORT or 8000)")
    serve.add_argument("--workers", type=int, default=2, help="worker threads (default 2)")

    worker = add_command(sub, "worker", cmd_worker, "run the background worker (Huey consumer)")
    worker.add_argument("--workers", "-w", type=int, default=2, help="worker threads")
    worker.add_argument(
        "--no-periodic",
        action="store_true",
        help="do not run periodic jobs (run them on one worker only)",
    )

    add_command(sub, "migrate", cmd_migrate, "apply database migrations")

    repo_sub = add_group(sub, "repo", "manage repositories", "Manage repositories.")
    add = add_command(repo_sub, "add", cmd_repo_add, "add a repository and print its ingest token")
    add.add_argument("full_name", metavar="OWNER/NAME")
    add.add_argument("--default-branch", default="main", help="default branch (default main)")
    add.add_argument(
        "--tenant",
        metavar="SLUG",
        help="the tenant it belongs to (default: the only one; required when there are several)",
    )
    token = add_command(
        repo_sub, "token", cmd_repo_token, "issue another ingest token for a repository"
    )
    token.add_argument("full_name", metavar="OWNER/NAME")
    token.add_argument("--label", default="", help="a note to tell tokens apart")
    tokens = add_command(repo_sub, "tokens", cmd_repo_tokens, "list a repository's ingest tokens")
    tokens.add_argument("full_name", metavar="OWNER/NAME")
    revoke = add_command(repo_sub, "revoke-token", cmd_repo_revoke_token, "revoke an ingest token")
    revoke.add_argument("prefix", metavar="PREFIX", help="the prefix `repo tokens` shows")
    artifacts = add_command(
        repo_sub,
        "artifacts",
        cmd_repo_artifacts,
        "show or set the Actions artifact name filter",
        more=" Default: names containing junit, test-results or test-report.",
    )
    artifacts.add_argument("full_name", metavar="OWNER/NAME")
    artifacts.add_argument(
        "patterns",
        nargs="*",
        metavar="PATTERN",
        help="substrings or globs (* ?); omit to show the current filter",
    )
    artifacts.add_argument("--reset", action="store_true", help="back to the default filter")
    importlib.import_module("flakeguard.cli_owners").register_repo_files(repo_sub)

    policy = add_command(
        sub,
        "policy",
        cmd_policy,
        "who may approve or undo quarantines in a Slack workspace",
        more=" Examples: `flakeguard policy T0123 usergroup S0456`, "
        "`flakeguard policy T0123 users U01 U02`, `flakeguard policy T0123 everyone`.",
    )
    policy.add_argument("team_id", metavar="TEAM_ID", help="the Slack workspace id (T...)")
    policy.add_argument(
        "mode",
        nargs="?",
        choices=("everyone", "usergroup", "users"),
        help="omit to show the current policy",
    )
    policy.add_argument(
        "values",
        nargs="*",
        metavar="ID",
        help="the user group id (S...) or the Slack user ids (U...)",
    )

    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Any = getattr(args, "handler", None)
    if handler is None:
        return _usage(parser)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(handler(args) or 0)
    except ConfigError as exc:
        print(f"flakeguard: configuration error: {exc.message}", file=sys.stderr)
        return 2
    except SecretKeyError as exc:  # no key, or the wrong one, for the stored tokens
        print(f"flakeguard: configuration error: {exc}", file=sys.stderr)
        return 2
    except FlakeGuardError as exc:
        print(f"flakeguard: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
