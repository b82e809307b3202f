"""The dashboard's pages: overview, repository, test; and the quarantine actions.

A view is as thin as a Slack listener: read the arguments, call one use case
(``usecases.catalog`` to read, ``usecases.quarantine.perform`` to act) with the
signed-in person's tenant, render. An action is a POST with the CSRF token and
the quarantine version the page showed; it redirects back (post/redirect/get)
with a flash message saying what happened or why nothing did.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import abort, flash, redirect, render_template, request, url_for
from markupsafe import Markup, escape

from flakeguard.errors import BadRequestError, FlakeGuardError, NotConfiguredError
from flakeguard.usecases import catalog, person_policy
from flakeguard.usecases import quarantine as quarantine_uc
from flakeguard.usecases.cursor import MAX_ID
from flakeguard.usecases.policy import GUARDED
from flakeguard.usecases.repos import check_repo_name
from flakeguard.web import charts
from flakeguard.web import sign_in as _sign_in  # noqa: F401 - registers the sign-in routes
from flakeguard.web import tokens as _tokens  # noqa: F401 - registers the API tokens page
from flakeguard.web.blueprint import person, settings, signed_in_only, web

__all__ = ["web"]

ACTIONS = ("approve", "assign", "undo", "dismiss")
# What the buttons say, and what the flash says after each action.
DONE = {
    "approve": "Quarantined",
    "assign": "Assigned",
    "undo": "Quarantine undone",
    "dismiss": "Dismissed",
}
STALE = (
    "Nothing changed: this page was out of date (someone acted on this quarantine since it "
    "was loaded). It now shows the current state; try again if you still want to."
)
OUTCOME_SYMBOL = {"passed": "✓", "failed": "✗", "passed_on_retry": "↻", "skipped": "–"}
OUTCOME_WORDS = {
    "passed": "passed",
    "failed": "failed",
    "passed_on_retry": "passed on retry",
    "skipped": "skipped",
}
OUTCOME_CSS = {
    "passed": "passed",
    "failed": "failed",
    "passed_on_retry": "retried",
    "skipped": "skipped",
}


@web.app_template_global()
def offered_actions(quarantine_state: str | None, state: str) -> tuple[str, ...]:
    """The actions a test's row offers, given its quarantine state and its own state."""
    if quarantine_state == "proposed":
        return ("approve", "dismiss", "assign")
    if quarantine_state == "quarantined":
        return ("undo", "assign")
    if state in ("flaky", "broken"):
        return ("approve",)
    return ()


@web.app_template_filter("when")
def when(value: Any) -> str:
    """A timestamp as "2026-12-01 14:05 UTC"."""
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "–"


@web.app_template_filter("breakable")
def breakable(value: str) -> Markup:
    """A test name that may wrap after its dots and underscores (escaped, then <wbr>)."""
    text = str(escape(value))
    return Markup(text.replace(".", ".<wbr>").replace("_", "_<wbr>"))


@web.app_template_filter("day")
def day(value: Any) -> str:
    return value.strftime("%Y-%m-%d") if value else "–"


@web.app_template_filter("pct")
def pct(value: float | None) -> str:
    return charts.percent(value or 0.0)


@web.app_template_filter("seconds")
def seconds(value: float | None) -> str:
    return charts.duration(value or 0.0)


def overview() -> Any:
    """The tenant's repositories at a glance (shown at / to a signed-in person)."""
    found = catalog.overview(tenant_id=person().tenant_id)
    sparks = {
        repo.id: (
            charts.sparkline(
                [p.red_runs / p.runs if p.runs else 0.0 for p in repo.series],
                label=f"Flake rate per day over {catalog.WINDOW_DAYS} days, "
                f"{charts.percent(repo.flake_rate)} overall",
                top=1.0,
            ),
            charts.sparkline(
                [p.seconds_lost for p in repo.series],
                label=f"CI time lost per day over {catalog.WINDOW_DAYS} days, "
                f"{charts.duration(repo.seconds_lost)} in all",
                css="lost",
            ),
        )
        for repo in found.repos
    }
    return render_template("overview.html", title="Overview", overview=found, sparks=sparks)


@web.get("/repos/<owner>/<name>")
@signed_in_only
def repository(owner: str, name: str) -> Any:
    """One repository: its summary, storms, and its tests filtered, searched, sorted, paged."""
    tenant_id = person().tenant_id
    try:
        full_name = check_repo_name(f"{owner}/{name}")
    except BadRequestError:
        abort(404)  # a name no repository can have is unknown, like another tenant's
    state = request.args.get("state", "flaky")
    sort = request.args.get("sort", "score")
    query = request.args.get("q", "")
    cursor = request.args.get("cursor") or None
    detail = catalog.repository_detail(full_name, tenant_id=tenant_id)
    page = catalog.list_tests(
        full_name,
        tenant_id=tenant_id,
        state=state or None,
        query=query,
        sort=sort,
        cursor=cursor,
        limit=catalog.PAGE_DEFAULT,
    )
    return render_template(
        "repository.html",
        title=full_name,
        detail=detail,
        page=page,
        state=state,
        sort=sort,
        query=query,
        cursor=cursor,
        owner=owner,
        name=name,
        states=catalog.STATES,
        sorts=catalog.SORTS,
    )


@web.get("/tests/<int:test_id>")
@signed_in_only
def test_page(test_id: int) -> Any:
    """One test in full: history strip, reason, score over time, failures, quarantine story."""
    if test_id > MAX_ID:
        abort(404)
    view = catalog.test_view(test_id, tenant_id=person().tenant_id)
    score = charts.score_chart(
        [(when(v.at), v.score) for v in view.verdicts if v.score is not None],
        label="The score at each change of verdict, from 0 to 100 %",
    )
    strip = [
        {
            "css": OUTCOME_CSS.get(run.outcome, "skipped"),
            "symbol": OUTCOME_SYMBOL.get(run.outcome, "?"),
            "words": f"{OUTCOME_WORDS.get(run.outcome, run.outcome)}, commit {run.sha[:7]}, "
            f"{when(run.at)}" + (f", {run.attempts} attempts" if run.attempts > 1 else ""),
            "url": run.run_url or run.commit_url,
        }
        for run in view.history
    ]
    counts = {key: sum(1 for run in view.history if run.outcome == key) for key in OUTCOME_WORDS}
    return render_template(
        "test.html",
        title=view.row.name,
        view=view,
        row=view.row,
        strip=strip,
        counts=counts,
        words=OUTCOME_WORDS,
        symbols=OUTCOME_SYMBOL,
        css=OUTCOME_CSS,
        score=score,
    )


@web.post("/tests/<int:test_id>/actions")
@signed_in_only
def act(test_id: int) -> Any:
    """Approve, assign, undo or dismiss through the one quarantine use case, then go back."""
    who = person()
    if test_id > MAX_ID:
        abort(404)
    action = request.form.get("action", "")
    back = _safe_next(request.form.get("next")) or url_for("web.test_page", test_id=test_id)
    if action not in ACTIONS:
        abort(400)
    try:
        version = int(request.form.get("version", ""))
    except ValueError:
        abort(400)
    assignee = request.form.get("assignee", "").strip() or None
    if action == "assign" and assignee is None:
        flash("Nothing changed: say whom to assign (a Slack user id such as U012ABCDEF).", "error")
        return redirect(back, 303)
    try:
        if action in GUARDED:
            person_policy.check_user(who.tenant_id, who, members_for=_members_of)
        outcome = quarantine_uc.perform(
            test_id,
            action,
            tenant_id=who.tenant_id,
            actor=who.actor,
            source="web",
            assignee_slack=assignee,
            idempotency_key=f"web:{who.user_id}:{test_id}:v{version}:{action}",
            expected_version=version,
        )
    except quarantine_uc.StaleVersionError:
        flash(STALE, "error")
        return redirect(back, 303)
    except FlakeGuardError as exc:
        if exc.status == 404:
            raise
        flash(f"Nothing changed: {exc.message}", "error")
        return redirect(back, 303)
    state = outcome.quarantine.state
    if outcome.changed:
        flash(f"{DONE[action]}: the quarantine is now {state}.", "success")
    else:
        flash(f"Nothing to do: the quarantine was already {state}.", "success")
    return redirect(back, 303)


def _members_of(team_id: str) -> Any:
    """User-group membership from the person's Slack workspace (its policy may name a group)."""
    if not team_id:
        return None
    from bot.client import client_for_team
    from bot.listeners import members_lookup

    try:
        return members_lookup(client_for_team(settings(), team_id))
    except NotConfiguredError:
        return None


def _safe_next(value: str | None) -> str | None:
    """A path on this site to go back to; anything else (another host, a scheme) is dropped."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return None
    parts = urlsplit(value)
    return value if not parts.scheme and not parts.netloc else None
