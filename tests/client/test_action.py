"""The GitHub Action (client/action.yml): its shell steps run locally against a live FlakeGuard.

Each step's ``run`` is executed as the runner does (``bash --noprofile --norc
-eo pipefail``) with its ``env`` block evaluated from the inputs; the venv the
install step would create is the session's bare venv, already holding the client.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from models import TestRun
from tests.api import samples
from tests.client.conftest import ROOT, BareVenv, Live, outside_env

ACTION = yaml.safe_load((ROOT / "client" / "action.yml").read_text())
EXPRESSION = re.compile(r"\$\{\{\s*([\w.]+)\s*\}\}")


def run_action(
    inputs: dict[str, str], *, workspace: Path, runner_temp: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run every step in order, stopping at the first that fails; return the last result."""
    values = {f"inputs.{name}": spec.get("default", "") for name, spec in ACTION["inputs"].items()}
    values.update({f"inputs.{name}": value for name, value in inputs.items()})
    values["runner.temp"] = str(runner_temp)
    values["github.action_path"] = str(ROOT / "client")
    done: subprocess.CompletedProcess[str] | None = None
    for step in ACTION["runs"]["steps"]:
        step_env = {
            name: EXPRESSION.sub(lambda m: values[m.group(1)], str(value))
            for name, value in step.get("env", {}).items()
        }
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
            cwd=workspace,
            env=outside_env(**env, **step_env),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            break
    assert done is not None
    return done


@pytest.fixture
def runner(bare_venv: BareVenv, tmp_path: Path) -> dict[str, Any]:
    """A workspace with reports/ and a runner temp directory whose venv is the bare one."""
    temp = tmp_path / "runner-temp"
    temp.mkdir()
    (temp / "flakeguard-ci").symlink_to(bare_venv.root)
    (tmp_path / "reports" / "unit").mkdir(parents=True)
    return {"workspace": tmp_path, "runner_temp": temp}


def github_env(live: Live) -> dict[str, str]:
    """The variables GitHub Actions sets, and the job-level FlakeGuard variables."""
    return {
        "GITHUB_ACTIONS": "true",
        "GITHUB_REPOSITORY": "acme/shop",
        "GITHUB_SHA": samples.SHA,
        "GITHUB_REF": "refs/heads/main",
        "GITHUB_REF_NAME": "main",
        "GITHUB_RUN_ID": "4242",
        "GITHUB_RUN_ATTEMPT": "1",
        "GITHUB_JOB": "tests",
        "FLAKEGUARD_URL": live.url,
        "FLAKEGUARD_TOKEN": live.token,
    }


def test_scripts_take_inputs_only_from_the_environment() -> None:
    """No ${{ }} expression is pasted into a script: inputs cannot inject shell code."""
    for step in ACTION["runs"]["steps"]:
        assert "${{" not in step["run"]


def test_action_uploads_and_the_gate_forgives_quarantined_failures(
    live: Live, runner: dict[str, Any]
) -> None:
    """A quarantined failure: the step exits 0 and the run carries the CI metadata and job input."""
    live.quarantine(samples.key("test_fail_0"))
    report = runner["workspace"] / "reports" / "unit" / "junit.xml"
    report.write_bytes(samples.simple(passed=3, failed=1))
    done = run_action({"job": "tests-py3.12"}, env=github_env(live), **runner)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "gate: passed: every failure (1) is a quarantined test" in done.stdout
    run = TestRun.get()
    assert (run.ci_run_id, run.branch, run.job, run.tests) == ("4242", "main", "tests-py3.12", 4)


def test_action_fails_the_job_on_an_unquarantined_failure(
    live: Live, runner: dict[str, Any]
) -> None:
    """The gate input defaults to true: a new failure exits 1 and is named."""
    report = runner["workspace"] / "reports" / "unit" / "junit.xml"
    report.write_bytes(samples.simple(passed=1, failed=1))
    done = run_action({}, env=github_env(live), **runner)
    assert done.returncode == 1
    assert f"failing: {samples.key('test_fail_0')}" in done.stdout


def test_action_inputs_override_the_variables_and_patterns_stay_text(
    live: Live, runner: dict[str, Any]
) -> None:
    """url/token inputs win over the job's variables; a pattern with $(...) runs nothing."""
    workspace = runner["workspace"]
    (workspace / "reports" / "a.xml").write_bytes(samples.simple(passed=1))
    env = {**github_env(live), "FLAKEGUARD_URL": "http://127.0.0.1:9", "FLAKEGUARD_TOKEN": "x"}
    inputs = {
        "url": live.url,
        "token": live.token,
        "files": "reports/*.xml\n$(touch pwned) `touch pwned`",
    }
    done = run_action(inputs, env=env, **runner)
    assert done.returncode == 0, done.stdout + done.stderr  # unmatched patterns only warn
    assert "no file matches $(touch" in done.stderr
    assert not (workspace / "pwned").exists()
    assert TestRun.get().tests == 1
    assert os.path.islink(runner["runner_temp"] / "flakeguard-ci")
