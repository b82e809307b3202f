"""Hostile query values on /api/v1 reads: each a precise 4xx on both databases, never a 500."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from flakeguard.usecases import cursor as cursors
from tests.api.test_v1 import reader, shop  # noqa: F401 - the fixtures

TESTS = "/api/v1/repos/acme/shop/tests"
QUARANTINES = "/api/v1/repos/acme/shop/quarantines"
NUL = "a\x00b"


def cursor(sort: str, value: float | str, row_id: int) -> str:
    return cursors.encode(cursors.Cursor(sort, value, row_id))


@pytest.mark.parametrize(
    ("url", "code"),
    [
        (f"{TESTS}?limit={quote('²')}", "bad_request"),  # a digit to isdigit, not to int
        (f"{TESTS}?limit={quote('٣')}", "bad_request"),  # an Arabic-Indic three
        (f"{TESTS}?cursor={cursor('score', 0.5, 10**30)}", "bad_cursor"),
        (f"{TESTS}?sort=name&cursor={cursor('name', 'a', 2**31)}", "bad_cursor"),
        (f"{TESTS}?sort=name&cursor={cursor('name', NUL, 1)}", "bad_cursor"),
        (f"{TESTS}?sort=name&cursor={cursor('name', 'x' * 513, 1)}", "bad_cursor"),
        (f"{TESTS}?cursor={cursor('score', 1e300, 1)}", "bad_cursor"),
        (f"{TESTS}?cursor={cursor('score', -0.5, 1)}", "bad_cursor"),
        (f"{QUARANTINES}?cursor={cursor('id', '', 10**30)}", "bad_cursor"),
    ],
)
def test_hostile_query_values_are_precise_4xx(client, reader, url, code) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    response = client.get(url, headers=reader.headers)
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert response.get_json()["error"]["code"] == code


def test_a_long_name_cursor_still_pages(client, reader) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """The longest name a test can have, in non-ASCII letters, is still a cursor of ours."""
    response = client.get(
        f"{TESTS}?sort=name&state=&cursor={cursor('name', 'é' * 512, 1)}", headers=reader.headers
    )
    assert response.status_code == 200, response.get_json()
