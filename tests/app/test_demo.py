"""The demo history goes through ingestion and analysis and yields the verdicts it was built for."""

from __future__ import annotations

import io

from flakeguard.cli_status import print_status
from flakeguard.usecases.demo import DEMO_REPO, SUITE, create_demo
from models import FlakeScore, Quarantine, TestCase, TestRun, default_tenant


def test_demo_finds_flaky_broken_and_healthy(app) -> None:  # type: ignore[no-untyped-def]
    """Demo flakes are flaky and proposed, the broken test broken, the rest healthy."""
    result = create_demo(max_bytes=50 * 2**20)
    assert result.token and result.runs == 84
    assert TestRun.select().where(TestRun.analyzed_at.is_null()).count() == 0
    states = {
        row.test_case.name: row.state
        for row in FlakeScore.select(FlakeScore, TestCase).join(TestCase)
    }
    for test in SUITE:
        expected = {"flaky": "flaky", "broken": "broken"}.get(test.kind, "healthy")
        assert states[test.name] == expected, test.name
    proposed = Quarantine.select().where(Quarantine.state == "proposed").count()
    assert proposed == sum(1 for t in SUITE if t.kind == "flaky")
    out = io.StringIO()
    print_status(DEMO_REPO, tenant_id=default_tenant().id, out=out)  # `flakeguard status`
    text = out.getvalue()
    assert "test_payment_webhook_timeout" in text and "same commit" in text
    assert "first failing commit" in text and "healthy: " in text


def test_demo_twice_adds_nothing(app) -> None:  # type: ignore[no-untyped-def]
    """A second demo run shows the existing repository and stores no more runs."""
    create_demo(max_bytes=50 * 2**20)
    runs = TestRun.select().count()
    again = create_demo(max_bytes=50 * 2**20)
    assert again.results == 0 and again.token is None
    assert TestRun.select().count() == runs
