"""Timestamps and values out of range are refused with 400 and store nothing (never a 500)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from flakeguard.errors import BadRequestError
from flakeguard.usecases.run_meta import check_timestamp, parse_timestamp
from tests.api import samples
from tests.api.conftest import snapshot

XML = {"Content-Type": "application/xml"}


def post(client, acme, body: bytes = b"", **fields: str):  # type: ignore[no-untyped-def]
    """POST a report for acme/shop with extra metadata fields."""
    query = {"repo": "acme/shop", "sha": samples.SHA, "run_id": "1", "job": "unit", **fields}
    return client.post(
        "/api/v1/reports",
        query_string=query,
        data=body or samples.simple(passed=2),
        headers={**acme.headers, **XML},
    )


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize(
    "started_at",
    [
        "2999-01-01",  # stored today; its analysis then fails on every retry
        "9999-12-31T23:59:59-05:00",  # past year 9999 in UTC: a 500 today
        "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
        "1999-12-31T23:59:59Z",
    ],
)
def test_started_at_outside_the_window_is_400_and_stores_nothing(client, acme, started_at) -> None:  # type: ignore[no-untyped-def]
    """A run dated far ahead or before 2000 is refused with 400 naming started_at."""
    before = snapshot()
    response = post(client, acme, started_at=started_at)
    assert response.status_code == 400, response.get_json()
    message = response.get_json()["error"]["message"]
    assert message.startswith("started_at: ") and "outside the accepted window" in message
    assert snapshot() == before


def test_started_at_more_than_a_day_ahead_is_refused_within_a_day_accepted(client, acme) -> None:  # type: ignore[no-untyped-def]
    """A clock a few hours ahead is accepted; two days ahead is refused."""
    now = datetime.now(UTC)
    refused = post(client, acme, started_at=_iso(now + timedelta(days=2)))
    assert refused.status_code == 400
    accepted = post(client, acme, started_at=_iso(now + timedelta(hours=3)))
    assert accepted.status_code == 201, accepted.get_json()


def test_window_bounds() -> None:
    """2000-01-01 and now + 1 day are in; a second outside either bound is out."""
    now = datetime(2026, 6, 1, 12, 0)
    assert check_timestamp(datetime(2000, 1, 1), "t", now=now) == datetime(2000, 1, 1)
    assert check_timestamp(now + timedelta(days=1), "t", now=now) == now + timedelta(days=1)
    for outside in (datetime(1999, 12, 31, 23, 59, 59), now + timedelta(days=1, seconds=1)):
        with pytest.raises(BadRequestError, match=r"^t: .* outside the accepted window"):
            check_timestamp(outside, "t", now=now)
    with pytest.raises(BadRequestError, match=r"^started_at: "):
        parse_timestamp("9999-12-31T23:59:59-05:00")


@pytest.mark.parametrize("name", ["branch", "job", "run_id"])
def test_a_nul_in_a_text_field_is_400(client, acme, name) -> None:  # type: ignore[no-untyped-def]
    """A NUL byte (which PostgreSQL text cannot hold: a 500 there today) is refused with 400."""
    before = snapshot()
    response = post(client, acme, **{name: "ma\x00in"})
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["error"]["message"] == f"{name}: holds a control character"
    assert snapshot() == before


def test_a_duration_the_database_cannot_hold_is_never_a_500(client, acme) -> None:  # type: ignore[no-untyped-def]
    """time="1e39" overflows PostgreSQL's real column (a 500 today).

    It is refused with 400 and nothing stored, or stored clamped by the parser;
    never a server error, never half a run.
    """
    body = b'<testsuite><testcase classname="c" name="t" time="1e39"/></testsuite>'
    before = snapshot()
    response = post(client, acme, body)
    assert response.status_code in (201, 400), response.get_json()
    if response.status_code == 400:
        assert snapshot() == before
        assert "cannot store" in response.get_json()["error"]["message"]
