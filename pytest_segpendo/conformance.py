"""One conformance check, end to end: send Segment traffic to a system under test, wait until what it sends
to the fake Pendo server settles, and diff that against the reference mapping.

A check that delivers over HTTP runs on one of production's bad days (``docs/concepts.md``, "Bad days"): the fake
Pendo server answers some requests with a 429, a 500 or a 503, or late (:func:`default_faults`, seeded by the
check's seed), and Segment delivers some acknowledged events again. It stops early, saying why, when nothing can
pass any more (:class:`FailFast`). Used by the pytest plugin (the ``segpendo`` fixture), ``segpendo check`` and
``segpendo demo``.
"""

from __future__ import annotations

import collections
import http.client
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from . import defaults
from .delivery import DeliveryReport, Observers, StopSignal, TrafficClock, deliver
from .events import timestamp_ms
from .fakes.core.app import FakeServer
from .fakes.core.remote import RemoteError, RemotePendo
from .fakes.pendo import FakePendo
from .jsonl import loads
from .profiles import Expectation, UserMapping, expect
from .verify import Difference, DiffOptions, DiffReport, Matcher, Observed, compare, observed_from
from .verify.report import sort_differences

__all__ = [
    "FAULT_ROUTES",
    "CheckResult",
    "FailFast",
    "RemoteError",
    "RemotePendo",
    "adjusted",
    "default_faults",
    "delivery_differences",
    "follow_clock",
    "parse_faults",
    "resolve_faults",
    "run_check",
    "settle",
    "valid_fault_rules",
]

FAULT_ROUTES = ("track", "metadata", "metadata.value", "segmentio")
"""The fake Pendo server's routes a check's default faults strike: the APIs a server-side system writes to."""
_STATUSES = ((429, defaults.RETRY_AFTER), (500, None), (503, None))


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
    """A check's outcome: the diff report, the delivery report (None when nothing was sent), the expectation.

    ``stopped`` says why the check stopped early (None when it ran to the end); ``faults`` are the fault rules
    the check added to the fake Pendo server (its own, default or given; the fake's own rules are not listed).
    """

    report: DiffReport
    expectation: Expectation
    delivery: DeliveryReport | None = None
    settled: bool = True
    observed: Observed | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    stopped: str | None = None
    faults: list[dict[str, Any]] = field(default_factory=list)

    @property
    def conforms(self) -> bool:
        return self.report.conforms

    def format(self, limit: int | None = None) -> str:
        """The report as text, opening with why the check stopped early when it did."""
        text = self.report.format(limit)
        return f"segpendo: stopped early: {self.stopped}\n{text}" if self.stopped else text


# -- bad days ------------------------------------------------------------------------------------------------------


def default_faults(
    seed: int = defaults.SEED,
    *,
    rate: float = defaults.FAULT_RATE,
    slow_rate: float = defaults.SLOW_RATE,
    first: int = defaults.FAULT_FIRST,
    routes: Sequence[str] = FAULT_ROUTES,
) -> list[dict[str, Any]]:
    """A check's fault rules for the fake Pendo server: on each route, one 500 or 503 for sure at a seeded one of
    its first ``first`` requests, then random faults at ``rate`` (a 429 with ``Retry-After``, a 500 or a 503, a
    third each: the request is not processed) and slow answers at ``slow_rate`` (processed, then answered
    ``SLOW_MS`` late).
    The same seed gives the same rules.

    >>> rules = default_faults(0)
    >>> rules == default_faults(0) != default_faults(1)
    True
    >>> sorted({r["route"] for r in rules if r.get("nth")})
    ['metadata', 'metadata.value', 'segmentio', 'track']
    """
    rng = random.Random(f"segpendo-faults:{seed}")
    sure: list[dict[str, Any]] = []
    random_rules: list[dict[str, Any]] = []
    for route in routes:
        # the sure one is a 5xx: a 429's Retry-After costs a relay that honours it a second of every check
        status = rng.choice((500, 503))
        sure.append({"route": route, "status": status, "nth": rng.randint(1, max(1, first)), "count": 1})
        for status, retry_after in _STATUSES:
            if rate > 0:
                each: dict[str, Any] = {
                    "route": route,
                    "status": status,
                    "probability": rate / len(_STATUSES),
                    "seed": rng.getrandbits(31),
                }
                if retry_after is not None:
                    each["retry_after"] = retry_after
                random_rules.append(each)
        if slow_rate > 0:
            random_rules.append(
                {
                    "route": route,
                    "delay_ms": defaults.SLOW_MS,
                    "phase": "after",
                    "probability": slow_rate,
                    "seed": rng.getrandbits(31),
                }
            )
    return sure + random_rules


def resolve_faults(
    faults: bool | Sequence[Mapping[str, Any]] | None, seed: int | None, over_http: bool
) -> list[dict[str, Any]]:
    """The fault rules a check adds: the default ones (``True``, only when it delivers over HTTP, where Segment
    retries), none (``False``/None), or the rules given."""
    if faults is None or faults is False:
        return []
    if faults is True:
        return default_faults(defaults.SEED if seed is None else seed) if over_http else []
    return [dict(rule) for rule in faults]


def valid_fault_rules(rules: Any) -> list[dict[str, Any]]:
    """``rules`` (a JSON list of fault rules) checked as the fake Pendo server checks them, as plain dicts; a
    :class:`~pytest_segpendo.fakes.core.faults.FaultError` (a ValueError) names a bad field."""
    from .fakes.core.faults import Faults
    from .fakes.pendo.app import ROUTES

    Faults(ROUTES).replace(rules)
    return [dict(rule) for rule in rules]


def parse_faults(value: str) -> bool | list[dict[str, Any]]:
    """What ``--faults`` and ``--segpendo-faults`` take: ``on``/``off`` (also true/false, yes/no, 1/0), a JSON
    list of fault rules, or the path of a JSON file holding one; each rule checked (:func:`valid_fault_rules`).
    ValueError says what is wrong.

    >>> parse_faults("off"), parse_faults('[{"route": "track", "status": 503, "nth": 2}]')[0]["status"]
    (False, 503)
    """
    import json

    text = value.strip()
    if text.lower() in ("on", "true", "yes", "1"):
        return True
    if text.lower() in ("off", "false", "no", "0"):
        return False
    if text.startswith("["):
        try:
            rules = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"not a JSON list of fault rules: {exc}") from None
    else:
        try:
            with open(text, encoding="utf-8") as f:
                rules = json.load(f)
        except OSError as exc:
            raise ValueError(
                f"use on, off, a JSON list of fault rules or a JSON file (cannot read {text}: {exc.strerror})"
            ) from None
        except ValueError as exc:
            raise ValueError(f"{text} is not JSON: {exc}") from None
    return valid_fault_rules(rules)


def _rule_fields(rule: Mapping[str, Any]) -> dict[str, Any]:
    """A rule as ``POST /__segpendo/faults`` takes it (without its live counters)."""
    return {k: v for k, v in rule.items() if k not in ("matched", "fired")}


@contextmanager
def _faults_added(pendo: Any, rules: list[dict[str, Any]]) -> Iterator[None]:
    """``rules`` on the fake, after its own, while the check runs; then only its own again (their counters go on
    on a local fake; a fake in another process gets them back afresh)."""
    if not rules:
        yield
        return
    if isinstance(pendo, RemotePendo):
        own = [_rule_fields(r) for r in pendo.faults()]
        pendo.set_faults(own + rules)
        try:
            yield
        finally:
            pendo.set_faults(own)
        return
    faults = pendo.faults
    before = len(faults)
    added = [faults.add(**rule) for rule in rules]
    try:
        yield
    finally:
        kept = getattr(faults, "_rules", None)
        if isinstance(kept, list):  # Faults has no remove(): keep every rule that is not one of ours, as it is
            with faults._lock:
                faults._rules = [r for r in faults._rules if all(r is not a for a in added)]
        else:  # another kind of rule set: its own rules again (ours were added last)
            faults.replace([_rule_fields(r) for r in faults.as_json()[:before]])


# -- failing fast ----------------------------------------------------------------------------------------------------


class FailFast:
    """A delivery observer that stops a check (``stop``, a :class:`~pytest_segpendo.delivery.StopSignal`) when
    nothing can pass any more, and says why:

    - the last ``failed`` requests to the system under test all failed after their retries (every recent delivery
      fails);
    - the system acknowledged nothing for ``silence`` seconds while at least 3 attempts failed;
    - the last ``refused`` Pendo requests were all refused, for one reason per route (:meth:`pendo_refusals`, fed
      by the check's watcher: wrong keys, a wrong path).
    """

    def __init__(
        self,
        stop: StopSignal,
        *,
        failed: int = defaults.FAIL_FAST_FAILED,
        silence: float = defaults.FAIL_FAST_SILENCE,
        refused: int = defaults.FAIL_FAST_REFUSED,
        wall: Callable[[], float] = time.monotonic,
    ):
        self.stop = stop
        self.failed = failed
        self.silence = silence
        self.refused = refused
        self._wall = wall
        self._lock = threading.Lock()
        self._in_a_row = 0
        self._last_ack = wall()
        self._failed_since_ack = 0
        self._last_failure = ""

    def _fire(self, reason: str) -> None:
        if not self.stop.is_set():
            self.stop.set(reason)

    def on_answer(
        self, lane: int, indexes: Sequence[int], status: int | None, acknowledged: bool, will_retry: bool, reason: str
    ) -> None:
        if reason.startswith("delivery stopped"):
            return
        with self._lock:
            if acknowledged:
                self._in_a_row = 0
                self._failed_since_ack = 0
                self._last_ack = self._wall()
                return
            answer = f"HTTP {status}" if status is not None else "no answer"
            self._last_failure = f"{answer}: {reason[:200]}" if reason else answer
            self._failed_since_ack += 1
            if will_retry:
                return
            self._in_a_row += 1
            if self._in_a_row < self.failed:
                return
            text = (
                f"every recent delivery failed: the last {self._in_a_row} requests to the system under test were not "
                f"acknowledged, even after Segment's retries (last: {self._last_failure})"
            )
        self._fire(text)

    def tick(self) -> None:
        """Check the silence rule (the watcher calls this; an answer that never comes calls nothing else)."""
        with self._lock:
            quiet_for = self._wall() - self._last_ack
            if quiet_for < self.silence or self._failed_since_ack < 3:
                return
            text = (
                f"no acknowledgement from the system under test for {quiet_for:.0f} s while {self._failed_since_ack} "
                f"attempts failed (last: {self._last_failure})"
            )
        self._fire(text)

    def pendo_refusals(self, last: Sequence[Mapping[str, Any]]) -> bool:
        """``last``: the last ``refused`` refusals of the fake Pendo server, every one of the last requests it got.
        Stops the check when they have one reason per route; True then."""
        reasons: dict[str, set[tuple[Any, str]]] = {}
        paths: dict[str, str] = {}
        for item in last:
            route = str(item.get("route", "?"))
            reasons.setdefault(route, set()).add((item.get("status"), str(item.get("reason", ""))))
            paths.setdefault(route, str(item.get("path", route)))
        if not reasons or any(len(found) != 1 for found in reasons.values()):
            return False
        parts = []
        for route, found in reasons.items():
            status, reason = next(iter(found))
            parts.append(f"{status} {reason} on {paths[route]}")
        self._fire(f"every Pendo request refused (the last {len(last)}): " + "; ".join(parts))
        return True


def _remote_rejected(url: str, timeout: float = 10.0) -> list[dict[str, Any]]:
    """The refusals of a fake in another process: ``GET /__segpendo/records?format=jsonl&lists=rejected``."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=timeout)
    try:
        conn.request("GET", "/__segpendo/records?format=jsonl&lists=rejected")
        answer = conn.getresponse()
        body = answer.read()
    except OSError as exc:
        raise RemoteError(f"cannot reach the fake Pendo server at {url}: {exc}") from None
    finally:
        conn.close()
    if answer.status != 200:
        raise RemoteError(f"{url}/__segpendo/records answered HTTP {answer.status}")
    out = []
    for line in body.splitlines():
        if line.strip():
            item = loads(line)
            if isinstance(item, dict) and isinstance(item.get("rejected"), dict):
                out.append(item["rejected"])
    return out


class _Watch:
    """A small thread beside a check's delivery and settling: pushes the traffic's clock to a fake in another
    process, counts the Pendo requests for the progress bar, and feeds :class:`FailFast` (silence; refusals)."""

    def __init__(
        self,
        pendo: Any,
        *,
        clock: TrafficClock | None = None,
        fail_fast: FailFast | None = None,
        progress: Any = None,
        every: float = defaults.CLOCK_PUSH,
    ):
        self.pendo = pendo
        self.clock = clock if isinstance(pendo, RemotePendo) else None
        self.fail_fast = fail_fast
        self.progress = progress if getattr(progress, "pendo", None) is not None else None
        self.every = every
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._pushed: int | None = None
        received, active = self._activity()
        self._start = received
        self._seen: tuple[int, int | None] = (received - active, self._rejected_count())
        self._streak = 0
        self._looked = 0.0
        self.error: BaseException | None = None

    def _activity(self) -> tuple[int, int]:
        try:
            received, active = self.pendo.activity()
            return int(received), int(active)
        except Exception:
            return (0, 0)

    def _rejected_count(self) -> int | None:
        """How many refusals the fake holds, as its counters say (cheap); None when it cannot say."""
        if isinstance(self.pendo, RemotePendo):
            try:
                listed = self.pendo.counts()
            except Exception:
                return None
            return int(listed["rejected"]) if "rejected" in listed else None
        reader = getattr(getattr(self.pendo, "app", None), "reader", None)
        counts = getattr(reader, "counts", None)
        if callable(counts):
            try:
                return int(counts().get("rejected", 0))
            except Exception:
                return None
        return None

    def _last_rejected(self, n: int) -> list[dict[str, Any]]:
        if isinstance(self.pendo, RemotePendo):
            return _remote_rejected(self.pendo.url)[-n:]
        reader = self.pendo.app.reader
        return list(collections.deque(reader.stream("rejected"), maxlen=n))

    def push_clock(self) -> None:
        if self.clock is None:
            return
        now = self.clock.now_ms()
        if now != self._pushed:
            self.pendo.set_clock(now)
            self._pushed = now

    def _refusals(self, received: int, active: int) -> None:
        """Feed :meth:`FailFast.pendo_refusals` when every Pendo request answered since the last look was refused
        (compared on requests already answered, so that one in flight does not hide the pattern)."""
        ff = self.fail_fast
        if ff is None or ff.stop.is_set():
            return
        completed = received - active
        before_completed, before_rejected = self._seen
        if completed <= before_completed:
            return
        remote = isinstance(self.pendo, RemotePendo)
        found: list[dict[str, Any]] | None = None
        if remote:  # in another process: look at most once a second, at its counters (the list from an old fake)
            now = time.monotonic()
            if now - self._looked < 1.0:
                return
            self._looked = now
            count = self._rejected_count()
            if count is None:
                found = _remote_rejected(self.pendo.url)
                count = len(found)
            rejected = count
        else:
            rejected = self._rejected_count() or 0
        self._seen = (completed, rejected)
        if before_rejected is None:  # the first look at a fake in another process: a baseline
            return
        new_requests = completed - before_completed
        self._streak = self._streak + new_requests if rejected - before_rejected >= new_requests else 0
        if self._streak < ff.refused:
            return
        last = found[-ff.refused :] if found is not None else self._last_rejected(ff.refused)
        ids = [item.get("request") for item in last]
        if len(last) == ff.refused and all(isinstance(i, int) for i in ids):
            numbers = [int(i) for i in ids]  # type: ignore[arg-type]
            if max(numbers) - min(numbers) == ff.refused - 1:  # no request accepted between them
                ff.pendo_refusals(last)
        self._streak = 0  # another look after as many requests again

    def tick(self) -> None:
        self.push_clock()
        received, active = self._activity()
        if self.progress is not None:
            self.progress.pendo(received - self._start)
        if self.fail_fast is not None:
            self.fail_fast.tick()
        self._refusals(received, active)

    def _run(self) -> None:
        while not self._done.wait(self.every):
            try:
                self.tick()
            except Exception as exc:  # a fake that went away: the check says so itself
                self.error = exc
                return

    def start(self) -> _Watch:
        self._thread = threading.Thread(target=self._run, name="segpendo-check-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


@contextmanager
def follow_clock(pendo: Any, clock: TrafficClock | None) -> Iterator[None]:
    """The fake Pendo server judges Track Event ages by ``clock`` (the traffic's time) while the block runs, then
    by its own clock again: a local fake is given the clock; one in another process (``segpendo serve``) gets the
    clock's time pushed every ``defaults.CLOCK_PUSH`` seconds (``POST /__segpendo/clock``), and its wall or fixed
    clock back afterwards (a clock of another kind is left alone)."""
    if clock is None or pendo is None:
        yield
        return
    if isinstance(pendo, RemotePendo):
        before = pendo.clock()
        if before.get("kind") not in ("wall", "fixed"):
            yield
            return
        pendo.set_clock(clock.now_ms())
        watch = _Watch(pendo, clock=clock).start()
        try:
            yield
        finally:
            watch.stop()
            pendo.set_clock(None if before["kind"] == "wall" else before["now"])
        return
    if not isinstance(pendo, FakePendo):
        yield
        return
    previous = pendo.clock
    pendo.clock = clock
    try:
        yield
    finally:
        pendo.clock = previous


# -- the report's causes ---------------------------------------------------------------------------------------------


def adjusted(expectation: Expectation, adjust: Callable[[list[dict[str, Any]]], None]) -> Expectation:
    """``expectation`` after ``adjust`` changed (a copy of) its stream in place: a new expectation whose state
    view follows, or the same one when nothing changed. When the stream keeps its length, each record keeps its
    event and delivery lane (``origins``, ``writers``), so the state view still accepts every admissible order."""
    records = list(expectation.stream)
    adjust(records)
    if len(records) == len(expectation.stream) and all(a is b for a, b in zip(records, expectation.stream)):
        return expectation
    same = len(records) == len(expectation.stream)
    return Expectation(
        expectation.profile,
        expectation.settings,
        expectation.events,
        stream=records,
        origins=list(expectation.origins) if same else [],
        ignored=expectation.ignored,
        hints=expectation.hints,
        writers=list(expectation.writers) if same else [],
    )


def _answer(status: int | None) -> str:
    return f"HTTP {status}" if status is not None else "no answer"


def _failure_reason(reason: str) -> str:
    """A delivery failure's reason, short when the check's own stop caused it (its first line says why)."""
    return "the check stopped early" if reason.startswith("delivery stopped") else reason


def delivery_differences(delivery: DeliveryReport, events: Sequence[Any]) -> list[Difference]:
    """Events the system under test did not acknowledge, as ``rejected`` differences (Segment gives up on them),
    each with what Segment did about it (the failure's verdict); the answers themselves are the report's
    ``delivery`` causes."""
    out = []
    for failure in delivery.failures:
        verdict = failure.verdict or f"after {failure.attempts} attempts"
        for i, mid in zip(failure.indexes, failure.message_ids):
            event = events[i] if 0 <= i < len(events) else {}
            kind = event.get("type", "event") if isinstance(event, dict) else "event"
            out.append(
                Difference(
                    "rejected",
                    "event",
                    f"{kind} event {i + 1} (messageId {mid})",
                    reason=f"the system under test did not acknowledge it: {_answer(failure.status)}, {verdict}"
                    + (" (the check stopped early)" if failure.reason.startswith("delivery stopped") else ""),
                    sort_key=(-1, i),
                )
            )
    return out


def _origin_index(expectation: Expectation) -> dict[tuple[Any, ...], list[int]]:
    """Expected records (by identity) -> the indexes of the events they come from."""
    out: dict[tuple[Any, ...], list[int]] = {}
    if len(expectation.origins) != len(expectation.stream):
        return out
    for record, origin in zip(expectation.stream, expectation.origins):
        out.setdefault(_identity(record), []).append(origin)
    return out


def _identity(record: Mapping[str, Any]) -> tuple[Any, ...]:
    kind = record.get("kind")
    if kind == "track":
        return ("track", str(record.get("event")), str(record.get("visitorId")), record.get("timestamp"))
    return (str(kind), str(record.get("id")))


def _tie_to_delivery(report: DiffReport, expectation: Expectation, delivery: DeliveryReport) -> None:
    """Say, for each missing record, whether the system acknowledged its events to Segment; a cause sums up those
    lost although acknowledged."""
    failed = {i: f for f in delivery.failures for i in f.indexes}
    origins = _origin_index(expectation)
    lost: list[Difference] = []
    for d in report.differences:
        if d.cls != "missing" or d.expected is None:
            continue
        found = origins.get(_identity(d.expected))
        if not found:
            continue
        refused = [failed[i] for i in found if i in failed]
        if refused:
            f = refused[0]
            said = f"not acknowledged to Segment ({_answer(f.status)}, {f.verdict or 'not retried'})"
        else:
            said = "acknowledged to Segment"
            lost.append(d)
        d.cause = said if d.cause is None else f"{said}, {d.cause}"
    if lost:
        first = lost[0]
        text = (
            f"expected record{'s' if len(lost) > 1 else ''} missing although the system under test acknowledged "
            "the events to Segment (Segment will not send them again)"
        )
        report.add_cause("acknowledged to Segment, then lost", text, len(lost), f"{first.label}: {first.cause}")


def _delivery_causes(report: DiffReport, delivery: DeliveryReport) -> None:
    groups: dict[tuple[Any, str, str], list[Any]] = {}
    for f in delivery.failures:
        key = (f.status, f.verdict or f"after {f.attempts} attempts", _failure_reason(f.reason)[:160])
        groups.setdefault(key, []).extend(zip(f.indexes, f.message_ids))
    for (status, verdict, reason), found in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        i, mid = found[0]
        report.add_cause(
            "delivery",
            f"{_answer(status)}, {verdict}: {reason}",
            len(found),
            f"event {i + 1} (messageId {mid})",
        )


# -- the check -------------------------------------------------------------------------------------------------------


def _redeliver_one(
    events: Sequence[Any],
    sut: str,
    via: str,
    sending: Mapping[str, Any],
    expectation: Expectation,
    delivery: DeliveryReport,
    seed: int,
    observer: Any,
) -> None:
    """Make sure the check re-delivered at least one acknowledged event that makes a track record (a relay that
    forwards it twice then shows a duplicate): if the delivery's own re-deliveries had none, send one of the
    latest such events again, chosen by ``seed``."""
    failed = {i for f in delivery.failures for i in f.indexes}
    tracks = sorted(
        {o for r, o in zip(expectation.stream, expectation.origins) if r.get("kind") == "track" and o not in failed}
    )
    if not tracks or len(expectation.origins) != len(expectation.stream):
        return
    again = {str(m) for m in delivery.redelivered_ids}
    if any(str(events[i].get("messageId")) in again for i in tracks if isinstance(events[i], dict)):
        return
    stamps = [t for i in tracks if (t := timestamp_ms(events[i].get("timestamp"))) is not None]
    latest = max(stamps) if stamps else None
    recent = [
        i
        for i in tracks
        if latest is None or (t := timestamp_ms(events[i].get("timestamp"))) is None or t >= latest - 86_400_000
    ]
    index = random.Random(f"segpendo-redeliver-one:{seed}").choice(recent)
    options = {k: v for k, v in sending.items() if k not in ("observer", "stop", "redeliver", "redeliver_seed")}
    options["concurrency"] = 1
    if observer is not None:
        options["observer"] = observer
    extra = deliver([events[index]], sut, via, **options)
    delivery.requests += extra.requests
    delivery.retried += extra.retried
    if extra.acknowledged or extra.requests:
        delivery.redelivered += 1
        delivery.redelivered_ids.append(events[index].get("messageId"))


def _larger_than(above: int, *sides: Sequence[Any]) -> bool:
    """Whether the records of ``sides`` take more than ``above`` bytes as JSONL files (measured until they do)."""
    from .jsonl import dumps_bytes

    total = 0
    for records in sides:
        for record in records:
            total += len(dumps_bytes(record)) + 1
            if total > above:
                return True
    return False


def _compare(
    expectation: Expectation,
    seen: Observed,
    options: DiffOptions | None,
    seed: int | None,
    reproduce: str | None,
    over: dict[str, Any],
    sharded: Mapping[str, Any] | None,
) -> DiffReport:
    """:func:`compare`, or the same report from :func:`~pytest_segpendo.scale.diff_sharded` when the records
    would take more than ``sharded["above"]`` bytes as JSONL files."""
    if sharded is not None:
        keywords = dict(sharded)
        above = keywords.pop("above", defaults.SHARDED_ABOVE_BYTES)
        if _larger_than(above, expectation.stream, seen.records):
            from .scale import diff_sharded

            opts = (
                DiffOptions.from_hints(expectation.hints, **over) if options is None else options.with_overrides(**over)
            )
            writers = expectation.writers if len(expectation.writers) == len(expectation.stream) else None
            report = diff_sharded(
                expectation.stream,
                seen.records,
                opts,
                rejected=seen.rejected,
                warnings=seen.warnings,
                ignored=expectation.ignored,
                profile=expectation.profile,
                seed=seed,
                reproduce=reproduce,
                writers=writers,
                dropped=seen.dropped,
                injected=seen.injected,
                **keywords,
            )
            if seen.duplicates:  # as compare() notes them
                report.notes.append(
                    f"{seen.duplicates} agent event(s) arrived again in re-sent batches (rt=N) and were counted once; "
                    "a correct server never makes the agent re-send (see docs/pendo.md)"
                )
            return report
    return compare(expectation, seen, options, seed=seed, reproduce=reproduce, **over)


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
    faults: bool | Sequence[Mapping[str, Any]] = defaults.FAULTS,
    fail_fast: bool = True,
    progress: Any = None,
    sharded: Mapping[str, Any] | None = None,
) -> CheckResult:
    """Send ``events`` to ``sut`` (a URL, via a Segment wire format; a function; or None when the caller has
    already made the system send), wait for Pendo traffic to settle, and compare with profile ``profile``.

    ``options`` (a :class:`DiffOptions`) replaces the profile's comparison hints; ``overrides`` change single
    options on top of them, or of the options when both are given (nothing given is dropped). With
    ``traffic_clock`` the fake Pendo server judges the age of Track Events by the traffic's own time while it is
    delivered (a :class:`~pytest_segpendo.delivery.TrafficClock`; pushed to a fake in another process), so that
    traffic dated in the past is taken as it would be on its day.

    Bad days (``faults``): ``True`` adds :func:`default_faults` (seeded by ``seed``) to the fake while a URL is
    checked, and Segment re-delivers some acknowledged events (``defaults.REDELIVER``, at least one track event;
    ``delivery_options`` ``redeliver=`` sets the rate); a list adds those rules instead; ``False`` adds none and
    re-delivers nothing. The fake's own rules apply in every case. ``fail_fast`` stops the delivery when nothing
    can pass any more (:class:`FailFast`; :attr:`CheckResult.stopped` says why). ``progress``: a delivery
    observer with a ``pendo(received)`` and a ``settling()`` method (:class:`~pytest_segpendo.progress.
    DeliveryProgress`). ``sharded``: diff in shards (:func:`pytest_segpendo.scale.diff_sharded`, the same report,
    bounded memory, every core) when the records would take more than ``sharded["above"]`` bytes as a file
    (default ``defaults.SHARDED_ABOVE_BYTES``), with its other keys (``workers``, ``spill_dir``, ``scheduler``,
    ``shards``) passed on; None: always in memory."""
    over_http = isinstance(sut, str)
    rules = resolve_faults(faults, seed, over_http)
    sending = dict(delivery_options or {})
    sending.setdefault("backoff", defaults.CHECK_BACKOFF)
    sending.setdefault("max_retry_after", defaults.CHECK_MAX_RETRY_AFTER)
    bad_days = faults is not False and over_http and "redeliver" not in sending
    if bad_days:
        sending["redeliver"] = defaults.REDELIVER
        sending.setdefault("redeliver_seed", defaults.SEED if seed is None else seed)
    raw = expect(events, profile, settings, mapping)
    clock = TrafficClock(events) if sut is not None and traffic_clock else None
    stop = sending.get("stop")
    watcher_ff: FailFast | None = None
    if sut is not None and fail_fast:
        if stop is None:
            stop = sending["stop"] = StopSignal()
        if isinstance(stop, StopSignal):
            watcher_ff = FailFast(stop)
    observers = [o for o in (clock, watcher_ff, progress, sending.get("observer")) if o is not None]
    if observers:
        sending["observer"] = observers[0] if len(observers) == 1 else Observers(*observers)
    delivery = None
    use_clock = clock if isinstance(pendo, (FakePendo, RemotePendo)) else None
    watch = _Watch(pendo, fail_fast=watcher_ff, progress=progress) if sut is not None else None
    with _faults_added(pendo, rules), follow_clock(pendo, use_clock):
        if watch is not None:
            watch.start()
        try:
            if sut is not None:
                delivery = deliver(events, sut, via if isinstance(sut, str) else "callable", **sending)
                if bad_days and delivery.stopped is None and isinstance(sut, str):
                    _redeliver_one(
                        events, sut, via, sending, raw, delivery, defaults.SEED if seed is None else seed, clock
                    )
            if progress is not None and hasattr(progress, "settling"):
                progress.settling()
            settled = settle([pendo, *also_settle], quiet=quiet, timeout=settle_timeout)
        finally:
            if watch is not None:
                watch.stop()
    expectation = raw if adjust_expected is None else adjusted(raw, adjust_expected)
    seen = observed_from(pendo)
    if normalise_observed is not None:
        normalise_observed(seen.records)
    over = dict(overrides or {})
    if matchers:
        over["matchers"] = tuple(over.get("matchers") or ()) + tuple(matchers)
    report = _compare(expectation, seen, options, seed, reproduce, over, sharded)
    stopped = delivery.stopped if delivery is not None else None
    if stopped:
        report.notes.insert(0, f"the check stopped early: {stopped}")
    if delivery is not None and delivery.failures:
        report.differences = sort_differences(delivery_differences(delivery, events) + report.differences)
        _delivery_causes(report, delivery)
    if delivery is not None:
        _tie_to_delivery(report, expectation, delivery)
        if delivery.acknowledged and not seen.records and expectation.stream and not stopped:
            report.notes.insert(
                0,
                "the system acknowledged the events and sent Pendo nothing: a system that remembers the messageIds "
                "it forwarded (as it should: Segment delivers at least once) forwards nothing when the same traffic "
                "comes again; for a second check in one test, send other traffic (another seed) or restart it",
            )
    if not settled:
        report.notes.append(
            f"Pendo traffic was still arriving after {settle_timeout:g} s: what came later is not in this report"
        )
    return CheckResult(report, expectation, delivery, settled, seen, stopped=stopped, faults=rules)
