"""The session secret: from the environment, a kept key file for SQLite, refused when missing
on PostgreSQL; and `flakeguard login` / `serve` on the command line."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from flakeguard.errors import ConfigError
from flakeguard.settings import Settings
from flakeguard.web.sessions import session_secret
from tests.cli.conftest import run_cli


def test_sqlite_keeps_a_generated_secret_beside_the_database(tmp_path: Path) -> None:
    """No variable on SQLite: a 0600 file beside the database, the same secret next time."""
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'fg.db'}")
    first = session_secret(settings)
    path = tmp_path / "fg-session.key"
    assert path.exists() and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 32 and session_secret(settings) == first
    assert session_secret(Settings(database_url=settings.database_url, session_secret="x" * 40))


def test_postgresql_without_a_secret_refuses_to_start() -> None:
    """Production without FLAKEGUARD_SESSION_SECRET: one ConfigError naming the variable."""
    with pytest.raises(ConfigError, match=r"^FLAKEGUARD_SESSION_SECRET: required"):
        session_secret(Settings(database_url="postgresql://fg@db.example/flakeguard"))


def test_short_secret_is_refused_without_showing_it() -> None:
    """A short secret names the variable and its length, never its value."""
    with pytest.raises(ConfigError, match="at least 32") as bad:
        Settings.from_env({"FLAKEGUARD_SESSION_SECRET": "hunter2"})
    assert "hunter2" not in str(bad.value)


def test_serve_on_postgresql_without_secret_exits(tmp_path: Path, pg_url: str) -> None:
    """`flakeguard serve` on PostgreSQL with no session secret: exit 2, the reason last."""
    result = run_cli("serve", cwd=tmp_path, DATABASE_URL=pg_url, FLAKEGUARD_SESSION_SECRET="")
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert "FLAKEGUARD_SESSION_SECRET: required with PostgreSQL" in last
    assert "Dashboard:" not in result.stdout


def test_login_prints_a_one_time_url(tmp_path: Path) -> None:
    """`flakeguard login` prints the sign-in URL under FLAKEGUARD_PUBLIC_URL; --tenant checks."""
    env = {"FLAKEGUARD_PUBLIC_URL": "https://fg.example", "FLAKEGUARD_SESSION_SECRET": ""}
    result = run_cli("login", cwd=tmp_path, **env)
    assert result.returncode == 0, result.stderr
    url = result.stdout.strip().splitlines()[-1]
    assert url.startswith("https://fg.example/sign-in/link?token=") and len(url) > 60
    assert "tenant default" in result.stdout and "10 minutes" in result.stdout
    second = run_cli("login", cwd=tmp_path, **env).stdout.strip().splitlines()[-1]
    assert second != url
    unknown = run_cli("login", "--tenant", "nope", cwd=tmp_path, **env)
    assert unknown.returncode == 2 and "unknown tenant 'nope'" in unknown.stderr


def test_serve_shows_the_dashboard_and_login_signs_in(tmp_path: Path) -> None:
    """`flakeguard serve` names the dashboard and `flakeguard login`; the printed link signs in
    over real HTTP, and `/` is the HTML sign-in page before."""
    import http.cookiejar
    import re
    import urllib.parse
    import urllib.request

    from tests.cli.conftest import serving, wait_for

    with serving(tmp_path, FLAKEGUARD_SESSION_SECRET="") as (url, _proc):
        assert wait_for(url + "/health/ready")[0] == 200
        assert "run `flakeguard login`" in (tmp_path / "serve.log").read_text()
        jar = http.cookiejar.CookieJar()
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        with browser.open(url + "/") as first:
            assert first.status == 200 and "Sign in to FlakeGuard" in first.read().decode()
        link = run_cli("login", cwd=tmp_path, FLAKEGUARD_SESSION_SECRET="").stdout.split()[-1]
        parts = urllib.parse.urlsplit(link)
        with browser.open(f"{url}{parts.path}?{parts.query}") as page:
            html = page.read().decode()
        fields = dict(re.findall(r'name="(csrf_token|secret)" value="([^"]+)"', html))
        body = urllib.parse.urlencode(fields).encode()
        with browser.open(url + "/sign-in/link", data=body) as signed:
            html = signed.read().decode()
        assert "Signed in to Default as administrator" in html and "overview" in html
    assert (tmp_path / "flakeguard-session.key").exists()


def test_the_session_secret_is_redacted_from_logs() -> None:
    """The secret is one of the settings' secrets the log redaction knows."""
    from flakeguard import logs

    secret = "session-secret-that-must-not-leak-0123456789"
    logs.add_secrets(logs.settings_secrets(Settings(session_secret=secret)))
    assert secret not in logs.redact(f"signing with {secret}")
