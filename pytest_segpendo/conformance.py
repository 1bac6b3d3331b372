"""One conformance check, end to end: send Segment traffic to a system under test, wait until what it sends
to the fake Pendo server settles, and diff that against the reference mapping.

Used by the pytest plugin (the ``segpendo`` fixture), ``segpendo check`` and ``segpendo demo``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import defaults
from .delivery import DeliveryReport, TrafficClock, deliver
from .fakes.core.app import FakeServer
from .fakes.core.remote import RemoteError, RemotePendo
from .fakes.pendo import FakePendo
from .profiles import Expectation, UserMapping, expect
from .verify import Difference, DiffOptions, DiffReport, Matcher, Observed, compare, observed_from
from .verify.report import sort_differences

__all__ = [
    "CheckResult",
    "adjusted",
    "RemoteError",
    "RemotePendo",
    "delivery_differences",
    "run_check",
    "settle",
]


def settle(
    fakes: Sequence[Any], *, quiet: float = defaults.QUIET, timeout: float = defaults.SETTLE, poll: float = 0.01
) -> bool:
    """Wait until no fake has received a request for ``quiet`` seconds and none is being handled.

    Returns False when traffic was still arriving after ``timeout`` seconds (the check then says so).
    """
    start = time.monotonic()
    deadline = start + timeout
    last: tuple[tuple[int, int], ...] | None = None
    since = start
    while True:
        state = tuple(f.activity() for f in fakes)
        now = time.monotonic()
        if state != last:
            last, since = state, now
        elif all(active == 0 for _, active in state) and now - since >= quiet:
            return True
        if now >= deadline:
            return False
        time.sleep(poll)


@dataclass
class CheckResult:
    """A check's outcome: the diff report, the delivery report (None when nothing was sent), the expectation."""

    report: DiffReport
    expectation: Expectation
    delivery: DeliveryReport | None = None
    settled: bool = True
    observed: Observed | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def conforms(self) -> bool:
        return self.report.conforms


class _Observers:
    """Two delivery observers as one (the traffic clock and the caller's)."""

    def __init__(self, *observers: object):
        self.observers = observers

    def on_attempt(self, *args: Any) -> None:
        self._call("on_attempt", args)

    def on_answer(self, *args: Any) -> None:
        self._call("on_answer", args)

    def on_lane_done(self, *args: Any) -> None:
        self._call("on_lane_done", args)

    def _call(self, name: str, args: tuple[Any, ...]) -> None:
        for observer in self.observers:
            method = getattr(observer, name, None)
            if method is not None:
                method(*args)


def _remote_clock(pendo: Any, events: Sequence[Any]) -> Callable[[], None] | None:
    """A fake in another process (``segpendo serve``) judges ages by a fixed clock at the traffic's first event
    while the check sends (it cannot follow the traffic as a local one does); returns what puts its clock back."""
    if not isinstance(pendo, RemotePendo):
        return None
    from .events import timestamp_ms

    stamps = [t for e in events if isinstance(e, dict) and (t := timestamp_ms(e.get("timestamp"))) is not None]
    if not stamps:
        return None
    before = pendo.clock()
    if before.get("kind") not in ("wall", "fixed"):
        return None  # a clock of the user's own: leave it
    pendo.set_clock(min(stamps))

    def restore() -> None:
        pendo.set_clock(None if before["kind"] == "wall" else before["now"])

    return restore


def adjusted(expectation: Expectation, adjust: Callable[[list[dict[str, Any]]], None]) -> Expectation:
    """``expectation`` after ``adjust`` changed (a copy of) its stream in place: a new expectation whose state
    view follows, or the same one when nothing changed."""
    records = list(expectation.stream)
    adjust(records)
    if len(records) == len(expectation.stream) and all(a is b for a, b in zip(records, expectation.stream)):
        return expectation
    return Expectation(
        expectation.profile,
        expectation.settings,
        expectation.events,
        records,
        [],
        expectation.ignored,
        expectation.hints,
    )


def delivery_differences(delivery: DeliveryReport, events: Sequence[Any]) -> list[Difference]:
    """Events the system under test did not acknowledge, as ``rejected`` differences (Segment gives up on them)."""
    out = []
    for failure in delivery.failures:
        status = f"HTTP {failure.status}" if failure.status is not None else "no answer"
        for i, mid in zip(failure.indexes, failure.message_ids):
            event = events[i] if 0 <= i < len(events) else {}
            kind = event.get("type", "event") if isinstance(event, dict) else "event"
            out.append(
                Difference(
                    "rejected",
                    "event",
                    f"{kind} event {i + 1} (messageId {mid})",
                    reason=f"the system under test did not acknowledge it: {status} after {failure.attempts} "
                    f"attempts: {failure.reason}",
                    sort_key=(-1, i),
                )
            )
    return out


def run_check(
    events: Sequence[dict[str, Any]],
    sut: str | Callable[[Any], Any] | None,
    *,
    pendo: FakeServer | RemotePendo,
    via: str = defaults.VIA,
    profile: str = defaults.PROFILE,
    settings: Mapping[str, Any] | None = None,
    mapping: UserMapping | str | None = None,
    options: DiffOptions | None = None,
    overrides: Mapping[str, Any] | None = None,
    delivery_options: Mapping[str, Any] | None = None,
    quiet: float = defaults.QUIET,
    settle_timeout: float = defaults.SETTLE,
    seed: int | None = None,
    reproduce: str | None = None,
    adjust_expected: Callable[[list[dict[str, Any]]], None] | None = None,
    normalise_observed: Callable[[list[dict[str, Any]]], None] | None = None,
    matchers: Sequence[Matcher] = (),
    also_settle: Sequence[FakeServer | RemotePendo] = (),
    traffic_clock: bool = True,
) -> CheckResult:
    """Send ``events`` to ``sut`` (a URL, via a Segment wire format; a function; or None when the caller has
    already made the system send), wait for Pendo traffic to settle, and compare with profile ``profile``.

    ``options`` (a :class:`DiffOptions`) replaces the profile's comparison hints; ``overrides`` change single
    options on top of them, or of the options when both are given (nothing given is dropped). With
    ``traffic_clock`` a local fake Pendo server judges the age of Track Events by the traffic's own time while it
    is delivered (a :class:`~pytest_segpendo.delivery.TrafficClock`), so that traffic dated in the past is taken
    as it would be on its day."""
    delivery = None
    sending = dict(delivery_options or {})
    local = pendo if isinstance(pendo, FakePendo) else None
    clock = None
    if sut is not None and traffic_clock and local is not None:
        # Pendo judges a Track Event's age on arrival: the fake judges it by the time of the traffic being sent
        # (generated traffic is dated in the past), as if it were sent on its own day.
        clock = TrafficClock(events)
        sending["observer"] = clock if sending.get("observer") is None else _Observers(clock, sending["observer"])
    before = local.clock if local is not None else None
    remote = _remote_clock(pendo, events) if sut is not None and traffic_clock and local is None else None
    try:
        if local is not None and clock is not None:
            local.clock = clock
        if sut is not None:
            delivery = deliver(events, sut, via if isinstance(sut, str) else "callable", **sending)
        settled = settle([pendo, *also_settle], quiet=quiet, timeout=settle_timeout)
    finally:
        if local is not None and before is not None and clock is not None:
            local.clock = before
        if remote is not None:
            remote()
    expectation = expect(events, profile, settings, mapping)
    if adjust_expected is not None:
        expectation = adjusted(expectation, adjust_expected)
    seen = observed_from(pendo)
    if normalise_observed is not None:
        normalise_observed(seen.records)
    over = dict(overrides or {})
    if matchers:
        over["matchers"] = tuple(over.get("matchers") or ()) + tuple(matchers)
    report = compare(expectation, seen, options, seed=seed, reproduce=reproduce, **over)
    if delivery is not None and delivery.failures:
        report.differences = sort_differences(delivery_differences(delivery, events) + report.differences)
    if not settled:
        report.notes.append(
            f"Pendo traffic was still arriving after {settle_timeout:g} s: what came later is not in this report"
        )
    return CheckResult(report, expectation, delivery, settled, seen)
