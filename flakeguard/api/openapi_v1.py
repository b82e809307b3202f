"""The OpenAPI paths and schemas of the read API and quarantine actions (``flakeguard/api/v1.py``).

``flakeguard/api/openapi.py`` merges them into ``/api/openapi.json``.
"""

from __future__ import annotations

from typing import Any

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


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _err(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref("Error")}}}


def _ok(description: str, schema: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}


RATE_LIMITED = {
    "description": "Rate limited (per client IP, per token, failed authentications per IP).",
    "headers": {
        "Retry-After": {
            "description": "Seconds to wait before retrying.",
            "schema": {"type": "integer", "minimum": 1},
        }
    },
    "content": {"application/json": {"schema": _ref("Error")}},
}
READ_ERRORS = {
    "400": _err("A bad state, sort, limit, cursor or search."),
    "401": _err("Missing, invalid or revoked API token."),
    "404": _err("Unknown repository or test (another tenant's is unknown too)."),
    "429": RATE_LIMITED,
}
ACT_ERRORS = {
    "400": _err("A malformed body, header or assignee."),
    "401": _err("Missing, invalid or revoked API token."),
    "403": _err("A read-only API token."),
    "404": _err("Unknown quarantine or action (another tenant's quarantine is unknown too)."),
    "409": _err("The action does not fit the quarantine's state, or `expected_version` is stale."),
    "413": _err("The body is larger than the configured limit."),
    "415": _err("A body that is not JSON."),
    "429": RATE_LIMITED,
}

STR = {"type": "string"}
INT = {"type": "integer"}
NUM = {"type": "number"}
TIME = {"type": "string", "format": "date-time"}
NSTR = {"type": ["string", "null"]}
NINT = {"type": ["integer", "null"]}
NTIME = {"type": ["string", "null"], "format": "date-time"}
NNUM = {"type": ["number", "null"]}


def _object(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": sorted(properties), "properties": properties}


def _array(schema: str) -> dict[str, Any]:
    return {"type": "array", "items": _ref(schema)}


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
    "DayPoint": _object(
        day={"type": "string", "format": "date"},
        runs=INT,
        red_runs=INT,
        seconds_lost=NUM,
        flake_rate=NUM,
    ),
    "Counts": _object(tests=INT, flaky=INT, broken=INT, quarantined=INT, healthy=INT, proposed=INT),
    "WeekChanges": _object(newly_flaky=INT, newly_broken=INT, fixed=INT, quarantined=INT),
    "RepoSummary": _object(
        id=INT,
        full_name=STR,
        owner=STR,
        name=STR,
        default_branch=STR,
        counts=_ref("Counts"),
        week=_ref("WeekChanges"),
        series=_array("DayPoint"),
        runs=INT,
        flake_rate=NUM,
        seconds_lost=NUM,
    ),
    "Change": _object(
        kind={"type": "string", "enum": ["flaky", "broken", "fixed", "quarantined"]},
        test_case_id=INT,
        repository=STR,
        name=STR,
        at=TIME,
    ),
    "RepoList": _object(
        repos=_array("RepoSummary"),
        changes=_array("Change"),
        window_start={"type": "string", "format": "date"},
    ),
    "Storm": _object(run_id=INT, sha=STR, failed=INT, total=INT, at=TIME, run_url=NSTR),
    "RepoDetail": _object(
        repo=_ref("RepoSummary"), changes=_array("Change"), storms=_array("Storm")
    ),
    "TestRow": _object(**TEST_ROW),
    "TestPage": _object(
        repo=STR,
        state=NSTR,
        q=STR,
        sort=STR,
        limit=INT,
        tests=_array("TestRow"),
        next_cursor=NSTR,
    ),
    "RunOutcome": _object(
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
    "FailureGroup": _object(
        message=STR,
        failure_type=NSTR,
        count=INT,
        first_at=TIME,
        last_at=TIME,
        last_run_id=INT,
        sample=STR,
    ),
    "Durations": _object(count=INT, median=NUM, p95=NUM, max=NUM),
    "TimelineEntry": _object(
        at=TIME, action=STR, actor=STR, source=STR, from_state=NSTR, to_state=NSTR, reason=STR
    ),
    "VerdictChange": _object(at=TIME, kind=STR, score=NNUM, low=NNUM, high=NNUM, reason=STR),
    "SlackLink": _object(team_id=STR, channel=STR, ts=STR, kind=STR, url=STR),
    "TestDetail": _object(
        **TEST_ROW,
        repository=STR,
        key=STR,
        classname=STR,
        line=NINT,
        evidence={"type": "object"},
        history=_array("RunOutcome"),
        failures=_array("FailureGroup"),
        failures_read=INT,
        durations=_ref("Durations"),
        timeline=_array("TimelineEntry"),
        verdicts=_array("VerdictChange"),
        slack=_array("SlackLink"),
    ),
    "QuarantineRow": _object(
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
    "QuarantinePage": _object(
        repo=STR, state=NSTR, limit=INT, quarantines=_array("QuarantineRow"), next_cursor=NSTR
    ),
    "Quarantine": _object(
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
    "ActionResult": _object(quarantine=_ref("Quarantine"), changed={"type": "boolean"}),
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


def _path(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": schema or STR,
    }


def _query(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


REPO = [_path("owner", "The repository's owner."), _path("repo", "The repository's name.")]
CURSOR = _query("cursor", "`next_cursor` of the previous page.", type="string")
LIMIT = _query("limit", f"Page size, 1 to {PAGE_MAX} (default 50).", type="integer")


def _get(operation_id: str, summary: str, params: list[Any], schema: str) -> dict[str, Any]:
    return {
        "get": {
            "operationId": operation_id,
            "summary": summary,
            "security": SECURITY,
            "parameters": params,
            "responses": {"200": _ok(summary, schema), **READ_ERRORS},
        }
    }


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
            _query("state", "Only tests in this state.", type="string", enum=list(STATES)),
            _query("q", "Part of the test's name (case-insensitive).", type="string"),
            _query(
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
        [_path("test_id", "The test's id (`test_case_id`).", type="integer")],
        "TestDetail",
    ),
    "/api/v1/repos/{owner}/{repo}/quarantines": _get(
        "listQuarantines",
        "A page of a repository's quarantines, newest first, each with its version.",
        [
            *REPO,
            _query(
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
                _path("quarantine_id", "The quarantine's id.", type="integer"),
                _path(
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
                "content": {"application/json": {"schema": _ref("ActionBody")}},
            },
            "responses": {
                "200": _ok("The quarantine now, and whether this call changed it.", "ActionResult"),
                **ACT_ERRORS,
            },
        }
    },
}
