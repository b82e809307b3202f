"""A live FlakeGuard (the real WSGI app over HTTP) and a sample pytest project to point at it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from flakeguard.usecases.repos import add_repository
from models import Quarantine, Repository, TestCase, utcnow
from tests.processes import CI_VARIABLES, run_to_end, served, unused_url

REPO = "acme/shop"
SHA = "c" * 40
ISSUE = "https://github.com/acme/shop/issues/7"
# The sample project's quarantined tests, keyed as pytest's --junitxml names them.
FLAKY = "tests.unit.test_shop::test_flaky"
PARAM = "tests.unit.test_shop::test_param[2]"
METHOD = "tests.unit.test_shop.TestCart::test_total"
NESTED = "tests.unit.deep.test_nested.TestOuter.TestInner::test_deep[a b]"
# Variables of the machine running the tests that would change what the client sees.
OUTSIDE_VARIABLES = (
    *CI_VARIABLES,
    "FLAKEGUARD_REPO",
    "PYTEST_ADDOPTS",
    "PYTEST_PLUGINS",
    "DATABASE_URL",
    "ACTIONS_ID_TOKEN_REQUEST_URL",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    "FLAKEGUARD_OIDC_AUDIENCE",
)

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class BareVenv:
    """A venv holding only the client; ``bin`` is its scripts directory."""

    root: Path
    bin: Path
    distributions: set[str]

    def run(self, *args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
        """Run one of the venv's scripts (``flakeguard-ci``, ``python``) with ``env``."""
        return run_to_end([str(self.bin / args[0]), *args[1:]], cwd=cwd, env=outside_env(**env))


def _pip(python: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    return subprocess.run(
        [str(python), "-m", "pip", *args], env=env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="session")
def bare_venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BareVenv]:
    """A fresh venv with the client installed and nothing else (one per session).

    The client's wheel is built from a copy of ``client/`` with this
    environment's setuptools (``--no-build-isolation``, no network), then
    ``python -m venv`` and ``pip install`` of that wheel with no index.
    """
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


SAMPLE_TESTS = """
import os
from pathlib import Path

import pytest

RAN = Path(os.environ["SAMPLE_RAN"])


def ran(name):
    with RAN.open("a") as handle:
        handle.write(name + "\\n")


def test_flaky():
    ran("flaky")
    assert False, "flaky today"


@pytest.mark.parametrize("n", [1, 2])
def test_param(n):
    ran(f"param{n}")
    assert n == 1


class TestCart:
    def test_total(self):
        ran("cart")
        raise RuntimeError("flaky cart")

    def test_empty(self):
        ran("empty")


def test_new_failure():
    ran("new")
    assert not os.environ.get("SAMPLE_FAIL_NEW"), "a new, unquarantined failure"
"""

NESTED_TESTS = """
import pytest


class TestOuter:
    class TestInner:
        @pytest.mark.parametrize("word", ["a b"])
        def test_deep(self, word):
            assert False, word
"""


@dataclass
class Live:
    """A FlakeGuard answering on ``url`` for acme/shop with ``token``."""

    url: str
    token: str
    repo: Repository

    def quarantine(self, key: str, *, issue_url: str | None = ISSUE) -> None:
        """Quarantine the test ``key`` (created if needed), with a GitHub issue link."""
        classname, _, name = key.partition("::")
        test = TestCase.create(repository=self.repo, key=key, name=name, classname=classname)
        Quarantine.create(
            test_case=test,
            repository=self.repo,
            state="quarantined",
            quarantined_at=utcnow(),
            reason="flaky: 3 of 10 runs",
            github_issue_url=issue_url,
        )


@pytest.fixture
def live(app) -> Iterator[Live]:  # type: ignore[no-untyped-def]
    """The app served over HTTP in a thread, with repository acme/shop and its token."""
    repo, token = add_repository(REPO)
    with served(app) as url:
        yield Live(url, token, repo)


@pytest.fixture
def down_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (a port just released)."""
    return unused_url()


def outside_env(**extra: str) -> dict[str, str]:
    """This process's environment without CI, FlakeGuard or pytest variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in OUTSIDE_VARIABLES}
    env.update(extra)
    return env


@dataclass
class Sample:
    """A small pytest project: function, parametrised, class and nested-class tests."""

    root: Path

    @property
    def ran_file(self) -> Path:
        return self.root / "ran.txt"

    def ran(self) -> list[str]:
        """Names of the tests whose body ran since the last call."""
        if not self.ran_file.exists():
            return []
        names = self.ran_file.read_text().split()
        self.ran_file.unlink()
        return names

    def pytest(
        self, *args: str, python: str = sys.executable, plugin: bool = True, **env: str
    ) -> subprocess.CompletedProcess[str]:
        """Run pytest in the project (the plugin loaded with -p unless ``plugin`` is False)."""
        command = [python, "-m", "pytest", "-rA", "-p", "no:randomly"]
        if plugin:
            command += ["-p", "flakeguard_ci.pytest_plugin"]
        return run_to_end(
            [*command, *args], cwd=self.root, env=outside_env(SAMPLE_RAN=str(self.ran_file), **env)
        )


@pytest.fixture
def sample(tmp_path: Path) -> Sample:
    """The sample project in a fresh directory (its own pytest.ini: our settings stay out)."""
    root = tmp_path / "sample"
    (root / "tests" / "unit" / "deep").mkdir(parents=True)
    (root / "pytest.ini").write_text("[pytest]\n")
    (root / "tests" / "unit" / "test_shop.py").write_text(textwrap.dedent(SAMPLE_TESTS))
    (root / "tests" / "unit" / "deep" / "test_nested.py").write_text(NESTED_TESTS)
    return Sample(root)
