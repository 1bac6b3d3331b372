"""The plugin's fixtures: the run's configuration and keys, the fakes (one per session, configured by the
overridable ``segpendo_pendo_options`` and ``segpendo_segment_options``, reset for every test), generated
traffic, and the ``segpendo`` conformance fixture (:class:`Segpendo`).

Importing this module is cheap: the fakes, the profiles, the traffic generator and the diff engine are imported
when a fixture first needs them.
"""

from __future__ import annotations

import copy
import secrets
import warnings
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, Protocol

import pytest

from . import defaults
from .options import _CONFIG_KEY, _FAKES_KEY, _HTML_KEY, _REPORTS_KEY, ENV_KEYS, KEY_NAMES, MARKER_ARGS, SegpendoConfig

if TYPE_CHECKING:
    from .conformance import CheckResult
    from .delivery import DeliveryReport
    from .fakes.pendo import FakePendo
    from .fakes.segment import FakeSegment
    from .profiles import Expectation, UserMapping
    from .verify import DiffOptions, DiffReport, Matcher, Observed

__all__ = ["Segpendo", "SegpendoKeys", "TrafficFactory", "TrafficTime"]

PENDO_KEYS = ("api_key", "integration_key", "track_secret")
SEGMENT_KEYS = ("write_key",)
Records = list[dict[str, Any]]


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


@dataclass(frozen=True)
class SegpendoKeys:
    """The keys the fakes require: the Pendo app's API key (beacon paths, ``/data/segmentio/<key>``), the
    Metadata API integration key and the Track Event shared secret (both in ``x-pendo-integration-key``), the
    Segment write key (the fake Segment API). None: any non-empty key is accepted."""

    api_key: str | None = None
    integration_key: str | None = None
    track_secret: str | None = None
    write_key: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


# -- the run's configuration and keys ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def segpendo_config(pytestconfig: pytest.Config) -> SegpendoConfig:
    """The run's configuration (seed, scenario, mix, count, locale, profile, ...) as options and ini set it."""
    return pytestconfig.stash[_CONFIG_KEY]


@pytest.fixture(scope="session")
def segpendo_settings(segpendo_config: SegpendoConfig) -> SegpendoConfig:
    """Deprecated: ``segpendo_config``."""
    warnings.warn(
        "the segpendo_settings fixture is deprecated and will be removed in the next release: use segpendo_config "
        "('settings' now means a destination's settings only)",
        DeprecationWarning,
        stacklevel=2,
    )
    return segpendo_config


@pytest.fixture(scope="session")
def segpendo_seed(segpendo_config: SegpendoConfig) -> int:
    """The run's traffic seed (``--segpendo-seed``): print it with a failure to reproduce the run."""
    return segpendo_config.seed


@pytest.fixture(scope="session")
def segpendo_keys(segpendo_config: SegpendoConfig) -> SegpendoKeys:
    """The keys the session's fakes require: the options' (``--segpendo-track-secret`` ...), else random ones made
    for the session, so that a system sending a wrong key, or none, fails as it would against Pendo."""
    return SegpendoKeys(
        **{name: getattr(segpendo_config, name) or secrets.token_hex(defaults.KEY_BYTES) for name in KEY_NAMES}
    )


# -- the fakes: configured by public fixtures, shared by a session (per xdist worker), reset for every test --------


@pytest.fixture(scope="session")
def segpendo_pendo_options(segpendo_config: SegpendoConfig, segpendo_keys: SegpendoKeys) -> dict[str, Any]:
    """The keyword arguments of the session's :class:`~pytest_segpendo.fakes.FakePendo`; override this fixture
    in a ``conftest.py`` to change them. ``faults``, a list of fault rules (dicts), is applied before every test."""
    return {
        "host": defaults.HOST,
        "port": defaults.PORT,
        **{name: getattr(segpendo_keys, name) for name in PENDO_KEYS},
        "max_age_days": segpendo_config.max_age_days or None,
    }


@pytest.fixture(scope="session")
def segpendo_segment_options(segpendo_keys: SegpendoKeys) -> dict[str, Any]:
    """The keyword arguments of the session's :class:`~pytest_segpendo.fakes.FakeSegment`; override this fixture
    in a ``conftest.py`` to change them. ``faults``, a list of fault rules (dicts), is applied before every test."""
    return {"host": defaults.HOST, "port": defaults.PORT, "write_key": segpendo_keys.write_key}


def _start(kind: type[Any], options: Mapping[str, Any], fixture: str) -> Any:
    given = {k: v for k, v in options.items() if k != "faults"}
    try:
        fake = kind(**given)
    except TypeError as exc:
        pytest.fail(f"{fixture}: {exc}", pytrace=False)
    return fake.start()


@pytest.fixture(scope="session")
def _segpendo_pendo_server(segpendo_pendo_options: dict[str, Any]) -> Iterator[FakePendo]:
    from .fakes.pendo import FakePendo

    pendo: FakePendo = _start(FakePendo, segpendo_pendo_options, "segpendo_pendo_options")
    try:
        yield pendo
    finally:
        pendo.stop()


@pytest.fixture(scope="session")
def _segpendo_segment_server(segpendo_segment_options: dict[str, Any]) -> Iterator[FakeSegment]:
    from .fakes.segment import FakeSegment

    segment: FakeSegment = _start(FakeSegment, segpendo_segment_options, "segpendo_segment_options")
    try:
        yield segment
    finally:
        segment.stop()


def _watch(request: pytest.FixtureRequest, fake: Any, faults: Sequence[Mapping[str, Any]]) -> None:
    """Reset the fake for this test (then add the session's fault rules), and make errors raised in its threads
    fail this test."""
    try:
        fake.raise_errors()  # an error left by an earlier test that already failed
    except Exception:
        pass
    fake.reset()
    for rule in faults:
        fake.faults.add(**rule)
    request.node.stash.setdefault(_FAKES_KEY, []).append(fake)


@contextmanager
def _keys_for_test(config: Any, names: Sequence[str], marked: Mapping[str, Any]) -> Iterator[None]:
    """The marker's keys on a fake's configuration while the test runs; the session's keys again afterwards."""
    chosen = {name: marked[name] for name in names if name in marked}
    before = {name: getattr(config, name) for name in chosen}
    for name, value in chosen.items():
        setattr(config, name, value)
    try:
        yield
    finally:
        for name, value in before.items():
            setattr(config, name, value)


@pytest.fixture
def segpendo_pendo(
    request: pytest.FixtureRequest, _segpendo_pendo_server: FakePendo, segpendo_pendo_options: dict[str, Any]
) -> Iterator[FakePendo]:
    """The session's fake Pendo server (``pendo.url``), reset before this test. It requires the session's keys
    (``pendo.config.track_secret`` ...), or the marker's ``keys=`` for this test."""
    pendo = _segpendo_pendo_server
    _watch(request, pendo, segpendo_pendo_options.get("faults", ()))
    with _keys_for_test(pendo.config, PENDO_KEYS, _marker_args(request).get("keys", {})):
        yield pendo


@pytest.fixture
def segpendo_segment(
    request: pytest.FixtureRequest, _segpendo_segment_server: FakeSegment, segpendo_segment_options: dict[str, Any]
) -> Iterator[FakeSegment]:
    """The session's fake Segment API (``segment.url``), reset before this test. It requires the session's write
    key (``segment.app.config.write_key``, ``segpendo.keys.write_key``), or the marker's for this test."""
    segment = _segpendo_segment_server
    _watch(request, segment, segpendo_segment_options.get("faults", ()))
    with _keys_for_test(segment.app.config, SEGMENT_KEYS, _marker_args(request).get("keys", {})):
        yield segment


# -- the marker, and the configuration of one test --------------------------------------------------------------


def _bad_marker(message: str) -> None:
    pytest.fail(f"@pytest.mark.segpendo: {message}", pytrace=False)


def _marker_args(request: pytest.FixtureRequest) -> dict[str, Any]:
    args: dict[str, Any] = {}
    for mark in reversed(list(request.node.iter_markers("segpendo"))):  # the closest marker wins
        if mark.args:
            _bad_marker(f"takes keyword arguments only ({', '.join(MARKER_ARGS)})")
        for key, value in mark.kwargs.items():
            if key not in MARKER_ARGS:
                _bad_marker(f"unknown argument {key!r} (use {', '.join(MARKER_ARGS)})")
            args[key] = {**args.get("keys", {}), **value} if key == "keys" and isinstance(value, Mapping) else value
    if "profile" in args:
        from .profiles import PROFILES

        if args["profile"] not in PROFILES:
            _bad_marker(f"unknown profile {args['profile']!r} (choose from {', '.join(PROFILES)})")
    if "scenario" in args:
        from .traffic import SCENARIOS

        if args["scenario"] not in SCENARIOS:
            _bad_marker(f"unknown scenario {args['scenario']!r} (choose from {', '.join(SCENARIOS)})")
    if "view" in args:
        from .verify import VIEWS

        if args["view"] not in VIEWS:
            _bad_marker(f"unknown view {args['view']!r} (choose from {', '.join(VIEWS)})")
    if "faults" in args:
        faults = args["faults"]
        if not isinstance(faults, bool):
            if not isinstance(faults, (list, tuple)):
                _bad_marker(f"faults= takes True, False or a list of fault rules (got {type(faults).__name__})")
            from .conformance import valid_fault_rules

            try:
                args["faults"] = valid_fault_rules(list(faults))
            except ValueError as exc:
                _bad_marker(f"faults: {exc}")
    if "keys" in args:
        keys = args["keys"]
        if not isinstance(keys, Mapping):
            _bad_marker(f"keys= takes a dict of {', '.join(KEY_NAMES)} (got {type(keys).__name__})")
        for name, value in keys.items():
            if name not in KEY_NAMES:
                _bad_marker(f"unknown key {name!r} (use {', '.join(KEY_NAMES)})")
            if value is not None and (not isinstance(value, str) or not value.strip()):
                _bad_marker(f"key {name!r} must be a non-empty string, or None to accept any key (got {value!r})")
    return args


def _test_config(request: pytest.FixtureRequest, base: SegpendoConfig) -> tuple[SegpendoConfig, dict[str, Any]]:
    marked = _marker_args(request)
    chosen = {k: v for k, v in marked.items() if k in ("profile", "scenario", "seed", "count", "mix", "locale", "view")}
    if "scenario" in chosen and "mix" not in chosen:
        chosen["mix"] = None
    return replace(base, **chosen), marked


@pytest.fixture
def segpendo_traffic(request: pytest.FixtureRequest, segpendo_config: SegpendoConfig) -> TrafficFactory:
    """A function returning generated Segment events; arguments override the marker, which overrides the run.

    ``segpendo_traffic()`` gives ``--segpendo-count`` events of the configured scenario (or mix) and seed;
    ``segpendo_traffic(50, scenario="edge", seed=3)`` asks for something else.
    """
    config, _ = _test_config(request, segpendo_config)
    return _traffic_factory(config)


def _traffic_factory(c: SegpendoConfig) -> TrafficFactory:
    def make(
        count: int | None = None,
        *,
        scenario: str | None = None,
        seed: int | None = None,
        locale: str | None = None,
        mix: dict[str, int] | None = None,
    ) -> list[dict[str, Any]]:
        from .traffic import generate

        chosen_mix = mix if mix is not None else (None if scenario else c.mix)
        return generate(
            c.count if count is None else count,
            c.seed if seed is None else seed,
            scenario or c.scenario,
            mix=chosen_mix,
            locale=locale or c.locale,
        )

    return make


# -- the conformance fixture -----------------------------------------------------------------------------------


class TrafficTime:
    """The fake Pendo server's clock during a ``segpendo`` test: the time of the EARLIEST event of the traffic the
    test generated (``segpendo.events``, ``segpendo.traffic()``), as if the traffic were sent on its first day; the
    wall clock until the test generates any.

    Why the earliest: generated traffic is dated in the past and spans days to weeks, and Pendo drops Track Events
    more than 7 days old. A test that makes its system send the traffic itself (``check()`` without a system)
    sends it in one go, so any one clock judges all of it: at the latest event, the events of the first weeks would
    be "too old" and dropped although a system sending them on their day does nothing wrong; at the earliest,
    none of them is, and an event older than the traffic by more than 7 days (a relay that writes seconds, or
    shifts dates back) still is. A check that delivers the traffic itself follows it instead
    (:class:`~pytest_segpendo.delivery.TrafficClock`)."""

    kind = "traffic"

    def __init__(self) -> None:
        self.earliest: int | None = None

    def saw(self, events: Sequence[Any]) -> None:
        from .events import timestamp_ms

        stamps = [t for e in events if isinstance(e, dict) and (t := timestamp_ms(e.get("timestamp"))) is not None]
        if stamps and (self.earliest is None or min(stamps) < self.earliest):
            self.earliest = min(stamps)

    def now_ms(self) -> int:
        if self.earliest is not None:
            return self.earliest
        import time

        return time.time_ns() // 1_000_000

    def __repr__(self) -> str:
        return f"TrafficTime({self.earliest})"


# The class of observed() results, made on first use (it imports verify), per Observed class: a module imported
# again (pytester forgets the modules a run imported) gets its own.
_OBSERVED: weakref.WeakKeyDictionary[type[Observed], type[Observed]] = weakref.WeakKeyDictionary()


def _bound_observed_class() -> type[Observed]:
    from .profiles import Expectation
    from .verify import Observed, compare

    if Observed in _OBSERVED:
        return _OBSERVED[Observed]

    class ObservedInTest(Observed):
        """What the fake Pendo server received in this test, normalised by the test's hooks; comparing it
        applies the test's matchers and options, as ``segpendo.check`` does."""

        fixture: Segpendo

        def compare(
            self, expected: Expectation | Sequence[dict[str, Any]], options: DiffOptions | None = None, **kw: Any
        ) -> DiffReport:
            profile = expected.profile if isinstance(expected, Expectation) else self.fixture.profile
            opts, over = self.fixture._diff_args(options, kw, profile)
            self.last_report = compare(expected, self, opts, seed=self.fixture.seed, **over)
            return self.last_report

    _OBSERVED[Observed] = ObservedInTest
    return ObservedInTest


@dataclass(repr=False)
class Segpendo:
    """The ``segpendo`` fixture: traffic, the fakes, their keys, the expectation and the verdict for one test.

    ``segpendo.check(sut)`` does it all: sends the test's traffic to ``sut`` (a URL, with ``via`` a Segment wire
    format, or a function called with each event), waits for Pendo traffic to settle, compares with the profile
    and fails the test with the report when something differs. ``segpendo.verify(sut)`` takes the same arguments
    and returns the report without failing. The pieces are there too: :attr:`events`, :meth:`expect`,
    :meth:`observed` (``assert segpendo.observed() == segpendo.expect()`` gives the verdict ``check`` gives).
    """

    request: pytest.FixtureRequest
    config: SegpendoConfig  # the run's configuration with this test's marker applied
    marker: dict[str, Any]
    pendo_server: FakePendo
    _segment: Callable[[], FakeSegment]
    keys: SegpendoKeys = field(default_factory=SegpendoKeys)
    clock: TrafficTime | None = None  # the fake Pendo server's clock in this test (None: the options gave one)
    _events: list[dict[str, Any]] | None = None
    reports: list[DiffReport] = field(default_factory=list)
    delivery: DeliveryReport | None = None  # the last check's delivery report
    result: CheckResult | None = None  # the last check's whole result (stopped early? which faults?)

    def __repr__(self) -> str:
        return f"<segpendo profile={self.profile} seed={self.seed} pendo={self.pendo_server.url}>"

    @property
    def settings(self) -> SegpendoConfig:
        """Deprecated: :attr:`config`."""
        warnings.warn(
            "segpendo.settings is deprecated and will be removed in the next release: use segpendo.config",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.config

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
        return self.config.profile

    @property
    def seed(self) -> int:
        return self.config.seed

    @property
    def events(self) -> list[dict[str, Any]]:
        """This test's generated traffic (the marker's, else the run's scenario, count and seed); made once."""
        if self._events is None:
            self._events = self.traffic()
        return self._events

    def traffic(self, count: int | None = None, **kw: Any) -> list[dict[str, Any]]:
        """Generated events, as ``segpendo_traffic`` makes them."""
        events = _traffic_factory(self.config)(count, **kw)
        if self.clock is not None:
            self.clock.saw(events)
        return events

    # -- the test's hooks (conftest.py), applied alike by check(), verify(), expect() and observed() -------------

    def _implemented(self, name: str) -> bool:
        return bool(getattr(self.request.config.hook, name).get_hookimpls())

    def _adjust(self, profile: str) -> Callable[[Records], None] | None:
        if not self._implemented("pytest_segpendo_adjust_expected"):
            return None
        hook = self.request.config.hook

        def adjust(records: Records) -> None:
            hook.pytest_segpendo_adjust_expected(records=records, profile=profile, request=self.request)

        return adjust

    def _normalise(self, profile: str) -> Callable[[Records], None] | None:
        if not self._implemented("pytest_segpendo_normalise_observed"):
            return None
        hook = self.request.config.hook

        def normalise(records: Records) -> None:
            records[:] = copy.deepcopy(records)  # the hook may change nested values: never the fake's own
            hook.pytest_segpendo_normalise_observed(records=records, profile=profile, request=self.request)

        return normalise

    def _matchers(self, profile: str) -> list[Matcher]:
        matchers: list[Matcher] = []
        if self._implemented("pytest_segpendo_add_matchers"):
            self.request.config.hook.pytest_segpendo_add_matchers(
                matchers=matchers, profile=profile, request=self.request
            )
        return matchers

    def _diff_args(
        self, options: DiffOptions | None, given: Mapping[str, Any], profile: str
    ) -> tuple[DiffOptions | None, dict[str, Any]]:
        """How to compare: the call's keywords over its ``options``; without options, the call's keywords over the
        marker's view, over the run's options (``--segpendo-view`` ...), over the profile's hints."""
        over = {k: v for k, v in given.items() if v is not None}
        matchers = self._matchers(profile)
        if matchers:
            over["matchers"] = (*over.get("matchers", ()), *matchers)
        if options is not None:
            return options, over
        run: dict[str, Any] = {"limit": self.config.limit}
        if self.config.view:
            run["view"] = self.config.view
        if self.config.timestamp_tolerance is not None:
            run["timestamp_tolerance_ms"] = self.config.timestamp_tolerance
        return None, {**run, **over}

    def _delivery(self, sut: object, via: str, given: Mapping[str, Any]) -> dict[str, Any]:
        """What the delivery sends: the call's keywords, and the test's keys where the wire format needs one."""
        chosen = dict(given)
        if isinstance(sut, str):
            if via == "segmentio" and chosen.get("api_key") is None:
                chosen["api_key"] = self.keys.api_key
            if via == "tracking-api" and chosen.get("write_key") is None:
                chosen["write_key"] = self.keys.write_key
        return chosen

    # -- the expectation, what was received, the verdict ---------------------------------------------------------

    def expect(
        self,
        events: Sequence[dict[str, Any]] | None = None,
        *,
        profile: str | None = None,
        settings: Mapping[str, Any] | None = None,
        mapping: UserMapping | str | None = None,
    ) -> Expectation:
        """What Pendo should receive for ``events`` (default: :attr:`events`) under the test's profile, the
        destination's ``settings`` and ``mapping`` (default: the marker's), changed by the conftest's
        ``pytest_segpendo_adjust_expected``."""
        from .conformance import adjusted
        from .profiles import expect

        profile = profile or self.profile
        expectation = expect(
            self.events if events is None else events,
            profile,
            self.marker.get("settings") if settings is None else settings,
            self.marker.get("mapping") if mapping is None else mapping,
        )
        adjust = self._adjust(profile)
        return expectation if adjust is None else adjusted(expectation, adjust)

    def observed(self) -> Observed:
        """What the fake Pendo server received so far (records, refusals, warnings), normalised by the conftest's
        ``pytest_segpendo_normalise_observed``; comparing it (``==``, ``.compare()``) applies the test's matchers
        and options, so ``assert segpendo.observed() == segpendo.expect()`` decides as :meth:`check` does."""
        from .verify import observed_from

        seen = observed_from(self.pendo)
        normalise = self._normalise(self.profile)
        if normalise is not None:
            normalise(seen.records)
        cls = _bound_observed_class()
        bound = cls.__new__(cls)
        bound.__dict__.update(vars(seen))  # every attribute the fake's Observed has
        bound.fixture = self  # type: ignore[attr-defined]
        return bound

    def reproduce(self) -> str:
        """The command that reruns this test with the same traffic, profile, view, bad days and keys: what the
        test's marker does not set already, keys as environment variables (never printed)."""
        import json
        import shlex

        c, marked = self.config, self.marker
        parts = ["pytest", "'" + self.request.node.nodeid.replace("'", "'\\''") + "'"]
        if "seed" not in marked:
            parts.append(f"--segpendo-seed {c.seed}")
        if "count" not in marked:
            parts.append(f"--segpendo-count {c.count}")
        if "scenario" not in marked and "mix" not in marked:
            if c.mix:
                parts.append("--segpendo-mix " + ",".join(f"{k}={v}" for k, v in c.mix.items()))
            else:
                parts.append(f"--segpendo-scenario {c.scenario}")
        if "locale" not in marked and c.locale != defaults.LOCALE:
            parts.append(f"--segpendo-locale {c.locale}")
        if "profile" not in marked:
            parts.append(f"--segpendo-profile {c.profile}")
        if "view" not in marked and c.view:
            parts.append(f"--segpendo-view {c.view}")
        if "faults" not in marked and c.faults is not True:
            rules = "off" if c.faults is False else json.dumps(list(c.faults), separators=(",", ":"))
            parts.append(f"--segpendo-faults {shlex.quote(rules)}")
        for name in KEY_NAMES:
            if getattr(c, name):
                parts.append(f'--segpendo-{name.replace("_", "-")} "${ENV_KEYS[name]}"')
        return " ".join(parts)

    def check(
        self,
        sut: str | Callable[[Any], Any] | None = None,
        *,
        via: str = defaults.VIA,
        events: Sequence[dict[str, Any]] | None = None,
        profile: str | None = None,
        settings: Mapping[str, Any] | None = None,
        mapping: UserMapping | str | None = None,
        options: DiffOptions | None = None,
        view: str | None = None,
        timestamp_tolerance_ms: int | None = None,
        ignore_paths: Sequence[str] | None = None,
        limit: int | None = None,
        quiet: float | None = None,
        settle_timeout: float | None = None,
        faults: bool | Sequence[Mapping[str, Any]] | None = None,
        **delivery: Any,
    ) -> DiffReport:
        """Send the traffic to ``sut`` and assert that Pendo got what the profile says; returns the report.

        ``delivery`` keywords go to :func:`~pytest_segpendo.delivery.deliver` (``secret``, ``batch_size``,
        ``headers``, ``concurrency``, ``redeliver``...); via ``segmentio`` and ``tracking-api`` the test's keys are
        sent unless given. With ``sut=None`` nothing is sent: the test has made its system send.

        ``faults``: the bad days the check runs under when it delivers to a URL (default: the marker's
        ``faults=``, else ``--segpendo-faults``, else on: seeded Pendo faults and Segment re-deliveries, see
        ``docs/pytest.md``); False for none, or a list of fault rules to add instead of the default ones.
        """
        __tracebackhide__ = True
        report = self.verify(
            sut,
            via=via,
            events=events,
            profile=profile,
            settings=settings,
            mapping=mapping,
            options=options,
            view=view,
            timestamp_tolerance_ms=timestamp_tolerance_ms,
            ignore_paths=ignore_paths,
            limit=limit,
            quiet=quiet,
            settle_timeout=settle_timeout,
            faults=faults,
            **delivery,
        )
        self.request.node.stash[_REPORTS_KEY][-1]["asserted"] = True  # this check decides the test
        if not report.conforms:
            stopped = self.result.stopped if self.result is not None else None
            text = report.format()
            pytest.fail(f"segpendo: stopped early: {stopped}\n{text}" if stopped else text, pytrace=False)
        return report

    def verify(
        self,
        sut: str | Callable[[Any], Any] | None = None,
        *,
        via: str = defaults.VIA,
        events: Sequence[dict[str, Any]] | None = None,
        profile: str | None = None,
        settings: Mapping[str, Any] | None = None,
        mapping: UserMapping | str | None = None,
        options: DiffOptions | None = None,
        view: str | None = None,
        timestamp_tolerance_ms: int | None = None,
        ignore_paths: Sequence[str] | None = None,
        limit: int | None = None,
        quiet: float | None = None,
        settle_timeout: float | None = None,
        faults: bool | Sequence[Mapping[str, Any]] | None = None,
        **delivery: Any,
    ) -> DiffReport:
        """:meth:`check`, without failing the test: the same arguments; returns the report."""
        from .conformance import run_check

        profile = profile or self.profile
        chosen = self.events if events is None else list(events)
        options, overrides = self._diff_args(
            options,
            {
                "view": view,
                "timestamp_tolerance_ms": timestamp_tolerance_ms,
                "ignore_paths": tuple(ignore_paths) if ignore_paths is not None else None,
                "limit": limit,
            },
            profile,
        )
        sending = self._delivery(sut, via, delivery)
        recorder = None
        if self.config.html:
            from .delivery import Observers
            from .html import TimelineRecorder

            recorder = TimelineRecorder(chosen)
            given = sending.get("observer")
            sending["observer"] = recorder if given is None else Observers(given, recorder)
        result = run_check(
            chosen,
            sut,
            pendo=self.pendo,
            via=via,
            profile=profile,
            settings=self.marker.get("settings") if settings is None else settings,
            mapping=self.marker.get("mapping") if mapping is None else mapping,
            options=options,
            overrides=overrides,
            delivery_options=sending,
            quiet=self.config.quiet if quiet is None else quiet,
            settle_timeout=self.config.settle if settle_timeout is None else settle_timeout,
            seed=self.config.seed,
            reproduce=self.reproduce(),
            adjust_expected=self._adjust(profile),
            normalise_observed=self._normalise(profile),
            traffic_clock=self.clock is not None,
            faults=self._faults(faults),
        )
        self.delivery = result.delivery
        self.result = result
        self._record(result.report)
        if recorder is not None:
            self._html(result, chosen, recorder.marks)
        return result.report

    def _faults(self, given: bool | Sequence[Mapping[str, Any]] | None) -> bool | Sequence[Mapping[str, Any]]:
        """The check's bad days: the call's, else the marker's, else the run's (``--segpendo-faults``)."""
        if given is not None:
            return given
        if "faults" in self.marker:
            return self.marker["faults"]  # type: ignore[no-any-return]
        faults = self.config.faults
        return list(faults) if isinstance(faults, tuple) else faults

    def _html(self, result: CheckResult, events: Sequence[Any], marks: Sequence[Mapping[str, Any]]) -> None:
        """This check as a run document of the run's HTML report (``--segpendo-html``): it travels on the test's
        report, like the JSON ones."""
        from .html import run_document

        node = self.request.node
        found = node.stash.setdefault(_HTML_KEY, [])
        title = node.nodeid if not found else f"{node.nodeid} (check {len(found) + 1})"
        doc = run_document(result, pendo=self.pendo, events=events, marks=marks, title=title, nodeid=node.nodeid)
        if result.stopped:
            doc["notes"] = [
                f"stopped early: {result.stopped}",
                *[n for n in doc.get("notes", []) if "stopped" not in n],
            ]
        found.append(doc)

    def settle(self, quiet: float | None = None, timeout: float | None = None) -> bool:
        """Wait until the fake Pendo server has had no request for ``quiet`` seconds (bounded by ``timeout``)."""
        from .conformance import settle

        return settle(
            [self.pendo],
            quiet=self.config.quiet if quiet is None else quiet,
            timeout=self.config.settle if timeout is None else timeout,
        )

    def _record(self, report: DiffReport) -> None:
        self.reports.append(report)
        config = self.request.config
        node = self.request.node
        config.hook.pytest_segpendo_report(report=report, nodeid=node.nodeid, config=config)
        node.stash.setdefault(_REPORTS_KEY, []).append({**report.as_json(), "asserted": False})  # every difference
        if len(self.reports) == 1:  # JUnit XML <properties> of the test (and xdist carries them)
            node.user_properties.extend(report.junit_properties())


@pytest.fixture
def segpendo(
    request: pytest.FixtureRequest,
    segpendo_config: SegpendoConfig,
    segpendo_pendo: FakePendo,
    segpendo_pendo_options: dict[str, Any],
    segpendo_segment_options: dict[str, Any],
) -> Iterator[Segpendo]:
    """The conformance fixture: ``segpendo.check(sut)`` sends this test's traffic to your system and asserts
    that the fake Pendo server got what the profile says (see :class:`Segpendo`)."""
    config, marked = _test_config(request, segpendo_config)
    marked_keys = marked.get("keys", {})
    keys = SegpendoKeys(
        **{name: getattr(segpendo_pendo.config, name) for name in PENDO_KEYS},
        write_key=marked_keys.get("write_key", segpendo_segment_options.get("write_key")),
    )

    def segment() -> FakeSegment:
        return request.getfixturevalue("segpendo_segment")  # type: ignore[no-any-return]

    clock = None if segpendo_pendo_options.get("clock") is not None else TrafficTime()
    fixture = Segpendo(request, config, marked, segpendo_pendo, segment, keys, clock)
    if clock is None:
        yield fixture
        return
    before = segpendo_pendo.clock
    segpendo_pendo.clock = clock
    try:
        yield fixture
    finally:
        segpendo_pendo.clock = before
