"""The pytest plugin (entry point ``pytest11: segpendo``): options, report header and traffic fixtures."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Protocol

import pytest

from .traffic import SCENARIOS, generate, parse_mix

DEFAULT_SEED = 0
DEFAULT_SCENARIO = "saas"
DEFAULT_COUNT = 200
DEFAULT_LOCALE = "en_US"


@dataclass(frozen=True)
class SegpendoSettings:
    """The run's traffic defaults, from command-line options, then ini options, then built-in defaults."""

    seed: int = DEFAULT_SEED
    scenario: str = DEFAULT_SCENARIO
    count: int = DEFAULT_COUNT
    locale: str = DEFAULT_LOCALE
    mix: dict[str, int] | None = None

    def describe(self) -> str:
        kind = ",".join(f"{k}={v}" for k, v in self.mix.items()) if self.mix else self.scenario
        return f"seed={self.seed} scenario={kind} count={self.count} locale={self.locale}"


class TrafficFactory(Protocol):
    def __call__(
        self,
        count: int | None = None,
        *,
        scenario: str | None = None,
        seed: int | None = None,
        locale: str | None = None,
        mix: dict[str, int] | None = None,
    ) -> list[dict[str, Any]]: ...


_OPTIONS = (
    # (name, ini name, type, help)
    ("--segpendo-seed", "segpendo_seed", int, f"seed of generated Segment traffic (default {DEFAULT_SEED})"),
    ("--segpendo-scenario", "segpendo_scenario", str, f"traffic scenario: {', '.join(SCENARIOS)} (default {DEFAULT_SCENARIO})"),
    ("--segpendo-mix", "segpendo_mix", str, "weighted mix of scenarios instead of one, e.g. saas=3,edge=1"),
    ("--segpendo-count", "segpendo_count", int, f"events per generated traffic sample (default {DEFAULT_COUNT})"),
    ("--segpendo-locale", "segpendo_locale", str, f"Faker locale of generated names and places (default {DEFAULT_LOCALE})"),
)


def pytest_addoption(parser: pytest.Parser) -> None:
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
    """Resolve and check the run's traffic defaults; a bad value is a :class:`pytest.UsageError`."""
    settings = SegpendoSettings()
    values: dict[str, Any] = {}
    for _flag, ini, kind, _help in _OPTIONS:
        found = _setting(config, ini, kind)
        if found is None:
            continue
        value, source = found
        field = ini[len("segpendo_") :]
        if field == "scenario" and value not in SCENARIOS:
            raise pytest.UsageError(f"{source}: unknown scenario {value!r} (choose from {', '.join(SCENARIOS)})")
        if field == "count" and value < 0:
            raise pytest.UsageError(f"{source}: must not be negative (got {value})")
        if field == "mix":
            try:
                value = parse_mix(value)
            except ValueError as exc:
                raise pytest.UsageError(f"{source}: {exc}") from None
        values[field] = value
    return replace(settings, **values)


_SETTINGS_KEY = pytest.StashKey[SegpendoSettings]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_SETTINGS_KEY] = settings_from_config(config)


def pytest_report_header(config: pytest.Config) -> str:
    return f"segpendo: {config.stash[_SETTINGS_KEY].describe()}"


@pytest.fixture(scope="session")
def segpendo_settings(pytestconfig: pytest.Config) -> SegpendoSettings:
    """The run's traffic defaults (seed, scenario, mix, count, locale) as options and ini set them."""
    return pytestconfig.stash[_SETTINGS_KEY]


@pytest.fixture(scope="session")
def segpendo_seed(segpendo_settings: SegpendoSettings) -> int:
    """The run's traffic seed (``--segpendo-seed``): print it with a failure to reproduce the run."""
    return segpendo_settings.seed


@pytest.fixture
def segpendo_traffic(segpendo_settings: SegpendoSettings) -> TrafficFactory:
    """A function returning generated Segment events; arguments override the run's defaults.

    ``segpendo_traffic()`` gives ``--segpendo-count`` events of the configured scenario (or mix) and seed;
    ``segpendo_traffic(50, scenario="edge", seed=3)`` asks for something else.
    """

    def make(
        count: int | None = None,
        *,
        scenario: str | None = None,
        seed: int | None = None,
        locale: str | None = None,
        mix: dict[str, int] | None = None,
    ) -> list[dict[str, Any]]:
        s = segpendo_settings
        chosen_mix = mix if mix is not None else (None if scenario else s.mix)
        return generate(
            s.count if count is None else count,
            s.seed if seed is None else seed,
            scenario or s.scenario,
            mix=chosen_mix,
            locale=locale or s.locale,
        )

    return make
