"""Score tests for flakiness from CI history: pure, incremental, bounded.

A test is flaky when it both passes and fails on the same code (SCORING.md).
The engine folds runs, one at a time and in time order, into a small
:class:`TestState` per test (a few hundred bytes as :meth:`TestState.to_bytes`,
or readable JSON); :func:`analyze` is literally a fold of the same step
:func:`update` uses, so incremental == batch by construction.

Evidence, in the order it is trusted:

1. Same-commit conflicts.  A test that failed and passed on one SHA (a retry
   in the same run, or another run of that SHA) is flaky, full stop.  The
   state keeps the last SHAs a test passed and failed on (capped rings).
2. Infra storms.  A run whose first attempts fail for at least
   ``storm_fraction`` of its tests (and ``storm_min_failures`` tests, in a run
   of at least ``storm_min_tests``) is tainted: nothing in it is evidence about
   single tests; each test only counts one excluded failure.
3. Broken vs flaky.  On the default branch, first-attempt failures whose SHA
   also failed on every retry are held in a *pending stretch* instead of the
   score.  When the stretch ends (a pass or a same-commit conflict on the
   default branch) a Beta-Bernoulli changepoint test decides: if the stretch
   spans ``broken_min_shas`` SHAs and the Bayes factor of "a new segment that
   fails always" against "the test's recent rate" reaches
   ``broken_log_bayes_factor``, the stretch was a breakage and its failures are
   dropped; otherwise they were flakes and join the score.  A one-commit
   stretch that failed again (on retry or in a re-run), with that Bayes
   factor, is dropped too
   (a breakage fixed by the next commit), but is never reported as broken.  While such a
   stretch is open and meets the test, the verdict is ``broken`` with the first
   failing commit, and quarantine is never recommended.
   On feature branches a failure that failed again on every retry (or had no
   retry) is not counted: a branch's own breakage is not flakiness.  It still
   becomes evidence if that SHA later passes (a conflict).
4. Score.  First attempts that passed, plus counted failures, are weighted by
   ``2 ** (-age / half_life_days)`` into a Beta posterior with prior
   ``Beta(prior_fail, prior_pass)``; ``score`` is its mean and ``interval``
   its central ``interval_mass`` credible interval.  Weights are stored
   scaled to a per-state power-of-two epoch, so adding a result is one
   addition and reading at any ``now`` is one multiplication.
5. Hysteresis.  A test becomes flaky when it had a conflict in the last
   ``conflict_window_days``, or when its decayed failures on good code reach
   ``flag_failures`` and its score ``flag_score``.  It clears only with no
   recent conflict and (decayed failures < ``clear_failures`` or score <
   ``clear_score`` or ``quiet_days`` without a counted failure; evidence that
   old never flags a test again).  A quarantined test
   leaves 'flaky' only through the SPRT.  Quarantine is recommended for
   'flaky' tests, except while an open default-branch failing stretch already
   looks like a breakage (log Bayes factor >= ``suspect_log_bayes_factor``).
6. Fixed.  Once the app marks a test quarantined (:func:`mark_quarantined`,
   with its rate then: pass ``verdict.interval[0]``, the conservative end;
   the bench shows the mean makes low-rate flakes look fixed) every counted
   first attempt feeds Wald's SPRT (:func:`sprt_fixed`): H0 "still fails at
   the quarantine rate p0" against H1 "fails at ``sprt_fixed_ratio * p0``".
   Reaching the upper bound gives the ``fixed`` state (and drops the pre-fix
   failures from the score); a failure that reaches the lower bound holds the
   statistic at that bound (a CUSUM-style floor, so repeated restarts do not
   add up to a false 'fixed') and raises p0 to the posterior's current lower
   bound (the rate at quarantine is estimated from the first evidence only).
   With the defaults a 5% flake needs 63 clean runs from quarantine, a 30%
   flake 9.

API: :func:`apply_run` folds one run into a dict of states in place (the one
step); :func:`update` does it on copies of the run's tests and returns their
verdicts and a :class:`RunSummary`; :func:`fold`/:func:`analyze` are the batch
versions; :func:`verdict_from_state` re-judges a state at any ``now``.
Runs must be folded in time order (ties: arrival order); the app keeps the
states in the database (as :meth:`TestState.to_bytes`) and calls :func:`update`
once per new run.
"""

from __future__ import annotations

import hashlib
import math
import struct
from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from operator import itemgetter
from statistics import NormalDist
from typing import Any

PASSED = "passed"
FAILED = "failed"
ERROR = "error"
SKIPPED = "skipped"
STATES = ("insufficient", "healthy", "flaky", "broken", "fixed")

_DAY = 86400.0
_EPOCH_HALF_LIVES = 64  # weights stay below 2**64 before a state is rebased
_FAILING = frozenset((FAILED, ERROR))
STATE_VERSION = 1  # of TestState's fields, in its JSON and in its binary form
SHA_KEY_BYTES = 6  # the rings keep a 48-bit digest of each SHA, not the SHA
_K = SHA_KEY_BYTES


def _sha_key(sha: str) -> bytes:
    """Return a short stable key for a commit (a digest: synthetic SHAs share prefixes)."""
    return hashlib.blake2b(sha.encode(), digest_size=SHA_KEY_BYTES).digest()


def _ring_has(ring: bytes, key: bytes) -> bool:
    """Whether a ring (keys of SHA_KEY_BYTES, end to end) holds ``key``."""
    at = ring.find(key)
    while at >= 0:
        if at % _K == 0:
            return True
        at = ring.find(key, at + 1)  # a match straddling two keys is not a key
    return False


@dataclass(frozen=True)
class ScoringConfig:
    """Every knob of the scoring, with the reason for its default."""

    # Recency: SCORING.md's ~14 days; a flake fixed a month ago weighs 1/4.
    half_life_days: float = 14.0
    # Prior Beta(0.5, 50): mean 1%, worth ~50 runs.  Most tests never flake,
    # so one early failure should not make a new test look 30% flaky.
    prior_fail: float = 0.5
    prior_pass: float = 50.0
    # Credible interval reported with the score (5%..95%).
    interval_mass: float = 0.90
    # Fewer effective first attempts than this and no conflict: 'insufficient'.
    min_samples: float = 8.0
    # Flag at a higher bar than clear (Trunk's hysteresis).  Flagging needs
    # both evidence (decayed failures on good code >= flag_failures: one
    # failure from the last ~10 days) and a score >= flag_score; a flagged
    # test clears when the decayed failures fall below clear_failures (the
    # last failure is ~4 weeks old) or the score below clear_score.
    flag_failures: float = 0.6
    clear_failures: float = 0.25
    flag_score: float = 0.003
    clear_score: float = 0.002
    # ... or when it has not failed on good code for this long (Datadog's
    # "30 quiet days"); decay alone would keep a stopped 20% flake flagged for
    # three months.  A 1% flake run 10 times a day stays quiet that long with
    # probability ~5%.
    quiet_days: float = 30.0
    # A same-commit conflict keeps a test flaky for this long.
    conflict_window_days: float = 21.0
    # Infra storm: SCORING.md's example is 30%; we taint from 10% (and at least
    # 10 failing tests in a run of 20+), because in practice a tenth of a run
    # failing at once is an outage, and 20-30% outages would otherwise leak
    # hundreds of false failures into stable tests.
    storm_fraction: float = 0.10
    storm_min_failures: int = 10
    storm_min_tests: int = 20
    # Broken: a failing stretch on the default branch over >= 2 SHAs with a
    # Bayes factor >= e**5 (~150) against the test's own recent rate.  A 40%
    # flake without retries needs 8 failures in a row to look broken.
    broken_min_shas: int = 2
    broken_log_bayes_factor: float = 5.0
    # Withhold the quarantine recommendation while an open stretch has a
    # Bayes factor >= e**2 for "new breakage" (one hard failure of a stable
    # test; not one failed run of a 30% flake).
    suspect_log_bayes_factor: float = 2.0
    # Caps that keep a state bounded (ring sizes).
    sha_ring: int = 32
    conflict_ring: int = 16
    # SPRT for fixed: alpha = P(call it fixed | still flaky), beta = P(keep it |
    # fixed); H1 is "a tenth of the quarantine rate".  5% -> 63 runs, 30% -> 9.
    sprt_alpha: float = 0.05
    sprt_beta: float = 0.10
    sprt_fixed_ratio: float = 0.1
    # Rates outside this range make the SPRT degenerate.
    sprt_min_rate: float = 0.001
    sprt_max_rate: float = 0.9


DEFAULT_CONFIG = ScoringConfig()


@dataclass(frozen=True)
class Result:
    """One attempt of one test in one run."""

    test: str
    status: str
    retry: int = 0


@dataclass(frozen=True)
class Run:
    """One CI run (a report or job) with its results."""

    id: str
    sha: str
    branch: str
    default_branch: bool
    at: datetime
    results: Sequence[Result]


@dataclass(frozen=True)
class Evidence:
    """What a verdict rests on, for people and for the app."""

    same_commit_conflicts: int
    recent_conflicts: int
    flip_rate: float
    infra_failures_excluded: int
    branch_failures_excluded: int
    failures_counted: int
    passes_counted: int
    effective_runs: float
    runs_seen: int
    first_failing_sha: str | None
    broken_since: datetime | None
    broken_commits: int
    broken_episodes: int
    last_failure_at: datetime | None
    quarantined_at: datetime | None
    sprt_llr: float | None
    runs_since_quarantine: int

    def to_json(self, *, sparse: bool = False) -> dict[str, Any]:
        """Return a JSON-safe dict; ``sparse`` leaves out zeros and absent values.

        The app stores the sparse form (a reader takes a missing key as 0 or None).
        """
        if sparse:
            return {
                k: v.isoformat() if isinstance(v, datetime) else v
                for k, v in self.__dict__.items()
                if v
            }
        return {
            "same_commit_conflicts": self.same_commit_conflicts,
            "recent_conflicts": self.recent_conflicts,
            "flip_rate": self.flip_rate,
            "infra_failures_excluded": self.infra_failures_excluded,
            "branch_failures_excluded": self.branch_failures_excluded,
            "failures_counted": self.failures_counted,
            "passes_counted": self.passes_counted,
            "effective_runs": self.effective_runs,
            "runs_seen": self.runs_seen,
            "first_failing_sha": self.first_failing_sha,
            "broken_since": _iso(self.broken_since),
            "broken_commits": self.broken_commits,
            "broken_episodes": self.broken_episodes,
            "last_failure_at": _iso(self.last_failure_at),
            "quarantined_at": _iso(self.quarantined_at),
            "sprt_llr": self.sprt_llr,
            "runs_since_quarantine": self.runs_since_quarantine,
        }


@dataclass(frozen=True)
class Verdict:
    """The current judgement on one test."""

    state: str
    score: float
    interval: tuple[float, float]
    quarantine: bool
    evidence: Evidence
    reason: str

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-safe dict."""
        return {
            "state": self.state,
            "score": self.score,
            "interval": [self.interval[0], self.interval[1]],
            "quarantine": self.quarantine,
            "evidence": self.evidence.to_json(),
            "reason": self.reason,
        }


@dataclass(frozen=True)
class RunSummary:
    """What folding one run did."""

    run_id: str
    sha: str
    tests: int
    failed: int
    storm: bool
    infra_failures_excluded: int
    conflicts: int
    new_tests: int

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-safe dict."""
        return {
            "run_id": self.run_id,
            "sha": self.sha,
            "tests": self.tests,
            "failed": self.failed,
            "storm": self.storm,
            "infra_failures_excluded": self.infra_failures_excluded,
            "conflicts": self.conflicts,
            "new_tests": self.new_tests,
        }


@dataclass(frozen=True)
class SprtDecision:
    """Outcome of Wald's SPRT for 'a quarantined test is fixed'."""

    decision: str  # 'fixed' | 'still_flaky' | 'continue'
    llr: float
    clean_runs_needed: int  # further clean runs that would reach 'fixed'


class TestState:
    """Bounded running aggregate of one test's history (mutable; plain attributes).

    Scaled weights (``pw``, ``fw``, ``flips``, ``pend_w``) are sums of
    ``2 ** (t / half_life - epoch)``; multiply by ``2 ** (epoch - t_now /
    half_life)`` to read them as effective counts at ``t_now``.  The SHA rings
    (``pass_shas``, ``fail_shas``, ``conflict_shas``) are bytes: 48-bit keys of
    SHAs (:data:`SHA_KEY_BYTES` each) end to end, oldest first; the first
    failing commits (``pend_start_sha``, ``last_broken_sha``) are kept whole.
    """

    __test__ = False  # not a pytest class

    def __init__(self, at: float = 0.0, epoch: int = 0) -> None:
        self.n = 0  # runs seen (non-skipped), storms included
        self.first_at = at
        self.last_at = at
        self.epoch = epoch
        self.pw = 0.0
        self.fw = 0.0
        self.flips = 0.0
        self.n_pass = 0
        self.n_fail = 0
        self.last_fail = False
        self.last_failure_at: float | None = None  # any non-storm failure
        self.last_counted_at: float | None = None  # last failure counted as a flake
        self.infra = 0
        self.branch_fails = 0
        self.pass_shas = b""
        self.fail_shas = b""
        self.conflicts = 0
        self.conflict_shas = b""
        self.conflict_at: list[float] = []
        self.pend_n = 0
        self.pend_fails = 0
        self.pend_shas = 0
        self.pend_w = 0.0
        self.pend_last_sha: bytes | None = None
        self.pend_start_sha: str | None = None
        self.pend_start_at: float | None = None
        self.broken_episodes = 0
        self.last_broken_sha: str | None = None
        self.flagged = False
        self.hot = False  # anything beyond plain passes: takes the slow path
        self.q_at: float | None = None
        self.q_rate = 0.0
        self.q_llr = 0.0
        self.q_n = 0
        self.q_fixed_at: float | None = None

    def copy(self) -> TestState:
        """Return an independent copy."""
        new = TestState.__new__(TestState)
        fields = new.__dict__
        fields.update(self.__dict__)
        fields["conflict_at"] = list(self.conflict_at)
        return new

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-safe dict (floats round-trip exactly through json; keys as hex)."""
        data: dict[str, Any] = dict(self.__dict__)
        for name in _RINGS:
            ring = data[name]
            data[name] = [ring[at : at + _K].hex() for at in range(0, len(ring), _K)]
        if self.pend_last_sha is not None:
            data["pend_last_sha"] = self.pend_last_sha.hex()
        data["conflict_at"] = list(self.conflict_at)
        data["v"] = STATE_VERSION
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TestState:
        """Rebuild a state from :meth:`to_json` output."""
        if data.get("v") != STATE_VERSION:
            raise ValueError(f"unsupported TestState version: {data.get('v')!r}")
        missing = _FIELDS.difference(data)
        if missing:
            raise ValueError(f"TestState JSON lacks {sorted(missing)}")
        new = cls.__new__(cls)
        fields = new.__dict__
        for name in _FIELDS:
            fields[name] = data[name]
        for name in _RINGS:
            fields[name] = bytes.fromhex("".join(fields[name]))
        if fields["pend_last_sha"] is not None:
            fields["pend_last_sha"] = bytes.fromhex(fields["pend_last_sha"])
        fields["conflict_at"] = list(fields["conflict_at"])
        return new

    def to_bytes(self) -> bytes:
        """Return the compact binary form (what the app stores; :meth:`from_bytes` reads it).

        A test that has only ever passed (most tests) takes 38 bytes plus its
        pass ring (6 bytes a SHA); any other state spells out every field.
        """
        fields = self.__dict__
        if _COLD_REST(fields) == _COLD_DEFAULTS:
            return _COLD.pack(STATE_VERSION, _COLD_KIND, *_COLD_VALUES(fields)) + self.pass_shas
        pend_last = self.pend_last_sha
        start = b"" if self.pend_start_sha is None else self.pend_start_sha.encode()
        broken = b"" if self.last_broken_sha is None else self.last_broken_sha.encode()
        flags = (
            self.last_fail
            | self.flagged << 1
            | self.hot << 2
            | (pend_last is not None) << 3
            | (self.pend_start_sha is not None) << 4
            | (self.last_broken_sha is not None) << 5
        )
        head = _FULL.pack(
            STATE_VERSION,
            _FULL_KIND,
            *_FULL_VALUES(fields),
            *[_NAN if t is None else t for t in _FULL_OPTIONAL(fields)],
            flags,
            len(self.pass_shas),
            len(self.fail_shas),
            len(self.conflict_shas),
            len(self.conflict_at),
            len(start),
            len(broken),
        )
        return b"".join(
            (
                head,
                pend_last or b"",
                self.pass_shas,
                self.fail_shas,
                self.conflict_shas,
                array("d", self.conflict_at).tobytes(),
                start,
                broken,
            )
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> TestState:
        """Rebuild a state from :meth:`to_bytes` output."""
        if data[:1] != _VERSION_BYTE:
            raise ValueError(f"unsupported TestState version: {data[:1]!r}")
        new = cls.__new__(cls)
        if data[1] == _COLD_KIND:
            fields = dict(_COLD_STATE)
            (
                fields["n"],
                fields["n_pass"],
                fields["epoch"],
                fields["first_at"],
                fields["last_at"],
                fields["pw"],
            ) = _COLD_READ.unpack_from(data)
            fields["pass_shas"] = data[_COLD_SIZE:]
            fields["conflict_at"] = []
            new.__dict__ = fields
            return new
        if data[1] != _FULL_KIND:
            raise ValueError(f"unknown TestState encoding: {data[1]}")
        values = _FULL_READ.unpack_from(data)
        fields = dict(zip(_FULL_NAMES, values, strict=False))
        for name in _OPTIONAL_NAMES:
            if fields[name] != fields[name]:  # NaN stands for None
                fields[name] = None
        flags, n_pass, n_fail, n_conflict, n_at, n_start, n_broken = values[len(_FULL_NAMES) :]
        fields["last_fail"] = bool(flags & 1)
        fields["flagged"] = bool(flags & 2)
        fields["hot"] = bool(flags & 4)
        at = _FULL_SIZE
        if flags & 8:
            fields["pend_last_sha"] = data[at : at + _K]
            at += _K
        else:
            fields["pend_last_sha"] = None
        for name, size in zip(_RINGS_STORED, (n_pass, n_fail, n_conflict), strict=True):
            fields[name] = data[at : at + size]
            at += size
        fields["conflict_at"] = array("d", data[at : at + 8 * n_at]).tolist()
        at += 8 * n_at
        fields["pend_start_sha"] = data[at : at + n_start].decode() if flags & 16 else None
        at += n_start
        fields["last_broken_sha"] = data[at : at + n_broken].decode() if flags & 32 else None
        new.__dict__ = fields
        return new

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TestState):
            return NotImplemented
        return self.to_json() == other.to_json()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"TestState(n={self.n}, n_fail={self.n_fail}, flagged={self.flagged})"


_FIELDS = frozenset(TestState().__dict__)
_RINGS = ("conflict_shas", "fail_shas", "pass_shas")
_RINGS_STORED = ("pass_shas", "fail_shas", "conflict_shas")  # their order in the binary form

# The binary form: the version byte, a kind byte, then either the few fields of
# a test that has only passed ("cold") and its pass ring, or every field
# ("full"): the numbers, flags, ring and SHA lengths, then the variable parts.
_VERSION_BYTE = bytes((STATE_VERSION,))
_NAN = float("nan")
_COLD_KIND, _FULL_KIND = 1, 2
_COLD_NAMES = ("n", "n_pass", "epoch", "first_at", "last_at", "pw")
_COLD = struct.Struct("<BBiiiddd")
_COLD_READ = struct.Struct("<2xiiiddd")  # the same, skipping the version and kind
_COLD_SIZE = _COLD.size
_COLD_VALUES = itemgetter(*_COLD_NAMES)
_COLD_STATE = TestState().__dict__
_COLD_REST_NAMES = tuple(sorted(_FIELDS - {*_COLD_NAMES, "pass_shas"}))
_COLD_REST = itemgetter(*_COLD_REST_NAMES)
_COLD_DEFAULTS = _COLD_REST(_COLD_STATE)
_INT_NAMES = (
    "n",
    "n_pass",
    "n_fail",
    "infra",
    "branch_fails",
    "conflicts",
    "pend_n",
    "pend_fails",
    "pend_shas",
    "broken_episodes",
    "q_n",
    "epoch",
)
_FLOAT_NAMES = ("first_at", "last_at", "pw", "fw", "flips", "pend_w", "q_rate", "q_llr")
_OPTIONAL_NAMES = ("last_failure_at", "last_counted_at", "pend_start_at", "q_at", "q_fixed_at")
_FULL_NAMES = _INT_NAMES + _FLOAT_NAMES + _OPTIONAL_NAMES
_FULL_VALUES = itemgetter(*_INT_NAMES, *_FLOAT_NAMES)
_FULL_OPTIONAL = itemgetter(*_OPTIONAL_NAMES)
# ... then flags (last_fail, flagged, hot, which of pend_last_sha, pend_start_sha
# and last_broken_sha are present), the byte lengths of the three rings, the
# count of conflict times, and the byte lengths of the two SHAs.
_FULL_BODY = f"{len(_INT_NAMES)}i{len(_FLOAT_NAMES) + len(_OPTIONAL_NAMES)}dB6H"
_FULL = struct.Struct(f"<BB{_FULL_BODY}")
_FULL_READ = struct.Struct(f"<2x{_FULL_BODY}")
_FULL_SIZE = _FULL.size


# --------------------------------------------------------------------------- fold


def _clock(at: datetime, config: ScoringConfig) -> tuple[float, int, float]:
    """Return (timestamp, epoch, weight) of a run: weight = 2**(t/hl - epoch)."""
    if at.tzinfo is None:
        raise ValueError("run times must be timezone-aware")
    ts = at.timestamp()
    lvl = ts / (_DAY * config.half_life_days)
    epoch = int(lvl // _EPOCH_HALF_LIVES) * _EPOCH_HALF_LIVES
    return ts, epoch, 2.0 ** (lvl - epoch)


def _rebase(st: TestState, epoch: int) -> None:
    factor = 2.0 ** (st.epoch - epoch)
    st.pw *= factor
    st.fw *= factor
    st.flips *= factor
    st.pend_w *= factor
    st.epoch = epoch


def _ring_add(ring: bytes, sha: bytes, cap: int) -> bytes:
    """Return ``ring`` with ``sha`` last unless it holds it already (at most ``cap`` keys)."""
    if ring[-_K:] == sha or _ring_has(ring, sha):
        return ring
    ring += sha
    return ring[_K:] if len(ring) > cap * _K else ring


def is_storm(tests: int, failed: int, config: ScoringConfig = DEFAULT_CONFIG) -> bool:
    """Decide whether a run with this many tests and first-attempt failures is an infra storm."""
    return (
        tests >= config.storm_min_tests
        and failed >= config.storm_min_failures
        and failed >= config.storm_fraction * tests
    )


def apply_run(
    states: dict[str, TestState], run: Run, config: ScoringConfig = DEFAULT_CONFIG
) -> RunSummary:
    """Fold one run into ``states`` in place (the step behind update and analyze)."""
    ts, epoch, w = _clock(run.at, config)
    sha = run.sha
    short = _sha_key(sha)
    default = run.default_branch
    results = run.results
    # Rare path first: anything that is not a first attempt that passed.
    odd: dict[str, list[tuple[int, str]]] = {}
    skipped_first = 0
    for r in results:
        if r.retry or r.status != PASSED:
            if r.status == SKIPPED:
                if not r.retry:
                    skipped_first += 1
                continue
            entry = odd.get(r.test)
            if entry is None:
                odd[r.test] = [(r.retry, r.status)]
            else:
                entry.append((r.retry, r.status))
    failing: dict[str, tuple[int, bool]] = {}  # test -> (failed attempts, any retry passed)
    retries = 0
    for key, attempts in odd.items():
        retries += sum(1 for a in attempts if a[0])
        first = min(attempts)
        if first[0] != 0 or first[1] not in _FAILING:
            continue  # first attempt passed (retries after a pass are ignored)
        attempts.sort()
        n_failed = sum(1 for a in attempts if a[1] in _FAILING)
        passed_later = any(a[1] == PASSED for a in attempts)
        failing[key] = (n_failed, passed_later)
    n_tests = len(results) - retries - skipped_first
    storm = is_storm(n_tests, len(failing), config)
    get = states.get
    new_tests = 0
    conflicts = 0
    ring = config.sha_ring
    young = 2 * config.min_samples  # below this many runs, passes can still complete a flag

    for key, (n_failed, passed_later) in failing.items():
        st = get(key)
        if st is None:
            st = states[key] = TestState(ts, epoch)
            new_tests += 1
        if st.epoch != epoch:
            _rebase(st, epoch)
        st.n += 1
        st.last_at = ts
        if storm:
            st.infra += 1
            continue
        st.hot = True
        st.last_failure_at = ts
        if passed_later or _ring_has(st.pass_shas, short):
            conflicts += 1
            _conflict(st, short, ts, config)
            if default or st.pend_last_sha == short:
                # A MIXED commit ends the failing stretch; if the stretch
                # already held this commit it cannot have been a breakage.
                _resolve_stretch(st, w, config, conflict=st.pend_last_sha == short)
            _count_fail(st, w, config)
        elif default:
            if st.pend_n == 0:
                st.pend_start_sha = sha
                st.pend_start_at = ts
            if st.pend_last_sha != short:
                st.pend_shas += 1
                st.pend_last_sha = short
            st.pend_n += 1
            st.pend_fails += n_failed
            st.pend_w += w
        else:
            st.branch_fails += 1
        st.fail_shas = _ring_add(st.fail_shas, short, ring)
        _update_flag(st, ts, w, config)

    if storm:  # a tainted run: its passes are seen, not counted
        for r in results:
            if r.retry or r.status != PASSED:
                continue
            st = get(r.test)
            if st is None:
                st = states[r.test] = TestState(ts, epoch)
                new_tests += 1
            st.n += 1
            st.last_at = ts
        results = ()
    full, half = ring * _K, ring // 2 * _K  # the pass ring's cap and its trim, in bytes
    # The hot path: one first attempt that passed.  Keep it tiny.
    for r in results:
        if r.retry or r.status != PASSED:
            continue
        key = r.test
        st = get(key)
        if st is None:
            st = states[key] = TestState(ts, epoch)
            new_tests += 1
        elif st.epoch != epoch:
            _rebase(st, epoch)
        st.n += 1
        st.last_at = ts
        st.pw += w
        st.n_pass += 1
        ps = st.pass_shas
        if ps[-_K:] != short:
            ps += short
            # amortised: the ring keeps the last 16..32 SHAs
            st.pass_shas = ps[half:] if len(ps) > full else ps
        if st.hot:
            changed = st.flagged or st.n_pass + st.n_fail <= young
            if _ring_has(st.fail_shas, short) and not _ring_has(st.conflict_shas, short):
                conflicts += 1
                changed = True
                _conflict(st, short, ts, config)
                if st.pend_n and st.pend_last_sha == short:
                    _resolve_stretch(st, w, config, conflict=True)
                elif not default and st.branch_fails > 0:
                    st.branch_fails -= 1  # that branch failure was a flake after all
                    _count_fail(st, w, config)
            if default and st.pend_n:
                changed = True
                _resolve_stretch(st, w, config)
            if st.last_fail:
                st.flips += w
                st.last_fail = False
            if st.q_at is not None and st.q_fixed_at is None:
                changed = True
                _sprt_step(st, ts, 1, 0, config)
            if changed:  # a plain pass cannot raise an unflagged test past the bar
                _update_flag(st, ts, w, config)

    return RunSummary(
        run_id=run.id,
        sha=sha,
        tests=n_tests,
        failed=len(failing),
        storm=storm,
        infra_failures_excluded=len(failing) if storm else 0,
        conflicts=conflicts,
        new_tests=new_tests,
    )


def _conflict(st: TestState, sha: bytes, ts: float, config: ScoringConfig) -> None:
    if _ring_has(st.conflict_shas, sha):
        return
    st.conflicts += 1
    st.conflict_shas += sha
    st.conflict_at.append(ts)
    if len(st.conflict_shas) > config.conflict_ring * _K:
        st.conflict_shas = st.conflict_shas[_K:]
        del st.conflict_at[0]


def _count_fail(st: TestState, w: float, config: ScoringConfig, count: int = 1) -> None:
    st.fw += w * count
    st.n_fail += count
    st.last_counted_at = st.last_at
    if not st.last_fail:
        st.flips += w
        st.last_fail = True
    if st.q_at is not None and st.q_fixed_at is None:
        _sprt_step(st, st.last_at, 0, count, config)


def _stretch_log_bf(st: TestState, w: float, config: ScoringConfig) -> float:
    """Log Bayes factor: the pending stretch is a new always-failing segment vs the test's rate."""
    a = config.prior_fail + st.fw / w
    b = config.prior_pass + st.pw / w
    f = st.pend_fails
    new_segment = -math.log(f + 1.0)  # Beta(1, 1) marginal of f failures out of f
    same_rate = math.lgamma(a + f) + math.lgamma(a + b) - math.lgamma(a) - math.lgamma(a + b + f)
    return new_segment - same_rate


def _stretch_is_broken(st: TestState, w: float, config: ScoringConfig) -> bool:
    return (
        st.pend_n > 0
        and st.pend_shas >= config.broken_min_shas
        and _stretch_log_bf(st, w, config) >= config.broken_log_bayes_factor
    )


def _resolve_stretch(
    st: TestState, w: float, config: ScoringConfig, *, conflict: bool = False
) -> None:
    """Close the pending default-branch failing stretch: drop it as broken or count it."""
    if not st.pend_n:
        return
    if not conflict and (
        _stretch_is_broken(st, w, config)
        or (  # one commit that failed again on retry or re-run, far beyond the test's rate
            st.pend_fails >= 2 and _stretch_log_bf(st, w, config) >= config.broken_log_bayes_factor
        )
    ):
        st.broken_episodes += 1
        st.last_broken_sha = st.pend_start_sha
    else:
        st.fw += st.pend_w
        st.n_fail += st.pend_n
        st.last_counted_at = st.last_failure_at
        if not st.last_fail:
            st.flips += w
        st.last_fail = True
        if st.q_at is not None and st.q_fixed_at is None:
            _sprt_step(st, st.last_at, 0, st.pend_n, config)
    st.pend_n = 0
    st.pend_fails = 0
    st.pend_shas = 0
    st.pend_w = 0.0
    st.pend_last_sha = None
    st.pend_start_sha = None
    st.pend_start_at = None


def _flag_rule(st: TestState, ts: float, c: ScoringConfig, scale: float | None = None) -> bool:
    """Apply the hysteresis at ts: flag at a higher bar than clear (cheapest checks first).

    ``scale`` is ``2 ** (epoch - ts / half_life)`` when the caller has it already.
    """
    conflicts = st.conflict_at
    if conflicts and max(conflicts) >= ts - c.conflict_window_days * _DAY:
        return True
    flagged = st.flagged
    if flagged and st.q_at is not None and st.q_fixed_at is None:
        return True  # a quarantined test leaves 'flaky' through the SPRT only
    if not flagged and st.fw == 0.0:
        return False
    if scale is None:
        scale = math.pow(2.0, st.epoch - ts / (_DAY * c.half_life_days))
    fails = st.fw * scale
    n_eff = fails + st.pw * scale
    score = (c.prior_fail + fails) / (c.prior_fail + c.prior_pass + n_eff)
    last = st.last_counted_at
    if last is None or ts - last >= c.quiet_days * _DAY:
        return False  # quiet: cleared, and old evidence alone never flags again
    if flagged:
        return score >= c.clear_score and fails >= c.clear_failures
    return score >= c.flag_score and fails >= c.flag_failures and n_eff >= c.min_samples


def _update_flag(st: TestState, ts: float, w: float, config: ScoringConfig) -> None:
    st.flagged = _flag_rule(st, ts, config)


# --------------------------------------------------------------------------- SPRT


def _sprt_bounds(config: ScoringConfig) -> tuple[float, float]:
    upper = math.log((1.0 - config.sprt_beta) / config.sprt_alpha)
    lower = math.log(config.sprt_beta / (1.0 - config.sprt_alpha))
    return lower, upper


def _sprt_steps(rate: float, config: ScoringConfig) -> tuple[float, float]:
    p0 = min(max(rate, config.sprt_min_rate), config.sprt_max_rate)
    p1 = p0 * config.sprt_fixed_ratio
    return math.log((1.0 - p1) / (1.0 - p0)), math.log(p1 / p0)


def sprt_fixed(
    rate_at_quarantine: float,
    passes: int,
    failures: int,
    config: ScoringConfig = DEFAULT_CONFIG,
) -> SprtDecision:
    """Run Wald's SPRT on runs since quarantine: is the test fixed (rate fell tenfold)?

    Counts are order-free here; :class:`TestState` runs the sequential version
    (holding the statistic at the lower bound after 'still_flaky').
    """
    lower, upper = _sprt_bounds(config)
    on_pass, on_fail = _sprt_steps(rate_at_quarantine, config)
    llr = passes * on_pass + failures * on_fail
    if llr >= upper:
        decision = "fixed"
    elif llr <= lower:
        decision = "still_flaky"
    else:
        decision = "continue"
    needed = max(0, math.ceil((upper - max(llr, 0.0)) / on_pass - 1e-9))
    return SprtDecision(decision=decision, llr=llr, clean_runs_needed=needed)


def _sprt_step(st: TestState, ts: float, passes: int, fails: int, config: ScoringConfig) -> None:
    lower, upper = _sprt_bounds(config)
    on_pass, on_fail = _sprt_steps(st.q_rate, config)
    st.q_n += passes + fails
    # A failure that reaches the 'still flaky' bound holds the statistic there
    # (a CUSUM-style floor) rather than restarting at 0: restarting after every
    # failure would give a 5% flake dozens of fresh 5% chances to look fixed.
    llr = st.q_llr + passes * on_pass + fails * on_fail
    if llr <= lower:
        # Still flaky, and we know more than at quarantine time: raise p0 to
        # the posterior's lower bound now.  Quarantine happens right after the
        # first evidence, when that bound is tiny; without this a stopped 5%
        # flake quarantined at an estimated 0.2% would need ~1,400 clean runs.
        scale = math.pow(2.0, st.epoch - ts / (_DAY * config.half_life_days))
        low = beta_ppf(
            (1.0 - config.interval_mass) / 2.0,
            config.prior_fail + st.fw * scale,
            config.prior_pass + st.pw * scale,
        )
        st.q_rate = min(max(st.q_rate, low), config.sprt_max_rate)
        llr = lower
    st.q_llr = llr
    if st.q_llr >= upper:
        st.q_fixed_at = ts
        # The code changed: history before the fix no longer describes it.
        st.fw = 0.0
        st.pend_w = 0.0
        st.flagged = False
        st.conflict_at = [0.0 for _ in st.conflict_at]


def mark_quarantined(
    st: TestState, at: datetime, rate: float, config: ScoringConfig = DEFAULT_CONFIG
) -> TestState:
    """Return a copy of ``st`` that tracks fixed-detection from quarantine at ``rate``.

    Pass the verdict's ``interval[0]`` as ``rate``: with the posterior mean a
    0.7% flake quarantined at an estimated 2.5% soon looks "fixed".
    """
    new = st.copy()
    new.q_at = at.timestamp()
    new.q_rate = min(max(rate, config.sprt_min_rate), config.sprt_max_rate)
    new.q_llr = 0.0
    new.q_n = 0
    new.q_fixed_at = None
    new.hot = True
    return new


def mark_unquarantined(st: TestState) -> TestState:
    """Return a copy of ``st`` without quarantine tracking."""
    new = st.copy()
    new.q_at = None
    new.q_rate = 0.0
    new.q_llr = 0.0
    new.q_n = 0
    new.q_fixed_at = None
    return new


# --------------------------------------------------------------------------- verdicts


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction for the incomplete beta (Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-10:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    ln_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    front = math.exp(ln_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def beta_ppf_exact(q: float, a: float, b: float) -> float:
    """Return the q-quantile of Beta(a, b) by bisection (slow; the reference for beta_ppf)."""
    lo, hi = 0.0, 1.0
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if _betainc(a, b, mid) < q:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-7 * hi:
            break
    return (lo + hi) / 2.0


_NORMAL = NormalDist()
_normal_quantile = lru_cache(maxsize=64)(_NORMAL.inv_cdf)  # q is one of two constants


def beta_ppf(q: float, a: float, b: float) -> float:
    """Return the q-quantile of Beta(a, b), approximately (a microsecond, not a millisecond).

    For a < 2 the Beta is close to Gamma(a) / (Gamma(a) + b): the Gamma quantile
    comes from its small-x series (lower tail, a < 1.5) or Wilson-Hilferty;
    for a >= 2, Abramowitz & Stegun 26.5.22.  Within 7% of the exact quantile
    for the 5% and 95% points whenever b >= 50, which the prior guarantees.
    """
    if a < 2.0:
        if q < 0.5 and a < 1.5:
            g = (q * math.gamma(a + 1.0)) ** (1.0 / a)
        else:
            c = 1.0 / (9.0 * a)
            g = a * max(1.0 - c + _normal_quantile(q) * math.sqrt(c), 1e-3) ** 3
        return float(g / (g + b + (a - 1.0) / 2.0))
    y = _normal_quantile(1.0 - q)
    lam = (y * y - 3.0) / 6.0
    ra, rb = 1.0 / (2.0 * a - 1.0), 1.0 / (2.0 * b - 1.0)
    h = 2.0 / (ra + rb)
    w = y * math.sqrt(h + lam) / h - (rb - ra) * (lam + 5.0 / 6.0 - 2.0 / (3.0 * h))
    return a / (a + b * math.exp(2.0 * w))


def _dt(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, tz=UTC)


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def _pct(x: float) -> str:
    return f"{x * 100:.1f}%" if x >= 0.001 else f"{x * 100:.2f}%"


def verdict_from_state(
    st: TestState, now: datetime, config: ScoringConfig = DEFAULT_CONFIG
) -> Verdict:
    """Judge one test from its state as of ``now`` (recency decay applied, state unchanged)."""
    ts = now.timestamp()
    scale = 2.0 ** (st.epoch - ts / (_DAY * config.half_life_days))
    f = st.fw * scale
    p = st.pw * scale
    score = (config.prior_fail + f) / (config.prior_fail + config.prior_pass + f + p)
    conflict_at = st.conflict_at
    if conflict_at:
        since = ts - config.conflict_window_days * _DAY
        recent = sum(1 for t in conflict_at if t >= since)
    else:
        recent = 0
    a = config.prior_fail + f
    b = config.prior_pass + p
    tail = (1.0 - config.interval_mass) / 2.0
    interval = (beta_ppf(tail, a, b), beta_ppf(1.0 - tail, a, b))
    broken = suspect = False
    if st.pend_n > 0:
        broken = _stretch_is_broken(st, 1.0 / scale, config)
        # An open failing stretch that already looks more like a new breakage
        # than like this test's usual failures may be a breakage still forming:
        # do not recommend quarantine until it resolves.
        suspect = _stretch_log_bf(st, 1.0 / scale, config) >= config.suspect_log_bayes_factor
    flagged = _flag_rule(st, ts, config, scale)
    fixed = st.q_at is not None and st.q_fixed_at is not None
    n_eff = f + p
    if broken:
        state = "broken"
    elif flagged:
        state = "flaky"
    elif fixed:
        state = "fixed"
    elif n_eff < config.min_samples:
        state = "insufficient"
    else:
        state = "healthy"
    evidence: Evidence = _frozen(
        Evidence,
        {
            "same_commit_conflicts": st.conflicts,
            "recent_conflicts": recent,
            "flip_rate": min(1.0, st.flips * scale / n_eff) if n_eff > 0 else 0.0,
            "infra_failures_excluded": st.infra,
            "branch_failures_excluded": st.branch_fails,
            "failures_counted": st.n_fail,
            "passes_counted": st.n_pass,
            "effective_runs": n_eff,
            "runs_seen": st.n,
            "first_failing_sha": st.pend_start_sha if broken else st.last_broken_sha,
            "broken_since": _dt(st.pend_start_at) if broken else None,
            "broken_commits": st.pend_shas if broken else 0,
            "broken_episodes": st.broken_episodes,
            "last_failure_at": None if st.last_failure_at is None else _dt(st.last_failure_at),
            "quarantined_at": None if st.q_at is None else _dt(st.q_at),
            "sprt_llr": st.q_llr if st.q_at is not None else None,
            "runs_since_quarantine": st.q_n,
        },
    )
    verdict: Verdict = _frozen(
        Verdict,
        {
            "state": state,
            "score": score,
            "interval": interval,
            "quarantine": state == "flaky" and not suspect,
            "evidence": evidence,
            "reason": _reason(state, st, score, recent, n_eff, config),
        },
    )
    return verdict


def _frozen(cls: type, fields: dict[str, Any]) -> Any:
    """Build a frozen dataclass from all its fields, without its __init__.

    The generated __init__ sets each field through object.__setattr__, which is
    most of the cost of a verdict (one per test per run); this fills __dict__.
    """
    obj: Any = object.__new__(cls)
    obj.__dict__.update(fields)
    return obj


def _reason(
    state: str, st: TestState, score: float, recent: int, n_eff: float, config: ScoringConfig
) -> str:
    window = f"{config.conflict_window_days:g} days"
    if state == "broken":
        sha = (st.pend_start_sha or "?")[:10]
        return (
            f"fails on every run of the default branch since commit {sha} "
            f"({st.pend_shas} commits, {st.pend_n} runs), also on retry: broken, not flaky"
        )
    if state == "fixed":
        return (
            f"no longer fails at its quarantine rate of {_pct(st.q_rate)}: "
            f"{st.q_n} runs since quarantine pass a sequential test (SPRT)"
        )
    if state == "flaky":
        if recent:
            times = "once" if recent == 1 else f"{recent} times"
            return f"passed and failed on the same commit {times} in {window}"
        return f"fails about {_pct(score)} of runs on good code ({st.n_fail} failures counted)"
    if state == "insufficient":
        return f"only {st.n} runs so far; not enough to judge"
    if st.infra and not st.n_fail:
        return f"passes on good code; {st.infra} failures were infrastructure outages"
    if st.branch_fails and not st.n_fail:
        return f"passes on good code; {st.branch_fails} failures were breakages on a branch"
    return f"no same-commit conflict in {window}; fails {_pct(score)} of runs on good code"


# --------------------------------------------------------------------------- API


def update(
    states: Mapping[str, TestState],
    run: Run,
    *,
    now: datetime,
    config: ScoringConfig = DEFAULT_CONFIG,
    copy: bool = True,
) -> tuple[dict[str, TestState], dict[str, Verdict], RunSummary]:
    """Fold one run into copies of the states of its tests; return them, their verdicts, a summary.

    Only tests with a non-skipped result in ``run`` are read, copied and returned;
    ``states`` is not modified.  With ``copy=False`` the run's states are folded
    in place instead (for a caller that owns them, such as one just decoded).
    """
    keys = {r.test for r in run.results if r.status != SKIPPED}
    if copy:
        work = {k: states[k].copy() for k in keys if k in states}
    else:
        work = {k: states[k] for k in keys if k in states}
    summary = apply_run(work, run, config)
    verdicts = {k: verdict_from_state(st, now, config) for k, st in work.items()}
    return work, verdicts, summary


def fold(
    runs: Iterable[Run],
    config: ScoringConfig = DEFAULT_CONFIG,
    states: dict[str, TestState] | None = None,
) -> dict[str, TestState]:
    """Fold runs (sorted by time, stable) into states; the batch half of analyze()."""
    states = {} if states is None else states
    for run in sorted(runs, key=lambda r: r.at):
        apply_run(states, run, config)
    return states


def analyze(
    runs: Iterable[Run], *, now: datetime, config: ScoringConfig = DEFAULT_CONFIG
) -> dict[str, Verdict]:
    """Score every test in a history: a fold of :func:`apply_run`, then verdicts at ``now``."""
    states = fold(runs, config)
    return {k: verdict_from_state(st, now, config) for k, st in states.items()}
