"""The OpenAPI paths and schemas of the read API and quarantine actions (``flakeguard/api/v1.py``).

``flakeguard/api/openapi.py`` merges them into ``/api/openapi.json``.
"""

from __future__ import annotations

from typing import Any

from flakeguard.api.openapi_shapes import (
    BOOL,
    INT,
    NINT,
    NNUM,
    NSTR,
    NTIME,
    NUM,
    STR,
    TIME,
    array,
    error,
    get,
    json_of,
    obj,
    path_param,
    query_param,
    rate_limited,
    ref,
    response,
)
from flakeguard.usecases.catalog import PAGE_MAX, QUARANTINE_STATES, SORTS, STATES

SECURITY = [{"apiToken": []}]
SECURITY_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "description": (
        "A tenant's API token (`flakeguard api-token create NAME [--act]`, or the dashboard's "
        "API tokens page). Read-only unless created with the right to act."
    ),
}


RATE_LIMITED = rate_limited(
    "Rate limited (per client IP, per token, failed authentications per IP)."
)
READ_ERRORS = {
    "400": error("A bad state, sort, limit, cursor or search."),
    "401": error("Missing, invalid or revoked API token."),
    "404": error("Unknown repository or test (another tenant's is unknown too)."),
    "429": RATE_LIMITED,
}
ACT_ERRORS = {
    "400": error("A malformed body, header or assignee."),
    "401": error("Missing, invalid or revoked API token."),
    "403": error("A read-only API token."),
    "404": error("Unknown quarantine or action (another tenant's quarantine is unknown too)."),
    "409": error("The action does not fit the quarantine's state, or `expected_version` is stale."),
    "413": error("The body is larger than the configured limit."),
    "415": error("A body that is not JSON."),
    "429": RATE_LIMITED,
}

TEST_ROW = {
    "test_case_id": INT,
    "name": STR,
    "file": NSTR,
    "state": {"type": "string", "enum": list(STATES)},
    "verdict": STR,
    "score": NUM,
    "low": NUM,
    "high": NUM,
    "interval": {"type": "array", "items": NUM, "minItems": 2, "maxItems": 2},
    "reason": STR,
    "since": NTIME,
    "first_seen": TIME,
    "last_seen": TIME,
    "quarantine_id": NINT,
    "quarantine_state": NSTR,
    "quarantine_version": NINT,
    "quarantined_at": NTIME,
    "assignee_slack": NSTR,
    "assignee_github": NSTR,
    "issue_url": NSTR,
    "first_failing_sha": NSTR,
    "first_failing_url": NSTR,
    "url": STR,
}

SCHEMAS: dict[str, Any] = {
    "DayPoint": obj(
        day={"type": "string", "format": "date"},
        runs=INT,
        red_runs=INT,
        seconds_lost=NUM,
        flake_rate=NUM,
    ),
    "Counts": obj(tests=INT, flaky=INT, broken=INT, quarantined=INT, healthy=INT, proposed=INT),
    "WeekChanges": obj(newly_flaky=INT, newly_broken=INT, fixed=INT, quarantined=INT),
    "RepoSummary": obj(
        id=INT,
        full_name=STR,
        owner=STR,
        name=STR,
        default_branch=STR,
        counts=ref("Counts"),
        week=ref("WeekChanges"),
        series=array("DayPoint"),
        runs=INT,
        flake_rate=NUM,
        seconds_lost=NUM,
    ),
    "Change": obj(
        kind={"type": "string", "enum": ["flaky", "broken", "fixed", "quarantined"]},
        test_case_id=INT,
        repository=STR,
        name=STR,
        at=TIME,
    ),
    "RepoList": obj(
        repos=array("RepoSummary"),
        changes=array("Change"),
        window_start={"type": "string", "format": "date"},
    ),
    "Storm": obj(run_id=INT, sha=STR, failed=INT, total=INT, at=TIME, run_url=NSTR),
    "RepoDetail": obj(repo=ref("RepoSummary"), changes=array("Change"), storms=array("Storm")),
    "TestRow": obj(**TEST_ROW),
    "TestPage": obj(
        repo=STR,
        state=NSTR,
        q=STR,
        sort=STR,
        limit=INT,
        tests=array("TestRow"),
        next_cursor=NSTR,
    ),
    "RunOutcome": obj(
        run_id=INT,
        sha=STR,
        branch=STR,
        job=STR,
        at=TIME,
        outcome={"type": "string", "enum": ["passed", "failed", "passed_on_retry", "skipped"]},
        attempts=INT,
        duration=NUM,
        run_url=NSTR,
        commit_url=STR,
    ),
    "FailureGroup": obj(
        message=STR,
        failure_type=NSTR,
        count=INT,
        first_at=TIME,
        last_at=TIME,
        last_run_id=INT,
        sample=STR,
    ),
    "Durations": obj(count=INT, median=NUM, p95=NUM, max=NUM),
    "TimelineEntry": obj(
        at=TIME, action=STR, actor=STR, source=STR, from_state=NSTR, to_state=NSTR, reason=STR
    ),
    "VerdictChange": obj(at=TIME, kind=STR, score=NNUM, low=NNUM, high=NNUM, reason=STR),
    "SlackLink": obj(team_id=STR, channel=STR, ts=STR, kind=STR, url=STR),
    "TestDetail": obj(
        **TEST_ROW,
        repository=STR,
        key=STR,
        classname=STR,
        line=NINT,
        evidence={"type": "object"},
        history=array("RunOutcome"),
        failures=array("FailureGroup"),
        failures_read=INT,
        durations=ref("Durations"),
        timeline=array("TimelineEntry"),
        verdicts=array("VerdictChange"),
        slack=array("SlackLink"),
    ),
    "QuarantineRow": obj(
        id=INT,
        test_case_id=INT,
        name=STR,
        state={"type": "string", "enum": list(QUARANTINE_STATES)},
        version=INT,
        reason=STR,
        proposed_at=TIME,
        quarantined_at=NTIME,
        quarantined_by=NSTR,
        assignee_slack=NSTR,
        assignee_github=NSTR,
        issue_url=NSTR,
        updated_at=TIME,
    ),
    "QuarantinePage": obj(
        repo=STR, state=NSTR, limit=INT, quarantines=array("QuarantineRow"), next_cursor=NSTR
    ),
    "Quarantine": obj(
        id=INT,
        test_case_id=INT,
        state=STR,
        version=INT,
        reason=STR,
        quarantined_at=NTIME,
        quarantined_by=NSTR,
        assignee_slack=NSTR,
        assignee_github=NSTR,
        issue_url=NSTR,
    ),
    "ActionResult": obj(quarantine=ref("Quarantine"), changed=BOOL),
    "ActionBody": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "expected_version": {
                "type": "integer",
                "minimum": 0,
                "description": "The version you read; a different current one is refused (409).",
            },
            "reason": {"type": "string", "maxLength": 500},
            "assignee_slack": {
                "type": "string",
                "pattern": "^[UW][A-Z0-9]{2,30}$",
                "description": "assign: the Slack user id to assign.",
            },
        },
    },
}


REPO = [
    path_param("owner", "The repository's owner."),
    path_param("repo", "The repository's name."),
]
CURSOR = query_param("cursor", "`next_cursor` of the previous page.", type="string")
LIMIT = query_param("limit", f"Page size, 1 to {PAGE_MAX} (default 50).", type="integer")


def _get(operation_id: str, summary: str, params: list[Any], schema: str) -> dict[str, Any]:
    responses = {"200": response(summary, schema), **READ_ERRORS}
    return get(operation_id, summary, responses, security=SECURITY, parameters=params)


PATHS: dict[str, Any] = {
    "/api/v1/repos": _get(
        "listRepos",
        "The tenant's repositories: counts by state, the week's changes, 30 days of series.",
        [],
        "RepoList",
    ),
    "/api/v1/repos/{owner}/{repo}": _get(
        "getRepo",
        "One repository: its summary, the week's changes, recent infrastructure storms.",
        REPO,
        "RepoDetail",
    ),
    "/api/v1/repos/{owner}/{repo}/tests": _get(
        "listTests",
        "A page of a repository's tests, filtered, searched and sorted.",
        [
            *REPO,
            query_param("state", "Only tests in this state.", type="string", enum=list(STATES)),
            query_param("q", "Part of the test's name (case-insensitive).", type="string"),
            query_param(
                "sort",
                "score (highest first, default), name, since (newest state first), "
                "last_seen (most recent first).",
                type="string",
                enum=list(SORTS),
            ),
            CURSOR,
            LIMIT,
        ],
        "TestPage",
    ),
    "/api/v1/tests/{test_id}": _get(
        "getTest",
        "One test: verdict, reason, history per run, failures grouped, quarantine timeline.",
        [path_param("test_id", "The test's id (`test_case_id`).", type="integer")],
        "TestDetail",
    ),
    "/api/v1/repos/{owner}/{repo}/quarantines": _get(
        "listQuarantines",
        "A page of a repository's quarantines, newest first, each with its version.",
        [
            *REPO,
            query_param(
                "state",
                "Only quarantines in this state.",
                type="string",
                enum=list(QUARANTINE_STATES),
            ),
            CURSOR,
            LIMIT,
        ],
        "QuarantinePage",
    ),
    "/api/v1/quarantines/{quarantine_id}/{action}": {
        "post": {
            "operationId": "actOnQuarantine",
            "summary": "Approve, assign, undo or dismiss a quarantine (a token that may act).",
            "description": (
                "The same use case as a Slack button (audit source `api`). Send "
                "`expected_version` to have a stale action refused (409 `stale_version`), and "
                "`Idempotency-Key` to make a retry harmless (`changed: false`)."
            ),
            "security": SECURITY,
            "parameters": [
                path_param("quarantine_id", "The quarantine's id.", type="integer"),
                path_param(
                    "action",
                    "What to do.",
                    type="string",
                    enum=["approve", "assign", "undo", "dismiss"],
                ),
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "description": "Printable characters, no spaces, at most 100.",
                    "schema": {"type": "string", "pattern": "^[\\x21-\\x7e]{1,100}$"},
                },
            ],
            "requestBody": {
                "required": False,
                "content": json_of("ActionBody"),
            },
            "responses": {
                "200": response(
                    "The quarantine now, and whether this call changed it.", "ActionResult"
                ),
                **ACT_ERRORS,
            },
        }
    },
}
