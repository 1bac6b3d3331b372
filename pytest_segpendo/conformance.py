"""One conformance check, end to end: send Segment traffic to a system under test, wait until what it sends
to the fake Pendo server settles, and diff that against the reference mapping.

Used by the pytest plugin (the ``segpendo`` fixture), ``segpendo check`` and ``segpendo demo``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .delivery import DeliveryReport, deliver
from .fakes.core.app import FakeServer
from .fakes.core.remote import RemoteError, RemotePendo
from .profiles import Expectation, UserMapping, expect
from .verify import Difference, DiffOptions, DiffReport, Matcher, Observed, compare, observed_from
from .verify.report import sort_differences

__all__ = ["CheckResult", "RemotePendo", "RemoteError", "delivery_differences", "run_check", "settle"]

DEFAULT_QUIET = 0.2
DEFAULT_SETTLE_TIMEOUT = 10.0


def settle(
    fakes: Sequence[Any], *, quiet: float = DEFAULT_QUIET, timeout: float = DEFAULT_SETTLE_TIMEOUT, poll: float = 0.01
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
    via: str = "webhook",
    profile: str = "track-api+metadata",
    settings: Mapping[str, Any] | None = None,
    mapping: UserMapping | str | None = None,
    options: DiffOptions | None = None,
    overrides: Mapping[str, Any] | None = None,
    delivery_options: Mapping[str, Any] | None = None,
    quiet: float = DEFAULT_QUIET,
    settle_timeout: float = DEFAULT_SETTLE_TIMEOUT,
    seed: int | None = None,
    reproduce: str | None = None,
    adjust_expected: Callable[[list[dict[str, Any]]], None] | None = None,
    normalise_observed: Callable[[list[dict[str, Any]]], None] | None = None,
    matchers: Sequence[Matcher] = (),
    also_settle: Sequence[FakeServer | RemotePendo] = (),
) -> CheckResult:
    """Send ``events`` to ``sut`` (a URL, via a Segment wire format; a function; or None when the caller has
    already made the system send), wait for Pendo traffic to settle, and compare with profile ``profile``."""
    delivery = None
    if sut is not None:
        delivery = deliver(events, sut, via if isinstance(sut, str) else "callable", **dict(delivery_options or {}))
    settled = settle([pendo, *also_settle], quiet=quiet, timeout=settle_timeout)
    expectation = expect(events, profile, settings, mapping)
    if adjust_expected is not None:
        records = list(expectation.stream)
        adjust_expected(records)
        expectation = Expectation(
            expectation.profile,
            expectation.settings,
            expectation.events,
            records,
            [],
            expectation.ignored,
            expectation.hints,
        )
    seen = observed_from(pendo)
    if normalise_observed is not None:
        normalise_observed(seen.records)
    over = dict(overrides or {})
    if matchers and options is not None:
        options = replace(options, matchers=options.matchers + tuple(matchers))
    elif matchers:
        over["matchers"] = tuple(over.get("matchers", ())) + tuple(matchers)
    report = compare(expectation, seen, options, seed=seed, reproduce=reproduce, **over)
    if delivery is not None and delivery.failures:
        report.differences = sort_differences(delivery_differences(delivery, events) + report.differences)
    if not settled:
        report.notes.append(
            f"Pendo traffic was still arriving after {settle_timeout:g} s: what came later is not in this report"
        )
    return CheckResult(report, expectation, delivery, settled, seen)
