"""Ingest tokens are listable and revocable; a revoked token is refused at once, everywhere."""

from __future__ import annotations

import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from flakeguard.errors import AuthError
from flakeguard.usecases.repos import (
    LAST_USED_RESOLUTION,
    authenticate,
    issue_token,
    list_tokens,
    revoke_token,
)
from models import IngestToken, utcnow
from tests.api import samples
from tests.api.conftest import RepoToken
from tests.cli.conftest import clean_env, free_port, run_cli, wait_for
from tests.e2e.conftest import Process
from tests.processes import gunicorn_command

REPORT = samples.simple(passed=2)


def upload(client, acme: RepoToken, run_id: str = "1"):  # type: ignore[no-untyped-def]
    """POST a small report for acme/shop with acme's token."""
    query = {"repo": "acme/shop", "sha": samples.SHA, "run_id": run_id, "job": "unit"}
    headers = {**acme.headers, "Content-Type": "application/xml"}
    return client.post("/api/v1/reports", query_string=query, data=REPORT, headers=headers)


def test_tokens_list_shows_prefix_label_and_times_never_the_token(acme, tmp_path, db_url) -> None:  # type: ignore[no-untyped-def]
    """`repo tokens` lists prefix, label, created, last used and revoked; no token, no hash."""
    second = issue_token(acme.repo, label="nightly")
    authenticate(acme.token)
    result = run_cli("repo", "tokens", "acme/shop", cwd=tmp_path, DATABASE_URL=db_url)
    assert result.returncode == 0, result.stderr
    header, *lines = result.stdout.strip().splitlines()
    assert header.split() == ["PREFIX", "LABEL", "CREATED", "LAST", "USED", "REVOKED"]
    assert [line.split()[0] for line in lines] == [acme.token[:10], second[:10]]
    assert lines[0].split()[1] == "-" and lines[1].split()[1] == "nightly"
    assert lines[0].split()[-1] == "-"  # not revoked
    assert lines[1].split()[-2:] == ["-", "-"]  # never used, not revoked
    for secret in (acme.token, second, *(row.token_hash for row in IngestToken.select())):
        assert secret not in result.stdout


def test_revoke_token_by_prefix_then_upload_is_401(client, acme, tmp_path, db_url) -> None:  # type: ignore[no-untyped-def]
    """An attacker holding a revoked token is refused with 401 on the very next upload."""
    assert upload(client, acme).status_code == 201
    result = run_cli("repo", "revoke-token", acme.token[:10], cwd=tmp_path, DATABASE_URL=db_url)
    assert result.returncode == 0, result.stderr
    assert f"revoked ingest token {acme.token[:10]} of acme/shop" in result.stdout
    refused = upload(client, acme, run_id="2")
    assert refused.status_code == 401
    assert refused.get_json()["error"]["code"] == "unauthorized"
    listed = client.get("/api/v1/repos/acme/shop/quarantine", headers=acme.headers)
    assert listed.status_code == 401
    (info,) = list_tokens("acme/shop")
    assert info.revoked_at is not None


@pytest.mark.parametrize("given", ["fgi_nope00", "fgi_" + "x" * 40, "x"])
def test_revoke_unknown_token_exits_2_with_one_line(acme, tmp_path, db_url, given) -> None:  # type: ignore[no-untyped-def]
    """An unknown prefix (or whole token) exits 2 with one line and revokes nothing."""
    result = run_cli("repo", "revoke-token", given, cwd=tmp_path, DATABASE_URL=db_url)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "no ingest token" in result.stderr
    assert authenticate(acme.token).id == acme.repo.id


def test_revoke_ambiguous_prefix_exits_2_and_revokes_nothing(acme, other, tmp_path, db_url) -> None:  # type: ignore[no-untyped-def]
    """Two live tokens sharing a prefix: exit 2 naming both repositories; the whole token works."""
    shared = acme.token[:10]
    IngestToken.update(prefix=shared).where(IngestToken.repository == other.repo.id).execute()
    result = run_cli("repo", "revoke-token", shared, cwd=tmp_path, DATABASE_URL=db_url)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "acme/other" in line and "acme/shop" in line and "whole token" in line
    assert IngestToken.select().where(IngestToken.revoked_at.is_null(False)).count() == 0
    token, revoked = revoke_token(other.token)
    assert revoked and token.repository == "acme/other"
    with pytest.raises(AuthError):
        authenticate(other.token)
    assert authenticate(acme.token).id == acme.repo.id


def test_revoking_twice_says_already_revoked(acme) -> None:  # type: ignore[no-untyped-def]
    """A second revocation changes nothing and says so."""
    first, revoked = revoke_token(acme.token[:10])
    again, revoked_again = revoke_token(acme.token[:10])
    assert (revoked, revoked_again) == (True, False)
    assert again.revoked_at == first.revoked_at


def test_last_used_is_written_at_most_once_a_minute(client, acme) -> None:  # type: ignore[no-untyped-def]
    """The first upload records last use; the next within a minute writes nothing; later, again."""
    row = lambda: IngestToken.get(IngestToken.repository == acme.repo.id)  # noqa: E731
    assert row().last_used_at is None
    assert upload(client, acme, run_id="1").status_code == 201
    first = row().last_used_at
    assert first is not None
    assert upload(client, acme, run_id="2").status_code == 201
    assert row().last_used_at == first
    old = utcnow() - LAST_USED_RESOLUTION - timedelta(seconds=5)
    IngestToken.update(last_used_at=old).execute()
    assert upload(client, acme, run_id="3").status_code == 201
    assert row().last_used_at > old


# -- on a live server ----------------------------------------------------------------------

ACCESS_LINE = re.compile(r"^<(\d+)> (\d{3}) /api/v1/reports .*run_id=(\d+)")


@pytest.fixture
def gunicorn(db_url: str, tmp_path: Path, acme: RepoToken) -> Iterator[tuple[str, Path]]:
    """gunicorn with two sync workers on the test database; its URL and access log."""
    port = free_port()
    access = tmp_path / "access.log"
    env = clean_env(
        DATABASE_URL=db_url,
        FLAKEGUARD_QUEUE_PATH=str(tmp_path / "queue.db"),
        FLAKEGUARD_LOG_FORMAT="text",
    )
    web = Process(
        gunicorn_command(
            port, "--access-logfile", str(access), "--access-logformat", "%(p)s %(s)s %(U)s %(q)s"
        ),
        env,
        tmp_path / "web.log",
    )
    try:
        url = f"http://127.0.0.1:{port}"
        status, body = wait_for(url + "/health/ready", deadline_s=60)
        assert status == 200, body
        yield url, access
    except BaseException:
        print("--- web log\n" + web.tail())
        raise
    finally:
        web.stop()


def _post(url: str, token: str, run_id: int) -> int:
    query = urllib.parse.urlencode(
        {"repo": "acme/shop", "sha": samples.SHA, "run_id": str(run_id), "job": "unit"}
    )
    request = urllib.request.Request(
        f"{url}/api/v1/reports?{query}",
        data=REPORT,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/xml"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _answers_by_worker(access: Path, runs: range) -> dict[int, list[int]]:
    """Worker pid -> statuses of its answers to uploads with a run id in ``runs``.

    gunicorn writes an access line after the answer, so a line may land late:
    uploads are told apart by their run id, not by the order of the lines.
    """
    seen: dict[int, list[int]] = {}
    for line in access.read_text().splitlines():
        match = ACCESS_LINE.match(line.strip())
        if match and int(match[3]) in runs:
            seen.setdefault(int(match[1]), []).append(int(match[2]))
    return seen


def _upload_until_both_workers_answered(
    url: str, token: str, access: Path, runs: range
) -> set[int]:
    """Upload with run ids from ``runs`` until both workers answered one; the statuses seen."""
    statuses: set[int] = set()
    for run_id in runs:
        statuses.add(_post(url, token, run_id))
        if len(_answers_by_worker(access, runs)) == 2:
            return statuses
    raise AssertionError(f"in {len(runs)} uploads only one worker answered")


def test_revoked_token_is_refused_at_once_by_every_web_worker(  # type: ignore[no-untyped-def]
    gunicorn, acme, tmp_path, db_url
) -> None:
    """Both gunicorn workers accepted the token; after `revoke-token` both answer 401 at once."""
    url, access = gunicorn
    before, after = range(1, 200), range(1000, 1200)
    assert _upload_until_both_workers_answered(url, acme.token, access, before) <= {200, 201}
    revoked = run_cli("repo", "revoke-token", acme.token[:10], cwd=tmp_path, DATABASE_URL=db_url)
    assert revoked.returncode == 0, revoked.stderr
    assert _upload_until_both_workers_answered(url, acme.token, access, after) == {401}
    accepted, refused = _answers_by_worker(access, before), _answers_by_worker(access, after)
    assert set(refused) == set(accepted) and len(refused) == 2  # the same two processes
    assert all(set(codes) <= {200, 201} for codes in accepted.values()), accepted
    assert all(set(codes) == {401} for codes in refused.values()), refused
