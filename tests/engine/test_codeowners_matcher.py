"""engine.codeowners matches in bounded work: hostile patterns, caps, and agreement
with the gitignore-to-regex translation on small random patterns and paths."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.codeowners import (
    MAX_PATH_CHARS,
    MAX_PATTERN_CHARS,
    MAX_WILDCARDS,
    Steps,
    parse,
)


def _reference(pattern: str) -> re.Pattern[str]:
    """The gitignore-to-regex translation the matcher must agree with (the oracle)."""
    directory_only = pattern.endswith("/")
    body = pattern.strip("/")
    anchored = pattern.startswith("/") or "/" in body
    segments = body.split("/") if body else ["**"]
    parts: list[str] = []
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == "**":
            parts.append(".*" if last else "(?:[^/]+/)*")
            continue
        glob = "".join(
            "[^/]*" if char == "*" else "[^/]" if char == "?" else re.escape(char)
            for char in segment
        )
        parts.append(glob + ("" if last else "/"))
    regex = "".join(parts)
    last_segment = segments[-1]
    if directory_only:
        regex += "/.*"
    elif last_segment != "**" and "*" not in last_segment and "?" not in last_segment:
        regex += "(?:/.*)?"
    prefix = "" if anchored else "(?:[^/]+/)*"
    return re.compile(prefix + regex + r"\Z")


def _only_rule(pattern: str):
    owners = parse(f"{pattern} @o")
    assert not owners.errors, owners.errors
    (rule,) = owners.rules
    return rule


def test_hostile_star_pattern_takes_few_steps():
    # with a regex this backtracks exponentially (it did not finish in 100 s)
    rule = _only_rule("a*a*a*a*a*a*a*a*a*a*b")
    steps = Steps()
    assert rule.matches("a" * 60, steps) is False
    # one greedy glob over one segment: at most pattern x path characters
    assert steps.count <= 22 * 61 + 10


def test_hostile_pattern_at_the_caps_stays_polynomial():
    pattern = "/".join(["**", "a*a*a*a*a*b", "**", "a*a*a*a*a*b"])
    rule = _only_rule(pattern)
    path = "/".join(["a" * 200] * 20)
    steps = Steps()
    assert rule.matches(path, steps) is False
    # tokens x segments x (glob x segment) at most
    assert steps.count <= 5 * 20 * (12 * 201) + 100


def test_runs_of_stars_inside_a_segment_collapse():
    rule = _only_rule("src/a**b.py")
    assert rule.matches("src/axyzb.py")
    assert not rule.matches("src/x/b.py")


def test_too_many_wildcards_is_an_invalid_line():
    pattern = "*a" * (MAX_WILDCARDS + 1)
    owners = parse(f"{pattern} @o\n*.py @p")
    assert [rule.pattern for rule in owners.rules] == ["*.py"]
    assert "more than" in owners.errors[0].reason and "wildcards" in owners.errors[0].reason


def test_too_long_pattern_is_an_invalid_line():
    owners = parse(f"{'a' * (MAX_PATTERN_CHARS + 1)} @o")
    assert owners.rules == ()
    assert "longer than" in owners.errors[0].reason


def test_too_long_path_has_no_owners():
    owners = parse("* @o")
    assert owners.owners_of("a" * MAX_PATH_CHARS) == ("@o",)
    assert owners.owners_of("a" * (MAX_PATH_CHARS + 1)) == ()


_patterns = st.text(alphabet="ab*?/.", min_size=1, max_size=10).filter(
    lambda text: "***" not in text
)
_paths = st.text(alphabet="ab/.\n", max_size=12)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pattern=_patterns, path=_paths)
def test_matcher_agrees_with_the_regex_translation(pattern, path):
    owners = parse(f"{pattern} @o")
    if owners.errors:
        return
    (rule,) = owners.rules
    steps = Steps()
    assert rule.matches(path, steps) == (_reference(pattern).match(path) is not None)
    segments = path.count("/") + 1
    assert steps.count <= (len(pattern) + 2) * segments * (len(pattern) + 1) * (len(path) + 2)
