"""Links to GitHub pages follow GITHUB_API_URL, so they work on GitHub Enterprise too."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from flakeguard.settings import Settings
from flakeguard.usecases import alerts, github
from models import Quarantine
from tests.bot import factories as f


@pytest.fixture
def enterprise() -> Iterator[None]:
    """This process configured for a GitHub Enterprise host (as tasks.configure does)."""
    import tasks

    tasks.configure(Settings(queue_mode="immediate", github_api_url="https://ghe.example/api/v3"))
    yield
    tasks.configure(Settings(queue_mode="immediate"))


def test_web_url_of_github_com_and_of_an_enterprise_host() -> None:
    """api.github.com links to github.com; https://HOST/api/v3 links to https://HOST."""
    github.use_api_url("https://api.github.com")
    assert github.web_url("acme/widgets", "issues", 3) == "https://github.com/acme/widgets/issues/3"
    github.use_api_url("https://ghe.example/api/v3/")
    try:
        assert github.web_url("acme/widgets", "commit", "abc") == (
            "https://ghe.example/acme/widgets/commit/abc"
        )
    finally:
        github.use_api_url(github.DEFAULT_API_URL)


def test_issue_and_commit_links_of_an_alert_point_at_the_enterprise_host(
    database, enterprise
) -> None:  # type: ignore[no-untyped-def]
    """A quarantine issue known only by number, and a broken test's first failing commit,
    link to the GitHub FlakeGuard is connected to, not to github.com."""
    repo = f.repo("acme/widgets")
    f.subscription(repo)
    test = f.test_case(repo)
    f.score(test)
    q = Quarantine.create(test_case=test, repository=repo, github_issue_number=7)
    assert alerts.quarantine_view(q).github_issue_url == "https://ghe.example/acme/widgets/issues/7"
    event = f.event(test, "broken", first_failing_sha="f" * 40)
    [message_id] = alerts.plan_alert(event.id)
    view = alerts.alert_view(message_id)
    assert view.first_failing_url == f"https://ghe.example/acme/widgets/commit/{'f' * 40}"
