"""The plugin's fixtures: the fakes (one per session, reset for every test), the run's settings and traffic,
and the ``segpendo`` conformance fixture (:class:`Segpendo`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import pytest

from .conformance import DEFAULT_QUIET, run_check, settle
from .delivery import DeliveryReport
from .fakes.pendo import FakePendo
from .fakes.segment import FakeSegment
from .options import _FAKES_KEY, _REPORTS_KEY, _SETTINGS_KEY, MARKER_ARGS, SegpendoSettings
from .profiles import PROFILES, Expectation, UserMapping, expect
from .traffic import SCENARIOS, generate
from .verify import VIEWS, DiffOptions, DiffReport, Matcher, Observed, observed_from

__all__ = ["Segpendo", "TrafficFactory"]


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
        fake.raise_errors()  # an error left by an earlier test that already failed
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

        ``delivery`` keywords go to :func:`~pytest_segpendo.delivery.deliver` (``secret``, ``batch_size``,
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
