"""``flakeguard ingest`` (reports straight into the database) and ``flakeguard upload``.

``upload`` is the CI client of the ``flakeguard-ci`` package (``client/``), the
same code as ``flakeguard-ci upload``: it needs only ``FLAKEGUARD_URL`` and
``FLAKEGUARD_TOKEN``, never the server's settings. ``ingest`` is the server's
own: it stores reports through the ingest use case into the configured
database (imports, embedded use).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from flakeguard_ci.ci_env import META_FLAGS
from flakeguard_ci.reports import expand_files
from flakeguard_ci.upload import UPLOAD_DESCRIPTION, add_meta_flags, add_upload_arguments

from flakeguard.cli import add_command
from flakeguard.errors import BadRequestError, PayloadTooLargeError
from flakeguard.settings import DEFAULT_MAX_REPORT_BYTES
from flakeguard.usecases.ingest import parse_run_meta


def cmd_ingest(args: argparse.Namespace) -> int:
    """Store JUnit reports straight into the configured database (imports, embedded use)."""
    import tasks
    from flakeguard.cli import open_configured
    from flakeguard.usecases.ingest import ingest_reports
    from flakeguard.usecases.repos import get_repository

    settings = open_configured()
    tasks.configure(settings)
    full_name, meta = parse_run_meta(
        {name: getattr(args, name) for name in META_FLAGS}, source="cli", require_sha=False
    )
    repo = get_repository(full_name)
    paths, unmatched = expand_files(args.files)
    for pattern in unmatched:
        print(f"flakeguard: warning: no file matches {pattern}", file=sys.stderr)
    if not paths:
        print("flakeguard: no report files to ingest", file=sys.stderr)
        return 1
    groups = [paths] if args.single_run else [[path] for path in paths]
    progress = Progress(len(paths), every=args.progress_every)
    runs = duplicates = rejected = results = 0
    for group in groups:
        handles = [path.open("rb") for path in group]
        try:
            result = ingest_reports(
                repo,
                [(str(p), h) for p, h in zip(group, handles, strict=True)],
                meta,
                max_bytes=settings.max_report_bytes,
            )
        except (BadRequestError, PayloadTooLargeError) as exc:
            rejected += len(group)
            print(f"flakeguard: rejected: {exc.message}", file=sys.stderr)
        else:
            duplicates += result.duplicate
            runs += not result.duplicate
            results += result.totals["tests"]
        finally:
            for handle in handles:
                handle.close()
        progress.advance(len(group), results)
    print(
        f"ingested {len(paths) - rejected} of {len(paths)} file(s) into {repo.full_name}: "
        f"{runs} new run(s), {duplicates} duplicate(s), {rejected} rejected, {results} tests"
    )
    return 1 if rejected else 0


class Progress:
    """A progress line on stderr every ``every`` files (a bar when stderr is a terminal)."""

    def __init__(self, total: int, *, every: int | None = None, stream: Any = None) -> None:
        self.total = total
        self.done = 0
        self.stream = stream or sys.stderr
        self.every = every or max(1, total // 20)
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def advance(self, files: int, results: int) -> None:
        before = self.done
        self.done += files
        if self.total < 2:
            return
        if self.done // self.every == before // self.every and self.done != self.total:
            return
        width = 30
        filled = width * self.done // self.total
        bar = "#" * filled + "." * (width - filled)
        line = f"[{bar}] {self.done}/{self.total} files, {results} tests"
        if self.tty:
            end = "\n" if self.done == self.total else ""
            print("\r" + line, end=end, file=self.stream, flush=True)
        else:
            print(line, file=self.stream, flush=True)


# -- argument parsing -----------------------------------------------------------------


def register(subparsers: Any) -> None:
    """Add the ``upload`` and ``ingest`` sub-commands."""
    upload = subparsers.add_parser(
        "upload",
        help="upload JUnit reports from CI (and gate on quarantined failures)",
        description=UPLOAD_DESCRIPTION,
    )
    add_upload_arguments(upload)
    upload.set_defaults(max_bytes=DEFAULT_MAX_REPORT_BYTES)

    ingest = add_command(
        subparsers,
        "ingest",
        cmd_ingest,
        "store JUnit reports straight into the configured database",
        more=" Each file becomes its own run unless --single-run; the same file twice is "
        "stored once.",
    )
    ingest.add_argument("files", nargs="+", metavar="FILE", help="report files or globs (**)")
    add_meta_flags(ingest, ci=False)
    ingest.add_argument(
        "--single-run", action="store_true", help="store all the files as one run (one CI job)"
    )
    ingest.add_argument(
        "--progress-every", type=int, default=None, help="progress line every N files"
    )
