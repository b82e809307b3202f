"""Durations out of range in an upload are stored clamped on both databases, never a 500."""

from __future__ import annotations

import json

import pytest

from engine.junit import MAX_DURATION_SECONDS
from tests.api.test_reports import post_xml
from tests.stored import stored_results


@pytest.mark.parametrize(
    ("time", "stored"),
    [
        ("1e39", MAX_DURATION_SECONDS),  # failed PostgreSQL's COPY into a real: 500
        ("1e308", MAX_DURATION_SECONDS),  # summed to Infinity in the JSON answer
        ("NaN", 0.0),
        ("-inf", 0.0),
        ("-5", 0.0),
        ("1e-50", 0.0),  # underflows a real
    ],
)
def test_out_of_range_duration_is_stored_clamped(client, acme, analyzed, time, stored) -> None:  # type: ignore[no-untyped-def]
    """An upload with an absurd time="..." answers 201 with finite JSON and stores a duration
    within range (whole milliseconds)."""
    body = (
        f'<testsuite name="s"><testcase classname="c" name="a" time="{time}"/>'
        f'<testcase classname="c" name="b" time="{time}"><failure message="x"/></testcase>'
        "</testsuite>"
    ).encode()
    response = post_xml(client, acme, body)
    assert response.status_code == 201, response.get_data(as_text=True)
    data = json.loads(response.get_data(as_text=True), parse_constant=pytest.fail)
    assert data["totals"]["duration"] == round(2 * stored, 3)
    assert sorted(r.duration for r in stored_results()) == [stored, stored]
