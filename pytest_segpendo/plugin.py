"""The pytest plugin (entry point ``pytest11: segpendo``): options, the ``segpendo`` marker, fixtures for the
fakes and the traffic, the ``segpendo`` conformance fixture, hooks, assertion messages, reports. See
``docs/pytest.md``."""

from __future__ import annotations

import json
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import pytest

from .check import DEFAULT_QUIET, run_check, settle
from .pendo import FakePendo
from .profiles import PROFILES, Expectation, UserMapping, expect
from .segment import FakeSegment
from .segment.delivery import DeliveryReport
from .traffic import SCENARIOS, generate, parse_mix
from .verify import VIEWS, DiffOptions, DiffReport, Matcher, Observed, compare, observed_from

__all__ = ["Segpendo", "SegpendoSettings", "TrafficFactory"]

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


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("segpendo", "pytest-segpendo: Segment -> Pendo conformance")
    for flag, ini, kind, help_text in _OPTIONS:
        group.addoption(flag, dest=ini, type=kind, default=None, help=help_text)
        parser.addini(ini, help=help_text, default=None)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from . import hooks

    pluginmanager.add_hookspecs(hooks)


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


_SETTINGS_KEY = pytest.StashKey[SegpendoSettings]()
_FAKES_KEY = pytest.StashKey[list[Any]]()
_REPORTS_KEY = pytest.StashKey[list[dict[str, Any]]]()
_COLLECTOR_KEY = pytest.StashKey["_Collector"]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_SETTINGS_KEY] = settings_from_config(config)
    collector = _Collector(config)
    config.stash[_COLLECTOR_KEY] = collector
    config.pluginmanager.register(collector, "segpendo-collector")
    config.addinivalue_line(
        "markers",
        "segpendo(profile=, scenario=, seed=, count=, settings=, mix=, locale=, view=, mapping=): "
        "what the segpendo fixtures generate and compare for this test",
    )


def pytest_report_header(config: pytest.Config) -> str:
    return f"segpendo: {config.stash[_SETTINGS_KEY].describe()}"


# -- fakes, shared by a session (per xdist worker), reset for every test ---------------------------------------


@pytest.fixture(scope="session")
def _segpendo_pendo_server(pytestconfig: pytest.Config) -> Iterator[FakePendo]:
    with FakePendo(max_age_days=pytestconfig.stash[_SETTINGS_KEY].max_age_days or None) as pendo:
        yield pendo


@pytest.fixture(scope="session")
def _segpendo_segment_server() -> Iterator[FakeSegment]:
    with FakeSegment() as segment:
        yield segment


def _watch(request: pytest.FixtureRequest, fake: Any) -> None:
    """Reset the fake for this test, and make errors raised in its threads fail this test."""
    try:
        fake.check()  # an error left by an earlier test that already failed
    except Exception:
        pass
    fake.reset()
    request.node.stash.setdefault(_FAKES_KEY, []).append(fake)


@pytest.fixture
def segpendo_pendo(request: pytest.FixtureRequest, _segpendo_pendo_server: FakePendo) -> FakePendo:
    """The session's fake Pendo server (``pendo.url``), reset before this test. It accepts any non-empty key."""
    _watch(request, _segpendo_pendo_server)
    return _segpendo_pendo_server


@pytest.fixture
def segpendo_segment(request: pytest.FixtureRequest, _segpendo_segment_server: FakeSegment) -> FakeSegment:
    """The session's fake Segment API (``segment.url``), reset before this test. It accepts any non-empty write key."""
    _watch(request, _segpendo_segment_server)
    return _segpendo_segment_server


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """An exception raised inside a fake while this test ran fails this test (with the server's traceback)."""
    try:
        result = yield
    except BaseException as exc:
        for fake in item.stash.get(_FAKES_KEY, []):
            try:
                fake.check()
            except Exception as handler_error:
                raise handler_error from exc
        raise
    for fake in item.stash.get(_FAKES_KEY, []):
        fake.check()
    return result


# -- settings per test -----------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def segpendo_settings(pytestconfig: pytest.Config) -> SegpendoSettings:
    """The run's settings (seed, scenario, mix, count, locale, profile, ...) as options and ini set them."""
    return pytestconfig.stash[_SETTINGS_KEY]


@pytest.fixture(scope="session")
def segpendo_seed(segpendo_settings: SegpendoSettings) -> int:
    """The run's traffic seed (``--segpendo-seed``): print it with a failure to reproduce the run."""
    return segpendo_settings.seed


def _marker_args(request: pytest.FixtureRequest) -> dict[str, Any]:
    args: dict[str, Any] = {}
    for mark in reversed(list(request.node.iter_markers("segpendo"))):  # the closest marker wins
        if mark.args:
            pytest.fail(f"@pytest.mark.segpendo takes keyword arguments only ({', '.join(MARKER_ARGS)})", pytrace=False)
        for key, value in mark.kwargs.items():
            if key not in MARKER_ARGS:
                pytest.fail(
                    f"@pytest.mark.segpendo: unknown argument {key!r} (use {', '.join(MARKER_ARGS)})", pytrace=False
                )
            args[key] = value
    if "profile" in args and args["profile"] not in PROFILES:
        pytest.fail(
            f"@pytest.mark.segpendo: unknown profile {args['profile']!r} (choose from {', '.join(PROFILES)})",
            pytrace=False,
        )
    if "scenario" in args and args["scenario"] not in SCENARIOS:
        pytest.fail(
            f"@pytest.mark.segpendo: unknown scenario {args['scenario']!r} (choose from {', '.join(SCENARIOS)})",
            pytrace=False,
        )
    if "view" in args and args["view"] not in VIEWS:
        pytest.fail(f"@pytest.mark.segpendo: unknown view {args['view']!r} (choose from state, stream)", pytrace=False)
    return args


def _test_settings(request: pytest.FixtureRequest, base: SegpendoSettings) -> tuple[SegpendoSettings, dict[str, Any]]:
    marked = _marker_args(request)
    fields = {k: v for k, v in marked.items() if k in ("profile", "scenario", "seed", "count", "mix", "locale", "view")}
    if "scenario" in fields and "mix" not in fields:
        fields["mix"] = None
    return replace(base, **fields), marked


@pytest.fixture
def segpendo_traffic(request: pytest.FixtureRequest, segpendo_settings: SegpendoSettings) -> TrafficFactory:
    """A function returning generated Segment events; arguments override the marker, which overrides the run.

    ``segpendo_traffic()`` gives ``--segpendo-count`` events of the configured scenario (or mix) and seed;
    ``segpendo_traffic(50, scenario="edge", seed=3)`` asks for something else.
    """
    settings, _ = _test_settings(request, segpendo_settings)
    return _traffic_factory(settings)


def _traffic_factory(s: SegpendoSettings) -> TrafficFactory:
    def make(
        count: int | None = None,
        *,
        scenario: str | None = None,
        seed: int | None = None,
        locale: str | None = None,
        mix: dict[str, int] | None = None,
    ) -> list[dict[str, Any]]:
        chosen_mix = mix if mix is not None else (None if scenario else s.mix)
        return generate(
            s.count if count is None else count,
            s.seed if seed is None else seed,
            scenario or s.scenario,
            mix=chosen_mix,
            locale=locale or s.locale,
        )

    return make


# -- the conformance fixture -----------------------------------------------------------------------------------


@dataclass(repr=False)
class Segpendo:
    """The ``segpendo`` fixture: traffic, the fakes, the expectation and the verdict for one test.

    ``segpendo.check(sut)`` does it all: sends the test's traffic to ``sut`` (a URL, with ``via`` a Segment wire
    format, or a function called with each event), waits for Pendo traffic to settle, compares with the profile
    and fails the test with the report when something differs. The pieces are there too: :attr:`events`,
    :meth:`expect`, :meth:`observed`, :meth:`verify`.
    """

    request: pytest.FixtureRequest
    settings: SegpendoSettings
    marker: dict[str, Any]
    pendo_server: FakePendo
    _segment: Callable[[], FakeSegment]
    _events: list[dict[str, Any]] | None = None
    reports: list[DiffReport] = field(default_factory=list)
    delivery: DeliveryReport | None = None  # the last check's delivery report

    def __repr__(self) -> str:
        return f"<segpendo profile={self.profile} seed={self.seed} pendo={self.pendo_server.url}>"

    @property
    def pendo(self) -> FakePendo:
        """The fake Pendo server the system under test sends to (reset before this test)."""
        return self.pendo_server

    @property
    def segment(self) -> FakeSegment:
        """The fake Segment API (started on first use, reset before this test)."""
        return self._segment()

    @property
    def profile(self) -> str:
        return self.settings.profile

    @property
    def seed(self) -> int:
        return self.settings.seed

    @property
    def events(self) -> list[dict[str, Any]]:
        """This test's generated traffic (the marker's, else the run's scenario, count and seed); made once."""
        if self._events is None:
            self._events = self.traffic()
        return self._events

    def traffic(self, count: int | None = None, **kw: Any) -> list[dict[str, Any]]:
        """Generated events, as ``segpendo_traffic`` makes them."""
        return _traffic_factory(self.settings)(count, **kw)

    def expect(
        self,
        events: Sequence[dict[str, Any]] | None = None,
        *,
        profile: str | None = None,
        settings: Mapping[str, Any] | None = None,
        mapping: UserMapping | str | None = None,
    ) -> Expectation:
        """What Pendo should receive for ``events`` (default: :attr:`events`) under the test's profile."""
        return expect(
            self.events if events is None else events,
            profile or self.profile,
            self.marker.get("settings") if settings is None else settings,
            self.marker.get("mapping") if mapping is None else mapping,
        )

    def observed(self) -> Observed:
        """What the fake Pendo server received so far (records, refusals, warnings)."""
        return observed_from(self.pendo)

    def _hooks(
        self, profile: str
    ) -> tuple[Callable[[list[dict[str, Any]]], None], Callable[[list[dict[str, Any]]], None], list[Matcher]]:
        hook = self.request.config.hook
        matchers: list[Matcher] = []
        hook.pytest_segpendo_add_matchers(matchers=matchers, profile=profile, request=self.request)

        def adjust(records: list[dict[str, Any]]) -> None:
            hook.pytest_segpendo_adjust_expected(records=records, profile=profile, request=self.request)

        def normalise(records: list[dict[str, Any]]) -> None:
            hook.pytest_segpendo_normalise_observed(records=records, profile=profile, request=self.request)

        return adjust, normalise, matchers

    def _overrides(self, given: Mapping[str, Any]) -> dict[str, Any]:
        over: dict[str, Any] = {"limit": self.settings.limit}
        if self.settings.view:
            over["view"] = self.settings.view
        if self.settings.timestamp_tolerance is not None:
            over["timestamp_tolerance_ms"] = self.settings.timestamp_tolerance
        over.update({k: v for k, v in given.items() if v is not None})
        return over

    def reproduce(self) -> str:
        nodeid = self.request.node.nodeid
        seeded = "" if "seed" in self.marker else f" --segpendo-seed {self.settings.seed}"
        return f"pytest '{nodeid}'{seeded}"

    def check(
        self,
        sut: str | Callable[[Any], Any] | None = None,
        *,
        via: str = "webhook",
        events: Sequence[dict[str, Any]] | None = None,
        profile: str | None = None,
        settings: Mapping[str, Any] | None = None,
        mapping: UserMapping | str | None = None,
        quiet: float = DEFAULT_QUIET,
        settle_timeout: float | None = None,
        options: DiffOptions | None = None,
        view: str | None = None,
        timestamp_tolerance_ms: int | None = None,
        ignore_paths: Sequence[str] | None = None,
        **delivery: Any,
    ) -> DiffReport:
        """Send the traffic to ``sut`` and assert that Pendo got what the profile says; returns the report.

        ``delivery`` keywords go to :func:`~pytest_segpendo.segment.deliver` (``secret``, ``batch_size``,
        ``headers``, ``concurrency``...). With ``sut=None`` nothing is sent: the test has made its system send.
        """
        __tracebackhide__ = True
        report = self.verify(
            events=events,
            sut=sut,
            via=via,
            profile=profile,
            settings=settings,
            mapping=mapping,
            quiet=quiet,
            settle_timeout=settle_timeout,
            options=options,
            view=view,
            timestamp_tolerance_ms=timestamp_tolerance_ms,
            ignore_paths=ignore_paths,
            **delivery,
        )
        self.request.node.stash[_REPORTS_KEY][-1]["asserted"] = True  # this check decides the test
        if not report.conforms:
            pytest.fail(report.format(), pytrace=False)
        return report

    def verify(
        self,
        *,
        events: Sequence[dict[str, Any]] | None = None,
        sut: str | Callable[[Any], Any] | None = None,
        via: str = "webhook",
        profile: str | None = None,
        settings: Mapping[str, Any] | None = None,
        mapping: UserMapping | str | None = None,
        quiet: float = DEFAULT_QUIET,
        settle_timeout: float | None = None,
        options: DiffOptions | None = None,
        view: str | None = None,
        timestamp_tolerance_ms: int | None = None,
        ignore_paths: Sequence[str] | None = None,
        **delivery: Any,
    ) -> DiffReport:
        """Like :meth:`check`, without failing the test: returns the report."""
        profile = profile or self.profile
        events = self.events if events is None else list(events)
        adjust, normalise, matchers = self._hooks(profile)
        result = run_check(
            events,
            sut,
            pendo=self.pendo,
            via=via,
            profile=profile,
            settings=self.marker.get("settings") if settings is None else settings,
            mapping=self.marker.get("mapping") if mapping is None else mapping,
            options=options,
            overrides=self._overrides(
                {
                    "view": view or self.marker.get("view"),
                    "timestamp_tolerance_ms": timestamp_tolerance_ms,
                    "ignore_paths": ignore_paths,
                }
            ),
            delivery_options=delivery,
            quiet=quiet,
            settle_timeout=self.settings.settle if settle_timeout is None else settle_timeout,
            seed=self.settings.seed,
            reproduce=self.reproduce(),
            adjust_expected=adjust,
            normalise_observed=normalise,
            matchers=matchers,
        )
        self.delivery = result.delivery
        self._record(result.report)
        return result.report

    def settle(self, quiet: float = DEFAULT_QUIET, timeout: float | None = None) -> bool:
        """Wait until the fake Pendo server has had no request for ``quiet`` seconds (bounded)."""
        return settle([self.pendo], quiet=quiet, timeout=self.settings.settle if timeout is None else timeout)

    def _record(self, report: DiffReport) -> None:
        self.reports.append(report)
        config = self.request.config
        node = self.request.node
        config.hook.pytest_segpendo_report(report=report, nodeid=node.nodeid, config=config)
        node.stash.setdefault(_REPORTS_KEY, []).append({**report.as_json(limit=self.settings.limit), "asserted": False})
        if len(self.reports) == 1:  # JUnit XML <properties> of the test (and xdist carries them)
            node.user_properties.extend(report.junit_properties())


@pytest.fixture
def segpendo(
    request: pytest.FixtureRequest,
    segpendo_settings: SegpendoSettings,
    segpendo_pendo: FakePendo,
) -> Segpendo:
    """The conformance fixture: ``segpendo.check(sut)`` sends this test's traffic to your system and asserts
    that the fake Pendo server got what the profile says (see :class:`Segpendo`)."""
    settings, marked = _test_settings(request, segpendo_settings)

    def segment() -> FakeSegment:
        return request.getfixturevalue("segpendo_segment")  # type: ignore[no-any-return]

    return Segpendo(request, settings, marked, segpendo_pendo, segment)


# -- reports: the test report carries them (also across xdist), the terminal and the JSON file show them ----------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if call.when == "call":
        found = item.stash.get(_REPORTS_KEY, None)
        if found:
            setattr(report, "segpendo", found)  # noqa: B010 - a plain attribute: xdist serialises it with the report
    return report


class _Collector:
    """Collects the conformance reports carried by test reports (in the controller under xdist)."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self.tests: list[tuple[str, str, list[dict[str, Any]]]] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        found = getattr(report, "segpendo", None)
        if found and report.when == "call":
            self.tests.append((report.nodeid, report.outcome, found))


def pytest_assertrepr_compare(config: pytest.Config, op: str, left: object, right: object) -> list[str] | None:
    """``assert observed == expectation``: show the diff report instead of two object reprs."""
    if op != "==":
        return None
    observed, other = (left, right) if isinstance(left, Observed) else (right, left)
    if not isinstance(observed, Observed) or not isinstance(other, (Expectation, list, tuple, Observed)):
        return None
    report = observed.last_report
    if report is None:
        target = other.records if isinstance(other, Observed) else other
        report = compare(target if isinstance(target, Expectation) else list(target), observed)
    lines = report.format(limit=config.stash[_SETTINGS_KEY].limit).splitlines()
    return ["observed Pendo records == expected: " + lines[0].removeprefix("segpendo: "), *lines[1:]]


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    collector = config.stash.get(_COLLECTOR_KEY, None)
    if collector is None or not collector.tests or hasattr(config, "workerinput"):
        return
    collected = collector.tests
    tr = terminalreporter
    tr.write_sep("-", "segpendo conformance")
    for nodeid, _outcome, reports in collected:
        for r in reports:
            s = r["summary"]
            counts = ", ".join(
                f"{k} {s[k]:,}" for k in ("missing", "unexpected", "changed", "duplicated", "rejected") if s[k]
            )
            verdict = "conforms" if r["conforms"] else "DIFFERS" if r.get("asserted") else "differs"
            extra = f"; ignored {s['ignored']:,}" if s["ignored"] else ""
            looked = "" if r.get("asserted") or r["conforms"] else "  (verify(): the test judged this report itself)"
            tr.write_line(
                f"{verdict:8} {nodeid}  profile={r['profile']} view={r['view']}  matched "
                f"{r['matched']:,}/{r['expected']:,}" + (f"; {counts}" if counts else "") + extra + looked
            )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    settings = config.stash.get(_SETTINGS_KEY, None)
    collector = config.stash.get(_COLLECTOR_KEY, None)
    if settings is None or not settings.report or collector is None or hasattr(config, "workerinput"):
        return
    write_run_report(Path(settings.report), collector.tests, settings)


def _counts(outcome: str, report: dict[str, Any]) -> bool:
    """Whether a report counts in the run's verdict: a check the test asserted, or any report of a failed test.
    A report a passing test only looked at (``verify()``, e.g. to prove a planted bug is caught) does not."""
    return bool(report.get("asserted")) or outcome != "passed"


def write_run_report(
    path: Path, tests: Sequence[tuple[str, str, list[dict[str, Any]]]], settings: SegpendoSettings
) -> None:
    """The run's JSON report: the report shape of docs/index.md summed over the reports that count (``_counts``),
    then every test's reports (each with ``asserted``)."""
    summary: dict[str, int] = {}
    differences: list[dict[str, Any]] = []
    counted = [(nodeid, outcome, r) for nodeid, outcome, reports in tests for r in reports if _counts(outcome, r)]
    for nodeid, _outcome, r in counted:
        for key, n in r["summary"].items():
            summary[key] = summary.get(key, 0) + n
        differences.extend({"test": nodeid, **d} for d in r["differences"])
    document = {
        "conforms": all(outcome == "passed" for _n, outcome, _r in tests)
        and all(r["conforms"] for _n, _o, r in counted),
        "summary": summary,
        "differences": differences,
        "settings": {k: v for k, v in settings.__dict__.items() if k != "report"},
        "tests": [{"nodeid": n, "outcome": o, "reports": r} for n, o, r in tests],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
