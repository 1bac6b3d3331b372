"""The run's configuration: the plugin's command-line and ini options, resolved into :class:`SegpendoConfig`.

Cheap to import (pytest start-up): the traffic generator, the profiles and the diff engine are imported only to
check a value that was given.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, fields, replace
from typing import Any, NamedTuple

import pytest

from . import defaults

__all__ = [
    "ENV_KEYS",
    "KEY_NAMES",
    "MARKER_ARGS",
    "OPTIONS",
    "SegpendoConfig",
    "add_options",
    "config_from_pytest",
    "parse_faults",
]

KEY_NAMES = ("api_key", "integration_key", "track_secret", "write_key")
"""The keys the fakes require: the Pendo app's API key, the Metadata API integration key, the Track Event shared
secret (all three on the fake Pendo server) and the Segment write key (the fake Segment API)."""

MARKER_ARGS = (
    "profile",
    "scenario",
    "seed",
    "count",
    "settings",
    "mix",
    "locale",
    "view",
    "mapping",
    "keys",
    "faults",
)
"""The keyword arguments of ``@pytest.mark.segpendo``."""


@dataclass(frozen=True)
class SegpendoConfig:
    """The run's configuration, from command-line options, then ini options, then :mod:`~pytest_segpendo.defaults`.

    (Not to be confused with a destination's *settings*, the marker's ``settings=``, which configure a profile.)
    A key left None is made up for the session (``segpendo_keys``). ``faults``: True for the default bad days
    (``pytest_segpendo.conformance.default_faults`` and Segment's re-deliveries), False for none, or a tuple of
    fault rules to add instead of the default ones. ``html``: the run's HTML report file.
    """

    seed: int = defaults.SEED
    scenario: str = defaults.SCENARIO
    count: int = defaults.COUNT
    locale: str = defaults.LOCALE
    mix: dict[str, int] | None = None
    profile: str = defaults.PROFILE
    view: str | None = None
    report: str | None = None
    limit: int = defaults.LIMIT
    timestamp_tolerance: int | None = None
    settle: float = defaults.SETTLE
    quiet: float = defaults.QUIET
    max_age_days: float = defaults.AGE_LIMIT_DAYS
    api_key: str | None = None
    integration_key: str | None = None
    track_secret: str | None = None
    write_key: str | None = None
    faults: bool | tuple[dict[str, Any], ...] = defaults.FAULTS
    html: str | None = None

    def describe(self) -> str:
        """The line of the session header: what reproduces the run's traffic, and the bad days it runs under."""
        kind = ",".join(f"{k}={v}" for k, v in self.mix.items()) if self.mix else self.scenario
        bad = "on" if self.faults is True else "off" if self.faults is False else f"{len(self.faults)} rules"
        return (
            f"seed={self.seed} scenario={kind} count={self.count} locale={self.locale} profile={self.profile} "
            f"faults={bad}"
        )

    def as_json(self) -> dict[str, Any]:
        """The configuration as the run's JSON report holds it (keys left out: they are secrets)."""
        out = {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name not in KEY_NAMES and f.name not in ("report", "html")
        }
        if isinstance(self.faults, tuple):
            out["faults"] = list(self.faults)
        return out


class Option(NamedTuple):
    """One option of the plugin: ``--segpendo-NAME`` and the ini option ``segpendo_NAME``; the CLI has it as
    ``--NAME`` (docs/cli.md lists the pairs)."""

    name: str  # the field of SegpendoConfig
    kind: type
    metavar: str
    help: str

    @property
    def flag(self) -> str:
        return "--segpendo-" + self.name.replace("_", "-")

    @property
    def ini(self) -> str:
        return "segpendo_" + self.name


OPTIONS: tuple[Option, ...] = (
    Option("seed", int, "N", f"seed of generated Segment traffic (default {defaults.SEED})"),
    Option("scenario", str, "NAME", f"traffic scenario (default {defaults.SCENARIO}; docs/traffic.md lists them)"),
    Option("mix", str, "NAME=W,...", "weighted mix of scenarios instead of one, e.g. saas=3,edge=1"),
    Option("count", int, "N", f"events per generated traffic sample (default {defaults.COUNT})"),
    Option("locale", str, "L", f"Faker locale of generated names and places (default {defaults.LOCALE})"),
    Option("profile", str, "P", f"reference profile (default {defaults.PROFILE}; docs/profiles.md lists them)"),
    Option("view", str, "V", "compare the state or the stream view (default: the profile's)"),
    Option("report", str, "FILE", "write every conformance report of the run to this JSON file"),
    Option("limit", int, "K", f"differences detailed in a failure message (default {defaults.LIMIT})"),
    Option(
        "timestamp_tolerance", int, "MS", "track timestamps this many ms apart count as equal (default: the profile's)"
    ),
    Option("settle", float, "S", f"seconds to wait at most for Pendo traffic to settle (default {defaults.SETTLE:g})"),
    Option(
        "quiet", float, "S", f"Pendo traffic has settled after this many quiet seconds (default {defaults.QUIET:g})"
    ),
    Option(
        "max_age_days",
        float,
        "D",
        "Track Events older than this are dropped by the fake Pendo server, as Pendo drops them "
        f"(default {defaults.AGE_LIMIT_DAYS:g}; 0: no age rule)",
    ),
    Option("api_key", str, "K", "the Pendo API key the fake Pendo server requires (default: random per session)"),
    Option(
        "integration_key", str, "K", "the integration key the fake Pendo server requires (default: random per session)"
    ),
    Option(
        "track_secret", str, "K", "the Track Event secret the fake Pendo server requires (default: random per session)"
    ),
    Option("write_key", str, "K", "the write key the fake Segment API requires (default: random per session)"),
    Option(
        "faults",
        str,
        "on|off|RULES",
        "the bad days checks run under: on (default: seeded Pendo faults and Segment re-deliveries), off, or fault "
        "rules to use instead, as a JSON list or a JSON file",
    ),
    Option("html", str, "FILE", "write every conformance check of the run to this HTML report"),
)

ENV_KEYS = {name: defaults.KEY_ENV[name] for name in KEY_NAMES}
"""The environment variable of each key, read when no option gives it (``defaults.KEY_ENV``)."""


def add_options(parser: pytest.Parser) -> None:
    """Register every option under the ``segpendo`` group, each also as an ini option."""
    group = parser.getgroup("segpendo", "pytest-segpendo: Segment -> Pendo conformance")
    for option in OPTIONS:
        group.addoption(
            option.flag, dest=option.ini, type=option.kind, default=None, metavar=option.metavar, help=option.help
        )
        parser.addini(option.ini, help=option.help, default=None)


def _given(config: pytest.Config, option: Option) -> tuple[Any, str] | None:
    value = config.getoption(option.ini)
    source = option.flag
    if value is None:
        raw = config.getini(option.ini)
        if raw in (None, ""):
            return None
        source = f"ini option {option.ini}"
        try:
            value = option.kind(str(raw).strip())
        except ValueError:
            raise pytest.UsageError(f"{source}: expected {option.kind.__name__}, got {raw!r}") from None
    return value, source


def _checked(name: str, value: Any, source: str) -> Any:
    if name == "scenario":
        from .traffic import SCENARIOS

        if value not in SCENARIOS:
            raise pytest.UsageError(f"{source}: unknown scenario {value!r} (choose from {', '.join(SCENARIOS)})")
    elif name == "profile":
        from .profiles import PROFILES

        if value not in PROFILES:
            raise pytest.UsageError(f"{source}: unknown profile {value!r} (choose from {', '.join(PROFILES)})")
    elif name == "view":
        from .verify import VIEWS

        if value not in VIEWS:
            raise pytest.UsageError(f"{source}: unknown view {value!r} (choose from {', '.join(VIEWS)})")
    elif name in ("count", "limit", "timestamp_tolerance", "settle", "quiet", "max_age_days") and value < 0:
        raise pytest.UsageError(f"{source}: must not be negative (got {value})")
    elif name == "mix":
        from .traffic import parse_mix

        try:
            return parse_mix(value)
        except ValueError as exc:
            raise pytest.UsageError(f"{source}: {exc}") from None
    elif name in KEY_NAMES and not value.strip():
        raise pytest.UsageError(f"{source}: a key must not be empty (leave it out for a random one)")
    elif name == "faults":
        try:
            return parse_faults(value)
        except ValueError as exc:
            raise pytest.UsageError(f"{source}: {exc}") from None
    return value


def parse_faults(value: str) -> bool | tuple[dict[str, Any], ...]:
    """``on``/``off``, a JSON list of fault rules, or a JSON file holding one
    (:func:`pytest_segpendo.conformance.parse_faults`)."""
    from .conformance import parse_faults as parsed

    found = parsed(value)
    return found if isinstance(found, bool) else tuple(found)


def config_from_pytest(config: pytest.Config) -> SegpendoConfig:
    """Resolve and check the run's configuration (options, then ini, then for keys the environment: ``ENV_KEYS``);
    a bad value is a :class:`pytest.UsageError`."""
    import os

    values: dict[str, Any] = {}
    for option in OPTIONS:
        found = _given(config, option)
        if found is None and option.name in ENV_KEYS and os.environ.get(ENV_KEYS[option.name], "").strip():
            found = (os.environ[ENV_KEYS[option.name]], f"environment variable {ENV_KEYS[option.name]}")
        if found is not None:
            values[option.name] = _checked(option.name, *found)
    return replace(SegpendoConfig(), **values)


# Where the plugin keeps its state on pytest's config and items.
_CONFIG_KEY = pytest.StashKey[SegpendoConfig]()
_FAKES_KEY = pytest.StashKey[list[Any]]()
_REPORTS_KEY = pytest.StashKey[list[dict[str, Any]]]()
_COLLECTOR_KEY = pytest.StashKey[Any]()
_HTML_KEY = pytest.StashKey[list[dict[str, Any]]]()

_DEPRECATED = {"SegpendoSettings": "SegpendoConfig", "settings_from_config": "config_from_pytest"}


def __getattr__(name: str) -> Any:
    """The 0.1 names, for one release: ``SegpendoSettings`` is :class:`SegpendoConfig`."""
    new = _DEPRECATED.get(name)
    if new is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(
        f"pytest_segpendo.options.{name} is deprecated and will be removed in the next release: use {new} "
        "(the run's configuration; 'settings' now means a destination's settings only)",
        DeprecationWarning,
        stacklevel=2,
    )
    return globals()[new]
