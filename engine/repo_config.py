"""Read a repository's ``.flakeguard.yml``: validated, bounded, defaults for what is wrong.

Every key is documented in docs/configuration-file.md. A value that is missing or
invalid takes its default; an invalid one also yields an error naming the key; an
unknown key yields a warning. A file that is not YAML, too big, or not a mapping
yields one error and every default: a bad file never stops FlakeGuard.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import yaml

from engine.codeowners import OWNER_PATTERN

FILENAME = ".flakeguard.yml"
MAX_BYTES = 64 * 1024  # a configuration file, not a data file
MAX_DEPTH = 20  # nesting of mappings and sequences; deeper is refused
MAX_LIST = 500  # exempt paths or tests
MAX_ROUTES = 200

# (low, high) bounds, inclusive: outside them FlakeGuard would alert on noise or never.
FLAG_SCORE_BOUNDS = (0.001, 0.5)
MIN_RUNS_BOUNDS = (4, 1000)
EXPIRY_DAYS_BOUNDS = (1, 365)
REMIND_DAYS_BOUNDS = (0, 30)
ALERTS_PER_RUN_BOUNDS = (1, 50)
AT_EXPIRY = ("lift", "escalate")

_OWNER = OWNER_PATTERN
_CHANNEL_ID = re.compile(r"[CG][A-Z0-9]{2,20}")
_KNOWN = {
    "version": None,
    "thresholds": {"flag_score", "min_runs"},
    "exempt": {"paths", "tests"},
    "auto_quarantine": None,
    "quarantine": {"expiry_days", "remind_days_before", "at_expiry"},
    "routing": None,
    "alerts": {"max_per_run"},
}


@dataclass(frozen=True)
class RepoConfig:
    """A repository's settings, each with its default."""

    flag_score: float | None = None  # None: the scoring's own threshold
    min_runs: int | None = None  # None: the scoring's own minimum
    exempt_paths: tuple[str, ...] = ()
    exempt_tests: tuple[str, ...] = ()
    auto_quarantine: bool = False  # proposals need a person
    expiry_days: int = 30
    remind_days_before: int = 3
    at_expiry: str = "lift"
    routes: tuple[tuple[str, str], ...] = ()  # (owner, channel), owners lower-cased
    max_alerts_per_run: int = 10

    def channel_for(self, owner: str) -> str | None:
        """Return the channel the file routes ``owner``'s alerts to, or None."""
        wanted = owner.lower()
        for route_owner, channel in self.routes:
            if route_owner == wanted:
                return channel
        return None


DEFAULTS = RepoConfig()


@dataclass(frozen=True)
class ConfigResult:
    """The configuration to use, with what was wrong (errors) or odd (warnings)."""

    config: RepoConfig = DEFAULTS
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=())


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader refusing anchors and aliases (no "billion laughs" expansion) and
    collections nested deeper than ``MAX_DEPTH`` (composing recurses once a level)."""

    depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed", event.start_mark
            )
        if self.depth >= MAX_DEPTH:
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None, None, f"nested too deeply (more than {MAX_DEPTH} levels)", event.start_mark
            )
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def parse(text: str | bytes) -> ConfigResult:
    """Parse and validate ``.flakeguard.yml`` content."""
    raw = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
    if len(raw) > MAX_BYTES:
        return ConfigResult(errors=(f"{FILENAME} is larger than {MAX_BYTES // 1024} KiB",))
    try:
        # yaml.safe_load with aliases refused: the same SafeLoader constructors, no tags.
        document = yaml.load(raw.decode("utf-8"), Loader=_NoAliasLoader)
    except UnicodeDecodeError:
        return ConfigResult(errors=(f"{FILENAME} is not UTF-8 text",))
    except yaml.YAMLError as error:
        return ConfigResult(errors=(f"{FILENAME} is not valid YAML: {_yaml_error(error)}",))
    except RecursionError:  # the depth bound should come first; never let it escape
        return ConfigResult(errors=(f"{FILENAME} is not valid YAML: nested too deeply",))
    if document is None:
        return ConfigResult()
    if not isinstance(document, dict):
        return ConfigResult(errors=(f"{FILENAME} must be a mapping of keys to values",))
    return _Validator().run(document)


def _yaml_error(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or "syntax error"
    if mark is not None:
        return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
    return str(problem)


class _Validator:
    def __init__(self) -> None:
        self.errors: list[str] = []
        self.warnings: list[str] = []
        self.values: dict[str, Any] = {}

    def run(self, document: dict[Any, Any]) -> ConfigResult:
        for key, value in document.items():
            if key not in _KNOWN:
                self.warnings.append(f"unknown key {_show(key)} ignored")
                continue
            subkeys = _KNOWN[key]
            if subkeys is not None:
                if not isinstance(value, dict):
                    if value is not None:
                        self.errors.append(f"{key}: must be a mapping")
                    continue
                for sub in value:
                    if sub not in subkeys:
                        self.warnings.append(f"unknown key {key}.{_show(sub)} ignored")
        self._version(document)
        thresholds = _mapping(document.get("thresholds"))
        self._number("thresholds.flag_score", thresholds, "flag_score", FLAG_SCORE_BOUNDS, float)
        self._number("thresholds.min_runs", thresholds, "min_runs", MIN_RUNS_BOUNDS, int)
        exempt = _mapping(document.get("exempt"))
        self._strings("exempt.paths", exempt.get("paths"), "exempt_paths")
        self._strings("exempt.tests", exempt.get("tests"), "exempt_tests")
        if "auto_quarantine" in document:
            value = document["auto_quarantine"]
            if isinstance(value, bool):
                self.values["auto_quarantine"] = value
            else:
                self.errors.append("auto_quarantine: must be true or false; using false")
        quarantine = _mapping(document.get("quarantine"))
        self._number("quarantine.expiry_days", quarantine, "expiry_days", EXPIRY_DAYS_BOUNDS, int)
        self._number(
            "quarantine.remind_days_before",
            quarantine,
            "remind_days_before",
            REMIND_DAYS_BOUNDS,
            int,
        )
        if "at_expiry" in quarantine:
            value = quarantine["at_expiry"]
            if value in AT_EXPIRY:
                self.values["at_expiry"] = value
            else:
                self.errors.append(
                    f"quarantine.at_expiry: must be one of {', '.join(AT_EXPIRY)}; using lift"
                )
        self._routing(document.get("routing"))
        alerts = _mapping(document.get("alerts"))
        self._number("alerts.max_per_run", alerts, "max_per_run", ALERTS_PER_RUN_BOUNDS, int)
        if "max_per_run" in self.values:
            self.values["max_alerts_per_run"] = self.values.pop("max_per_run")
        config = RepoConfig(**self.values)
        if config.remind_days_before >= config.expiry_days:
            self.errors.append(
                "quarantine.remind_days_before: must be less than expiry_days; "
                f"using {DEFAULTS.remind_days_before} or fewer"
            )
            config = replace(
                config, remind_days_before=min(DEFAULTS.remind_days_before, config.expiry_days - 1)
            )
        return ConfigResult(config, tuple(self.errors), tuple(self.warnings))

    def _version(self, document: Mapping[Any, Any]) -> None:
        if "version" in document and document["version"] != 1:
            self.errors.append("version: only version 1 is known; reading it as version 1")

    def _number(
        self,
        name: str,
        section: Mapping[Any, Any],
        key: str,
        bounds: tuple[float, float],
        kind: type,
    ) -> None:
        if key not in section:
            return
        value = section[key]
        low, high = bounds
        default = getattr(DEFAULTS, key, None)
        fallback = "the default" if default is None else str(default)
        ok_type = isinstance(value, int | float) and not isinstance(value, bool)
        if kind is int and ok_type and float(value) != int(value):
            ok_type = False
        if not ok_type or not math.isfinite(float(value)) or not low <= value <= high:
            self.errors.append(
                f"{name}: must be a {'whole number' if kind is int else 'number'} "
                f"from {low} to {high}, not {_show(value)}; using {fallback}"
            )
            return
        self.values[key] = kind(value)

    def _strings(self, name: str, value: Any, target: str) -> None:
        if value is None:
            return
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.errors.append(f"{name}: must be a list of non-empty strings; ignored")
            return
        if len(value) > MAX_LIST:
            self.errors.append(f"{name}: at most {MAX_LIST} entries; the rest ignored")
        self.values[target] = tuple(v.strip()[:512] for v in value[:MAX_LIST])

    def _routing(self, value: Any) -> None:
        if value is None:
            return
        if not isinstance(value, dict):
            self.errors.append("routing: must map an owner (@org/team) to a channel; ignored")
            return
        routes: list[tuple[str, str]] = []
        for owner, channel in list(value.items())[:MAX_ROUTES]:
            if not isinstance(owner, str) or not _OWNER.fullmatch(owner):
                self.errors.append(f"routing: {_show(owner)} is not a @user or @org/team; skipped")
                continue
            if not isinstance(channel, str) or not _CHANNEL_ID.fullmatch(channel):
                self.errors.append(
                    f"routing.{owner}: {_show(channel)} is not a Slack channel ID (C...); skipped"
                )
                continue
            routes.append((owner.lower(), channel))
        if len(value) > MAX_ROUTES:
            self.errors.append(f"routing: at most {MAX_ROUTES} routes; the rest ignored")
        self.values["routes"] = tuple(routes)


def _mapping(value: Any) -> Mapping[Any, Any]:
    return value if isinstance(value, dict) else {}


def _show(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= 60 else text[:57] + "..."
