"""Reading the stored states of earlier versions as the current one.

``TestState.from_bytes`` and ``from_json`` call these only for a state whose version
byte (or ``"v"``) is not the current one: each step lifts one version, and a value
that is not of the version a step reads passes through unchanged.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

from engine.scoring.state import (
    _COLD_KIND,
    _FLOAT_NAMES,
    _FULL_KIND,
    _INT_NAMES,
    _NAN,
    _RECOVERY,
    _RECOVERY_SIZE,
    _VERSION_BYTE,
    JSON_KEYS,
    STATE_VERSION,
)


def upgrade_bytes(data: bytes) -> bytes:
    """A binary state of version 1 or 2 as the current version; other values as they are."""
    return upgrade_v2_bytes(upgrade_v1_bytes(data))


def upgrade_json(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """A JSON state of version 1 or 2 as the current version; other values as they are."""
    return upgrade_v2_json(upgrade_v1_json(data))


# A version-1 state is a version-2 one with the recovery fields at their defaults:
# the same rule as migration 0041's upgrade (the engine does not import migrations;
# a test checks that both agree).
_V1_BYTE = b"\x01"
_V2_BYTE = b"\x02"
_V1_RECOVERY_TAIL = _RECOVERY.pack(0, 0.0, 0.0, _NAN, 0.0)
_V1_JSON_DEFAULTS: dict[str, Any] = {
    JSON_KEYS["clean_runs"]: 0,
    JSON_KEYS["recovery_rate"]: 0.0,
    JSON_KEYS["recovery_llr"]: 0.0,
    JSON_KEYS["recovered_at"]: None,
    JSON_KEYS["recovered_from"]: 0.0,
}


def upgrade_v1_bytes(data: bytes) -> bytes:
    """A version-1 binary state as version 2 (the full form gains the recovery tail)."""
    if data[:1] != _V1_BYTE or len(data) < 2 or data[1] not in (_COLD_KIND, _FULL_KIND):
        return data
    tail = _V1_RECOVERY_TAIL if data[1] == _FULL_KIND else b""
    return _V2_BYTE + data[1:] + tail


def upgrade_v1_json(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """A version-1 JSON state as version 2 (with the recovery keys at their defaults)."""
    if data.get("v") != 1:
        return data
    return {**data, **_V1_JSON_DEFAULTS, "v": 2}


# A version-2 state is a version-3 one without a family prior's weight (version 2
# kept none apart from the test's own), with its recovery statistic started over:
# version 2's statistic restarted only at counted failures and was held to other
# bounds, so reading it as version 3's could recover a test early.  Its clean-run
# count stands unless a failure it did not count (on a branch, or in a failing
# stretch) came after the last counted one.
_V2_JSON_DEFAULTS: dict[str, Any] = {
    JSON_KEYS["seed_failure_weight"]: 0.0,
    JSON_KEYS["seed_pass_weight"]: 0.0,
    JSON_KEYS["recovery_rate"]: 0.0,
    JSON_KEYS["recovery_llr"]: 0.0,
}
# last_failure_at and last_counted_failure_at: the first two optional floats of the full form
_V2_FAILURES = struct.Struct("<dd")
_V2_FAILURES_AT = 2 + 4 * len(_INT_NAMES) + 8 * len(_FLOAT_NAMES)


def _v2_clean_runs(clean_runs: int, last_failure: float | None, last_counted: float | None) -> int:
    """A version-2 clean-run count, or 0 when a failure it did not count came after it started."""
    if last_failure is None or last_failure == last_counted:
        return clean_runs
    return 0


def upgrade_v2_bytes(data: bytes) -> bytes:
    """A version-2 binary state as version 3 (see above); other values as they are."""
    if data[:1] != _V2_BYTE or len(data) < 2 or data[1] not in (_COLD_KIND, _FULL_KIND):
        return data
    if data[1] == _COLD_KIND:
        return _VERSION_BYTE + data[1:]
    last_failure, last_counted = (
        None if value != value else value
        for value in _V2_FAILURES.unpack_from(data, _V2_FAILURES_AT)
    )
    clean_runs, _rate, _llr, recovered_at, recovered_from = _RECOVERY.unpack_from(
        data, len(data) - _RECOVERY_SIZE
    )
    tail = _RECOVERY.pack(
        _v2_clean_runs(clean_runs, last_failure, last_counted),
        0.0,
        0.0,
        recovered_at,
        recovered_from,
    )
    return _VERSION_BYTE + data[1 : len(data) - _RECOVERY_SIZE] + tail


def upgrade_v2_json(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """A version-2 JSON state as version 3 (see above); other values as they are."""
    if data.get("v") != 2:
        return data
    clean_runs = _v2_clean_runs(
        data[JSON_KEYS["clean_runs"]],
        data[JSON_KEYS["last_failure_at"]],
        data[JSON_KEYS["last_counted_failure_at"]],
    )
    return {
        **data,
        **_V2_JSON_DEFAULTS,
        JSON_KEYS["clean_runs"]: clean_runs,
        "v": STATE_VERSION,
    }
