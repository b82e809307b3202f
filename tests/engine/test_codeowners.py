"""Behaviour of engine.codeowners against GitHub's documented CODEOWNERS rules."""

from __future__ import annotations

import pytest

from engine.codeowners import (
    LOCATIONS,
    MAX_BYTES,
    choose,
    file_of_test,
    parse,
)

# (pattern, path, matches): each case is one of GitHub's documented examples or a
# .gitignore rule GitHub says CODEOWNERS follows.
MATCHING = [
    # "*" owns everything
    ("*", "README.md", True),
    ("*", "a/b/c.py", True),
    # "*.js" owns every .js file, at any depth
    ("*.js", "app.js", True),
    ("*.js", "src/web/app.js", True),
    ("*.js", "src/web/app.jsx", False),
    # "*" does not cross "/": "src/*.py" is direct children only
    ("src/*.py", "src/a.py", True),
    ("src/*.py", "src/deep/a.py", False),
    # "docs/*" owns docs/getting-started.md, not docs/build-app/troubleshooting.md
    ("docs/*", "docs/getting-started.md", True),
    ("docs/*", "docs/build-app/troubleshooting.md", False),
    # a pattern with a slash in the middle is anchored at the root
    ("docs/*", "sub/docs/getting-started.md", False),
    # "/build/logs/" owns that root directory and everything below it
    ("/build/logs/", "build/logs/a.log", True),
    ("/build/logs/", "build/logs/deep/a.log", True),
    ("/build/logs/", "x/build/logs/a.log", False),
    # a trailing "/" needs a directory: a file of that name is not matched
    ("/build/logs/", "build/logs", False),
    # "apps/" (no other slash) owns an apps directory anywhere
    ("apps/", "apps/a.py", True),
    ("apps/", "deep/nested/apps/a.py", True),
    ("apps/", "myapps/a.py", False),
    # "/docs/" is the root docs directory only
    ("/docs/", "docs/index.md", True),
    ("/docs/", "sub/docs/index.md", False),
    # "**/logs" owns any logs directory: build/logs, scripts/logs, deeply/nested/logs
    ("**/logs", "build/logs/a.log", True),
    ("**/logs", "deeply/nested/logs/a.log", True),
    ("**/logs", "logs/a.log", True),
    ("**/logs", "build/catalogs/a.log", False),
    # "/**" in the middle: zero or more directories
    ("a/**/b", "a/b/x", True),
    ("a/**/b", "a/x/y/b/z", True),
    ("a/**/b", "ab/x", False),
    # trailing "/**": everything inside
    ("abc/**", "abc/x/y", True),
    ("abc/**", "abc", False),
    # a name without a slash matches a file or directory of that name at any depth
    ("test_x.py", "tests/payments/test_x.py", True),
    ("payments", "tests/payments/test_x.py", True),
    ("payments", "tests/payments2/test_x.py", False),
    # "/apps/github" (no trailing slash) owns the directory and its contents
    ("/apps/github", "apps/github/x.rb", True),
    ("/apps/github", "apps/githubber/x.rb", False),
    # "?" is one character, not "/"
    ("file?.txt", "file1.txt", True),
    ("file?.txt", "file/.txt", False),
    # paths are case-sensitive
    ("/Docs/", "docs/a.md", False),
    # "." is literal, not a regex wildcard
    ("a.py", "axpy", False),
]


@pytest.mark.parametrize(("pattern", "path", "matches"), MATCHING)
def test_pattern_matching(pattern: str, path: str, matches: bool) -> None:
    """Each documented pattern matches exactly the paths GitHub says it does."""
    owners = parse(f"{pattern} @owner\n")
    assert owners.errors == ()
    assert (owners.owners_of(path) == ("@owner",)) is matches


def test_last_matching_pattern_wins() -> None:
    """Order matters: the last matching line decides, earlier ones do not add up."""
    owners = parse("* @global-owner1 @global-owner2\n*.js @js-owner\n")
    assert owners.owners_of("src/app.js") == ("@js-owner",)
    assert owners.owners_of("README.md") == ("@global-owner1", "@global-owner2")


def test_later_general_pattern_overrides_earlier_specific_one() -> None:
    """A later broad line wins over an earlier narrow one (no "most specific" rule)."""
    owners = parse("/tests/payments/ @org/payments\n* @org/core\n")
    assert owners.owners_of("tests/payments/test_x.py") == ("@org/core",)


def test_pattern_without_owners_unowns() -> None:
    """GitHub's example: /apps/ @octocat then /apps/github (no owners) leaves it un-owned."""
    owners = parse("/apps/ @octocat\n/apps/github\n")
    assert owners.owners_of("apps/github/x.rb") == ()
    assert owners.rule_for("apps/github/x.rb") is not None
    assert owners.owners_of("apps/other/x.rb") == ("@octocat",)


def test_subdirectory_with_its_own_owner() -> None:
    owners = parse("/apps/ @octocat\n/apps/github @doctocat\n")
    assert owners.owners_of("apps/github/x.rb") == ("@doctocat",)


@pytest.mark.parametrize(
    "owner", ["@octocat", "@octo-org/octocats", "docs@example.com", "@org/team.name_x"]
)
def test_owner_kinds(owner: str) -> None:
    """Users, org/team and email addresses are owners."""
    owners = parse(f"*.go {owner}\n")
    assert owners.errors == ()
    assert owners.owners_of("main.go") == (owner,)


def test_comments_and_blank_lines() -> None:
    """'#' at the start is a comment; a '#' word after the pattern ends the line."""
    owners = parse("# a comment\n\n   # indented comment\n*.js @js-owner #inline comment @no\n")
    assert owners.errors == ()
    assert len(owners.rules) == 1
    assert owners.owners_of("a.js") == ("@js-owner",)


def test_hash_inside_a_pattern_is_literal() -> None:
    owners = parse("dir#1/ @a\n")
    assert owners.owners_of("dir#1/x") == ("@a",)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("\\#file @a", "escaping # with \\ is not supported"),
        ("!secret.txt @a", "negation with ! is not supported"),
        ("*.[ch] @a", "character ranges with [ ] are not supported"),
        ("*.js @ok not-an-owner", "'not-an-owner' is not a @user, @org/team or email"),
        ("*.js @bad_user!", "is not a @user, @org/team or email"),
    ],
)
def test_invalid_lines_are_skipped_and_reported(line: str, reason: str) -> None:
    """What GitHub does not support is skipped with its line number; the rest still works."""
    owners = parse(f"* @global\n{line}\n*.md @docs\n")
    assert [r.line for r in owners.rules] == [1, 3]
    assert len(owners.errors) == 1
    error = owners.errors[0]
    assert error.line == 2
    assert reason in error.reason
    assert error.message().startswith("line 2: ")
    assert owners.owners_of("a.md") == ("@docs",)
    assert owners.owners_of("a.c") == ("@global",)


def test_too_big_file_has_no_rules() -> None:
    """A file of GitHub's 3 MB limit or more is not used, with one error."""
    owners = parse("* @a\n" * (MAX_BYTES // 5 + 1))
    assert owners.rules == ()
    assert "3 MB" in owners.errors[0].reason


def test_errors_are_bounded() -> None:
    owners = parse("!x @a\n" * 200)
    assert len(owners.errors) == 51
    assert owners.errors[-1].reason == "and 150 more invalid lines"


def test_locations_first_found_wins() -> None:
    """.github/CODEOWNERS, then the root, then docs/: the first one present is used."""
    assert LOCATIONS == (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS")
    assert choose({"docs/CODEOWNERS": "d", "CODEOWNERS": "r"}) == ("CODEOWNERS", "r")
    assert choose({"docs/CODEOWNERS": "d", ".github/CODEOWNERS": "g"}) == (
        ".github/CODEOWNERS",
        "g",
    )
    assert choose({"docs/CODEOWNERS": "d"}) == ("docs/CODEOWNERS", "d")
    assert choose({"CODEOWNERS": None}) is None
    assert choose({}) is None


def test_path_normalised_before_matching() -> None:
    owners = parse("/tests/payments/ @org/payments\n")
    assert owners.owners_of("./tests/payments/test_x.py") == ("@org/payments",)
    assert owners.owners_of("tests\\payments\\test_x.py") == ("@org/payments",)


@pytest.mark.parametrize(
    ("file", "classname", "expected"),
    [
        ("tests/payments/test_x.py", "ignored.module", "tests/payments/test_x.py"),
        ("./tests/a.py", None, "tests/a.py"),
        (None, "tests.payments.test_x", "tests/payments/test_x.py"),
        ("", "tests.payments.test_x.TestRefunds", "tests/payments/test_x.py"),
        (None, "tests.payments.test_x.TestRefunds.TestInner", "tests/payments/test_x.py"),
        (None, "", None),
        (None, None, None),
        (None, "not a module", None),
    ],
)
def test_file_of_test(file: str | None, classname: str | None, expected: str | None) -> None:
    """The JUnit file attribute first, else the classname read as a module path."""
    assert file_of_test(file=file, classname=classname) == expected
