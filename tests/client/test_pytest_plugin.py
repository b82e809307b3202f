"""The pytest plugin against a live FlakeGuard: mute, skip, new failures, server down, upload."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from models import TestRun
from tests.client.conftest import FLAKY, ISSUE, METHOD, NESTED, PARAM, REPO, SHA, Live, Sample
from tests.stored import stored_keys

QUARANTINED = (FLAKY, PARAM, METHOD, NESTED)


def env_for(live: Live) -> dict[str, str]:
    """What a CI job sets: the URL, the token and the repository."""
    return {"FLAKEGUARD_URL": live.url, "FLAKEGUARD_TOKEN": live.token, "FLAKEGUARD_REPO": REPO}


def quarantine_all(live: Live) -> None:
    for key in QUARANTINED:
        live.quarantine(key)


def test_mute_runs_quarantined_tests_and_their_failures_pass_the_session(
    live: Live, sample: Sample
) -> None:
    """Quarantined failures (function, parametrised, class, nested class) exit 0, with the link."""
    quarantine_all(live)
    done = sample.pytest("--junitxml=out.xml", **env_for(live))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"flakeguard: 4 quarantined test(s) in {REPO} (mute)" in done.stdout
    for key in QUARANTINED:
        assert f"QUARANTINED {key} - quarantined by FlakeGuard: {ISSUE}" in done.stdout
    assert "4 quarantined" in done.stdout and "failed" not in done.stdout.splitlines()[-1]
    assert sorted(sample.ran()) == ["cart", "empty", "flaky", "new", "param1", "param2"]
    # The JUnit report still records the failures, so FlakeGuard keeps seeing them.
    failing = {
        f"{case.get('classname')}::{case.get('name')}"
        for case in ET.parse(sample.root / "out.xml").iter("testcase")
        if case.find("failure") is not None or case.find("error") is not None
    }
    assert failing == set(QUARANTINED)


def test_an_unquarantined_failure_still_fails_the_session(live: Live, sample: Sample) -> None:
    """Mute forgives only quarantined tests: a new failure exits 1 and is reported failed."""
    quarantine_all(live)
    done = sample.pytest(**env_for(live), SAMPLE_FAIL_NEW="1")
    assert done.returncode == 1
    assert "FAILED tests/unit/test_shop.py::test_new_failure" in done.stdout
    assert "1 failed" in done.stdout and "4 quarantined" in done.stdout


def test_skip_does_not_run_quarantined_tests(live: Live, sample: Sample) -> None:
    """With skip, quarantined tests are not run and are reported skipped with the issue link."""
    quarantine_all(live)
    done = sample.pytest("--flakeguard-quarantine=skip", **env_for(live))
    assert done.returncode == 0, done.stdout
    assert sorted(sample.ran()) == ["empty", "new", "param1"]
    reasons = [line for line in done.stdout.splitlines() if line.startswith("SKIPPED")]
    assert reasons and all(line.endswith(f"quarantined by FlakeGuard: {ISSUE}") for line in reasons)
    assert "4 skipped" in done.stdout


def test_off_applies_no_quarantine(live: Live, sample: Sample) -> None:
    """With off, quarantined failures fail as without the plugin."""
    quarantine_all(live)
    done = sample.pytest("--flakeguard-quarantine=off", **env_for(live))
    assert done.returncode == 1
    assert "4 failed" in done.stdout


def test_inactive_without_the_variables_or_the_flag(live: Live, sample: Sample) -> None:
    """Loaded but not configured, the plugin does nothing: failures fail, no FlakeGuard line."""
    quarantine_all(live)
    done = sample.pytest()
    assert done.returncode == 1
    assert "flakeguard:" not in done.stdout


def test_server_down_uses_the_cached_list_in_one_line(
    live: Live, sample: Sample, down_url: str
) -> None:
    """FlakeGuard down after one good session: the cached list mutes, one line says so."""
    quarantine_all(live)
    assert sample.pytest(**env_for(live)).returncode == 0
    down = {**env_for(live), "FLAKEGUARD_URL": down_url}
    done = sample.pytest(**down)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("flakeguard:")]
    assert len(lines) == 1
    assert "is unreachable" in lines[0] and "using the list cached at" in lines[0]
    assert "(4 quarantined test(s))" in lines[0]


def test_server_down_without_cache_carries_on_with_no_quarantine(
    live: Live, sample: Sample, down_url: str
) -> None:
    """FlakeGuard down and nothing cached: no crash, one line, the failures count as failures."""
    quarantine_all(live)
    down = {**env_for(live), "FLAKEGUARD_URL": down_url}
    done = sample.pytest(**down)
    assert done.returncode == 1
    assert "Traceback" not in done.stdout + done.stderr
    assert "INTERNALERROR" not in done.stdout
    lines = [line for line in done.stdout.splitlines() if line.startswith("flakeguard:")]
    assert len(lines) == 1 and "no cached list, no quarantine applied" in lines[0]
    assert "4 failed" in done.stdout


def test_fail_closed_stops_the_session_when_flakeguard_is_down(
    sample: Sample, down_url: str
) -> None:
    """--flakeguard-fail-closed: no list, no tests run, exit 3 naming the reason."""
    env = {"FLAKEGUARD_URL": down_url, "FLAKEGUARD_TOKEN": "fgi_x", "FLAKEGUARD_REPO": REPO}
    done = sample.pytest("--flakeguard-fail-closed", **env)
    assert done.returncode == 3
    assert "is unreachable" in done.stdout + done.stderr
    assert sample.ran() == []


def test_upload_sends_the_session_results(live: Live, sample: Sample) -> None:
    """--flakeguard-upload stores the session as one run with pytest's keys and outcomes."""
    live.quarantine(FLAKY)
    done = sample.pytest("--flakeguard-upload", **env_for(live), FLAKEGUARD_SHA=SHA)
    run = TestRun.get()
    assert f"flakeguard: uploaded the results as run {run.id}" in done.stdout
    assert run.sha == SHA
    statuses = {key: status for key, status, _ in stored_keys(run.id)}
    assert statuses[FLAKY] == "failed"
    assert statuses[NESTED] == "failed"
    assert statuses["tests.unit.test_shop.TestCart::test_empty"] == "passed"
    assert len(statuses) == 7
