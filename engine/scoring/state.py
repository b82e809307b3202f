"""TestState: the bounded running aggregate of one test, and its byte and JSON forms.

The app stores a state as :meth:`TestState.to_bytes` (a few hundred bytes);
:meth:`TestState.to_json` is the readable form, which is also how states were
stored before migration 0035 (the analysis still reads those rows).  Both forms
are version :data:`STATE_VERSION`: 3, version 2 plus the weight of a new
test's family prior (``seed_failure_weight``, ``seed_pass_weight``), and a
recovery statistic (``recovery_llr``) whose clean stretch restarts at any
failure; version 2 added the recovery fields to version 1.  The readers
upgrade older states (a worker not yet upgraded may still write one during a
rolling deploy; migration 0041 upgraded stored version-1 states): version 1
by migration 0041's rule, version 2 with its recovery statistic and, after a
failure its count did not see, its clean-run count started over, so that a
statistic an older engine built is never read as this one's.  A worker of an
older engine refuses a version-3 state rather than misread it.  Field names
and layout are a stored format: change them only with a new version.  The
model is described in docs/scoring.md.
"""

from __future__ import annotations

import hashlib
import json
import struct
from array import array
from collections.abc import Mapping
from operator import itemgetter
from typing import Any

STATE_VERSION = 3  # of TestState's fields, in its JSON and in its binary form
SHA_KEY_BYTES = 6  # the rings keep a 48-bit digest of each SHA, not the SHA
KEY_BYTES = SHA_KEY_BYTES


def sha_key(sha: str) -> bytes:
    """Return a short stable key for a commit (a digest: synthetic SHAs share prefixes)."""
    return hashlib.blake2b(sha.encode(), digest_size=SHA_KEY_BYTES).digest()


def ring_has(ring: bytes, key: bytes) -> bool:
    """Whether a ring (keys of SHA_KEY_BYTES, end to end) holds ``key``."""
    at = ring.find(key)
    while at >= 0:
        if at % KEY_BYTES == 0:
            return True
        at = ring.find(key, at + 1)  # a match straddling two keys is not a key
    return False


def ring_add(ring: bytes, key: bytes, cap: int) -> bytes:
    """Return ``ring`` with ``key`` last unless it holds it already (at most ``cap`` keys)."""
    if ring[-KEY_BYTES:] == key or ring_has(ring, key):
        return ring
    ring += key
    return ring[KEY_BYTES:] if len(ring) > cap * KEY_BYTES else ring


class TestState:
    """Bounded running aggregate of one test's history (mutable; plain attributes).

    Scaled weights (``pass_weight``, ``failure_weight``, ``flip_weight``,
    ``stretch_weight``) are sums of ``2 ** (t / half_life - epoch)``; multiply
    by ``2 ** (epoch - t_now / half_life)`` to read them as effective counts at
    ``t_now``.  The SHA rings (``passed_shas``, ``failed_shas``,
    ``conflict_shas``) are bytes: 48-bit keys of SHAs (:data:`SHA_KEY_BYTES`
    each) end to end, oldest first; the first failing commits
    (``stretch_first_sha``, ``last_broken_sha``) are kept whole.  Times are
    POSIX timestamps.
    """

    __test__ = False  # not a pytest class

    def __init__(self, at: float = 0.0, epoch: int = 0) -> None:
        self.runs_seen = 0  # non-skipped runs, storms included
        self.first_at = at
        self.last_at = at
        self.epoch = epoch
        self.pass_weight = 0.0
        self.failure_weight = 0.0
        self.flip_weight = 0.0
        self.passes_counted = 0
        self.failures_counted = 0
        self.last_failed = False
        self.last_failure_at: float | None = None  # any non-storm failure
        self.last_counted_failure_at: float | None = None  # last failure counted as a flake
        self.infra_failures = 0
        self.branch_failures = 0
        self.passed_shas = b""
        self.failed_shas = b""
        self.same_commit_conflicts = 0
        self.conflict_shas = b""
        self.conflict_times: list[float] = []
        # The open failing stretch on the default branch (docs/scoring.md).
        self.stretch_runs = 0
        self.stretch_failures = 0
        self.stretch_commits = 0
        self.stretch_weight = 0.0
        self.stretch_last_sha: bytes | None = None  # a key, like the rings
        self.stretch_first_sha: str | None = None
        self.stretch_started_at: float | None = None
        self.broken_episodes = 0
        self.last_broken_sha: str | None = None
        self.flagged = False
        self.eventful = False  # anything beyond plain passes: the fold takes the slow path
        # Fixed detection while quarantined (Wald's SPRT).
        self.quarantined_at: float | None = None
        self.quarantine_rate = 0.0
        self.sprt_llr = 0.0
        self.runs_since_quarantine = 0
        self.fixed_at: float | None = None
        # Recovery while not quarantined (docs/scoring.md, "Recovery").
        self.clean_runs = 0  # counted first attempts that passed since the last counted failure
        self.recovery_rate = 0.0  # the "still flaky" rate judged against; 0.0 while not watching
        # ... and the log-likelihood ratio of "fixed" the clean stretch gives (an engine
        # before this one started it at -2.25: such a state only needs a little longer).
        self.recovery_llr = 0.0
        self.recovered_at: float | None = None
        self.recovered_from = 0.0  # the estimated rate when it recovered ("was 10%")
        # The part of the scaled weights that is a new test's family prior, not
        # its own runs (engine/scoring/family.py): a family pools its members'
        # own runs only, and a reason never reads the prior as the test's runs.
        self.seed_failure_weight = 0.0
        self.seed_pass_weight = 0.0

    def copy(self) -> TestState:
        """Return an independent copy."""
        new = TestState.__new__(TestState)
        fields = new.__dict__
        fields.update(self.__dict__)
        fields["conflict_times"] = list(self.conflict_times)
        return new

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-safe dict (floats round-trip exactly through json; keys as hex)."""
        data: dict[str, Any] = {JSON_KEYS[name]: value for name, value in self.__dict__.items()}
        for name in RINGS:
            ring = self.__dict__[name]
            data[JSON_KEYS[name]] = [
                ring[at : at + KEY_BYTES].hex() for at in range(0, len(ring), KEY_BYTES)
            ]
        if self.stretch_last_sha is not None:
            data[JSON_KEYS["stretch_last_sha"]] = self.stretch_last_sha.hex()
        data[JSON_KEYS["conflict_times"]] = list(self.conflict_times)
        data["v"] = STATE_VERSION
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TestState:
        """Rebuild a state from :meth:`to_json` output (versions 1 and 2 read as upgraded)."""
        if data.get("v") != STATE_VERSION:
            from engine.scoring.upgrades import upgrade_json  # only old states need it

            data = upgrade_json(data)
        if data.get("v") != STATE_VERSION:
            raise ValueError(f"unsupported TestState version: {data.get('v')!r}")
        missing = STORED_KEYS.difference(data)
        if missing:
            raise ValueError(f"TestState JSON lacks {sorted(missing)}")
        new = cls.__new__(cls)
        fields = new.__dict__
        for name, key in JSON_KEYS.items():
            fields[name] = data[key]
        for name in RINGS:
            fields[name] = bytes.fromhex("".join(fields[name]))
        if fields["stretch_last_sha"] is not None:
            fields["stretch_last_sha"] = bytes.fromhex(fields["stretch_last_sha"])
        fields["conflict_times"] = list(fields["conflict_times"])
        return new

    def to_bytes(self) -> bytes:
        """Return the compact binary form (what the app stores; :meth:`from_bytes` reads it).

        A test that has only ever passed (most tests) takes 38 bytes plus its
        pass ring (6 bytes a SHA); any other state spells out every field.
        """
        fields = self.__dict__
        if _COLD_REST(fields) == _COLD_DEFAULTS:
            return _COLD.pack(STATE_VERSION, _COLD_KIND, *_COLD_VALUES(fields)) + self.passed_shas
        stretch_last = self.stretch_last_sha
        first = b"" if self.stretch_first_sha is None else self.stretch_first_sha.encode()
        broken = b"" if self.last_broken_sha is None else self.last_broken_sha.encode()
        flags = (
            self.last_failed
            | self.flagged << 1
            | self.eventful << 2
            | (stretch_last is not None) << 3
            | (self.stretch_first_sha is not None) << 4
            | (self.last_broken_sha is not None) << 5
            | bool(self.seed_failure_weight or self.seed_pass_weight) << 6
        )
        head = _FULL.pack(
            STATE_VERSION,
            _FULL_KIND,
            *_FULL_VALUES(fields),
            *[_NAN if value is None else value for value in _FULL_OPTIONAL(fields)],
            flags,
            len(self.passed_shas),
            len(self.failed_shas),
            len(self.conflict_shas),
            len(self.conflict_times),
            len(first),
            len(broken),
        )
        return b"".join(
            (
                head,
                stretch_last or b"",
                self.passed_shas,
                self.failed_shas,
                self.conflict_shas,
                array("d", self.conflict_times).tobytes(),
                first,
                broken,
                _RECOVERY.pack(
                    self.clean_runs,
                    self.recovery_rate,
                    self.recovery_llr,
                    _NAN if self.recovered_at is None else self.recovered_at,
                    self.recovered_from,
                ),
                _SEED.pack(self.seed_failure_weight, self.seed_pass_weight) if flags & 64 else b"",
            )
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> TestState:
        """Rebuild a state from :meth:`to_bytes` output (versions 1 and 2 read as upgraded)."""
        if data[:1] != _VERSION_BYTE:
            from engine.scoring.upgrades import upgrade_bytes  # only old states need it

            data = upgrade_bytes(data)
            if data[:1] != _VERSION_BYTE:
                raise ValueError(f"unsupported TestState version: {data[:1]!r}")
        new = cls.__new__(cls)
        if data[1] == _COLD_KIND:
            fields = _COLD_STATE.copy()  # dict(...) of an instance's dict is several times slower
            (
                fields["runs_seen"],
                fields["passes_counted"],
                fields["epoch"],
                fields["first_at"],
                fields["last_at"],
                fields["pass_weight"],
            ) = _COLD_READ.unpack_from(data)
            fields["passed_shas"] = data[_COLD_SIZE:]
            fields["conflict_times"] = []
            new.__dict__ = fields
            return new
        if data[1] != _FULL_KIND:
            raise ValueError(f"unknown TestState encoding: {data[1]}")
        values = _FULL_READ.unpack_from(data)
        fields = dict(zip(_FULL_NAMES, values, strict=False))
        for name in _OPTIONAL_NAMES:
            if fields[name] != fields[name]:  # NaN stands for None
                fields[name] = None
        flags, n_passed, n_failed, n_conflict, n_times, n_first, n_broken = values[
            len(_FULL_NAMES) :
        ]
        fields["last_failed"] = bool(flags & 1)
        fields["flagged"] = bool(flags & 2)
        fields["eventful"] = bool(flags & 4)
        at = _FULL_SIZE
        if flags & 8:
            fields["stretch_last_sha"] = data[at : at + KEY_BYTES]
            at += KEY_BYTES
        else:
            fields["stretch_last_sha"] = None
        for name, size in zip(_RINGS_STORED, (n_passed, n_failed, n_conflict), strict=True):
            fields[name] = data[at : at + size]
            at += size
        fields["conflict_times"] = array("d", data[at : at + 8 * n_times]).tolist()
        at += 8 * n_times
        fields["stretch_first_sha"] = data[at : at + n_first].decode() if flags & 16 else None
        at += n_first
        fields["last_broken_sha"] = data[at : at + n_broken].decode() if flags & 32 else None
        at += n_broken
        recovery = dict(zip(_RECOVERY_NAMES, _RECOVERY.unpack_from(data, at), strict=True))
        if recovery["recovered_at"] != recovery["recovered_at"]:
            recovery["recovered_at"] = None
        fields.update(recovery)
        if flags & 64:
            fields["seed_failure_weight"], fields["seed_pass_weight"] = _SEED.unpack_from(
                data, at + _RECOVERY_SIZE
            )
        else:
            fields["seed_failure_weight"] = fields["seed_pass_weight"] = 0.0
        new.__dict__ = fields
        return new

    @classmethod
    def from_stored(cls, stored: bytes | str) -> TestState:
        """Rebuild a state from what the app stores: :meth:`to_bytes`, or the JSON text of
        :meth:`to_json` (as bytes or str: rows written before migration 0035)."""
        if type(stored) is bytes and stored[:1] != b"{":
            return cls.from_bytes(stored)
        return cls.from_json(json.loads(stored))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TestState):
            return NotImplemented
        return self.to_json() == other.to_json()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"TestState(runs_seen={self.runs_seen}, "
            f"failures_counted={self.failures_counted}, flagged={self.flagged})"
        )


# Each field's key in the JSON form (short names, as stored before 0035; version 2
# added the recovery fields, clean_n to r_from; version 3 the seed weights).
JSON_KEYS = {
    "runs_seen": "n",
    "first_at": "first_at",
    "last_at": "last_at",
    "epoch": "epoch",
    "pass_weight": "pw",
    "failure_weight": "fw",
    "flip_weight": "flips",
    "passes_counted": "n_pass",
    "failures_counted": "n_fail",
    "last_failed": "last_fail",
    "last_failure_at": "last_failure_at",
    "last_counted_failure_at": "last_counted_at",
    "infra_failures": "infra",
    "branch_failures": "branch_fails",
    "passed_shas": "pass_shas",
    "failed_shas": "fail_shas",
    "same_commit_conflicts": "conflicts",
    "conflict_shas": "conflict_shas",
    "conflict_times": "conflict_at",
    "stretch_runs": "pend_n",
    "stretch_failures": "pend_fails",
    "stretch_commits": "pend_shas",
    "stretch_weight": "pend_w",
    "stretch_last_sha": "pend_last_sha",
    "stretch_first_sha": "pend_start_sha",
    "stretch_started_at": "pend_start_at",
    "broken_episodes": "broken_episodes",
    "last_broken_sha": "last_broken_sha",
    "flagged": "flagged",
    "eventful": "hot",
    "quarantined_at": "q_at",
    "quarantine_rate": "q_rate",
    "sprt_llr": "q_llr",
    "runs_since_quarantine": "q_n",
    "fixed_at": "q_fixed_at",
    "clean_runs": "clean_n",
    "recovery_rate": "r_rate",
    "recovery_llr": "r_llr",
    "recovered_at": "r_at",
    "recovered_from": "r_from",
    "seed_failure_weight": "seed_fw",
    "seed_pass_weight": "seed_pw",
}
_FIELDS = frozenset(TestState().__dict__)
STORED_KEYS = frozenset(JSON_KEYS.values())
RINGS = ("conflict_shas", "failed_shas", "passed_shas")
_RINGS_STORED = ("passed_shas", "failed_shas", "conflict_shas")  # their order in the binary form

# The binary form: the version byte, a kind byte, then either the few fields of
# a test that has only passed ("cold") and its pass ring, or every field
# ("full"): the numbers, flags, ring and SHA lengths, then the variable parts.
_VERSION_BYTE = bytes((STATE_VERSION,))
_NAN = float("nan")
_COLD_KIND, _FULL_KIND = 1, 2
_COLD_NAMES = ("runs_seen", "passes_counted", "epoch", "first_at", "last_at", "pass_weight")
_COLD = struct.Struct("<BBiiiddd")
_COLD_READ = struct.Struct("<2xiiiddd")  # the same, skipping the version and kind
_COLD_SIZE = _COLD.size
_COLD_VALUES = itemgetter(*_COLD_NAMES)
_COLD_STATE = TestState().__dict__
_COLD_REST = itemgetter(*sorted(_FIELDS - {*_COLD_NAMES, "passed_shas"}))
_COLD_DEFAULTS = _COLD_REST(_COLD_STATE)
_INT_NAMES = (
    "runs_seen",
    "passes_counted",
    "failures_counted",
    "infra_failures",
    "branch_failures",
    "same_commit_conflicts",
    "stretch_runs",
    "stretch_failures",
    "stretch_commits",
    "broken_episodes",
    "runs_since_quarantine",
    "epoch",
)
_FLOAT_NAMES = (
    "first_at",
    "last_at",
    "pass_weight",
    "failure_weight",
    "flip_weight",
    "stretch_weight",
    "quarantine_rate",
    "sprt_llr",
)
_OPTIONAL_NAMES = (
    "last_failure_at",
    "last_counted_failure_at",
    "stretch_started_at",
    "quarantined_at",
    "fixed_at",
)
_FULL_NAMES = _INT_NAMES + _FLOAT_NAMES + _OPTIONAL_NAMES
_FULL_VALUES = itemgetter(*_INT_NAMES, *_FLOAT_NAMES)
_FULL_OPTIONAL = itemgetter(*_OPTIONAL_NAMES)
# ... then flags (last_failed, flagged, eventful, which of stretch_last_sha,
# stretch_first_sha and last_broken_sha are present, and whether the seed
# weights follow the recovery fields: only for a seeded test), the byte lengths of the
# three rings, the count of conflict times, and the byte lengths of the two SHAs.
_FULL_BODY = f"{len(_INT_NAMES)}i{len(_FLOAT_NAMES) + len(_OPTIONAL_NAMES)}dB6H"
_FULL = struct.Struct(f"<BB{_FULL_BODY}")
_FULL_READ = struct.Struct(f"<2x{_FULL_BODY}")
_FULL_SIZE = _FULL.size
# ... and last (version 2) the recovery fields, so that a version-1 state becomes
# a version-2 one by its version byte and this tail at its defaults.
_RECOVERY_NAMES = ("clean_runs", "recovery_rate", "recovery_llr", "recovered_at", "recovered_from")
_RECOVERY = struct.Struct("<i4d")
_RECOVERY_SIZE = _RECOVERY.size
# ... then (version 3) the seed weights, if the flags say so (most tests have none).
_SEED = struct.Struct("<2d")
