"""The run's configuration: command-line and ini options of the plugin, resolved into :class:`SegpendoSettings`."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import pytest

from .profiles import PROFILES
from .traffic import SCENARIOS, parse_mix
from .verify import VIEWS

__all__ = ["SegpendoSettings", "add_options", "settings_from_config"]

DEFAULT_SEED = 0
DEFAULT_SCENARIO = "saas"
DEFAULT_COUNT = 200
DEFAULT_LOCALE = "en_US"
DEFAULT_PROFILE = "track-api+metadata"
DEFAULT_LIMIT = 20
DEFAULT_SETTLE = 10.0
MARKER_ARGS = ("profile", "scenario", "seed", "count", "settings", "mix", "locale", "view", "mapping")


@dataclass(frozen=True)
class SegpendoSettings:
    """The run's settings, from command-line options, then ini options, then built-in defaults."""

    seed: int = DEFAULT_SEED
    scenario: str = DEFAULT_SCENARIO
    count: int = DEFAULT_COUNT
    locale: str = DEFAULT_LOCALE
    mix: dict[str, int] | None = None
    profile: str = DEFAULT_PROFILE
    view: str | None = None
    report: str | None = None
    limit: int = DEFAULT_LIMIT
    timestamp_tolerance: int | None = None
    settle: float = DEFAULT_SETTLE
    max_age_days: float = 7

    def describe(self) -> str:
        kind = ",".join(f"{k}={v}" for k, v in self.mix.items()) if self.mix else self.scenario
        return f"seed={self.seed} scenario={kind} count={self.count} locale={self.locale} profile={self.profile}"


_OPTIONS = (
    # (flag, ini name, type, help)
    ("--segpendo-seed", "segpendo_seed", int, f"seed of generated Segment traffic (default {DEFAULT_SEED})"),
    (
        "--segpendo-scenario",
        "segpendo_scenario",
        str,
        f"traffic scenario: {', '.join(SCENARIOS)} (default {DEFAULT_SCENARIO})",
    ),
    ("--segpendo-mix", "segpendo_mix", str, "weighted mix of scenarios instead of one, e.g. saas=3,edge=1"),
    ("--segpendo-count", "segpendo_count", int, f"events per generated traffic sample (default {DEFAULT_COUNT})"),
    (
        "--segpendo-locale",
        "segpendo_locale",
        str,
        f"Faker locale of generated names and places (default {DEFAULT_LOCALE})",
    ),
    (
        "--segpendo-profile",
        "segpendo_profile",
        str,
        f"reference profile: {', '.join(PROFILES)} (default {DEFAULT_PROFILE})",
    ),
    ("--segpendo-view", "segpendo_view", str, "compare the state or the stream view (default: the profile's)"),
    ("--segpendo-report", "segpendo_report", str, "write every conformance report of the run to this JSON file"),
    ("--segpendo-limit", "segpendo_limit", int, f"differences detailed in a failure message (default {DEFAULT_LIMIT})"),
    (
        "--segpendo-timestamp-tolerance",
        "segpendo_timestamp_tolerance",
        int,
        "track timestamps this many ms apart count as equal (default: the profile's)",
    ),
    (
        "--segpendo-settle",
        "segpendo_settle",
        float,
        f"seconds to wait at most for Pendo traffic to settle (default {DEFAULT_SETTLE:g})",
    ),
    (
        "--segpendo-max-age-days",
        "segpendo_max_age_days",
        float,
        "the fake Pendo warns about Track Events older than this, as Pendo does not process them (default 7; 0: off)",
    ),
)


def add_options(parser: pytest.Parser) -> None:
    """Register every option under the ``segpendo`` group, each also as an ini option."""
    group = parser.getgroup("segpendo", "pytest-segpendo: Segment -> Pendo conformance")
    for flag, ini, kind, help_text in _OPTIONS:
        group.addoption(flag, dest=ini, type=kind, default=None, help=help_text)
        parser.addini(ini, help=help_text, default=None)


def _setting(config: pytest.Config, ini: str, kind: type) -> Any:
    value = config.getoption(ini)
    source = f"--{ini.replace('_', '-')}"
    if value is None:
        raw = config.getini(ini)
        if raw in (None, ""):
            return None
        source = f"ini option {ini}"
        try:
            value = kind(str(raw).strip())
        except ValueError:
            raise pytest.UsageError(f"{source}: expected {kind.__name__}, got {raw!r}") from None
    return value, source


def settings_from_config(config: pytest.Config) -> SegpendoSettings:
    """Resolve and check the run's settings; a bad value is a :class:`pytest.UsageError`."""
    values: dict[str, Any] = {}
    for _flag, ini, kind, _help in _OPTIONS:
        found = _setting(config, ini, kind)
        if found is None:
            continue
        value, source = found
        name = ini[len("segpendo_") :]
        if name == "scenario" and value not in SCENARIOS:
            raise pytest.UsageError(f"{source}: unknown scenario {value!r} (choose from {', '.join(SCENARIOS)})")
        if name == "profile" and value not in PROFILES:
            raise pytest.UsageError(f"{source}: unknown profile {value!r} (choose from {', '.join(PROFILES)})")
        if name == "view" and value not in VIEWS:
            raise pytest.UsageError(f"{source}: unknown view {value!r} (choose from state, stream)")
        if name in ("count", "limit", "timestamp_tolerance", "settle", "max_age_days") and value < 0:
            raise pytest.UsageError(f"{source}: must not be negative (got {value})")
        if name == "mix":
            try:
                value = parse_mix(value)
            except ValueError as exc:
                raise pytest.UsageError(f"{source}: {exc}") from None
        values[name] = value
    return replace(SegpendoSettings(), **values)


# Where the plugin keeps its state on pytest's config and items.
_SETTINGS_KEY = pytest.StashKey[SegpendoSettings]()
_FAKES_KEY = pytest.StashKey[list[Any]]()
_REPORTS_KEY = pytest.StashKey[list[dict[str, Any]]]()
_COLLECTOR_KEY = pytest.StashKey[Any]()
