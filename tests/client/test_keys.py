"""Node ids to FlakeGuard keys exactly as pytest's own --junitxml report names the tests."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from flakeguard_ci.keys import junit_names, pytest_key

from engine.junit import parse_report
from tests.client.conftest import outside_env
from tests.processes import run_to_end

TRICKY = """
import pytest


@pytest.mark.parametrize("value", ["a::b", "x[1]", "sp  ace", "bell\\x07", "é"])
def test_values(value):
    pass


@pytest.mark.parametrize("n", [1, 2], ids=["first id", "second"])
class TestGrid:
    def test_cell(self, n):
        pass


class TestOuter:
    class TestRow:
        def test_inner(self):
            pass
"""


def collect(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_to_end(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=root,
        env=outside_env(),
    )


@pytest.fixture
def tricky(tmp_path: Path) -> Path:
    """A project with awkward parameters, classes and nested packages."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    package = tmp_path / "src" / "pkg" / "sub"
    package.mkdir(parents=True)
    (package / "test_tricky.py").write_text(textwrap.dedent(TRICKY))
    return tmp_path


@pytest.mark.parametrize("prefix", [None, "ci"])
def test_keys_equal_what_the_server_reads_from_junitxml(tricky: Path, prefix: str | None) -> None:
    """Every collected node id gives the key the server computes from pytest's own report."""
    ids = collect(tricky, "--collect-only", "-q").stdout.splitlines()
    node_ids = [line for line in ids if "::" in line]
    assert len(node_ids) == 8
    args = ["--junitxml=out.xml", *([f"--junitprefix={prefix}"] if prefix else [])]
    collect(tricky, *args)
    report = parse_report((tricky / "out.xml").read_bytes())
    assert sorted(pytest_key(node_id, prefix) for node_id in node_ids) == sorted(
        case.key for case in report.cases
    )


def test_junit_names_split_module_classes_and_parameters() -> None:
    """The file becomes a dotted module, classes join the classname, parameters stay whole."""
    assert junit_names("tests/unit/test_a.py::TestX::TestY::test_y[1-a::b]") == (
        "tests.unit.test_a.TestX.TestY",
        "test_y[1-a::b]",
    )
    assert junit_names("test_b.py::test_z", "pre") == ("pre.test_b", "test_z")
