"""The dashboard in a real browser: Playwright driving Debian's Chromium against a live server.

The app is served over HTTP in a thread (as `flakeguard serve` does) on each test
database, with the demo data and a rival tenant. No browser is ever downloaded:
Chromium comes from `apt-get install chromium` (.ci/run). A failed test leaves a
screenshot of the page it was on in its tmp dir; with FLAKEGUARD_SCREENSHOTS=DIR the
repository and test pages are saved there too (docs/ keeps two of them).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient

from flakeguard.usecases import web_auth
from flakeguard.usecases.demo import DEMO_REPO
from models import Quarantine, QuarantineEvent, TestCase
from tests.conftest import REQUIRE_SERVICES
from tests.fakes.slack import BOT_TOKEN, FakeSlack
from tests.processes import served
from tests.web.conftest import OTHER_REPO, Tenants

os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = Path("/usr/bin/chromium")
FLAKY = "test_payment_webhook_timeout"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, once per session."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing (apt-get install chromium)"
        if REQUIRE_SERVICES:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    with sync_api.sync_playwright() as playwright:
        # Root (CI) cannot use Chromium's user-namespace sandbox.
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=args)
        yield chromium
        chromium.close()


@pytest.fixture
def live(web_settings: Any, demo: Tenants) -> Iterator[str]:
    """The app served in a thread: its URL, which is also its public URL (Slack's redirect
    comes back there), so the app is built once the server listens."""
    from flakeguard.app import create_app

    built: list[Any] = []
    with served(lambda environ, start_response: built[0](environ, start_response)) as url:
        settings = dataclasses.replace(web_settings, public_url=url)
        slack = WebClient(token=BOT_TOKEN, base_url=settings.slack_api_url)
        built.append(create_app(settings, slack=slack))
        yield url


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A fresh browser context and page; a screenshot in tmp_path when the test fails."""
    context = browser.new_context()
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    yield tab
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        shot = tmp_path / "failure.png"
        tab.screenshot(path=str(shot), full_page=True)
        print(f"screenshot of {tab.url}: {shot}")
    context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def keep(page: Any, tmp_path: Path, name: str) -> None:
    """Save a screenshot in tmp_path (and in FLAKEGUARD_SCREENSHOTS, when set)."""
    page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)
    target = os.environ.get("FLAKEGUARD_SCREENSHOTS")
    if target:
        page.screenshot(path=str(Path(target) / f"{name}.png"), full_page=True)


def sign_in(page: Any, live: str, tenant: Any) -> None:
    """Open a one-time link of ``tenant`` and press its button."""
    page.goto(f"{live}/sign-in/link?token={web_auth.issue_login_link(tenant)}")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live}/")


def test_signed_out_visitor_sees_only_sign_in(page, live, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """/ and every page behind it show the sign-in page and nothing of the tenant."""
    page.goto(live + "/")
    assert page.title() == "Sign in · FlakeGuard"
    keep(page, tmp_path, "dashboard-sign-in")
    assert page.get_by_role("link", name="Sign in with Slack").is_visible()
    page.goto(f"{live}/repos/{DEMO_REPO}")
    assert page.url == f"{live}/" and page.title() == "Sign in · FlakeGuard"
    assert DEMO_REPO not in page.content()


def test_one_time_link_signs_in_once(page, browser, live, demo) -> None:  # type: ignore[no-untyped-def]
    """The link signs in; opened again (another browser) it is refused with a reason."""
    secret = web_auth.issue_login_link(demo.home)
    page.goto(f"{live}/sign-in/link?token={secret}")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live}/")
    assert page.title() == "Overview · FlakeGuard"
    assert page.get_by_role("status").inner_text().startswith("Signed in to Default")
    other = browser.new_context()
    try:
        again = other.new_page()
        again.goto(f"{live}/sign-in/link?token={secret}")
        with again.expect_response(f"{live}/sign-in/link") as answer:
            again.get_by_role("button", name="Sign in").click()
        assert answer.value.status == 400
        assert "already used" in again.inner_text("main")
    finally:
        other.close()


def test_sign_in_with_slack(page, live, fake_slack: FakeSlack) -> None:  # type: ignore[no-untyped-def]
    """Sign in with Slack through the fake's OpenID Connect pages, back on the overview."""
    page.goto(live + "/")
    page.get_by_role("link", name="Sign in with Slack").click()
    page.wait_for_url(f"{live}/")
    assert page.title() == "Overview · FlakeGuard"
    assert "as Alice" in page.get_by_role("status").inner_text()
    assert page.get_by_role("link", name=DEMO_REPO).is_visible()
    assert fake_slack.called("openid.connect.authorize")
    assert fake_slack.called("openid.connect.userInfo")


def test_pages_by_clicking_and_approve(page, live, demo, fake_slack, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Overview -> repository -> test by clicking; Approve quarantines and updates Slack."""
    sign_in(page, live, demo.home)
    assert page.locator("svg.spark").count() == 2
    keep(page, tmp_path, "dashboard-overview")
    page.get_by_role("link", name=DEMO_REPO, exact=True).click()
    assert page.title() == f"{DEMO_REPO} · FlakeGuard"
    assert page.get_by_role("link", name=f"tests.test_checkout.{FLAKY}").is_visible()
    keep(page, tmp_path, "dashboard-repository")
    page.get_by_role("link", name=f"tests.test_checkout.{FLAKY}").click()
    assert page.title() == f"tests.test_checkout.{FLAKY} · FlakeGuard"
    assert page.locator("ol.strip li").count() > 20
    assert "payment provider did not answer" in page.inner_text("main")
    keep(page, tmp_path, "dashboard-test")
    fake_slack.reset()
    page.get_by_role("button", name=f"Approve quarantine of tests.test_checkout.{FLAKY}").click()
    assert "the quarantine is now quarantined" in page.get_by_role("status").inner_text()
    test = TestCase.get(TestCase.name == FLAKY)
    assert Quarantine.get(Quarantine.test_case == test.id).state == "quarantined"
    assert QuarantineEvent.select().where(QuarantineEvent.source == "web").count() == 1
    [update] = fake_slack.called("chat.update")
    assert "Quarantined" in str(update.params.get("blocks")) or update.params.get("text")
    assert page.get_by_role("button", name=f"Undo quarantine of tests.test_checkout.{FLAKY}")


def test_forms_without_the_right_csrf_token_are_refused(page, live, demo) -> None:  # type: ignore[no-untyped-def]
    """A tampered token and a post with none: 400, the quarantine unchanged."""
    sign_in(page, live, demo.home)
    test = TestCase.get(TestCase.name == FLAKY)
    page.goto(f"{live}/tests/{test.id}")
    form = page.locator("form", has=page.get_by_role("button", name="Dismiss: "))
    form.locator("input[name=csrf_token]").evaluate("input => { input.value = 'forged' }")
    with page.expect_response(f"{live}/tests/{test.id}/actions") as answer:
        form.get_by_role("button").click()
    assert answer.value.status == 400
    assert page.title() == "This form has expired · FlakeGuard"
    bare = page.request.post(
        f"{live}/tests/{test.id}/actions", form={"action": "dismiss", "version": "1"}
    )
    assert bare.status == 400
    assert Quarantine.get(Quarantine.test_case == test.id).state == "proposed"


def test_another_tenants_things_are_not_found(page, live, demo) -> None:  # type: ignore[no-untyped-def]
    """The rival's repository and test answer 404, like ones that do not exist."""
    sign_in(page, live, demo.home)
    assert page.goto(f"{live}/repos/{OTHER_REPO}").status == 404
    assert page.title() == "Not found · FlakeGuard"
    assert page.goto(f"{live}/tests/{demo.rival_test_id}").status == 404
    assert OTHER_REPO not in page.content()


def test_keyboard_reaches_the_main_links(page, live, demo) -> None:  # type: ignore[no-untyped-def]
    """Tab: the skip link first, then the navigation, then the repository; Enter follows it."""
    sign_in(page, live, demo.home)

    def focused() -> str:
        return str(page.evaluate("document.activeElement.textContent")).strip()

    page.keyboard.press("Tab")
    assert focused() == "Skip to content"
    seen = []
    for _ in range(12):
        page.keyboard.press("Tab")
        seen.append(focused())
        if seen[-1] == DEMO_REPO:
            break
    assert "Overview" in seen and "Sign out" in seen and seen[-1] == DEMO_REPO
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live}/repos/{DEMO_REPO}")
    assert page.title() == f"{DEMO_REPO} · FlakeGuard"
