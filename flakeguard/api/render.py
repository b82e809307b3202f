"""JSON of the read use cases' frozen data: dataclasses to dicts, times in UTC with ``Z``."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from typing import Any

from flakeguard.usecases import catalog
from flakeguard.usecases.catalog.rows import issue_link
from models import Quarantine

# Derived values a client wants beside the fields (properties of the dataclasses).
EXTRA: dict[type, tuple[str, ...]] = {
    catalog.DayPoint: ("flake_rate",),
    catalog.RepoSummary: ("owner", "name", "runs", "flake_rate", "seconds_lost"),
}


def plain(value: Any) -> Any:
    """``value`` as JSON-ready data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        for name in EXTRA.get(type(value), ()):
            out[name] = plain(getattr(value, name))
        return out
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat() + "Z"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def test_json(row: catalog.TestRow) -> dict[str, Any]:
    """One test of a list, with its interval and the API link to it."""
    out = plain(row)
    out["interval"] = [row.low, row.high]
    out["url"] = f"/api/v1/tests/{row.test_case_id}"
    return out


test_json.__test__ = False  # type: ignore[attr-defined]


def test_view_json(view: catalog.TestView) -> dict[str, Any]:
    """One test in full: the row's fields at the top, then its history and the rest."""
    out = test_json(view.row)
    body = plain(view)
    del body["row"]
    out.update(body)
    return out


test_view_json.__test__ = False  # type: ignore[attr-defined]


def quarantine_json(q: Quarantine) -> dict[str, Any]:
    """A quarantine after an action."""
    return {
        "id": q.id,
        "test_case_id": q.test_case_id,
        "state": q.state,
        "version": q.version,
        "reason": q.reason,
        "quarantined_at": plain(q.quarantined_at),
        "quarantined_by": q.quarantined_by,
        "assignee_slack": q.assignee_slack,
        "assignee_github": q.assignee_github,
        "issue_url": issue_link(q.repository.full_name, q.github_issue_url, q.github_issue_number),
    }
