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
and one error. The file comes from a tenant's repository, so matching is guaranteed
cheap: patterns are matched segment by segment with a greedy glob (no backtracking
regex), runs of ``*`` collapse, and patterns (wildcards, length) and paths are bounded.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

LOCATIONS = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS")
MAX_BYTES = 3 * 1024 * 1024  # GitHub ignores a CODEOWNERS file of 3 MB or more
MAX_ERRORS = 50  # reported lines; the rest are counted in the last message
MAX_WILDCARDS = 20  # per pattern; more is reported as an invalid line
MAX_PATTERN_CHARS = 1024  # a longer pattern is reported as an invalid line
MAX_PATH_CHARS = 4096  # a longer path matches no rule (so has no owners)

# GitHub's limits: a user or organisation login is at most 39 characters, a team's slug
# at most 100. The longest owner, "@" + org + "/" + team, is what every column, parser
# and check of an owner's name takes.
MAX_LOGIN_CHARS = 39
MAX_TEAM_SLUG_CHARS = 100
MAX_OWNER_CHARS = 1 + MAX_LOGIN_CHARS + 1 + MAX_TEAM_SLUG_CHARS  # 141
_LOGIN = rf"[A-Za-z0-9][A-Za-z0-9-]{{0,{MAX_LOGIN_CHARS - 1}}}"
_SLUG = rf"[A-Za-z0-9][A-Za-z0-9._-]{{0,{MAX_TEAM_SLUG_CHARS - 1}}}"
# "@user" or "@org/team": the owners a route, a digest or a team's members name.
OWNER_PATTERN = re.compile(rf"@{_LOGIN}(?:/{_SLUG})?")
_USER = re.compile(rf"@{_LOGIN}")
_TEAM = re.compile(rf"@{_LOGIN}/{_SLUG}")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


@dataclass(frozen=True)
class Rule:
    """One valid line: its pattern, its owners (empty = un-owned) and its line number."""

    line: int
    pattern: str
    owners: tuple[str, ...]
    matcher: Matcher = field(compare=False, repr=False)

    def matches(self, path: str, steps: Steps | None = None) -> bool:
        """Return whether this rule's pattern matches the repository-relative ``path``."""
        return self.matcher.match(path, steps)


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
    if len(pattern) > MAX_PATTERN_CHARS:
        return f"the pattern is longer than {MAX_PATTERN_CHARS} characters"
    wildcards = len(re.findall(r"\*+|\?", pattern))
    if wildcards > MAX_WILDCARDS:
        return f"the pattern has more than {MAX_WILDCARDS} wildcards"
    return None


def _owners_error(owners: list[str]) -> str | None:
    for owner in owners:
        if not (_USER.fullmatch(owner) or _TEAM.fullmatch(owner) or _EMAIL.fullmatch(owner)):
            return f"{owner[:60]!r} is not a @user, @org/team or email"
    return None


def _compile(pattern: str) -> Matcher:
    directory_only = pattern.endswith("/")
    body = _collapse_stars(pattern.strip("/"))
    anchored = pattern.startswith("/") or "/" in body
    segments = body.split("/") if body else ["**"]
    tokens: list[str | None] = [] if anchored else [None]
    for segment in segments[:-1]:
        tokens.append(None if segment == "**" else segment)
    last = segments[-1]
    if last == "**":
        tail = _Tail.DIRECTORY if directory_only else _Tail.REST
        return Matcher(tuple(tokens), None, tail)
    if directory_only:
        tail = _Tail.DIRECTORY
    elif _has_wildcard(last):
        tail = _Tail.END
    else:
        tail = _Tail.END_OR_DIRECTORY  # a file, or a directory and everything inside it
    return Matcher(tuple(tokens), last, tail)


def _collapse_stars(body: str) -> str:
    # ``a**b`` within one segment means the same as ``a*b``; ``**`` alone is kept
    segments = body.split("/")
    return "/".join(
        segment if segment == "**" else re.sub(r"\*{2,}", "*", segment) for segment in segments
    )


class _Tail(enum.Enum):
    """What may follow the pattern's last segment in a matching path."""

    END = "end"  # nothing: the last segment is the path's last
    END_OR_DIRECTORY = "end-or-directory"  # nothing, or ``/`` and anything
    DIRECTORY = "directory"  # ``/`` and anything (something inside a directory)
    REST = "rest"  # the pattern ended in ``**``: anything from here on


@dataclass
class Steps:
    """A count of the elementary steps one match took (its bound is tested)."""

    count: int = 0


@dataclass(frozen=True)
class Matcher:
    """A pattern compiled to a linear walk over path segments (no backtracking regex).

    ``tokens`` are the segments before the last, in order: a string is one path segment
    matched by a glob (``*`` and ``?`` within the segment); None is ``**``, any number
    of non-empty segments. ``last`` is the last segment's glob (None: the pattern ended
    in ``**``) and ``tail`` what may follow it.

    The walk keeps the set of path segments reachable after each token, so the work is
    at most tokens x segments x (segment glob), each glob match greedy and quadratic at
    worst in one segment's length: polynomial and small for the bounded sizes.
    """

    tokens: tuple[str | None, ...]
    last: str | None
    tail: _Tail

    def match(self, path: str, steps: Steps | None = None) -> bool:
        """Return whether the whole ``path`` matches, counting work into ``steps``."""
        steps = steps if steps is not None else Steps()
        if len(path) > MAX_PATH_CHARS:
            return False
        parts = path.split("/")
        count = len(parts)
        # a newline ends what ``.`` in the gitignore translation could match, so a
        # "rest of the path" must be free of it
        clean_from = [True] * (count + 1)
        for index in range(count - 1, -1, -1):
            clean_from[index] = clean_from[index + 1] and "\n" not in parts[index]
        reach = [False] * count
        reach[0] = True
        for token in self.tokens:
            steps.count += count
            if token is None:
                # skip whole non-empty segments, each followed by another one
                for index in range(1, count):
                    if reach[index - 1] and parts[index - 1]:
                        reach[index] = True
                continue
            after = [False] * count
            for index in range(count - 1):
                if reach[index] and _glob(token, parts[index], steps):
                    after[index + 1] = True
            reach = after
        steps.count += count
        for index in range(count):
            if not reach[index]:
                continue
            if self.last is None:
                if self.tail is _Tail.REST and clean_from[index]:
                    return True
                if self.tail is _Tail.DIRECTORY and index < count - 1 and clean_from[index]:
                    return True
                continue
            if not _glob(self.last, parts[index], steps):
                continue
            final = index == count - 1
            inside = not final and clean_from[index + 1]
            if self.tail is _Tail.END and final:
                return True
            if self.tail is _Tail.END_OR_DIRECTORY and (final or inside):
                return True
            if self.tail is _Tail.DIRECTORY and inside:
                return True
        return False


def _glob(glob: str, text: str, steps: Steps) -> bool:
    """Match one segment: ``*`` any run of characters, ``?`` one; greedy, no recursion.

    On a mismatch the last ``*`` takes one more character and matching resumes after
    it, so the work is at most ``len(glob) * len(text)`` steps.
    """
    if not _has_wildcard(glob):
        steps.count += 1
        return glob == text
    g = t = 0
    star = -1
    mark = 0
    while t < len(text):
        steps.count += 1
        if g < len(glob) and glob[g] == "*":
            star, mark = g, t
            g += 1
        elif g < len(glob) and (glob[g] == "?" or glob[g] == text[t]):
            g += 1
            t += 1
        elif star >= 0:
            g = star + 1
            mark += 1
            t = mark
        else:
            return False
    while g < len(glob) and glob[g] == "*":
        g += 1
    return g == len(glob)


def _has_wildcard(segment: str) -> bool:
    return "*" in segment or "?" in segment
