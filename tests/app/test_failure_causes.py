"""A test's failures grouped by cause (signature), with counts; scoped to the tenant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from flakeguard.errors import NotFoundError
from flakeguard.usecases.failure_causes import failure_causes, group_failures
from models import Tenant, TestRun, default_tenant
from tests.bot import factories as f
from tests.stored import add_result

T0 = datetime(2026, 9, 1)


def test_failures_are_grouped_by_signature_with_counts(database) -> None:  # type: ignore[no-untyped-def]
    """Messages that differ in numbers and temp paths are one cause; the most frequent first."""
    repo = f.repo("acme/widgets")
    test = f.test_case(repo, "test_upload")
    run = TestRun.create(repository=repo, sha="a" * 40, ci_run_id="1", content_digest="d" * 64)
    messages = [
        "TimeoutError: upload of /tmp/pytest-of-ci/pytest-1/x0/a.bin took 30.2s",
        "TimeoutError: upload of /tmp/pytest-of-ci/pytest-9/x3/a.bin took 31.0s",
        "AssertionError: assert 201 == 200",
        "TimeoutError: upload of /tmp/pytest-of-ci/pytest-4/x1/a.bin took 29.9s",
    ]
    for i, message in enumerate(messages):
        add_result(
            run,
            test,
            "failed",
            message=message,
            failure_type=message.split(":", 1)[0],
            created_at=T0 + timedelta(hours=i),
        )
    add_result(run, test, "passed", created_at=T0)
    causes = failure_causes(test.id, tenant_id=default_tenant().id)
    assert [(c.label, c.count) for c in causes] == [("TimeoutError", 3), ("AssertionError", 1)]
    assert causes[0].text == "upload of <tmp> took <n>s"
    assert causes[0].example == messages[3]  # the newest as it was
    assert causes[0].first_at == T0 and causes[0].last_at == T0 + timedelta(hours=3)
    rival = Tenant.create(slug="rival", name="Rival")
    with pytest.raises(NotFoundError):
        failure_causes(test.id, tenant_id=rival.id)  # another tenant's test is not found


def test_group_failures_orders_by_count_then_newest() -> None:
    """Equal counts: the cause seen most recently first."""
    at = datetime(2026, 1, 1, tzinfo=UTC)
    causes = group_failures(
        [
            ("KeyError: 'a'", "KeyError", at),
            ("OSError: disk full", "OSError", at + timedelta(days=1)),
        ]
    )
    assert [c.label for c in causes] == ["OSError", "KeyError"]
