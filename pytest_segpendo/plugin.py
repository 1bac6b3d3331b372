"""The pytest plugin (entry point ``pytest11: segpendo``): hook implementations only. The options are in
:mod:`.options`, the fixtures and the ``segpendo`` conformance fixture in :mod:`.fixtures`, the run's reports in
:mod:`.runreport`, the plugin's own hook specifications in :mod:`.hooks`. See ``docs/pytest.md``.

Importing the plugin is cheap (it runs at every pytest start-up): the fakes, the profiles, the traffic generator
and the diff engine are imported by the fixtures and hooks that use them, when they do.
"""

from __future__ import annotations

import warnings
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from .fixtures import (  # noqa: F401 - fixtures are found in the plugin module's namespace
    Segpendo,
    SegpendoKeys,
    TrafficFactory,
    _segpendo_pendo_server,
    _segpendo_segment_server,
    segpendo,
    segpendo_config,
    segpendo_keys,
    segpendo_pendo,
    segpendo_pendo_options,
    segpendo_seed,
    segpendo_segment,
    segpendo_segment_options,
    segpendo_settings,
    segpendo_traffic,
)
from .options import (
    _COLLECTOR_KEY,
    _CONFIG_KEY,
    _FAKES_KEY,
    _HTML_KEY,
    _REPORTS_KEY,
    MARKER_ARGS,
    SegpendoConfig,
    add_options,
)
from .runreport import Collector, terminal_summary, write_html_report, write_run_report

__all__ = ["Segpendo", "SegpendoConfig", "SegpendoKeys", "TrafficFactory"]


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from . import hooks

    pluginmanager.add_hookspecs(hooks)


def pytest_configure(config: pytest.Config) -> None:
    from .options import config_from_pytest

    run = config_from_pytest(config)
    config.stash[_CONFIG_KEY] = run
    collector = Collector(config, run.html)
    config.stash[_COLLECTOR_KEY] = collector
    config.pluginmanager.register(collector, "segpendo-collector")
    config.addinivalue_line(
        "markers",
        f"segpendo({', '.join(a + '=' for a in MARKER_ARGS)}): what the segpendo fixtures generate and compare "
        "for this test, and the keys its fakes require",
    )


def pytest_report_header(config: pytest.Config) -> str:
    return f"segpendo: {config.stash[_CONFIG_KEY].describe()}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """An exception raised inside a fake while this test ran fails this test (with the server's traceback)."""
    try:
        result = yield
    except BaseException as exc:
        for fake in item.stash.get(_FAKES_KEY, []):
            try:
                fake.raise_errors()
            except Exception as handler_error:
                raise handler_error from exc
        raise
    for fake in item.stash.get(_FAKES_KEY, []):
        fake.raise_errors()
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """The test's conformance reports travel on its test report (so xdist brings them to the controller)."""
    report = yield
    if call.when == "call":
        found = item.stash.get(_REPORTS_KEY, None)
        if found:
            setattr(report, "segpendo", found)  # noqa: B010 - a plain attribute: xdist serialises it with the report
        docs = item.stash.get(_HTML_KEY, None)
        if docs:
            setattr(report, "segpendo_html", docs)  # noqa: B010 - the HTML report's run documents, likewise
    return report


def pytest_assertrepr_compare(config: pytest.Config, op: str, left: object, right: object) -> list[str] | None:
    """``assert observed == expectation``: show the diff report instead of two object reprs."""
    import sys

    if op != "==" or "pytest_segpendo.verify" not in sys.modules:
        return None  # no Observed can exist: nothing of ours to explain (and nothing heavy to import)
    from .profiles import Expectation
    from .verify import Observed

    observed, other = (left, right) if isinstance(left, Observed) else (right, left)
    if not isinstance(observed, Observed) or not isinstance(other, (Expectation, list, tuple, Observed)):
        return None
    report = observed.last_report
    if report is None:
        target = other.records if isinstance(other, Observed) else other
        report = observed.compare(target if isinstance(target, Expectation) else list(target))
    lines = report.format(limit=config.stash[_CONFIG_KEY].limit).splitlines()
    return ["observed Pendo records == expected: " + lines[0].removeprefix("segpendo: "), *lines[1:]]


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):
        terminal_summary(terminalreporter, config.stash.get(_COLLECTOR_KEY, None))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    run = config.stash.get(_CONFIG_KEY, None)
    collector = config.stash.get(_COLLECTOR_KEY, None)
    if run is None or collector is None or hasattr(config, "workerinput"):
        return
    if run.report:
        write_run_report(Path(run.report), collector.tests, run)
    if run.html:
        write_html_report(Path(run.html), collector.html_runs, run)


def __getattr__(name: str) -> Any:
    """The 0.1 name ``SegpendoSettings`` (now :class:`SegpendoConfig`), for one release."""
    if name == "SegpendoSettings":
        warnings.warn(
            "pytest_segpendo.plugin.SegpendoSettings is deprecated and will be removed in the next release: use "
            "SegpendoConfig",
            DeprecationWarning,
            stacklevel=2,
        )
        return SegpendoConfig
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
