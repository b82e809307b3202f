"""The client installed alone in a fresh venv: nothing of the server, and it works against one.

The venv is the session fixture ``bare_venv`` (conftest).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.api import samples
from tests.client.conftest import FLAKY, ISSUE, REPO, BareVenv, Live, Sample

SERVER_DEPENDENCIES = {"flask", "peewee", "psycopg", "huey", "redis", "slack-bolt", "pygithub"}


def borrow_pytest(venv: BareVenv) -> None:
    """Let the venv import pytest from this environment (offline), after pip list was taken."""
    site = next((venv.root / "lib").glob("python3*/site-packages"))
    (site / "borrowed-pytest.pth").write_text(str(Path(pytest.__file__).parents[1]) + "\n")


def test_pip_list_shows_the_client_and_nothing_of_the_server(bare_venv: BareVenv) -> None:
    """pip install ./client brings flakeguard-ci and no dependency at all."""
    assert bare_venv.distributions - {"pip", "setuptools"} == {"flakeguard-ci"}
    assert not bare_venv.distributions & SERVER_DEPENDENCIES


def test_upload_with_the_gate_from_the_bare_venv(
    bare_venv: BareVenv, live: Live, tmp_path: Path
) -> None:
    """flakeguard-ci upload --gate: quarantined failures pass, a new failure fails."""
    live.quarantine(samples.key("test_fail_0"))
    report = tmp_path / "junit.xml"
    report.write_bytes(samples.simple(passed=2, failed=1))
    env = {"FLAKEGUARD_URL": live.url, "FLAKEGUARD_TOKEN": live.token}
    flags = ["--repo", REPO, "--sha", samples.SHA, "--run-id", "7", "--gate"]
    done = bare_venv.run("flakeguard-ci", "upload", str(report), *flags, cwd=tmp_path, **env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "gate: passed: every failure (1) is a quarantined test" in done.stdout
    report.write_bytes(samples.simple(passed=2, failed=2))
    done = bare_venv.run("flakeguard-ci", "upload", str(report), *flags, cwd=tmp_path, **env)
    assert done.returncode == 1
    assert f"failing: {samples.key('test_fail_1')}" in done.stdout


def test_the_plugin_loads_by_its_entry_point_and_mutes(
    bare_venv: BareVenv, live: Live, sample: Sample
) -> None:
    """pytest in the bare venv finds the plugin without -p and mutes a quarantined failure."""
    borrow_pytest(bare_venv)
    live.quarantine(FLAKY)
    python = str(bare_venv.bin / "python")
    env = {"FLAKEGUARD_URL": live.url, "FLAKEGUARD_TOKEN": live.token, "FLAKEGUARD_REPO": REPO}
    done = sample.pytest("-k", "flaky or empty", python=python, plugin=False, **env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"QUARANTINED {FLAKY} - quarantined by FlakeGuard: {ISSUE}" in done.stdout
    where = bare_venv.run(
        "python", "-c", "import flakeguard_ci; print(flakeguard_ci.__file__)", cwd=sample.root
    )
    assert where.stdout.startswith(str(bare_venv.root))
    server = bare_venv.run("python", "-c", "import flakeguard", cwd=sample.root)
    assert server.returncode != 0
