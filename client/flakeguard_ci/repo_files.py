"""Find the repository's CODEOWNERS and .flakeguard.yml in the CI checkout, to send them.

The server stores them only from a run of the default branch with no pull request,
and only when its GitHub App is not installed on the repository (the App reads the
default branch itself), so a pull request cannot change its own owners or settings.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

# The paths the server reads, in GitHub's order for CODEOWNERS (first found wins).
PATHS = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS", ".flakeguard.yml")
MAX_BYTES = {".flakeguard.yml": 64 * 1024}
DEFAULT_MAX = 3 * 1024 * 1024 - 1  # GitHub ignores a CODEOWNERS of 3 MB or more


def find(root: Path) -> dict[str, str | None]:
    """Each path's text under ``root`` (None when absent, not a file, too big or not UTF-8)."""
    found: dict[str, str | None] = {}
    for path in PATHS:
        target = root / path
        try:
            if not target.is_file() or target.stat().st_size > MAX_BYTES.get(path, DEFAULT_MAX):
                found[path] = None
                continue
            found[path] = target.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            found[path] = None
    return found


def payload(meta: Mapping[str, str], files: Mapping[str, str | None]) -> bytes:
    """The JSON body of ``PUT /api/v1/repository-files``."""
    pr = meta.get("pr", "")
    body = {
        "repo": meta.get("repo", ""),
        "branch": meta.get("branch", ""),
        "sha": meta.get("sha", ""),
        "pr": int(pr) if pr.isdigit() else None,
        "files": dict(files),
    }
    return json.dumps(body).encode()
