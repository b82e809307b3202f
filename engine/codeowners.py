"""Parse a CODEOWNERS file and find the owners of a path, by GitHub's documented rules.

- Locations, searched in order, the first one found is used: ``.github/CODEOWNERS``,
  ``CODEOWNERS`` (root), ``docs/CODEOWNERS``.
- Each line is a pattern followed by owners: ``@user``, ``@org/team`` or an email.
  A pattern with no owners makes the paths it matches un-owned.
- The last matching line wins. Paths are case-sensitive.
- Patterns follow ``.gitignore``: a leading ``/`` anchors at the root, as does a ``/``
  in the middle; a pattern without a slash matches at any depth; a trailing ``/``
  matches a directory (everything under it); ``*`` matches within one path segment,
  ``**`` across segments; a pattern naming a directory owns everything inside it.
  GitHub's exception: ``docs/*`` owns the files directly in ``docs/``, not deeper ones.
- ``#`` starts a comment, at the start of a line or as a separate word after the pattern.
- Not supported by GitHub, so reported as invalid here and skipped: escaping a leading
  ``#`` with ``\\``, ``!`` negation, ``[ ]`` character ranges. A line with an owner that
  is not a user, team or email is skipped too. Every skipped line is reported.

The file is bounded (``MAX_BYTES``, GitHub's own limit); a larger one yields no rules
and one error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

LOCATIONS = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS")
MAX_BYTES = 3 * 1024 * 1024  # GitHub ignores a CODEOWNERS file of 3 MB or more
MAX_ERRORS = 50  # reported lines; the rest are counted in the last message

_USER = re.compile(r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})")
_TEAM = re.compile(r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


@dataclass(frozen=True)
class Rule:
    """One valid line: its pattern, its owners (empty = un-owned) and its line number."""

    line: int
    pattern: str
    owners: tuple[str, ...]
    regex: re.Pattern[str] = field(compare=False, repr=False)

    def matches(self, path: str) -> bool:
        """Return whether this rule's pattern matches the repository-relative ``path``."""
        return self.regex.match(path) is not None


@dataclass(frozen=True)
class LineError:
    """A line that was skipped, and why."""

    line: int
    text: str
    reason: str

    def message(self) -> str:
        """Return the error as one line for people."""
        return f"line {self.line}: {self.reason}: {self.text[:80]}"


@dataclass(frozen=True)
class CodeOwners:
    """The valid rules of a CODEOWNERS file, in file order, and the lines skipped."""

    rules: tuple[Rule, ...] = ()
    errors: tuple[LineError, ...] = ()

    def rule_for(self, path: str) -> Rule | None:
        """Return the last rule matching ``path`` (the one that decides), or None."""
        path = normalize_path(path)
        for rule in reversed(self.rules):
            if rule.matches(path):
                return rule
        return None

    def owners_of(self, path: str) -> tuple[str, ...]:
        """Return the owners of ``path``: the last matching rule's, or none."""
        rule = self.rule_for(path)
        return rule.owners if rule else ()


def parse(text: str) -> CodeOwners:
    """Parse CODEOWNERS text into rules and the errors of the lines skipped."""
    if len(text.encode("utf-8", "surrogatepass")) >= MAX_BYTES:
        too_big = LineError(0, "", f"the file is {MAX_BYTES // (1024 * 1024)} MB or more")
        return CodeOwners(errors=(too_big,))
    rules: list[Rule] = []
    errors: list[LineError] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        words = line.split()
        pattern, rest = words[0], words[1:]
        owners: list[str] = []
        for word in rest:
            if word.startswith("#"):
                break  # an inline comment ends the line
            owners.append(word)
        reason = _pattern_error(pattern) or _owners_error(owners)
        if reason:
            errors.append(LineError(number, line, reason))
            continue
        rules.append(Rule(number, pattern, tuple(owners), _compile(pattern)))
    if len(errors) > MAX_ERRORS:
        hidden = len(errors) - MAX_ERRORS
        errors = [*errors[:MAX_ERRORS], LineError(0, "", f"and {hidden} more invalid lines")]
    return CodeOwners(tuple(rules), tuple(errors))


def choose(files: Mapping[str, str | None]) -> tuple[str, str] | None:
    """Return ``(location, text)`` of the file GitHub uses among ``files``, or None.

    ``files`` maps a location to its text (None or absent: no such file).
    """
    for location in LOCATIONS:
        text = files.get(location)
        if text is not None:
            return location, text
    return None


def normalize_path(path: str) -> str:
    """Return ``path`` relative to the repository root with ``/`` separators."""
    path = path.strip().replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    return path.lstrip("/")


def file_of_test(*, file: str | None, classname: str | None) -> str | None:
    """Return the repository path of a test's file, or None when nothing tells it.

    The JUnit ``file`` attribute when there is one; else the classname read as a
    Python module path (``tests.payments.test_x`` -> ``tests/payments/test_x.py``),
    dropping trailing class names (segments starting with a capital letter).
    """
    if file and file.strip():
        return normalize_path(file)
    if not classname or not classname.strip():
        return None
    parts = [part for part in classname.strip().split(".") if part]
    while len(parts) > 1 and parts[-1][:1].isupper():
        parts.pop()
    if not parts or not all(part.isidentifier() for part in parts):
        return None
    return "/".join(parts) + ".py"


def _pattern_error(pattern: str) -> str | None:
    if pattern.startswith("\\#"):
        return "escaping # with \\ is not supported in CODEOWNERS"
    if pattern.startswith("!"):
        return "negation with ! is not supported in CODEOWNERS"
    if "[" in pattern or "]" in pattern:
        return "character ranges with [ ] are not supported in CODEOWNERS"
    if "\\" in pattern:
        return "backslash escapes are not supported in CODEOWNERS"
    if "***" in pattern:
        return "invalid pattern"
    return None


def _owners_error(owners: list[str]) -> str | None:
    for owner in owners:
        if not (_USER.fullmatch(owner) or _TEAM.fullmatch(owner) or _EMAIL.fullmatch(owner)):
            return f"{owner[:60]!r} is not a @user, @org/team or email"
    return None


def _compile(pattern: str) -> re.Pattern[str]:
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
        parts.append(_segment(segment) + ("" if last else "/"))
    regex = "".join(parts)
    last_segment = segments[-1]
    if directory_only:
        regex += "/.*"  # a directory: something inside it
    elif last_segment != "**" and not _has_wildcard(last_segment):
        regex += "(?:/.*)?"  # a file, or a directory and everything inside it
    prefix = "" if anchored else "(?:[^/]+/)*"
    return re.compile(prefix + regex + r"\Z")


def _segment(segment: str) -> str:
    out = []
    for char in segment:
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        else:
            out.append(re.escape(char))
    return "".join(out)


def _has_wildcard(segment: str) -> bool:
    return "*" in segment or "?" in segment
