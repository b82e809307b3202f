"""Behaviour of engine.repo_config: .flakeguard.yml validated, defaults for what is wrong."""

from __future__ import annotations

import pytest

from engine.repo_config import DEFAULTS, MAX_BYTES, MAX_DEPTH, RepoConfig, parse

FULL = """
version: 1
thresholds:
  flag_score: 0.05
  min_runs: 12
exempt:
  paths: ["tests/e2e/**"]
  tests: ["tests/test_a.py::test_b"]
auto_quarantine: true
quarantine:
  expiry_days: 14
  remind_days_before: 2
  at_expiry: escalate
routing:
  "@Org/Payments": C0PAY
  "@org/core": C0CORE
alerts:
  max_per_run: 3
"""


def test_empty_file_is_all_defaults() -> None:
    for text in ("", "# only a comment\n", "---\n"):
        result = parse(text)
        assert result.config == DEFAULTS
        assert result.errors == result.warnings == ()


def test_defaults() -> None:
    """Auto-quarantine is off, quarantines expire after 30 days, at most 10 alerts a run."""
    assert DEFAULTS.auto_quarantine is False
    assert DEFAULTS.expiry_days == 30
    assert DEFAULTS.at_expiry == "lift"
    assert DEFAULTS.max_alerts_per_run == 10


def test_every_key_read() -> None:
    result = parse(FULL)
    assert result.errors == result.warnings == ()
    assert result.config == RepoConfig(
        flag_score=0.05,
        min_runs=12,
        exempt_paths=("tests/e2e/**",),
        exempt_tests=("tests/test_a.py::test_b",),
        auto_quarantine=True,
        expiry_days=14,
        remind_days_before=2,
        at_expiry="escalate",
        routes=(("@org/payments", "C0PAY"), ("@org/core", "C0CORE")),
        max_alerts_per_run=3,
    )
    assert result.config.channel_for("@ORG/payments") == "C0PAY"
    assert result.config.channel_for("@org/other") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("thresholds:\n  flag_score: 0.9\n", "thresholds.flag_score: must be a number from"),
        ("thresholds:\n  flag_score: .nan\n", "thresholds.flag_score: must be a number"),
        ("thresholds:\n  min_runs: 1\n", "thresholds.min_runs: must be a whole number from 4"),
        ("thresholds:\n  min_runs: 5.5\n", "thresholds.min_runs: must be a whole number"),
        ("quarantine:\n  expiry_days: 0\n", "quarantine.expiry_days: must be a whole number"),
        ("quarantine:\n  expiry_days: true\n", "quarantine.expiry_days: must be a whole number"),
        ("quarantine:\n  expiry_days: '30'\n", "not 30; using 30"),
        ("quarantine:\n  at_expiry: delete\n", "quarantine.at_expiry: must be one of lift"),
        ("alerts:\n  max_per_run: 500\n", "alerts.max_per_run: must be a whole number from 1"),
        ("auto_quarantine: yes please\n", "auto_quarantine: must be true or false"),
        ("exempt:\n  paths: tests/e2e\n", "exempt.paths: must be a list"),
        ("routing:\n  payments: '#payments'\n", "routing: payments is not a @user or @org/team"),
        ("routing:\n  '@org/p': '#payments'\n", "routing.@org/p: #payments is not a Slack channel"),
        ("quarantine: 30\n", "quarantine: must be a mapping"),
    ],
)
def test_invalid_value_names_the_key_and_uses_the_default(text: str, message: str) -> None:
    """A bad value is one clear error naming its key; everything takes its default."""
    _assert_one_error_and_all_defaults(text, message)


def test_one_bad_key_keeps_the_good_ones() -> None:
    result = parse("quarantine:\n  expiry_days: -4\nalerts:\n  max_per_run: 2\n")
    assert result.config.expiry_days == 30
    assert result.config.max_alerts_per_run == 2
    assert len(result.errors) == 1


def test_unknown_keys_are_warnings_not_errors() -> None:
    result = parse("colour: blue\nquarantine:\n  expiry_dayz: 9\n  expiry_days: 9\n")
    assert result.errors == ()
    assert result.warnings == (
        "unknown key colour ignored",
        "unknown key quarantine.expiry_dayz ignored",
    )
    assert result.config.expiry_days == 9


def test_reminder_must_come_before_expiry() -> None:
    result = parse("quarantine:\n  expiry_days: 2\n  remind_days_before: 5\n")
    assert result.config.expiry_days == 2
    assert result.config.remind_days_before == 1
    assert "remind_days_before: must be less than expiry_days" in result.errors[0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("quarantine: [expiry_days: 3\n", ".flakeguard.yml is not valid YAML: line 2"),
        ("- a\n- b\n", ".flakeguard.yml must be a mapping"),
        ("just words\n", ".flakeguard.yml must be a mapping"),
        ("a: !!python/object:os.system ls\n", "is not valid YAML"),
        ("a: &x [1]\nb: *x\n", "aliases (*name) are not allowed"),
    ],
)
def test_malformed_file_is_one_error_and_all_defaults(text: str, message: str) -> None:
    """Not YAML, not a mapping, unsafe tags, aliases: one clear message, every default."""
    _assert_one_error_and_all_defaults(text, message)


def test_size_is_bounded() -> None:
    result = parse("# " + "x" * MAX_BYTES)
    assert result.config == DEFAULTS
    assert result.errors == (".flakeguard.yml is larger than 64 KiB",)


def test_not_utf8() -> None:
    assert parse(b"a: \xff\n").errors == (".flakeguard.yml is not UTF-8 text",)


@pytest.mark.parametrize(
    "text",
    [
        "[" * 5000,
        "{a: " * 3000,
        "a:\n" + "".join("  " * level + f"k{level}:\n" for level in range(1, 40)),
        "quarantine:\n  expiry_days: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "\n",
    ],
)
def test_deep_nesting_is_one_error_and_all_defaults(text: str) -> None:
    """Nesting beyond MAX_DEPTH is refused before it can exhaust the stack."""
    result = parse(text)
    assert result.config == DEFAULTS
    assert len(result.errors) == 1
    assert "nested too deeply" in result.errors[0]


def test_nesting_up_to_the_bound_is_read() -> None:
    nested = "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)
    result = parse(f"quarantine:\n  expiry_days: 10\nextra: {nested}\n")
    assert result.errors == ()
    assert result.config.expiry_days == 10


def _assert_one_error_and_all_defaults(text: str, message: str) -> None:
    result = parse(text)
    assert result.config == DEFAULTS
    assert len(result.errors) == 1
    assert message in result.errors[0]
