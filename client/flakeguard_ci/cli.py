"""``flakeguard-ci``: ``upload`` reports (with ``--gate``) and print the ``quarantined`` tests."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence

from flakeguard_ci.api import Client, QuarantinedTest, Unreachable
from flakeguard_ci.ci_env import detect_ci
from flakeguard_ci.upload import UPLOAD_DESCRIPTION, add_server_flags, add_upload_arguments

FORMATS = ("text", "json", "pytest")


def cmd_quarantined(args: argparse.Namespace) -> int:
    """Print the repository's quarantined tests (exit 1 when FlakeGuard cannot be asked)."""
    return run_quarantined(args, os.environ)


def run_quarantined(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """``cmd_quarantined`` with the environment given."""
    url = args.url or env.get("FLAKEGUARD_URL", "").strip()
    token = args.token or env.get("FLAKEGUARD_TOKEN", "").strip()
    repo = (args.repo or "").strip() or detect_ci(env).get("repo", "")
    missing = [
        name
        for name, value in (("FLAKEGUARD_URL", url), ("FLAKEGUARD_TOKEN", token), ("--repo", repo))
        if not value
    ]
    if missing:
        print(f"flakeguard-ci: error: {' and '.join(missing)} not set", file=sys.stderr)
        return 2
    client = Client(
        url, token, retries=args.retries, backoff=args.retry_backoff, timeout=args.timeout
    )
    try:
        tests = client.quarantine_list(repo)
    except Unreachable as exc:
        print(f"flakeguard-ci: error: quarantine list unavailable ({exc})", file=sys.stderr)
        return 1
    if args.format == "json":
        print(json.dumps({"repo": repo, "tests": [t.as_json() for t in tests]}, indent=2))
    elif args.format == "pytest":
        for test in tests:
            print(pytest_node_id(test))
    else:
        print(f"{len(tests)} quarantined test(s) in {repo}")
        for test in tests:
            since = f" since {test.since[:10]}" if test.since else ""
            issue = f" {test.issue_url}" if test.issue_url else ""
            print(f"  {test.key}{since}{issue}")
    return 0


def pytest_node_id(test: QuarantinedTest) -> str:
    """A pytest node id for ``--deselect`` from a key written by pytest's junitxml.

    The classname's parts up to the first CapWords one are the module path, the
    rest are classes (pytest collects ``Test*`` classes); other keys print as is.
    """
    classname, name = test.classname, test.name
    if not classname or not test.key.startswith(f"{classname}::"):
        return test.key
    parts = classname.split(".")
    split = next((i for i, part in enumerate(parts) if part[:1].isupper()), len(parts))
    if split == 0:
        return test.key
    module = "/".join(parts[:split]) + ".py"
    return "::".join([module, *parts[split:], name])


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``flakeguard-ci``."""
    parser = argparse.ArgumentParser(
        prog="flakeguard-ci",
        description="FlakeGuard's CI client: upload JUnit reports and honour quarantines.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    upload = sub.add_parser(
        "upload",
        help="upload JUnit reports (and gate on quarantined failures)",
        description=UPLOAD_DESCRIPTION,
    )
    add_upload_arguments(upload)
    quarantined = sub.add_parser(
        "quarantined",
        help="print the repository's quarantined tests",
        description=cmd_quarantined.__doc__,
    )
    quarantined.add_argument(
        "--repo", metavar="OWNER/NAME", help="repository (default: from the CI environment)"
    )
    quarantined.add_argument(
        "--format",
        choices=FORMATS,
        default="text",
        help="text (default), json (as the API answers), pytest (node ids for --deselect)",
    )
    add_server_flags(quarantined, timeout=10.0)
    quarantined.set_defaults(handler=cmd_quarantined)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``flakeguard-ci`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return int(handler(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
