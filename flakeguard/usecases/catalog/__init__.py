"""The read side of the dashboard and of ``/api/v1``: repositories, their tests, one test.

Both the web pages and the JSON API call these, so they show the same data:
``overview`` and ``repository_detail`` (repos.py), ``list_tests`` (listing.py),
``test_view`` (detail.py), ``list_quarantines`` (quarantines.py).
Every function takes the caller's tenant (``tenant_id``) and filters by it in
SQL: another tenant's repository or test is "unknown", like a missing one.
Each call runs a fixed number of queries however many rows there are (no
N+1); ``tests/app/test_catalog.py`` counts them. Everything returned is
frozen data; rendering is the caller's business.

Definitions shown to users (the same on every page and in the API):

- A test is in exactly one of four states: **quarantined** (its quarantine is
  in force), else **flaky** or **broken** (its verdict), else **healthy**
  (everything else, tests not analyzed yet included).
- **Flake rate** of a day: the share of that day's CI runs that a flaky or
  quarantined test turned red (one of its failures is in the run).
- **CI time lost** of a day: the duration of those runs, the measure the weekly
  digest ranks by (``engine.plan``): a red run is re-run or read.
"""

from flakeguard.usecases.catalog.detail import (
    Durations,
    FailureGroup,
    RunOutcome,
    SlackLink,
    TestView,
    TimelineEntry,
    VerdictChange,
    test_view,
)
from flakeguard.usecases.catalog.listing import (
    PAGE_DEFAULT,
    PAGE_MAX,
    SORTS,
    STATES,
    TestPage,
    list_tests,
)
from flakeguard.usecases.catalog.quarantines import (
    QUARANTINE_STATES,
    QuarantinePage,
    QuarantineRow,
    list_quarantines,
)
from flakeguard.usecases.catalog.repos import (
    WINDOW_DAYS,
    Change,
    Counts,
    DayPoint,
    Overview,
    RepoDetail,
    RepoSummary,
    Storm,
    WeekChanges,
    overview,
    repository_detail,
)
from flakeguard.usecases.catalog.rows import TestRow

__all__ = [
    "PAGE_DEFAULT",
    "PAGE_MAX",
    "QUARANTINE_STATES",
    "SORTS",
    "STATES",
    "WINDOW_DAYS",
    "Change",
    "Counts",
    "DayPoint",
    "Durations",
    "FailureGroup",
    "Overview",
    "QuarantinePage",
    "QuarantineRow",
    "RepoDetail",
    "RepoSummary",
    "RunOutcome",
    "SlackLink",
    "Storm",
    "TestPage",
    "TestRow",
    "TestView",
    "TimelineEntry",
    "VerdictChange",
    "WeekChanges",
    "list_quarantines",
    "list_tests",
    "overview",
    "repository_detail",
    "test_view",
]
