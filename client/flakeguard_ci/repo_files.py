"""Find the repository's CODEOWNERS and .flakeguard.yml in the CI checkout, to send them.

The server stores them only from a run of the default branch with no pull request,
and only when its GitHub App is not installed on the repository (the App reads the
default branch itself), so a pull request cannot change its own owners or settings.
On GitHub Actions the job proves where it runs with its OIDC token (``actions_token``:
the job needs ``permissions: id-token: write``), which the server checks.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote

from flakeguard_ci.api import USER_AGENT

# The paths the server reads, in GitHub's order for CODEOWNERS (first found wins).
PATHS = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS", ".flakeguard.yml")
MAX_BYTES = {".flakeguard.yml": 64 * 1024}
DEFAULT_MAX = 3 * 1024 * 1024 - 1  # GitHub ignores a CODEOWNERS of 3 MB or more
MAX_TOKEN_ANSWER = 64 * 1024


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


def payload(
    meta: Mapping[str, str], files: Mapping[str, str | None], actions_token: str | None = None
) -> bytes:
    """The JSON body of ``PUT /api/v1/repository-files``."""
    pr = meta.get("pr", "")
    body = {
        "repo": meta.get("repo", ""),
        "branch": meta.get("branch", ""),
        "sha": meta.get("sha", ""),
        "pr": int(pr) if pr.isdigit() else None,
        "files": dict(files),
    }
    if actions_token:
        body["actions_token"] = actions_token
    return json.dumps(body).encode()


def actions_token(
    env: Mapping[str, str], audience: str, *, timeout: float = 10.0
) -> tuple[str | None, str]:
    """The job's GitHub Actions OIDC token for ``audience``, or (None, why there is none).

    GitHub gives the job a URL and a bearer token to ask for it only when the workflow
    grants ``permissions: id-token: write``.
    """
    import urllib.error
    import urllib.request

    url = (env.get("ACTIONS_ID_TOKEN_REQUEST_URL") or "").strip()
    bearer = (env.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN") or "").strip()
    if not url or not bearer:
        return None, "the job has no OIDC token (grant it `permissions: id-token: write`)"
    joiner = "&" if "?" in url else "?"
    request = urllib.request.Request(
        f"{url}{joiner}audience={quote(audience, safe='')}",
        headers={
            "Authorization": f"bearer {bearer}",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = json.loads(response.read(MAX_TOKEN_ANSWER))
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return None, f"GitHub gave no OIDC token ({getattr(exc, 'reason', None) or exc})"
    value = answer.get("value") if isinstance(answer, dict) else None
    if not isinstance(value, str) or not value:
        return None, "GitHub's answer held no OIDC token"
    return value, ""
