"""Scoring scenarios: short histories with fixed flakes, one-cause clusters, new and renamed tests.

    python bench/scoring_scenarios.py [--seed N | --seeds 1-10] [--baseline DIR] [--json]
    python bench/scoring_scenarios.py --recovery-sweep 1-10

Each scenario generates a seeded CI history with ground truth and folds it
run by run (``apply_run``, as the app does), judging the tests it tracks after
each run, then every test at the end (``verdict_from_state``). Printed per
scenario: precision, recall (over flakes that failed on good code at least
once; one that never did cannot be seen), F1, broken tests recommended for
quarantine (brkQ), recovery delay of fixed flakes (runs and days from the fix
to the first verdict that is not flaky; "never" when still flaky at the end;
10%: the same for the flakes of 7-14%), false recoveries (flakes still active
whose verdict left flaky while they were: recovered or healthy) and, for the
cluster scenario, cluster purity (share of a run's failures clustered with
failures of the same cause) and clusters per cause (1.0: each cause one
cluster; more: split by noise). The engine without ``engine.signatures``
(the previous one) is scored with failures grouped by their raw first line.

``--seeds 1-10`` scores every scenario on each seed and prints, per scenario,
the lowest and the mean precision, the mean F1, broken tests recommended for
quarantine, the recovery delays (the median over seeds of each seed's median)
and the worst false-recovery share of one seed, with all of them pooled.

``--baseline DIR`` also runs this file with ``DIR`` (another checkout, e.g.
``git worktree add /tmp/detect-base 7463cc1``) first on the import path, so
its engine is scored on the same histories, and prints both side by side.
This file imports only the engine, so it runs against an older one.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import subprocess
import sys
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import engine.scoring
from engine.scoring import Result, Run, TestState, apply_run, verdict_from_state

try:
    import engine.signatures
    from engine.signatures import signature

    # Only the signatures of the engine under test (an editable install can
    # lend another checkout's module to an engine that has none).
    if Path(engine.signatures.__file__).parent != Path(engine.scoring.__file__).parent.parent:
        signature = None  # type: ignore[assignment]
except ImportError:  # the previous engine: no signatures
    signature = None  # type: ignore[assignment]

try:
    import engine.scoring.family
    from engine.scoring.family import family_key, family_priors

    if Path(engine.scoring.family.__file__).parent != Path(engine.scoring.__file__).parent:
        family_priors = None  # type: ignore[assignment]
except ImportError:  # an engine without family priors for new tests
    family_priors = None  # type: ignore[assignment]

NOW = datetime(2026, 3, 1, tzinfo=UTC)
DAY = 86400.0


@dataclass
class Spec:
    key: str
    kind: str
    rate: float = 0.0
    active: tuple[float, float] = (-math.inf, math.inf)
    born: float = -math.inf
    dies: float = math.inf
    broken: tuple[int, int] | None = None  # [from, to) main commits
    cluster: int = -1
    cause: int = -1  # index into the causes of its failures on good code
    good_failures: list[float] = field(default_factory=list)


@dataclass
class Scenario:
    name: str
    runs: list[Run]
    specs: dict[str, Spec]
    main_head: int
    messages: dict[tuple[str, str], tuple[str, str, str]]  # (run, test) -> message, type, trace
    causes: dict[tuple[str, str], int]  # (run, test) -> true cause of that failure


# Failure causes: (failure type, message template, trace template); {n}, {f},
# {u}, {tmp}, {t} vary between failures, {test} names the test.
CAUSES: list[tuple[str, str, str]] = [
    (
        "ConnectionResetError",
        "ConnectionResetError: [Errno 104] Connection reset by peer",
        'Traceback (most recent call last):\n  File "/home/ci/{tmp}/app/tests/test_{test}.py",'
        " line {n}, in test_{test}\n    cache.get(key)\n  File "
        '"/home/ci/{tmp}/app/app/cache.py", line {n}, in get\n    return self.client.get(key)\n'
        '  File "/home/ci/.venv/lib/python3.11/site-packages/redis/connection.py", line 512, in'
        " read_response\n    raise ConnectionResetError\nConnectionResetError: [Errno 104]"
        " Connection reset by peer",
    ),
    ("TimeoutError", "TimeoutError: waited {f}s for #checkout (poll {n})", ""),
    (
        "psycopg.OperationalError",
        "OperationalError: connection to server at 10.0.{n}.{n} port 5432 failed: timeout"
        " expired at {t}",
        "",
    ),
    (
        "OSError",
        "OSError: [Errno 28] No space left on device: '/tmp/pytest-of-ci/pytest-{n}/x'",
        "",
    ),
    ("RuntimeError", "RuntimeError: event loop is closed (task {u})", ""),
]
STORM_CAUSE = 3  # an outage: the disk is full for every test of the run


def _per_test_cause(test: str) -> tuple[str, str, str]:
    return (
        "AssertionError",
        f"AssertionError: {test}: expected {{n}} items, got {{n}} at {{t}} (obj at 0x{{n}}f)",
        "",
    )


def _message(cause: tuple[str, str, str], test: str, rng: random.Random) -> tuple[str, str, str]:
    def fill(text: str) -> str:
        return text.format(
            n=rng.randrange(1, 9999),
            f=f"{rng.uniform(1, 60):.2f}",
            u=uuid.UUID(int=rng.getrandbits(128)),
            tmp=f"work{rng.randrange(100)}",
            t=(NOW - timedelta(seconds=rng.randrange(10**6))).isoformat(),
            test=test,
        )

    return cause[0], fill(cause[1]), fill(cause[2])


def _loguniform(rng: random.Random, lo: float, hi: float) -> float:
    return math.exp(rng.uniform(math.log(lo), math.log(hi)))


def _sometimes_flaky(rng: random.Random, share: float) -> float:
    """A failure rate between 3% and 30% for ``share`` of the tests, else 0."""
    return _loguniform(rng, 0.03, 0.3) if rng.random() < share else 0.0


def _renamed(rng: random.Random, s: Spec, when: float, new_key: str, **spec: Any) -> Spec:
    """``s`` ends at ``when``; the test it is renamed to (``new_key``), born then, with its rate."""
    s.dies = when
    s.rate = _sometimes_flaky(rng, 0.5)
    return Spec(new_key, "renamed_new", rate=s.rate, born=when, **spec)


def simulate(
    name: str,
    seed: int,
    specs: list[Spec],
    *,
    days: float,
    per_day: int,
    clusters: list[tuple[float, list[str], int]] = (),  # type: ignore[assignment]
    storms: float = 0.0,
    retry_share: float = 0.6,
) -> Scenario:
    """Run every test in every run (main 40%, branches 60%), with retries in 60% of runs."""
    rng = random.Random(seed * 7919 + len(name))
    t0 = NOW.timestamp() - days * DAY
    n_runs = int(days * per_day)
    times = sorted(rng.uniform(t0, NOW.timestamp()) for _ in range(n_runs))
    member_of = {key: c for c, (_rate, keys, _cause) in enumerate(clusters) for key in keys}
    main_head = 0
    branch_heads: dict[int, int] = defaultdict(int)
    runs: list[Run] = []
    messages: dict[tuple[str, str], tuple[str, str, str]] = {}
    causes: dict[tuple[str, str], int] = {}
    for i, t in enumerate(times):
        main = rng.random() < 0.4
        if main:
            main_head += rng.random() < 0.6
            sha, branch = f"m{main_head}", "main"
        else:
            b = rng.randrange(12)
            branch_heads[b] += rng.random() < 0.5
            sha, branch = f"b{b}-{branch_heads[b]}", f"feature-{b}"
        retries = rng.random() < retry_share
        storm = rng.uniform(0.3, 1.0) if rng.random() < storms else 0.0
        events = [rng.random() < rate for rate, _keys, _cause in clusters]
        run_id = f"{name}-{i}"
        results: list[Result] = []
        for s in specs:
            if not s.born <= t < s.dies:
                continue
            broken = main and s.broken is not None and s.broken[0] <= main_head < s.broken[1]
            rate = s.rate if s.active[0] <= t < s.active[1] else 0.0
            c = member_of.get(s.key, -1)
            cause = s.cause
            if c >= 0 and events[c]:
                rate, cause = 0.8, clusters[c][2]
            fail = broken or rng.random() < storm or rng.random() < rate
            if not fail:
                results.append(Result(s.key, "passed"))
                continue
            true_cause = STORM_CAUSE if storm and not broken else cause
            if broken:
                true_cause = -2  # a breakage: its own message
            if not broken and not storm:
                s.good_failures.append(t)
            text = CAUSES[true_cause] if true_cause >= 0 else _per_test_cause(s.key)
            messages[(run_id, s.key)] = _message(text, s.key, rng)
            causes[(run_id, s.key)] = true_cause if true_cause >= 0 else hash(s.key) % 10**6 + 100
            results.append(Result(s.key, "failed"))
            if retries:
                for k in (1, 2):
                    again = broken or rng.random() < storm or rng.random() < rate
                    results.append(Result(s.key, "failed" if again else "passed", retry=k))
                    if not again:
                        break
        at = datetime.fromtimestamp(t, tz=UTC)
        runs.append(Run(run_id, sha, branch, main, at, tuple(results)))
    return Scenario(name, runs, {s.key: s for s in specs}, main_head, messages, causes)


# --------------------------------------------------------------------------- scenarios


def short_fixed(seed: int) -> Scenario:
    """14 days at 40 runs a day: flakes, flakes fixed on days 2-6, breakages, new, renamed."""
    rng = random.Random(seed)
    t0 = NOW.timestamp() - 14 * DAY
    specs = []
    for i in range(400):
        kind = rng.choices(
            ["stable", "flaky", "fixed", "fixed10", "broken", "new", "renamed"],
            [62, 12, 10, 4, 4, 4, 4],
        )[0]
        s = Spec(f"t{i}", kind, cause=rng.randrange(-1, 3))
        if kind in ("flaky", "fixed"):
            s.rate = _loguniform(rng, 0.01 if kind == "flaky" else 0.03, 0.30)
        if kind == "fixed10":
            s.rate = rng.uniform(0.08, 0.12)
        if kind in ("fixed", "fixed10"):
            s.active = (-math.inf, t0 + rng.uniform(2, 6) * DAY)
        elif kind == "broken":
            start = rng.randint(20, 200)
            s.broken = (start, start + rng.randint(2, 10) if rng.random() < 0.6 else 10**9)
        elif kind == "new":
            s.born = t0 + rng.uniform(4, 10) * DAY
            s.rate = _sometimes_flaky(rng, 0.5)
        elif kind == "renamed":
            when = t0 + rng.uniform(3, 10) * DAY
            specs.append(_renamed(rng, s, when, s.key + "_v2", cause=s.cause))
        specs.append(s)
    return simulate("short-14d-fixed", seed, specs, days=14, per_day=40)


def one_cause_clusters(seed: int) -> Scenario:
    """14 days at 40 runs a day: clusters of 3-8 tests failing together for one cause, outages."""
    rng = random.Random(seed + 1)
    specs = []
    for i in range(400):
        s = Spec(f"c{i}", "stable", cause=-1)
        if rng.random() < 0.1:
            s.kind, s.rate, s.cause = "flaky", _loguniform(rng, 0.02, 0.3), rng.randrange(-1, 3)
        specs.append(s)
    stable = [s for s in specs if s.kind == "stable"]
    rng.shuffle(stable)
    clusters = []
    at = 0
    for c in range(8):
        members = stable[at : at + rng.randint(3, 8)]
        at += len(members)
        for s in members:
            s.kind = "cluster"
        clusters.append((rng.uniform(0.02, 0.08), [s.key for s in members], c % 3))
    scenario = simulate(
        "clusters-one-cause", seed, specs, days=14, per_day=40, clusters=clusters, storms=0.01
    )
    for s in scenario.specs.values():
        if s.kind == "cluster":
            s.rate = 0.8 * next(rate for rate, keys, _ in clusters if s.key in keys)
    return scenario


def new_and_renamed(seed: int, *, retry_share: float = 0.6) -> Scenario:
    """10 days at 30 runs a day: a third of the tests are new or renamed mid-history."""
    rng = random.Random(seed + 2)
    t0 = NOW.timestamp() - 10 * DAY
    specs = []
    for i in range(400):
        kind = rng.choices(["stable", "flaky", "new", "renamed"], [55, 10, 20, 15])[0]
        s = Spec(f"n{i}", kind, cause=rng.randrange(-1, 3))
        if kind == "flaky":
            s.rate = _loguniform(rng, 0.02, 0.3)
        elif kind == "new":
            s.born = t0 + rng.uniform(2, 8) * DAY
            s.rate = _sometimes_flaky(rng, 0.4)
        elif kind == "renamed":
            when = t0 + rng.uniform(2, 7) * DAY
            specs.append(_renamed(rng, s, when, s.key + "[param-v2]"))
        specs.append(s)
    name = "new-and-renamed" if retry_share else "new-renamed-no-retries"
    return simulate(name, seed, specs, days=10, per_day=30, retry_share=retry_share)


def new_and_renamed_without_retries(seed: int) -> Scenario:
    """The same, in a CI that never retries: no failure is a same-commit conflict at once."""
    return new_and_renamed(seed, retry_share=0.0)


SCENARIOS: dict[str, Callable[[int], Scenario]] = {
    "short-14d-fixed": short_fixed,
    "clusters-one-cause": one_cause_clusters,
    "new-and-renamed": new_and_renamed,
    "new-renamed-no-retries": new_and_renamed_without_retries,
}


# --------------------------------------------------------------------------- scoring


def evaluate(sc: Scenario, config: Any = None) -> dict[str, Any]:
    """Fold the scenario run by run; return its figures."""
    extra = {} if config is None else {"config": config}
    t_end = NOW.timestamp()
    states: dict[str, TestState] = {}
    fixed_at = {k: s.active[1] for k, s in sc.specs.items() if s.active[1] < t_end and s.rate > 0}
    flagged_before: set[str] = set()
    recovered_after: dict[str, tuple[int, float]] = {}  # key -> (runs, days) from fix
    runs_since_fix: dict[str, int] = defaultdict(int)
    false_recovered: set[str] = set()
    ever_flagged: set[str] = set()
    members: dict[str, list[str]] = defaultdict(list)
    runs_seen: dict[str, int] = defaultdict(int)
    first_flag: dict[str, int] = {}  # new and renamed flakes: their runs until the first flag
    first_failure: dict[str, int] = {}  # ... and until their first failure on good code
    for run in sc.runs:
        keys = {r.test for r in run.results if r.status != "skipped"}
        if family_priors is None:
            apply_run(states, run, **extra)
        else:  # a new test starts from its family's rate (as the app does)
            new = [key for key in keys if key not in states]
            cfg = engine.scoring.DEFAULT_CONFIG if config is None else config
            apply_run(
                states, run, cfg, family_priors(states, members, new, run.at.timestamp(), cfg)
            )
            for key in new:
                members[family_key(key)].append(key)
        ts = run.at.timestamp()
        for key in keys:
            spec = sc.specs[key]
            runs_seen[key] += 1
            if key not in first_failure and (run.id, key) in sc.messages and spec.rate > 0:
                first_failure[key] = runs_seen[key]
            if spec.rate <= 0 and spec.cluster < 0 and spec.kind != "cluster":
                continue
            name = verdict_from_state(states[key], run.at, **extra).state
            if name == "flaky" and spec.kind in ("new", "renamed_new"):
                first_flag.setdefault(key, runs_seen[key])
            fix = fixed_at.get(key)
            if fix is not None and ts >= fix:
                runs_since_fix[key] += 1
                if key in flagged_before and key not in recovered_after and name != "flaky":
                    recovered_after[key] = (runs_since_fix[key], (ts - fix) / DAY)
            elif name == "flaky":
                flagged_before.add(key)
                ever_flagged.add(key)
            elif key in ever_flagged and name in ("healthy", "recovered"):
                false_recovered.add(key)
    # Truth at the end: the tests seen in the last 3 days.
    seen = {r.test for run in sc.runs if run.at.timestamp() >= t_end - 3 * DAY for r in run.results}
    flaky_truth: set[str] = set()
    detectable: set[str] = set()
    broken_truth: set[str] = set()
    judged: set[str] = set()
    for key in seen:
        s = sc.specs[key]
        judged.add(key)
        if s.broken is not None and s.broken[0] <= sc.main_head < s.broken[1]:
            broken_truth.add(key)
        elif s.rate > 0 and s.active[1] >= t_end:
            flaky_truth.add(key)
            if s.good_failures:
                detectable.add(key)
    verdicts = {k: verdict_from_state(states[k], NOW, **extra) for k in judged}
    flagged = {k for k, v in verdicts.items() if v.state == "flaky"}
    tp = len(flagged & flaky_truth)
    precision = tp / len(flagged) if flagged else 1.0
    recall = len(flagged & detectable) / len(detectable) if detectable else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    broken_q = sum(1 for k in broken_truth if verdicts[k].quarantine)
    fixed_tracked = [k for k in fixed_at if k in flagged_before]
    ten = [k for k in fixed_tracked if 0.07 <= sc.specs[k].rate <= 0.14]
    active_tracked = [k for k in ever_flagged if k in flaky_truth]
    done = [k for k in fixed_tracked if k in recovered_after]
    out: dict[str, Any] = {
        "flaky": len(flaky_truth),
        "detectable": len(detectable),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "broken_quarantined": broken_q,
        "broken": len(broken_truth),
        "fixed": len(fixed_tracked),
        "recovered": sum(1 for k in fixed_tracked if k in recovered_after),
        "recovery_runs": _median([recovered_after[k][0] for k in done]),
        "recovery_days": _median([recovered_after[k][1] for k in done]),
        "recovery_runs_10pct": _median([recovered_after[k][0] for k in ten if k in done]),
        "fixed_10pct": len(ten),
        "recovered_10pct": sum(1 for k in ten if k in recovered_after),
        "false_recovery": len(false_recovered & set(active_tracked)),
        "active_flagged": len(active_tracked),
    }
    for kind, name in (("new", "new"), ("renamed_new", "renamed")):
        flakes = [k for k in detectable if sc.specs[k].kind == kind]
        if flakes:
            out[f"{name}_flakes"] = len(flakes)
            out[f"{name}_flagged"] = sum(1 for k in flakes if k in first_flag)
            flagged = [k for k in flakes if k in first_flag]
            out[f"{name}_runs_to_flag"] = _median([first_flag[k] for k in flagged])
            out[f"{name}_failure_to_flag"] = _median(
                [first_flag[k] - first_failure.get(k, first_flag[k]) for k in flagged]
            )
    if sc.messages and any(s.kind == "cluster" for s in sc.specs.values()):
        out.update(_purity(sc))
    return out


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _key_of(message: str, failure_type: str, trace: str) -> str:
    if signature is None:
        return message.splitlines()[0] if message else ""
    return signature(message, failure_type, trace).key


def _purity(sc: Scenario) -> dict[str, Any]:
    """How well one run's failures group by cause: purity and clusters per cause."""
    by_run: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for (run_id, test), (failure_type, message, trace) in sc.messages.items():
        by_run[run_id].append((_key_of(message, failure_type, trace), sc.causes[(run_id, test)]))
    pure = total = clusters = causes = 0
    for failures in by_run.values():
        groups: dict[str, list[int]] = defaultdict(list)
        for key, cause in failures:
            groups[key].append(cause)
        for members in groups.values():
            pure += max(members.count(c) for c in set(members))
            total += len(members)
        clusters += len(groups)
        causes += len({cause for _key, cause in failures})
    return {"purity": pure / total if total else 1.0, "clusters_per_cause": clusters / causes}


def run_all(seed: int) -> dict[str, dict[str, Any]]:
    return {name: evaluate(make(seed)) for name, make in SCENARIOS.items()}


# --------------------------------------------------------------------------- report

ROWS = (
    ("precision", "precision", "{:.3f}"),
    ("recall", "recall (detectable)", "{:.3f}"),
    ("f1", "F1", "{:.3f}"),
    ("broken_quarantined", "broken recommended for quarantine", "{}"),
    ("recovered", "fixed flakes recovered (of fixed)", "{}"),
    ("recovery_runs", "recovery delay, median runs", "{:.0f}"),
    ("recovery_days", "recovery delay, median days", "{:.1f}"),
    ("recovery_runs_10pct", "recovery of 7-14% flakes, median runs", "{:.0f}"),
    ("false_recovery", "false recoveries (of active flagged)", "{}"),
    ("new_runs_to_flag", "new flaky tests: median runs to flag", "{:.0f}"),
    ("renamed_runs_to_flag", "renamed flaky tests: median runs to flag", "{:.0f}"),
    ("new_failure_to_flag", "... new: runs from first failure to flag", "{:.1f}"),
    ("renamed_failure_to_flag", "... renamed: runs from first failure to flag", "{:.1f}"),
    ("purity", "cluster purity", "{:.3f}"),
    ("clusters_per_cause", "clusters per cause", "{:.2f}"),
)


def _cell(figures: dict[str, Any], key: str, fmt: str) -> str:
    value = figures.get(key)
    if value is None:
        return "-"
    text = fmt.format(value)
    if key == "recovered":
        text += f"/{figures['fixed']}"
    elif key in ("new_runs_to_flag", "renamed_runs_to_flag"):
        kind = key.split("_")[0]
        text += f" ({figures[f'{kind}_flagged']}/{figures[f'{kind}_flakes']})"
    elif key == "false_recovery":
        share = value / figures["active_flagged"] if figures["active_flagged"] else 0.0
        text += f"/{figures['active_flagged']} ({share:.1%})"
    return text


def report(new: dict[str, dict[str, Any]], old: dict[str, dict[str, Any]] | None) -> str:
    lines = []
    for name, figures in new.items():
        lines.append(
            f"\n{name}: {figures['flaky']} flaky ({figures['detectable']} detectable), "
            f"{figures['broken']} broken, {figures['fixed']} fixed flakes flagged before their fix"
        )
        header = f"  {'':<40} {'this engine':>18}"
        if old is not None:
            header += f" {'previous engine':>18}"
        lines.append(header)
        for key, label, fmt in ROWS:
            if key not in figures and (old is None or key not in old.get(name, {})):
                continue
            row = f"  {label:<40} {_cell(figures, key, fmt):>18}"
            if old is not None:
                row += f" {_cell(old.get(name, {}), key, fmt):>18}"
            lines.append(row)
    mean_new = statistics.fmean(f["f1"] for f in new.values())
    summary = f"\nmean F1 over the scenarios: {mean_new:.3f}"
    if old is not None:
        summary += f" (previous engine {statistics.fmean(f['f1'] for f in old.values()):.3f})"
    lines.append(summary)
    return "\n".join(lines)


# The recovery trade: (recovery_log_bayes_factor, recovery_look_penalty,
# recovery_prior_pass) points (docs/scoring.md, "Recovery").
SWEEP = [
    (5.0, 1.0, 50.0),
    (6.5, 0.75, 50.0),
    (7.0, 0.0, 50.0),
    (7.0, 0.75, 20.0),
    (8.0, 0.0, 20.0),
    (7.0, 0.75, 50.0),
]


def recovery_sweep(seeds: list[int]) -> str:
    """The delay / false-recovery trade of the recovery test over seeds, and its ideal.

    Each row: per scenario, the worst share of still-active flagged flakes
    falsely recovered in one seed's run; all of them over all runs; the lowest
    precision; and the median over seeds of the recovery delay of fixed 7-14%
    flakes. The "true rate" rows are the same rule told each flake's real rate
    instead of its estimate (on the first attempts of runs without an
    outage): what no estimate can beat.
    """
    from dataclasses import replace

    config = engine.scoring.DEFAULT_CONFIG
    histories = {(seed, name): make(seed) for seed in seeds for name, make in SCENARIOS.items()}
    lines = [
        f"{'L':>5} {'look':>5} {'prior':>5} {'worst false per scenario':>28} {'all false':>10}"
        f" {'min prec':>9} {'10% delay':>9}"
    ]
    for bound, look, prior in SWEEP:
        tuned = replace(
            config,
            recovery_log_bayes_factor=bound,
            recovery_look_penalty=look,
            recovery_prior_pass=prior,
        )
        rows = {key: evaluate(sc, tuned) for key, sc in histories.items()}
        lines.append(_sweep_line(f"{bound:>5} {look:>5} {prior:>5.0f}", rows))
    for bound, look in dict.fromkeys((bound, look) for bound, look, _prior in SWEEP):
        rows = {key: _ideal(sc, bound, look) for key, sc in histories.items()}
        lines.append(_sweep_line(f"{bound:>5} {look:>5} {'true':>5}", rows))
    return "\n".join(lines)


def _sweep_line(label: str, rows: dict[tuple[int, str], dict[str, Any]]) -> str:
    worst = []
    for name in SCENARIOS:
        shares = [
            r["false_recovery"] / r["active_flagged"]
            for (_seed, scenario), r in rows.items()
            if scenario == name and r["active_flagged"]
        ]
        worst.append(f"{max(shares, default=0.0):.1%}")
    false = sum(r["false_recovery"] for r in rows.values())
    active = sum(r["active_flagged"] for r in rows.values())
    precision = min((r["precision"] for r in rows.values() if "precision" in r), default=math.nan)
    delays = [
        r["recovery_runs_10pct"] for r in rows.values() if r.get("recovery_runs_10pct") is not None
    ]
    delay = f"{statistics.median(delays):.0f}" if delays else "-"
    share = f"{false}/{active}"
    return f"{label} {' / '.join(worst):>28} {share:>10} {precision:>9.3f} {delay:>9}"


def _ideal(sc: Scenario, bound: float, look: float) -> dict[str, Any]:
    """The recovery rule told each flake's true rate (first attempts, after the engine's flag)."""
    states: dict[str, TestState] = {}
    outcomes: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    flagged_at: dict[str, float] = {}
    for run in sc.runs:
        storm = apply_run(states, run).storm
        for result in run.results:
            if result.retry or result.status == "skipped":
                continue
            if not storm:
                outcomes[result.test].append((run.at.timestamp(), result.status != "passed"))
            if result.test not in flagged_at and states[result.test].flagged:
                flagged_at[result.test] = run.at.timestamp()
    t_end = NOW.timestamp()
    false = active = 0
    delays = []
    for key, spec in sc.specs.items():
        if key not in flagged_at or spec.rate <= 0 or spec.broken is not None:
            continue
        fix = spec.active[1]
        failures = 0.0
        streak = since_fix = 0
        last: float | None = None
        recovered = None
        for at, failed in outcomes[key]:
            if last is not None:
                failures *= 2 ** (-(at - last) / (14 * DAY))
            last = at
            since_fix += at >= fix
            failures += failed
            streak = 0 if failed else streak + 1
            need = (bound + look * math.log1p(failures)) / -math.log1p(-spec.rate)
            if at >= flagged_at[key] and streak >= need:
                recovered = since_fix
                break
        if fix < t_end and 0.07 <= spec.rate <= 0.14 and recovered:
            delays.append(recovered)
        elif fix >= t_end:
            active += 1
            false += recovered is not None
    return {
        "false_recovery": false,
        "active_flagged": active,
        "recovery_runs_10pct": _median(delays),
    }


SEEDS_ROWS = (
    ("precision", "precision, lowest / mean"),
    ("f1", "F1, mean"),
    ("broken_quarantined", "broken recommended for quarantine"),
    ("recovered", "fixed flakes recovered (of fixed)"),
    ("recovery_runs", "recovery delay, median runs"),
    ("recovery_days", "recovery delay, median days"),
    ("recovery_runs_10pct", "recovery of 7-14% flakes, median runs"),
    ("false_recovery", "false recoveries: worst seed, all"),
)


def _seeds_cell(per_seed: list[dict[str, Any]], key: str) -> str:
    """One summary cell over seeds (see SEEDS_ROWS)."""
    if key == "precision":
        values = [f["precision"] for f in per_seed]
        return f"{min(values):.3f} / {statistics.fmean(values):.3f}"
    if key == "f1":
        return f"{statistics.fmean(f['f1'] for f in per_seed):.3f}"
    if key in ("broken_quarantined", "recovered"):
        total = sum(f[key] for f in per_seed)
        return (
            f"{total}"
            if key == "broken_quarantined"
            else f"{total}/{sum(f['fixed'] for f in per_seed)}"
        )
    if key == "false_recovery":
        active = sum(f["active_flagged"] for f in per_seed)
        worst = max(
            (f[key] / f["active_flagged"] for f in per_seed if f["active_flagged"]), default=0.0
        )
        false = sum(f[key] for f in per_seed)
        return f"{worst:.1%}, {false}/{active} ({false / active if active else 0.0:.1%})"
    values = [f[key] for f in per_seed if f.get(key) is not None]
    if not values:
        return "-"
    return (
        f"{statistics.median(values):.1f}"
        if key == "recovery_days"
        else f"{statistics.median(values):.0f}"
    )


def seeds_report(
    new: dict[str, dict[str, dict[str, Any]]], old: dict[str, dict[str, dict[str, Any]]] | None
) -> str:
    """The figures of several seeds (seed -> scenario -> figures), per scenario, side by side."""
    seeds = list(new)
    lines = [f"seeds {seeds[0]}-{seeds[-1]}" if len(seeds) > 1 else f"seed {seeds[0]}"]
    for name in new[seeds[0]]:
        lines.append(f"\n{name}:")
        header = f"  {'':<40} {'this engine':>24}"
        if old is not None:
            header += f" {'previous engine':>24}"
        lines.append(header)
        for key, label in SEEDS_ROWS:
            row = f"  {label:<40} {_seeds_cell([new[s][name] for s in seeds], key):>24}"
            if old is not None:
                row += f" {_seeds_cell([old[s][name] for s in seeds], key):>24}"
            lines.append(row)
    f1 = statistics.fmean(f["f1"] for s in seeds for f in new[s].values())
    summary = f"\nmean F1 over scenarios and seeds: {f1:.3f}"
    if old is not None:
        old_f1 = statistics.fmean(f["f1"] for s in seeds for f in old[s].values())
        summary += f" (previous engine {old_f1:.3f})"
    lines.append(summary)
    return "\n".join(lines)


def _seeds(text: str) -> list[int]:
    """'1-10' or '1,2,5'."""
    if "-" in text:
        first, last = text.split("-")
        return list(range(int(first), int(last) + 1))
    return [int(seed) for seed in text.split(",")]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--seeds", help="several seeds (e.g. 1-10 or 1,2,5): a summary per scenario")
    ap.add_argument(
        "--recovery-sweep",
        metavar="SEEDS",
        help="print the recovery trade over these seeds (e.g. 1-10 or 1,2,5) and stop",
    )
    ap.add_argument("--baseline", type=Path, help="a checkout whose engine to score too")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args(argv)
    if args.recovery_sweep:
        print(recovery_sweep(_seeds(args.recovery_sweep)))
        return
    which = ["--seeds", args.seeds] if args.seeds else ["--seed", str(args.seed)]
    if args.seeds:
        figures: Any = {seed: run_all(seed) for seed in _seeds(args.seeds)}
    else:
        figures = run_all(args.seed)
    if args.json:
        print(json.dumps(figures))
        return
    old = None
    if args.baseline is not None:
        env = {**os.environ, "PYTHONPATH": str(args.baseline.resolve())}
        done = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--json", *which],
            env=env,
            cwd=args.baseline,
            capture_output=True,
            text=True,
            check=True,
        )
        old = json.loads(done.stdout)
        if args.seeds:
            old = {int(seed): value for seed, value in old.items()}
    print(seeds_report(figures, old) if args.seeds else report(figures, old))


if __name__ == "__main__":
    main()
