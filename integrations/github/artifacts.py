"""Actions artifacts: list a workflow run's artifacts, download a zip, unpack its XML safely.

GitHub answers an artifact download with a 302 to short-lived blob storage.
PyGithub would follow it keeping the Authorization header whenever the host
name stays the same, so the redirect is followed here by hand, with a plain
session that carries no credentials. The zip is bounded three ways: its own
size, the total uncompressed size of its XML files, and the compression ratio
(a zip bomb is refused before it is inflated, and again while reading, since
the sizes a zip declares can lie).
"""

from __future__ import annotations

import io
import zipfile
from datetime import UTC
from typing import Any

import requests

from flakeguard.usecases.github import (
    ArtifactInfo,
    ArtifactRejectedError,
    GitHubGoneError,
    GitHubUnavailableError,
    WorkflowRunInfo,
)

MAX_RATIO = 200  # uncompressed / compressed; JUnit XML compresses ~10-50x, bombs ~1000x
RATIO_FLOOR = 1 << 20  # small files may compress well; the ratio counts above 1 MB
MAX_FILES = 2_000
CHUNK = 1 << 16


def workflow_run(repo: Any, run_id: int) -> WorkflowRunInfo:
    """The run's facts (head SHA, branch, name, PR) and its artifacts."""
    run = repo.get_workflow_run(run_id)
    prs = run.pull_requests or []
    started = run.run_started_at or run.created_at
    if started is not None and started.tzinfo is not None:
        started = started.astimezone(UTC).replace(tzinfo=None)
    listed = tuple(
        ArtifactInfo(
            id=int(a.id),
            name=a.name,
            size=int(a.size_in_bytes or 0),
            expired=bool(a.expired),
            download_url=a.archive_download_url,
        )
        for a in run.get_artifacts()
    )
    head = run.head_repository
    return WorkflowRunInfo(
        id=int(run.id),
        name=run.name or "workflow",
        head_sha=run.head_sha,
        head_branch=run.head_branch or "",
        run_attempt=int(run.run_attempt or 1),
        pr=int(prs[0].number) if prs else None,
        started_at=started,
        artifacts=listed,
        head_repository=head.full_name if head is not None else "",
        head_repository_id=int(head.id) if head is not None and head.id is not None else None,
    )


def download(requester: Any, artifact: ArtifactInfo, *, max_bytes: int, timeout: int) -> bytes:
    """Ask GitHub (authenticated) where the zip is, then fetch it there without the token."""
    if artifact.size > max_bytes:
        raise ArtifactRejectedError(
            f"artifact {artifact.name} is {artifact.size} bytes, over the {max_bytes}-byte limit"
        )
    status, headers, _ = requester.requestJson("GET", artifact.download_url)
    if status in (404, 410):
        raise GitHubGoneError(
            f"artifact {artifact.name}: GitHub answered {status}", http_status=status
        )
    if status >= 500 or status == 429:
        raise GitHubUnavailableError(f"artifact {artifact.name}: GitHub answered {status}")
    location = headers.get("location")
    if status not in (301, 302, 303, 307, 308) or not location:
        raise ArtifactRejectedError(
            f"artifact {artifact.name}: expected a redirect to the download, got {status}"
        )
    return _fetch(location, name=artifact.name, max_bytes=max_bytes, timeout=timeout)


def _fetch(url: str, *, name: str, max_bytes: int, timeout: int) -> bytes:
    with requests.Session() as session:
        session.trust_env = False  # no ~/.netrc credentials either
        try:
            response = session.get(url, stream=True, timeout=timeout)
        except requests.RequestException as exc:
            raise GitHubUnavailableError(f"artifact {name}: download failed: {exc}"[:500]) from exc
        with response:
            if response.status_code in (403, 404, 410):
                raise GitHubGoneError(
                    f"artifact {name}: the download answered {response.status_code}",
                    http_status=response.status_code,
                )
            if response.status_code != 200:
                raise GitHubUnavailableError(
                    f"artifact {name}: the download answered {response.status_code}"
                )
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise ArtifactRejectedError(
                    f"artifact {name} is {declared} bytes, over the {max_bytes}-byte limit"
                )
            buffer = bytearray()
            for chunk in response.iter_content(CHUNK):
                buffer += chunk
                if len(buffer) > max_bytes:
                    raise ArtifactRejectedError(
                        f"artifact {name} is over the {max_bytes}-byte limit"
                    )
    return bytes(buffer)


def extract_reports(
    data: bytes, *, max_bytes: int, max_ratio: int = MAX_RATIO, max_files: int = MAX_FILES
) -> list[tuple[str, bytes]]:
    """The XML files inside a zip, refusing bombs (total size, ratio) and non-zips."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise ArtifactRejectedError(f"the artifact is not a zip file ({exc})") from None
    with archive:
        members = [
            info
            for info in archive.infolist()
            if not info.is_dir()
            and info.filename.lower().endswith(".xml")
            and not info.filename.startswith("__MACOSX/")
        ]
        if len(members) > max_files:
            raise ArtifactRejectedError(
                f"the artifact holds {len(members)} XML files (limit {max_files})"
            )
        declared = sum(info.file_size for info in members)
        compressed = max(sum(info.compress_size for info in members), 1)
        _guard(declared, compressed, max_bytes=max_bytes, max_ratio=max_ratio)
        files: list[tuple[str, bytes]] = []
        total = 0
        for info in members:
            out = bytearray()
            try:
                with archive.open(info) as member:
                    while chunk := member.read(CHUNK):
                        out += chunk
                        total += len(chunk)
                        _guard(total, compressed, max_bytes=max_bytes, max_ratio=max_ratio)
            except (zipfile.BadZipFile, OSError, EOFError, RuntimeError) as exc:
                # RuntimeError: an encrypted member; the others: a corrupt one.
                raise ArtifactRejectedError(f"{info.filename}: unreadable ({exc})") from None
            files.append((info.filename, bytes(out)))
    return files


def _guard(size: int, compressed: int, *, max_bytes: int, max_ratio: int) -> None:
    if size > max_bytes:
        raise ArtifactRejectedError(f"zip bomb guard: the XML files inflate past {max_bytes} bytes")
    if size > RATIO_FLOOR and size / compressed > max_ratio:
        raise ArtifactRejectedError(f"zip bomb guard: compression ratio over {max_ratio}:1")
