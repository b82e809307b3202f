"""FlakeGuard's HTTP API as the CI sees it: upload reports, read the quarantine list.

urllib from the standard library (so ``HTTPS_PROXY`` and the system's CA
certificates apply), with retries and exponential backoff on connection errors,
timeouts and 500/502/503/504 answers, and on 429 (rate limited). A 429 or 503 that
says when to come back (``Retry-After``, seconds or an HTTP date) is retried then,
waiting at most ``MAX_RETRY_AFTER``. Uploading twice is safe: the server stores the
same reports once, so a POST is retried like a GET; the repository files' PUT is
refused before anything is stored when it is answered 429 or 503.
"""

from __future__ import annotations

import gzip
import json
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from flakeguard_ci import __version__

RETRY_STATUSES = (429, 500, 502, 503, 504)
RETRY_AFTER_STATUSES = (429, 503)  # where Retry-After says when to come back
USER_AGENT = f"flakeguard-ci/{__version__}"
MAX_BACKOFF = 30.0
MAX_RETRY_AFTER = 60.0  # a CI job waits no longer than this for one retry


class Unreachable(Exception):
    """FlakeGuard did not answer (connection refused, timeouts, 5xx after the retries)."""


@dataclass(frozen=True)
class QuarantinedTest:
    """One test of the quarantine list."""

    key: str
    name: str
    classname: str
    file: str | None
    since: str | None
    reason: str
    issue_url: str | None

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> QuarantinedTest:
        """Build from one entry of the API's ``tests`` list (missing fields empty)."""
        return cls(
            key=str(item.get("key") or ""),
            name=str(item.get("name") or ""),
            classname=str(item.get("classname") or ""),
            file=item.get("file") if isinstance(item.get("file"), str) else None,
            since=item.get("since") if isinstance(item.get("since"), str) else None,
            reason=str(item.get("reason") or ""),
            issue_url=item.get("issue_url") if isinstance(item.get("issue_url"), str) else None,
        )

    def as_json(self) -> dict[str, Any]:
        """The entry as the API gives it."""
        return {
            "key": self.key,
            "name": self.name,
            "classname": self.classname,
            "file": self.file,
            "since": self.since,
            "reason": self.reason,
            "issue_url": self.issue_url,
        }


class Client:
    """The CI's client of FlakeGuard's API: bearer token, retries, backoff, JSON answers."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        retries: int = 4,
        backoff: float = 1.0,
        timeout: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = url.rstrip("/")
        self._token = token
        self._retries = max(0, retries)
        self._backoff = backoff
        self._timeout = timeout
        self._sleep = sleep

    def request(
        self, method: str, path: str, *, body: bytes | None = None, content_type: str = ""
    ) -> tuple[int, Any]:
        """Send a request; return (status, JSON body or None) or raise Unreachable."""
        # Imported here: urllib.request (http.client, email, ssl) is most of the import
        # time, and the pytest plugin is imported by every pytest run, active or not.
        import urllib.error
        import urllib.request

        headers = {"Authorization": f"Bearer {self._token}", "User-Agent": USER_AGENT}
        if content_type:
            headers["Content-Type"] = content_type
        asked: float | None = None  # what the last answer's Retry-After asked for
        for attempt in range(self._retries + 1):
            if attempt:
                # As urllib3's Retry: Retry-After when given, else the first retry at
                # once, then factor * 2**(n-1).
                backoff = min(MAX_BACKOFF, self._backoff * 2 ** (attempt - 1)) * (attempt > 1)
                self._sleep(backoff if asked is None else asked)
            request = urllib.request.Request(
                self.url + path, data=body, headers=headers, method=method
            )
            try:
                with urllib.request.urlopen(request, timeout=self._timeout) as response:
                    return response.status, _json(response.read())
            except urllib.error.HTTPError as exc:
                data = exc.read()
                exc.close()
                if exc.code not in RETRY_STATUSES:
                    return exc.code, _json(data)
                failure = f"HTTP {exc.code} after retries"
                asked = None
                if exc.code in RETRY_AFTER_STATUSES:
                    asked = retry_after(exc.headers.get("Retry-After"))
            except (urllib.error.URLError, OSError, ValueError) as exc:
                failure = str(getattr(exc, "reason", None) or exc)
                asked = None
        raise Unreachable(failure)

    def upload(self, paths: Sequence[Path], meta: Mapping[str, str]) -> tuple[int, Any]:
        """POST the files (gzipped parts) and metadata as one multipart upload."""
        files = []
        for path in paths:
            data = path.read_bytes()
            if not data.startswith(b"\x1f\x8b"):
                data = gzip.compress(data, compresslevel=6)
            files.append((path.name, data))
        body, content_type = encode_multipart(meta, files)
        return self.request("POST", "/api/v1/reports", body=body, content_type=content_type)

    def send_repo_files(self, body: bytes) -> tuple[int, Any]:
        """PUT the checkout's CODEOWNERS and .flakeguard.yml (see repo_files.payload)."""
        return self.request(
            "PUT", "/api/v1/repository-files", body=body, content_type="application/json"
        )

    def quarantine_list(self, repo: str) -> list[QuarantinedTest]:
        """The repository's quarantined tests, or raise Unreachable saying why not."""
        owner, _, name = repo.partition("/")
        status, body = self.request(
            "GET", f"/api/v1/repos/{quote(owner, safe='')}/{quote(name, safe='')}/quarantine"
        )
        if status != 200 or not isinstance(body, dict) or not isinstance(body.get("tests"), list):
            raise Unreachable(error_text(status, body))
        return [QuarantinedTest.from_json(t) for t in body["tests"] if isinstance(t, dict)]

    def quarantined(self, repo: str) -> set[str]:
        """Keys of the repository's quarantined tests."""
        return {test.key for test in self.quarantine_list(repo)}


def retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds a ``Retry-After`` value asks to wait, at most ``MAX_RETRY_AFTER``; None
    when there is none or it is neither seconds nor an HTTP date."""
    from email.utils import parsedate_to_datetime

    text = (value or "").strip()
    if not text:
        return None
    if text.isascii() and text.isdigit():
        seconds = float(text)
    else:
        try:
            when = parsedate_to_datetime(text).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        seconds = when - (time.time() if now is None else now)
    return max(0.0, min(MAX_RETRY_AFTER, seconds))


def encode_multipart(
    fields: Mapping[str, str], files: Sequence[tuple[str, bytes]]
) -> tuple[bytes, str]:
    """A multipart/form-data body: the fields, then each file as a gzip ``file`` part."""
    boundary = uuid.uuid4().hex
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{_quoted(name)}"\r\n\r\n'
            f"{value}\r\n".encode()
        )
    for filename, data in files:
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{_quoted(filename)}"\r\nContent-Type: application/gzip\r\n\r\n'
        )
        parts.append(head.encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def error_text(status: int, body: Any) -> str:
    """``HTTP <status>: <the server's message>`` (the message when the body has one)."""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return f"HTTP {status}: {body['error'].get('message', '')}"
    return f"HTTP {status}"


def _quoted(text: str) -> str:
    # Multipart names as browsers write them (HTML's form-data encoding).
    return text.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def _json(data: bytes) -> Any:
    try:
        return json.loads(data or b"null")
    except ValueError:
        return None
