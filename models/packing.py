"""How results are packed: one row per run and block of 64 tests, and the attempts beside it.

A run's final outcome of each test goes into the ``ResultBlock`` of its block
(``ordinal // BLOCK``) at its slot (``ordinal % BLOCK``): one byte in ``codes``
(0: the test is not in the run; else its status code in the low three bits and
its retries, up to ``MAX_PACKED_RETRIES``, above them) and its duration in
``durations``: a little-endian uint32 of milliseconds (at most ``MAX_DURATION_SECONDS``)
for each test the block holds, in slot order, and none for an empty slot. So a
full block's are 256 bytes, and a run holding a few tests of many blocks (CI
sharded by test) pays 4 bytes per test beside the 64 of ``codes``, not 256.

What a byte cannot hold goes to ``ResultAttempt``, one row each:

- the final outcome again (``packed`` true) when the test failed or was
  retried, with its failure message and its exact retry index;
- every earlier attempt of a retried test (``packed`` false);
- every attempt of a test reported a second time in the run (``packed``
  false: a result of its own), and then the first occurrence too (``packed``
  true) if it had no row.

So every attempt of a test that failed or was retried in a run is a
``ResultAttempt`` row: the reads about failures never decode blocks. Failure
messages (of failed and errored attempts only) are referenced by id
(``FailureMessage``); messages of passed and skipped outcomes are not kept.

Pure: no database here (``models.bulk`` writes, ``models.result_reads`` reads).
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

from engine.junit import MAX_DURATION_SECONDS

BLOCK = 64
STATUS_CODES = {"passed": 1, "failed": 2, "error": 3, "skipped": 4}
STATUSES = {code: status for status, code in STATUS_CODES.items()}
FAILING_CODES = (STATUS_CODES["failed"], STATUS_CODES["error"])
MAX_PACKED_RETRIES = 31  # five bits; the exact index is on the packed attempt row
# Every stored duration is clamped here (the loader, store_results, migration 0047) to the
# JUnit parser's bound (11.6 days): result_attempt.duration_ms is an int4 (24.8 days).
MAX_MILLISECONDS = int(MAX_DURATION_SECONDS * 1000)
_EMPTY_CODES = bytes(BLOCK)
_EMPTY_DURATIONS = array("I", bytes(4 * BLOCK))
assert _EMPTY_DURATIONS.itemsize == 4


def status_code(status: str) -> int:
    """The code of a status (an unknown one counts as an error)."""
    return STATUS_CODES.get(status, STATUS_CODES["error"])


def milliseconds(seconds: float | None) -> int:
    """A duration in whole milliseconds, at most ``MAX_MILLISECONDS`` (NaN and negatives are 0)."""
    if seconds is None or not seconds > 0:  # NaN compares false
        return 0
    if seconds >= MAX_DURATION_SECONDS:  # infinity too
        return MAX_MILLISECONDS
    return min(MAX_MILLISECONDS, round(seconds * 1000))


class AttemptRow(NamedTuple):
    """One ``ResultAttempt`` of a run, before its message is given an id."""

    test_case_id: int
    status: int
    retry: int
    packed: bool
    duration_ms: int
    message: str | None
    failure_type: str | None


class RunPacker:
    """The results of one run, packed as they are added: blocks and attempt rows."""

    def __init__(self) -> None:
        self.blocks: dict[int, tuple[bytearray, array[int]]] = {}
        self.attempts: list[AttemptRow] = []
        self._again: set[int] = set()  # ordinals reported more than once in this run

    def add(
        self,
        test_case_id: int,
        ordinal: int,
        final: Any,
        earlier: Sequence[Any] = (),
    ) -> None:
        """Add one test's outcome: ``final`` and ``earlier`` attempts (oldest first), each with
        ``status``, ``duration``, ``message`` and ``failure_type`` (as ``engine.junit`` gives).

        An attempt's retry index is its position, or its own ``retry`` where it has one.
        """
        block, slot = divmod(ordinal, BLOCK)
        row = self.blocks.get(block)
        if row is None:
            row = self.blocks[block] = (bytearray(_EMPTY_CODES), array("I", _EMPTY_DURATIONS))
        codes, durations = row
        retries = getattr(final, "retry", len(earlier))
        code = status_code(final.status)
        attempts = self.attempts
        if codes[slot]:  # a second occurrence in this run: a result of its own
            first = codes[slot]
            if not first >> 3 and first & 7 not in FAILING_CODES and ordinal not in self._again:
                # the first occurrence (packed, no row of its own yet) gets its row: the
                # readers of attempt rows see every occurrence of a test that failed
                attempts.append(
                    AttemptRow(test_case_id, first & 7, 0, True, durations[slot], None, None)
                )
            self._again.add(ordinal)
            attempts.append(_row(test_case_id, code, retries, False, final))
        else:
            codes[slot] = code | min(retries, MAX_PACKED_RETRIES) << 3
            durations[slot] = milliseconds(final.duration)
            if retries or code in FAILING_CODES:
                attempts.append(_row(test_case_id, code, retries, True, final))
        for index, attempt in enumerate(earlier):
            retry = getattr(attempt, "retry", index)
            attempts.append(_row(test_case_id, status_code(attempt.status), retry, False, attempt))

    def packed_blocks(self) -> Iterator[tuple[int, bytes, bytes]]:
        """(block, codes, durations) of every block with an outcome (durations of the tests
        it holds only)."""
        for block, (codes, durations) in self.blocks.items():
            if codes.count(0):
                held = zip(durations, codes, strict=True)
                durations = array("I", [ms for ms, code in held if code])
            elif sys.byteorder == "big":
                durations = array("I", durations)
            if sys.byteorder == "big":
                durations.byteswap()
            yield block, bytes(codes), durations.tobytes()


def _row(test_case_id: int, code: int, retry: int, packed: bool, attempt: Any) -> AttemptRow:
    failing = code in FAILING_CODES
    return AttemptRow(
        test_case_id,
        code,
        retry,
        packed,
        milliseconds(attempt.duration),
        (attempt.message or None) if failing else None,
        (attempt.failure_type or None) if failing else None,
    )


def block_outcomes(block: int, codes: bytes) -> Iterator[tuple[int, int, int]]:
    """(ordinal, status code, retries) of each test a block holds."""
    base = block * BLOCK
    for slot, code in enumerate(codes):
        if code:
            yield base + slot, code & 7, code >> 3


def milliseconds_of(codes: bytes, durations: bytes) -> array[int]:
    """The 64 durations (milliseconds) of a block, 0 at an empty slot."""
    values = array("I", durations)
    if sys.byteorder == "big":
        values.byteswap()
    if len(values) == BLOCK:
        return values
    out = array("I", _EMPTY_DURATIONS)
    present = (slot for slot, code in enumerate(codes) if code)
    for slot, value in zip(present, values, strict=False):
        out[slot] = value
    return out


def duration_at(codes_to_slot: bytes, durations: bytes) -> float:
    """The duration (seconds) of the test at the last of ``codes_to_slot`` (a block's codes
    up to and including its slot), from the block's ``durations``."""
    index = len(codes_to_slot) - 1 - codes_to_slot[:-1].count(0)
    return int.from_bytes(durations[4 * index : 4 * index + 4], "little") / 1000
