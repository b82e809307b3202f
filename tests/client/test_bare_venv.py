"""The client installed alone in a fresh venv: nothing of the server, and it works against one.

One venv per session (creating it is the slow part): the client's wheel is
built from a copy of ``client/`` with this environment's setuptools
(``--no-build-isolation``, no network), then ``python -m venv`` and
``pip install --no-index`` of that wheel.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.api import samples
from tests.client.conftest import FLAKY, ISSUE, REPO, Live, Sample, outside_env

ROOT = Path(__file__).resolve().parents[2]
# Distributions a fresh venv starts with (pip, and setuptools up to Python 3.11).
BARE = {"pip", "setuptools"}
SERVER_DEPENDENCIES = {"flask", "peewee", "psycopg", "huey", "redis", "slack-bolt", "pygithub"}


@dataclass
class BareVenv:
    """A venv holding only the client; ``bin`` is its scripts directory."""

    root: Path
    bin: Path
    distributions: set[str]

    def run(self, *args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
        """Run one of the venv's scripts (``flakeguard-ci``, ``python``) with ``env``."""
        return subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            cwd=cwd,
            env=outside_env(**env),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


def _pip(python: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    return subprocess.run(
        [str(python), "-m", "pip", *args], env=env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="session")
def bare_venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BareVenv]:
    """A fresh venv with ``pip install ./client`` and nothing else."""
    root = tmp_path_factory.mktemp("bare")
    source = root / "client-source"
    shutil.copytree(ROOT / "client", source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    subprocess.run([sys.executable, "-m", "venv", str(root / "venv")], check=True, timeout=300)
    bin_dir = root / "venv" / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / "python"
    built = _pip(
        Path(sys.executable),
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "-w",
        str(root),
        str(source),
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = root.glob("flakeguard_ci-*.whl")
    installed = _pip(python, "install", str(wheel))
    assert installed.returncode == 0, installed.stdout + installed.stderr
    listed = _pip(python, "list", "--format=json")
    names = {item["name"].lower() for item in json.loads(listed.stdout)}
    yield BareVenv(root / "venv", bin_dir, names)


def borrow_pytest(venv: BareVenv) -> None:
    """Let the venv import pytest from this environment (offline), after pip list was taken."""
    site = next((venv.root / "lib").glob("python3*/site-packages"))
    (site / "borrowed-pytest.pth").write_text(str(Path(pytest.__file__).parents[1]) + "\n")


def test_pip_list_shows_the_client_and_nothing_of_the_server(bare_venv: BareVenv) -> None:
    """pip install ./client brings flakeguard-ci and no dependency at all."""
    assert bare_venv.distributions - BARE == {"flakeguard-ci"}
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
