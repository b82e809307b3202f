"""A pytest plugin that honours FlakeGuard's quarantines inside the test run.

Active when ``FLAKEGUARD_URL`` and ``FLAKEGUARD_TOKEN`` are set, or with
``--flakeguard``. Once per session it fetches the repository's quarantine list
(short timeout) and keeps it in pytest's cache (``.pytest_cache``); when
FlakeGuard cannot be asked it uses the cached list, or none, says so in one
line and carries on (``--flakeguard-fail-closed`` stops the session instead).

``--flakeguard-quarantine``:
- ``mute`` (default): quarantined tests run; their failures are reported as
  ``quarantined`` with the issue link and do not fail the session. Their
  ``--junitxml`` entries stay failures, so FlakeGuard still sees them.
- ``skip``: quarantined tests do not run; they are skipped with the reason.
- ``off``: the list is not applied.

A test matches a quarantine by its key, computed from the node id exactly as
pytest's own ``--junitxml`` names it (see ``flakeguard_ci.keys``).
``--flakeguard-upload`` writes the session's JUnit report (``--junitxml``, or a
temporary file) and uploads it at the end.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Generator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from flakeguard_ci import keys  # not its names: pytest takes pytest_* for hooks
from flakeguard_ci.api import Client, QuarantinedTest, Unreachable, error_text
from flakeguard_ci.ci_env import META_FLAGS, detect_ci

MODES = ("mute", "skip", "off")
CACHE_KEY = "flakeguard/quarantine"
FETCH_TIMEOUT = 5.0
PLUGIN_NAME = "flakeguard-quarantine"


def pytest_addoption(parser: pytest.Parser) -> None:
    """The --flakeguard options."""
    group = parser.getgroup("flakeguard", "FlakeGuard quarantines")
    group.addoption(
        "--flakeguard",
        action="store_true",
        help="honour FlakeGuard quarantines (default when FLAKEGUARD_URL and FLAKEGUARD_TOKEN "
        "are set)",
    )
    group.addoption(
        "--flakeguard-quarantine",
        choices=MODES,
        default="mute",
        help="mute: run quarantined tests, their failures do not fail the session (default); "
        "skip: do not run them; off: ignore the quarantine list",
    )
    group.addoption(
        "--flakeguard-fail-closed",
        action="store_true",
        help="stop the session when the quarantine list cannot be fetched (default: carry on "
        "with the cached list or none)",
    )
    group.addoption(
        "--flakeguard-upload",
        action="store_true",
        help="upload the session's results (its --junitxml report) to FlakeGuard at the end",
    )
    group.addoption(
        "--flakeguard-repo",
        metavar="OWNER/NAME",
        help="repository (default $FLAKEGUARD_REPO, else from the CI environment)",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the session plugin when FlakeGuard is configured or --flakeguard is given."""
    env = os.environ
    configured = bool(env.get("FLAKEGUARD_URL", "").strip() and env.get("FLAKEGUARD_TOKEN"))
    if not (config.getoption("flakeguard") or configured):
        return
    plugin = Quarantines(config, env)
    config.pluginmanager.register(plugin, PLUGIN_NAME)
    if config.getoption("flakeguard_upload") and not config.option.xmlpath:
        # pytest's junitxml (configured after us) writes the report we upload.
        plugin.own_report = Path(tempfile.mkdtemp(prefix="flakeguard-")) / "junit.xml"
        config.option.xmlpath = str(plugin.own_report)


pytest_configure = pytest.hookimpl(tryfirst=True)(pytest_configure)


class Quarantines:
    """The session's quarantine list and what it did to the tests' outcomes."""

    def __init__(self, config: pytest.Config, env: Mapping[str, str]) -> None:
        self.config = config
        self.env = env
        self.mode: str = config.getoption("flakeguard_quarantine")
        self.url = env.get("FLAKEGUARD_URL", "").strip()
        self.token = env.get("FLAKEGUARD_TOKEN", "").strip()
        self.ci = detect_ci(env)
        self.repo = (
            config.getoption("flakeguard_repo")
            or env.get("FLAKEGUARD_REPO", "").strip()
            or self.ci.get("repo", "")
        )
        self.prefix: str | None = getattr(config.option, "junitprefix", None)
        self.tests: dict[str, QuarantinedTest] = {}
        self.muted: dict[str, QuarantinedTest] = {}
        self.own_report: Path | None = None
        # The session whose failure count a muted failure takes back.
        self.session: pytest.Session | None = None
        self.status_line = ""

    # -- the list -------------------------------------------------------------------

    @pytest.hookimpl(trylast=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """Fetch the list once (cached copy when FlakeGuard is unreachable); say so in one line."""
        self.session = session
        if self.mode == "off":
            self._say(f"flakeguard: quarantines off ({self.repo or 'no repository'})")
            return
        problem = self._fetch()
        if problem is None:
            self._say(
                f"flakeguard: {len(self.tests)} quarantined test(s) in {self.repo} ({self.mode})"
            )
            return
        if self.config.getoption("flakeguard_fail_closed"):
            pytest.exit(f"flakeguard: {problem} (--flakeguard-fail-closed)", returncode=3)
        cached = self._cached()
        if cached is None:
            self._say(f"flakeguard: {problem}; no cached list, no quarantine applied")
            return
        fetched_at, tests = cached
        self.tests = {test.key: test for test in tests}
        self._say(
            f"flakeguard: {problem}; using the list cached at {fetched_at} "
            f"({len(self.tests)} quarantined test(s))"
        )

    def _fetch(self) -> str | None:
        """Fill ``tests`` from FlakeGuard and cache them; return why not, or None."""
        if not self.url or not self.token:
            return "FLAKEGUARD_URL and FLAKEGUARD_TOKEN are not both set"
        if not self.repo:
            return "no repository (set FLAKEGUARD_REPO or --flakeguard-repo)"
        client = Client(self.url, self.token, retries=1, backoff=0, timeout=FETCH_TIMEOUT)
        try:
            tests = client.quarantine_list(self.repo)
        except Unreachable as exc:
            return f"FlakeGuard at {client.url} is unreachable ({exc})"
        self.tests = {test.key: test for test in tests}
        if self.config.cache is not None:
            fetched_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            self.config.cache.set(
                CACHE_KEY,
                {
                    "repo": self.repo,
                    "fetched_at": fetched_at,
                    "tests": [test.as_json() for test in tests],
                },
            )
        return None

    def _cached(self) -> tuple[str, list[QuarantinedTest]] | None:
        if self.config.cache is None:
            return None
        data = self.config.cache.get(CACHE_KEY, None)
        if not isinstance(data, dict) or data.get("repo") != self.repo:
            return None
        tests = data.get("tests")
        if not isinstance(tests, list):
            return None
        items = [QuarantinedTest.from_json(t) for t in tests if isinstance(t, dict)]
        return str(data.get("fetched_at") or "an unknown time"), items

    def _say(self, line: str) -> None:
        self.status_line = line
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(line)
        else:
            print(line, file=sys.stderr)

    def quarantine_of(self, nodeid: str) -> QuarantinedTest | None:
        """The quarantine of the test with this node id, if any."""
        if not self.tests:
            return None
        return self.tests.get(keys.pytest_key(nodeid, self.prefix))

    # -- skip -----------------------------------------------------------------------

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        """With skip, mark every quarantined test skipped, with the reason."""
        if self.mode != "skip":
            return
        for item in items:
            test = self.quarantine_of(item.nodeid)
            if test is not None:
                item.add_marker(pytest.mark.skip(reason=describe(test)))

    # -- mute -----------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> Generator[None, None, None]:
        """With mute, a quarantined test's failure is not counted as a session failure."""
        yield
        if self.mode != "mute" or not report.failed or hasattr(report, "wasxfail"):
            return
        test = self.quarantine_of(report.nodeid)
        if test is None:
            return
        self.muted[test.key] = test
        session = self.session
        if session is None:
            return
        session.testsfailed -= 1
        maxfail = self.config.getoption("maxfail")
        if session.shouldfail and maxfail and session.testsfailed < maxfail:
            session.shouldfail = False

    def pytest_report_teststatus(
        self, report: pytest.TestReport
    ) -> tuple[str, str, tuple[str, Mapping[str, bool]]] | None:
        """A muted failure shows as ``quarantined`` (Q), not failed."""
        if self.mode != "mute" or not report.failed or hasattr(report, "wasxfail"):
            return None
        if self.quarantine_of(report.nodeid) is None:
            return None
        return "quarantined", "Q", ("QUARANTINED", {"yellow": True})

    pytest_report_teststatus = pytest.hookimpl(tryfirst=True)(pytest_report_teststatus)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """List the muted failures with their issue links."""
        if not self.muted:
            return
        terminalreporter.section("FlakeGuard: quarantined failures (not failing the session)")
        for test in self.muted.values():
            terminalreporter.write_line(f"QUARANTINED {test.key} - {describe(test)}")

    # -- upload ---------------------------------------------------------------------

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """With --flakeguard-upload, upload the session's JUnit report (never fails the session)."""
        if not self.config.getoption("flakeguard_upload") or hasattr(self.config, "workerinput"):
            return
        self._say(self._upload())

    def _upload(self) -> str:
        if not self.url or not self.token or not self.repo:
            return "flakeguard: not uploaded: FLAKEGUARD_URL, FLAKEGUARD_TOKEN and a repository"
        path = Path(self.config.option.xmlpath or "")
        if not path.is_file():
            return f"flakeguard: not uploaded: no JUnit report at {path}"
        meta = {key: self.ci[key] for key in META_FLAGS if self.ci.get(key)}
        meta["repo"] = self.repo
        meta.setdefault("sha", self.env.get("FLAKEGUARD_SHA", "").strip() or _git_head())
        client = Client(self.url, self.token, retries=2, backoff=1.0, timeout=30.0)
        try:
            status, body = client.upload([path], {k: v for k, v in meta.items() if v})
        except Unreachable as exc:
            return f"flakeguard: not uploaded: FlakeGuard at {client.url} is unreachable ({exc})"
        finally:
            if self.own_report is not None:
                self.own_report.unlink(missing_ok=True)
        if status in (200, 201) and isinstance(body, dict):
            return f"flakeguard: uploaded the results as run {body.get('run_id')}"
        return f"flakeguard: not uploaded: {error_text(status, body)}"


def describe(test: QuarantinedTest) -> str:
    """``quarantined by FlakeGuard`` and the issue link (or the reason) of a quarantine."""
    text = "quarantined by FlakeGuard"
    if test.issue_url:
        return f"{text}: {test.issue_url}"
    return f"{text}: {test.reason}" if test.reason else text


def _git_head() -> str:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""
