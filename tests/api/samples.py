"""JUnit reports built in the tests (no report files are committed)."""

from __future__ import annotations

from collections.abc import Iterable
from xml.sax.saxutils import quoteattr

PASSED = "passed"
FAILED = "failed"
SHA = "a" * 40


def case(
    name: str, status: str = PASSED, *, classname: str = "tests.test_mod", reruns: int = 0
) -> str:
    """One <testcase>; ``reruns`` adds Surefire-style earlier failed attempts."""
    inner = "".join(
        f'<flakyFailure message="boom {i}" type="AssertionError" time="0.5"/>'
        for i in range(reruns)
    )
    if status == FAILED:
        inner += '<failure message="assert 1 == 2" type="AssertionError">trace</failure>'
    elif status == "error":
        inner += '<error message="crashed" type="RuntimeError">trace</error>'
    elif status == "skipped":
        inner += '<skipped message="not today"/>'
    return (
        f"<testcase classname={quoteattr(classname)} name={quoteattr(name)} "
        f'time="0.25">{inner}</testcase>'
    )


def report(cases: Iterable[str], *, suite: str = "suite") -> bytes:
    """A JUnit XML report with one suite holding ``cases``."""
    body = "".join(cases)
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>'
        f"<testsuite name={quoteattr(suite)}>{body}</testsuite></testsuites>"
    ).encode()


def simple(passed: int = 3, failed: int = 0, *, prefix: str = "test") -> bytes:
    """``passed`` passing and ``failed`` failing tests named ``{prefix}_{i}``."""
    cases = [case(f"{prefix}_{i}") for i in range(passed)]
    cases += [case(f"{prefix}_fail_{i}", FAILED) for i in range(failed)]
    return report(cases)


def key(name: str, classname: str = "tests.test_mod") -> str:
    """The stable key the parser gives a test built by ``case``."""
    return f"{classname}::{name}"
