"""Benchmark flake scoring against baselines on seeded CI histories with ground truth.

    python -m bench.scoring_bench [--seed N] [--small] [--tests N] [--runs N]

The generator (90 days, default 2,000 tests and 3,000 runs, each run one of
three shards) produces: stable tests; independent flakes at 0.5-40%;
retry-correlated flakes; flakes that start and stop; correlated clusters of
10-15 tests; tests broken then fixed (or still broken) on main; tests broken on
one feature branch only; flaky tests that also get broken on main; new and
renamed tests; skips; infra outages failing 20-100% of a run's tests; retries
(up to 2) in 60% of runs and re-runs of the same commit.

Ground truth at ``now`` (tests seen in the last 14 days only, so a renamed
test's old key is not judged):
- broken: broken on main at the latest main commit, and the test ran on main
  during that breakage (expected verdict broken, never quarantine);
- flaky: a flake process active at any time in the last 30 days (a cluster
  member's rate is cluster rate x 0.7);
- grey: a flake that stopped 30-37 days ago is left out (too close to the
  line); one that stopped earlier must have been cleared;
- everything else is not flaky (stable, branch-broken, fixed-on-main, ...).
A 0.5% flake may never fail on good code in the window; recall is reported
over all true flakes and over the *detectable* ones (at least one failure on
good code in the last 30 days).

FlakeGuard's flaky verdict is ``state == 'flaky'``; brkQ counts broken tests
with ``quarantine`` recommended.  Rows: ``analyze()`` as is, and the product
loop (flag -> quarantine at the flag-time rate, the interval's lower bound
('low') or the score ('mean') -> SPRT fixed -> unquarantine).  falseFx: a
quarantine released while its flake was still active.  Baselines: naive
failure rate (>= 5% with n >= 20), ever passed on retry, exponentially weighted
flip rate (decay and threshold grid-tuned on seed 1 for its best F1), and the
seed's weighted
score as docs/scoring.md's "Baselines" defines it (quarantine level 0.6 / confidence
0.7; no failure messages exist, so message variance is 0; "seed@0.4" is its
"investigate" level, shown for fairness).  Baselines release a quarantined
test after 5 clean runs (the rule docs/scoring.md calls weak).  Detection (medRn)
counts a test's runs from the start of its flake to its first flag; the
seed's score is re-evaluated only on runs whose last 50 results hold a
failure.
"""

from __future__ import annotations

import argparse
import itertools
import math
import random
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from engine.scoring import (
    DEFAULT_CONFIG,
    Result,
    Run,
    ScoringConfig,
    TestState,
    analyze,
    apply_run,
    fold,
    mark_quarantined,
    mark_unquarantined,
    update,
    verdict_from_state,
)

NOW = datetime(2026, 3, 1, tzinfo=UTC)
DAYS = 90
SHARDS = 3
BUCKETS = ((0.005, 0.01), (0.01, 0.05), (0.05, 0.20), (0.20, 0.40))
FLIP_THRESHOLD = 0.03  # grid-tuned on seed 1 for the flip baseline's best F1
FLIP_DECAY = 0.99  # per run of the test (tuned with the threshold)
DAY = 86400.0
DEBUG = False


@dataclass
class Spec:
    key: str
    kind: str
    shard: int
    rate: float = 0.0
    retry_fail: float | None = None  # P(retry fails | previous attempt failed); None = rate
    active: tuple[float, float] = (-1e18, 1e18)
    born: float = -1e18
    dies: float = 1e18
    skip: float = 0.0
    cluster: int = -1
    broken_main: list[tuple[int, int]] = field(default_factory=list)  # [from, to) main commits
    broken_branch: tuple[int, int, int] | None = None  # branch id, from, to commit on it
    broken_heads: set[int] = field(default_factory=set)  # main commits it ran on while broken
    good_fail_times: list[float] = field(default_factory=list)


@dataclass
class History:
    runs: list[Run]
    specs: dict[str, Spec]
    main_head: int
    cluster_rates: list[float]


def _rate(rng: random.Random, bucket: int | None = None) -> float:
    lo, hi = BUCKETS[rng.randrange(4) if bucket is None else bucket]
    return math.exp(rng.uniform(math.log(lo), math.log(hi)))


def generate(seed: int, n_tests: int, n_runs: int) -> History:
    """Generate a CI history with ground truth."""
    rng = random.Random(seed)
    t0 = (NOW - timedelta(days=DAYS)).timestamp()
    t_end = NOW.timestamp()
    specs: list[Spec] = []
    n_clusters = max(1, n_tests // 500)
    cluster_rates = [_rate(rng, rng.choice((1, 2, 3))) / 0.7 for _ in range(n_clusters)]
    cluster_rates = [min(r, 0.5) for r in cluster_rates]
    kinds = (
        ["flaky"] * 14
        + ["retry_flaky"] * 3
        + ["startstop"] * 4
        + ["broken_main"] * 3
        + ["broken_branch"] * 3
        + ["flaky_broken"] * 2
        + ["new"] * 3
        + ["renamed"] * 2
        + ["skippy"] * 2
        + ["stable"] * 64
    )
    for i in range(n_tests):
        kind = rng.choice(kinds)
        s = Spec(key=f"t{i}", kind=kind, shard=rng.randrange(SHARDS))
        if kind in ("flaky", "flaky_broken", "retry_flaky"):
            s.rate = _rate(rng)
            if kind == "retry_flaky":
                s.retry_fail = 0.6
        elif kind == "startstop":
            s.rate = _rate(rng)
            a = rng.uniform(t0, t_end)
            s.active = (a, rng.uniform(a, t_end + DAYS * DAY * 0.5))
        elif kind == "new":
            s.born = rng.uniform(t0, t_end - 20 * DAY)
            if rng.random() < 0.3:
                s.rate = _rate(rng)
        elif kind == "skippy":
            s.skip = rng.uniform(0.2, 0.9)
            if rng.random() < 0.3:
                s.rate = _rate(rng)
        specs.append(s)
    # Clusters of 10-15 tests sharing a resource.
    stable = [s for s in specs if s.kind == "stable"]
    rng.shuffle(stable)
    for c in range(n_clusters):
        for s in stable[c * 15 : c * 15 + rng.randint(10, 15)]:
            s.kind = "cluster"
            s.cluster = c
            s.shard = c % SHARDS
    # Renames: the old key dies, a new key with the same behaviour is born.
    for s in [s for s in specs if s.kind == "renamed"]:
        s.rate = _rate(rng) if rng.random() < 0.5 else 0.0
        when = rng.uniform(t0 + 10 * DAY, t_end - 20 * DAY)
        s.dies = when
        specs.append(
            Spec(key=s.key + "_renamed", kind="renamed_new", shard=s.shard, rate=s.rate, born=when)
        )

    # Runs: main 40% (a new commit 60% of the time), feature branches 60%.
    times = sorted(rng.uniform(t0, t_end) for _ in range(n_runs))
    main_head = 0
    branches: list[list[int]] = []  # [id, head]
    plan: list[tuple[float, bool, int, int, int, bool, float]] = []
    for t in times:
        if rng.random() < 0.4:
            if rng.random() < 0.6:
                main_head += 1
            plan.append(
                (
                    t,
                    True,
                    -1,
                    main_head,
                    rng.randrange(SHARDS),
                    rng.random() < 0.6,
                    rng.uniform(0.2, 1.0) if rng.random() < 0.02 else 0.0,
                )
            )
        else:
            if not branches or rng.random() < 0.12:
                branches.append([len(branches), 0])
            b = branches[max(0, len(branches) - 1 - int(rng.expovariate(0.4)))]
            if rng.random() < 0.5:
                b[1] += 1
            plan.append(
                (
                    t,
                    False,
                    b[0],
                    b[1],
                    rng.randrange(SHARDS),
                    rng.random() < 0.6,
                    rng.uniform(0.2, 1.0) if rng.random() < 0.02 else 0.0,
                )
            )
    # Broken stretches, now that we know how many commits main and branches got.
    for s in specs:
        if s.kind in ("broken_main", "flaky_broken"):
            start = rng.randint(1, max(1, main_head))
            length = rng.randint(2, 12)
            end = start + length if rng.random() < 0.75 else 10**9  # 25% still broken
            s.broken_main.append((start, end))
        elif s.kind == "broken_branch" and branches:
            b = rng.choice(branches)
            frm = rng.randint(0, max(0, b[1]))
            s.broken_branch = (b[0], frm, frm + rng.randint(2, 10))
    # Re-runs of the same commit (the "re-run failed jobs" button) come later.
    runs: list[Run] = []
    by_shard: dict[int, list[Spec]] = defaultdict(list)
    for s in specs:
        by_shard[s.shard].append(s)
    extra: list[tuple[float, bool, int, int, int, bool, float]] = []
    for idx, item in enumerate(plan):
        run, failed = _make_run(rng, f"r{idx}", item, by_shard[item[4]], cluster_rates)
        runs.append(run)
        if failed and rng.random() < 0.25:
            t, *rest = item
            extra.append((t + rng.uniform(600, 7200), *rest[:-1], 0.0))  # type: ignore[arg-type]
    for idx, item in enumerate(extra):
        run, _ = _make_run(rng, f"x{idx}", item, by_shard[item[4]], cluster_rates)
        runs.append(run)
    runs.sort(key=lambda r: r.at)
    return History(
        runs=runs, specs={s.key: s for s in specs}, main_head=main_head, cluster_rates=cluster_rates
    )


def _make_run(
    rng: random.Random,
    rid: str,
    item: tuple[float, bool, int, int, int, bool, float],
    tests: list[Spec],
    cluster_rates: list[float],
) -> tuple[Run, bool]:
    t, main, branch, head, _shard, retries, outage = item
    rand = rng.random
    events = [rand() < r for r in cluster_rates]
    results: list[Result] = []
    add = results.append
    any_failed = False
    for s in tests:
        if t < s.born or t >= s.dies:
            continue
        key = s.key
        if s.skip and rand() < s.skip:
            add(Result(key, "skipped"))
            continue
        broken = False
        if main:
            for a, b in s.broken_main:
                if a <= head < b:
                    broken = True
                    s.broken_heads.add(head)
        elif s.broken_branch is not None:
            bid, a, b = s.broken_branch
            broken = bid == branch and a <= head < b
        rate = s.rate if s.active[0] <= t < s.active[1] else 0.0
        if s.cluster >= 0 and events[s.cluster]:
            rate = 0.7
        if not (broken or outage or rate):
            add(Result(key, "passed"))
            continue
        fail = broken or rand() < outage or rand() < rate
        if not fail:
            add(Result(key, "passed"))
            continue
        if not broken and not outage:
            s.good_fail_times.append(t)
        any_failed = True
        add(Result(key, "failed" if rand() < 0.8 else "error"))
        if retries:
            again = s.retry_fail if s.retry_fail is not None else rate
            for k in (1, 2):
                fail = broken or rand() < outage or rand() < again
                add(Result(key, "failed" if fail else "passed", retry=k))
                if not fail:
                    break
    at = datetime.fromtimestamp(t, tz=UTC)
    sha = f"m{head}" if main else f"b{branch}-{head}"
    name = "main" if main else f"feature-{branch}"
    return Run(
        id=rid, sha=sha, branch=name, default_branch=main, at=at, results=tuple(results)
    ), any_failed


# --------------------------------------------------------------------------- truth


def truth(h: History) -> tuple[dict[str, str], dict[str, float], set[str]]:
    """Return label per evaluated key ('flaky'|'broken'|'clean'|'grey'), true rate, detectable."""
    t_end = NOW.timestamp()
    recent = t_end - 14 * DAY
    window = t_end - 30 * DAY
    seen_recent: set[str] = set()
    for run in h.runs:
        if run.at.timestamp() >= recent:
            seen_recent.update(r.test for r in run.results if r.status != "skipped")
    labels: dict[str, str] = {}
    rates: dict[str, float] = {}
    detectable: set[str] = set()
    for key, s in h.specs.items():
        if key not in seen_recent:
            continue
        rate = s.rate if s.cluster < 0 else h.cluster_rates[s.cluster] * 0.7
        # Broken now: main's head is inside a broken stretch that this test
        # actually ran on (a shard that never ran it cannot show it).
        broken_now = any(
            a <= h.main_head < b and any(a <= x for x in s.broken_heads) for a, b in s.broken_main
        )
        active_recent = rate > 0 and s.active[1] > window and s.active[0] < t_end
        if broken_now:
            labels[key] = "broken"
        elif active_recent:
            labels[key] = "flaky"
            rates[key] = rate
            if any(t >= window for t in s.good_fail_times):
                detectable.add(key)
        elif rate > 0 and s.active[1] > window - 7 * DAY:
            labels[key] = "grey"  # stopped 30-37 days ago: too close to the line to judge
        else:
            labels[key] = "clean"
    return labels, rates, detectable


# --------------------------------------------------------------------------- systems


@dataclass
class Outcome:
    flagged: set[str]
    first_flag_runs: dict[str, int]  # runs of the test (since flake start) until first flag
    fixed_calls: int = 0
    false_fixed: int = 0
    quarantines: int = 0


class Baselines:
    """All four baselines, updated run by run (so detection time is known)."""

    def __init__(self) -> None:
        self.n: dict[str, int] = defaultdict(int)
        self.fails: dict[str, int] = defaultdict(int)
        self.retry_pass: set[str] = set()
        self.flip_num: dict[str, float] = defaultdict(float)
        self.flip_den: dict[str, float] = defaultdict(float)
        self.last: dict[str, bool] = {}
        self.ever_flagged: set[str] = set()
        self.window: dict[str, list[tuple[int, bool, float]]] = defaultdict(list)
        self.first_flag: dict[str, dict[str, int]] = {k: {} for k in self.NAMES}
        self.q_clean: dict[str, dict[str, int]] = {k: {} for k in self.NAMES}
        self.fixed_calls = dict.fromkeys(self.NAMES, 0)
        self.false_fixed = dict.fromkeys(self.NAMES, 0)

    NAMES = ("naive", "retry", "flip", "seed", "seed@0.4")

    def naive(self, k: str) -> bool:
        return self.n[k] >= 20 and self.fails[k] >= 0.05 * self.n[k]

    def flip(self, k: str) -> bool:
        return self.flip_den[k] > 0 and self.flip_num[k] / self.flip_den[k] >= FLIP_THRESHOLD

    def seed(self, k: str, level: float = 0.6) -> bool:
        # Confidence is cbrt(0.7) = 0.89 >= 0.7 once a test has 50 results over
        # 14 days (quality 0.5 + 0.2 for retry data), so the score decides.
        win = self.window[k]
        return len(win) >= 50 and seed_score(win) >= level

    def step(self, run: Run, counts: dict[str, int], h: History) -> None:
        ts = run.at.timestamp()
        attempts: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for r in run.results:
            if r.status != "skipped":
                attempts[r.test].append((r.retry, r.status))
        for k, att in attempts.items():
            att.sort()
            first_fail = att[0][1] != "passed"
            self.n[k] += 1
            self.fails[k] += first_fail
            if first_fail and any(s == "passed" for _, s in att[1:]):
                self.retry_pass.add(k)
            prev = self.last.get(k)
            if prev is not None:
                self.flip_num[k] = self.flip_num[k] * FLIP_DECAY + (prev != first_fail)
                self.flip_den[k] = self.flip_den[k] * FLIP_DECAY + 1
            self.last[k] = first_fail
            win = self.window[k]
            win.extend((a + 1, s != "passed", ts) for a, s in att)
            if len(win) > 50:
                del win[: len(win) - 50]
            if not self.fails[k] and k not in self.ever_flagged:
                continue  # never failed: no baseline can flag it
            seed_value: float | None = None
            for name in self.NAMES:
                ff = self.first_flag[name]
                if k in ff:
                    clean = self.q_clean[name]
                    if k in clean:  # quarantined: fixed after 5 clean runs
                        clean[k] = 0 if first_fail else clean[k] + 1
                        if clean[k] >= 5:
                            del clean[k]
                            self.fixed_calls[name] += 1
                            if _active(h.specs.get(k), ts):
                                self.false_fixed[name] += 1
                    continue
                if name == "naive":
                    hit = self.naive(k)
                elif name == "retry":
                    hit = k in self.retry_pass
                elif name == "flip":
                    hit = self.flip(k)
                elif not any(f for _, f, _ in win):
                    hit = False
                else:
                    if seed_value is None:
                        seed_value = seed_score(win) if len(win) >= 50 else 0.0
                    hit = seed_value >= (0.6 if name == "seed" else 0.4)
                if hit:
                    self.ever_flagged.add(k)
                    ff[k] = counts.get(k, 0)
                    self.q_clean[name][k] = 0

    def flagged(self, name: str, keys: set[str]) -> set[str]:
        if name == "naive":
            return {k for k in keys if self.naive(k)}
        if name == "retry":
            return keys & self.retry_pass
        if name == "flip":
            return {k for k in keys if self.flip(k)}
        if name == "seed":
            return {k for k in keys if self.seed(k)}
        return {k for k in keys if self.seed(k, 0.4)}


def seed_score(win: list[tuple[int, bool, float]]) -> float:
    """The seed's weighted score over the last 50 results (docs/scoring.md, "Baselines")."""
    n = len(win)
    if n < 5:
        return 0.0
    status = [f for _, f, _ in win]
    intermittency = sum(1 for a, b in itertools.pairwise(status) if a != b) / (n - 1)
    reruns = [f for a, f, _ in win if a > 1]
    rerun = (sum(1 for f in reruns if not f) / len(reruns)) if reruns else 0.0
    fail_times = [t for _, f, t in win if f]
    clustering = 0.0
    if len(fail_times) >= 2:
        gaps = [b - a for a, b in itertools.pairwise(fail_times)]
        mean = statistics.fmean(gaps)
        sd = statistics.pstdev(gaps)
        clustering = max(0.0, 1 - sd / mean) if mean > 0 else 1.0
    messages = 0.0  # no failure messages in the generated reports
    fail_ratio = 1 - math.exp(-3 * len(fail_times) / n)
    longest = cur = 0
    for f in status:
        cur = cur + 1 if f else 0
        longest = max(longest, cur)
    penalty = min(1.0, 2 * longest / n)
    score = (
        0.30 * intermittency
        + 0.25 * rerun
        + 0.15 * clustering
        + 0.10 * messages
        + 0.10 * fail_ratio
    ) * (1 - 0.10 * penalty)
    return min(1.0, max(0.0, score))


def _active(spec: Spec | None, ts: float) -> bool:
    return spec is not None and spec.rate > 0 and spec.active[0] <= ts < spec.active[1]


def _flake_start(spec: Spec) -> float:
    return max(spec.active[0], spec.born)


def run_baselines(h: History) -> Baselines:
    """Run every baseline over the history, run by run."""
    base = Baselines()
    counts: dict[str, int] = defaultdict(int)  # runs of each test since its flake started
    for run in h.runs:
        ts = run.at.timestamp()
        for key in {r.test for r in run.results if r.status != "skipped"}:
            spec = h.specs.get(key)
            if spec is not None and ts >= _flake_start(spec):
                counts[key] += 1
        base.step(run, counts, h)
    return base


def product_loop(
    h: History, config: ScoringConfig, rate: str = "low"
) -> tuple[dict[str, TestState], Outcome]:
    """Fold runs as the app would: flag -> quarantine -> SPRT fixed -> unquarantine.

    ``rate`` is what the app passes as the rate at quarantine: the interval's
    lower bound ('low', conservative) or the score ('mean').
    """
    states: dict[str, TestState] = {}
    first_flag: dict[str, int] = {}
    counts: dict[str, int] = defaultdict(int)  # runs of each test since its flake started
    fixed_calls = false_fixed = quarantines = 0
    for run in h.runs:
        apply_run(states, run, config)
        ts = run.at.timestamp()
        for key in {r.test for r in run.results if r.status != "skipped"}:
            spec = h.specs.get(key)
            if spec is not None and ts >= _flake_start(spec):
                counts[key] += 1
            st = states.get(key)
            if st is None or not st.eventful:
                continue
            if st.quarantined_at is None and st.flagged and st.stretch_runs == 0:
                v = verdict_from_state(st, run.at, config)
                if v.quarantine:
                    first_flag.setdefault(key, counts[key])
                    q_rate = v.interval[0] if rate == "low" else v.score
                    states[key] = mark_quarantined(st, run.at, q_rate, config)
                    quarantines += 1
            elif st.quarantined_at is not None and st.fixed_at is not None:
                fixed_calls += 1
                false_fixed += _active(spec, ts)
                if DEBUG and _active(spec, ts):
                    print(
                        "false fixed",
                        key,
                        spec.kind if spec else "?",
                        spec and spec.rate,
                        st.quarantine_rate,
                        st.runs_since_quarantine,
                    )
                states[key] = mark_unquarantined(st)
    return states, Outcome(set(), first_flag, fixed_calls, false_fixed, quarantines)


# --------------------------------------------------------------------------- report


def score_row(
    name: str,
    flagged: set[str],
    quarantined: set[str],
    labels: dict[str, str],
    rates: dict[str, float],
    detectable: set[str],
    first: dict[str, int],
    fixed: tuple[int, int] | None,
) -> str:
    judged = {k for k, v in labels.items() if v != "grey"}
    flagged = flagged & judged
    truth = {k for k in judged if labels[k] == "flaky"}
    tp = len(flagged & truth)
    p = tp / len(flagged) if flagged else 1.0
    r = tp / len(truth) if truth else 1.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    rdet = len(flagged & detectable) / len(detectable) if detectable else 1.0
    buckets = []
    for lo, hi in BUCKETS:
        inb = {k for k in truth if lo <= rates[k] < hi or (hi == 0.40 and rates[k] >= hi)}
        det = inb & detectable
        buckets.append(f"{_ratio(flagged & inb, inb)}/{_ratio(flagged & det, det)}")
    broken_q = len({k for k in quarantined if labels.get(k) == "broken"})
    det_runs = [first[k] for k in truth if k in first]
    med = f"{statistics.median(det_runs):.0f}" if det_runs else "-"
    ff = f"{fixed[1]}/{fixed[0]}" if fixed else "-"
    return (
        f"{name:<18} {p:5.3f} {r:5.3f} {rdet:5.3f} {f1:5.3f}  "
        + " ".join(f"{b:>9}" for b in buckets)
        + f"  {broken_q:>4} {med:>5} {ff:>7}"
    )


def _ratio(a: set[str], b: set[str]) -> str:
    return f"{len(a) / len(b):.2f}" if b else "-"


def update_timing(h: History, config: ScoringConfig) -> str:
    """Time update() for the biggest of the last runs, with states decoded from and encoded to
    the compact bytes the app stores in ``FlakeScore.engine_state``."""
    cut = len(h.runs) - 20
    stored = {k: s.to_bytes() for k, s in fold(h.runs[:cut], config).items()}
    run = max(h.runs[cut:], key=lambda r: len(r.results))
    best = [math.inf, math.inf, math.inf]
    for _ in range(5):
        t0 = time.perf_counter()
        keys = {r.test for r in run.results}
        states = {k: TestState.from_bytes(stored[k]) for k in keys if k in stored}
        t1 = time.perf_counter()
        new, _verdicts, _summary = update(states, run, now=run.at, config=config, copy=False)
        t2 = time.perf_counter()
        _ = {k: s.to_bytes() for k, s in new.items()}
        t3 = time.perf_counter()
        best = [min(best[0], t1 - t0), min(best[1], t2 - t1), min(best[2], t3 - t2)]
    size = sum(len(v) for v in stored.values()) / max(1, len(stored))
    return (
        f"update() of a {len(run.results)}-result run: {best[1] * 1e3:.1f} ms "
        f"(+ decode {best[0] * 1e3:.1f} ms, encode {best[2] * 1e3:.1f} ms); "
        f"stored state {size:.0f} bytes/test"
    )


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--small", action="store_true", help="400 tests, 600 runs")
    ap.add_argument("--tests", type=int, default=None)
    ap.add_argument("--runs", type=int, default=None)
    ap.add_argument(
        "--scenarios",
        action="store_true",
        help="then the scenarios of bench/scoring_scenarios.py (fixed flakes, clusters, new tests)",
    )
    ap.add_argument("--baseline", help="with --scenarios: a checkout whose engine to score too")
    args = ap.parse_args(argv)
    n_tests = args.tests or (400 if args.small else 2000)
    n_runs = args.runs or (600 if args.small else 3000)
    config = DEFAULT_CONFIG
    t = time.perf_counter()
    h = generate(args.seed, n_tests, n_runs)
    n_results = sum(len(r.results) for r in h.runs)
    print(
        f"seed {args.seed}: {n_tests} tests, {len(h.runs)} runs, {n_results} results, "
        f"generated in {time.perf_counter() - t:.1f}s"
    )
    labels, rates, detectable = truth(h)
    kinds: dict[str, int] = defaultdict(int)
    for v in labels.values():
        kinds[v] += 1
    print("truth:", dict(kinds), f"detectable flaky {len(detectable)}")

    best = cpu = math.inf
    for _ in range(3):
        t, c = time.perf_counter(), time.process_time()
        verdicts = analyze(h.runs, now=NOW, config=config)
        best = min(best, time.perf_counter() - t)
        cpu = min(cpu, time.process_time() - c)
    print(
        f"analyze(): {best:.2f}s = {n_results / best:,.0f} results/s wall, "
        f"{n_results / cpu:,.0f} results/s CPU time (best of 3; wall suffers on a shared machine)"
    )

    print(update_timing(h, config))
    keys = set(labels)
    print(
        f"{'system':<18} {'prec':>5} {'rec':>5} {'recD':>5} {'F1':>5}  "
        + " ".join(f"{f'{lo:.1%}-{hi:.0%}':>9}" for lo, hi in BUCKETS)
        + "  brkQ medRn falseFx"
    )
    # The flaky verdict is state == 'flaky'; brkQ counts quarantine recommendations.
    fg = {k for k, v in verdicts.items() if v.state == "flaky"}
    fgq = {k for k, v in verdicts.items() if v.quarantine}
    loops = {}
    for rate in ("low", "mean"):
        states, out = product_loop(h, config, rate)
        loops[rate] = out
        if rate == "low":
            first = out.first_flag_runs
            print(score_row("flakeguard", fg, fgq, labels, rates, detectable, first, None))
        loop_verdicts = {k: verdict_from_state(s, NOW, config) for k, s in states.items()}
        fgl = {k for k, v in loop_verdicts.items() if v.state == "flaky"}
        fglq = {k for k, v in loop_verdicts.items() if v.quarantine}
        fixed = (out.quarantines, out.false_fixed)
        name = f"fg+loop({rate})"
        print(score_row(name, fgl, fglq, labels, rates, detectable, out.first_flag_runs, fixed))
    base = run_baselines(h)
    for name in Baselines.NAMES:
        print(
            score_row(
                name,
                base.flagged(name, keys),
                base.flagged(name, keys),
                labels,
                rates,
                detectable,
                base.first_flag[name],
                (len(base.first_flag[name]), base.false_fixed[name]),
            )
        )
    print(
        "bucket cells: recall over all true flakes / over detectable ones; brkQ: broken "
        "tests recommended for quarantine; medRn: median runs to first flag; falseFx: "
        "quarantines released while the flake was still active / quarantines"
    )
    for rate, out in loops.items():
        print(
            f"product loop ({rate}): {out.quarantines} quarantines of "
            f"{len(out.first_flag_runs)} tests, {out.fixed_calls} called fixed by SPRT, "
            f"{out.false_fixed} of them still flaky"
        )
    branch = [k for k in keys if h.specs[k].broken_branch]
    print(
        f"branch-broken tests flagged by flakeguard: {len(set(branch) & fg)}/{len(branch)}; "
        f"broken now: {sum(1 for k in keys if labels[k] == 'broken')}, "
        f"verdict broken: {sum(1 for k in keys if verdicts[k].state == 'broken')}"
    )
    if args.scenarios:
        from bench import scoring_scenarios

        scenario_args = ["--seed", str(args.seed)]
        if args.baseline:
            scenario_args += ["--baseline", args.baseline]
        scoring_scenarios.main(scenario_args)


if __name__ == "__main__":
    main()
