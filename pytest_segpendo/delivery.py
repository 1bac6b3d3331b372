"""Deliver Segment events to a system under test in Segment's own wire formats, retrying as Segment does.

Formats (``via``):

- ``webhook``: Segment's classic Webhooks destination: one event per ``POST``, ``Content-Type:
  application/json``, ``User-Agent: Segment.io/1.0``, and with a shared secret ``X-Signature`` = hex
  HMAC-SHA1 of the body;
- ``webhook-actions``: Segment's Webhooks (Actions) ``send`` action: the ``data`` mapping (mapping-kit, default
  the whole event) per event, ``POST``/``PUT``/``PATCH``, custom headers, ``User-Agent: Segment (Actions)``;
  batched (``batch_size`` > 1) as a JSON array whose ``X-Signature`` signs the FIRST item's data only;
- ``tracking-api``: ``POST /v1/batch`` bodies ``{"batch", "writeKey", "sentAt"}`` with HTTP Basic auth, for
  Segment-compatible collectors;
- ``segmentio``: the classic Pendo destination's cloud mode, raw events to ``/data/segmentio/<apiKey>``;
- ``callable``: a Python function called with each event.

Bodies are written as JavaScript's ``JSON.stringify`` writes them, so a receiver that re-serialises the parsed
body to check the signature (as Segment's documentation shows) gets the same bytes.

Which answers are retried depends on the format, as it does at Segment (:func:`classify`, the table in
``docs/segment.md`` with its sources); each format waits as long as Segment waits (:data:`TIMEOUTS`). Back-off
between attempts is compressed (``backoff``, ``max_backoff``) but the classification never changes with it.
With ``concurrency`` > 1 events are spread over parallel lanes by user (``userId``, else ``anonymousId``), so each
user's events still arrive in order.

Hooks: an ``observer`` (:class:`DeliveryObserver`) sees every attempt and answer; a ``stop`` event
(:class:`StopSignal`) ends a delivery early; :class:`TrafficClock` turns delivery progress into a simulation
clock; ``redeliver`` sends some acknowledged requests again, as Segment's at-least-once delivery does.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import http.client
import json
import random
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol
from urllib.parse import urljoin, urlsplit

from . import __version__, http11
from .defaults import CONCURRENCY, MAX_ATTEMPTS, METHOD, VIA
from .events import lane_key, timestamp_ms
from .mapping import UNDEFINED, CompiledMapping, js_dumps

__all__ = [
    "TIMEOUTS",
    "VIAS",
    "DeliveryError",
    "DeliveryObserver",
    "DeliveryReport",
    "Failure",
    "Observers",
    "StopSignal",
    "TrafficClock",
    "Verdict",
    "classify",
    "deliver",
    "sign",
]

VIAS = ("webhook", "webhook-actions", "tracking-api", "segmentio", "callable")
TRACKING_BATCH_BYTES = 475_000  # as analytics-python: under the API's 500 KB

TIMEOUTS: Mapping[str, float] = {
    "webhook": 5.0,  # segment-docs, destinations/catalog/webhooks: "must respond within 5 seconds"
    "segmentio": 5.0,  # the classic Pendo destination is delivered by the classic Webhooks pipeline
    "webhook-actions": 10.0,  # action-destinations packages/core/src/request-client.ts: defaultRequestTimeout
    "tracking-api": 15.0,  # segment-analytics-python 2.4.0: DefaultConfig.timeout
}
"""Seconds Segment waits for an answer, per wire format (``deliver(timeout=...)`` overrides)."""

REDIRECTS_FOLLOWED = {"webhook-actions": 20, "tracking-api": 30}  # fetch's limit; requests' limit
REDELIVERY_SPREAD = 4  # a re-delivery comes back after at most this many of the lane's later requests
_ACTIONS_RETRIED = frozenset({408, 423, 429, 500, *range(502, 512), 598, 599})
_LIBRARY_RETRIED_4XX = frozenset({408, 410, 429, 460})


class DeliveryError(ValueError):
    """Delivery cannot start: a bad target or option (the message says which)."""


def sign(secret: str, body: bytes | str) -> str:
    """Segment's ``X-Signature``: hex HMAC-SHA1 of ``body`` keyed with the shared secret."""
    data = body.encode("utf-8") if isinstance(body, str) else body
    return hmac.new(secret.encode("utf-8"), data, hashlib.sha1).hexdigest()


# -- how Segment classifies an answer ---------------------------------------------------------------------------


class Verdict(NamedTuple):
    """Whether Segment retries an answer, and the rule that says so."""

    retry: bool
    rule: str


def classify(via: str, status: int | None) -> Verdict:
    """How Segment treats an answer that is not a 2xx, for one wire format. ``status`` None is a timeout or a
    connection error (refused, reset, dropped). The sources are in ``docs/segment.md`` ("Retries").

    >>> classify("webhook", 404)
    Verdict(retry=False, rule='not retried (Segment does not retry 4xx)')
    >>> classify("webhook-actions", 501).retry, classify("webhook-actions", 505).retry
    (False, True)
    """
    if via not in TIMEOUTS:
        raise DeliveryError(f"no retry rules for via {via!r}")
    if status is None:
        return Verdict(True, "retried (Segment retries timeouts and connection errors)")
    if 200 <= status < 300:
        return Verdict(False, "acknowledged")
    if via in ("webhook", "segmentio"):
        if status == 429:
            return Verdict(True, "retried (Segment retries 429 from a destination)")
        if 500 <= status < 600:
            return Verdict(True, "retried (Segment retries 5xx)")
        if 400 <= status < 500:
            return Verdict(False, "not retried (Segment does not retry 4xx)")
        return Verdict(False, "not retried (Segment retries only timeouts, connection errors, 429 and 5xx)")
    if via == "webhook-actions":
        if status in _ACTIONS_RETRIED:
            return Verdict(True, f"retried (Segment's Actions retry {status})")
        if 400 <= status < 500:
            return Verdict(False, "not retried (Segment does not retry 4xx other than 408, 423 and 429)")
        if 500 <= status < 600:
            return Verdict(False, f"not retried (Segment's Actions do not retry {status})")
        return Verdict(False, "not retried (Segment's Actions do not retry an answer fetch does not follow)")
    # tracking-api: as segment-analytics-python 2.4.0 (consumer.py is_retryable_status), without OAuth
    if 400 <= status < 500:
        if status in _LIBRARY_RETRIED_4XX:
            return Verdict(True, f"retried (Segment's libraries retry {status})")
        return Verdict(False, "not retried (Segment's libraries do not retry 4xx other than 408, 410, 429 and 460)")
    if 500 <= status < 600:
        if status in (501, 505):
            return Verdict(False, f"not retried (Segment's libraries do not retry {status})")
        if status == 511:
            return Verdict(False, "not retried (Segment's libraries retry 511 only with OAuth)")
        return Verdict(True, "retried (Segment's libraries retry 5xx)")
    return Verdict(False, "not retried (Segment's libraries do not retry a redirect they cannot follow)")


# -- the report -------------------------------------------------------------------------------------------------


@dataclass
class Failure:
    """Events that were not acknowledged, and why.

    ``reason`` is the last answer (its body, or the connection error); ``verdict`` says what Segment did about
    it: "not retried (Segment does not retry 4xx)", "gave up after 5 attempts", "not sent"...
    """

    indexes: list[int]
    message_ids: list[Any]
    status: int | None
    reason: str
    attempts: int
    verdict: str = ""


@dataclass
class DeliveryReport:
    """What a delivery did: events sent and acknowledged, HTTP requests made, retries, re-deliveries, failures."""

    via: str
    target: str
    events: int = 0
    requests: int = 0
    acknowledged: int = 0
    retried: int = 0
    failed: int = 0
    failures: list[Failure] = field(default_factory=list)
    seconds: float = 0.0
    redelivered: int = 0
    redelivered_ids: list[Any] = field(default_factory=list)
    stopped: str | None = None

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.acknowledged == self.events

    def summary(self) -> str:
        rate = f", {self.events / self.seconds:,.0f} events/s" if self.seconds > 0 else ""
        again = f", {self.redelivered} re-delivered" if self.redelivered else ""
        stopped = f"; stopped: {self.stopped}" if self.stopped is not None else ""
        return (
            f"{self.events} events to {self.target} via {self.via} in {self.requests} requests: "
            f"{self.acknowledged} acknowledged, {self.retried} retries{again}, {self.failed} failed "
            f"({self.seconds:.2f} s{rate}){stopped}"
        )

    def format(self, limit: int = 10) -> str:
        lines = [self.summary()]
        for f in self.failures[:limit]:
            status = f"HTTP {f.status}" if f.status is not None else "no answer"
            ids = ", ".join(str(i) for i in f.message_ids[:3]) + (" ..." if len(f.message_ids) > 3 else "")
            lines.append(
                f"  failed: event {f.indexes[0] + 1}{'+' if len(f.indexes) > 1 else ''} ({ids}): {status}, "
                f"{f.verdict}: {f.reason}"
            )
        if len(self.failures) > limit:
            lines.append(f"  ... and {len(self.failures) - limit} more failures")
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        return {
            "via": self.via,
            "target": self.target,
            "events": self.events,
            "requests": self.requests,
            "acknowledged": self.acknowledged,
            "retried": self.retried,
            "redelivered": self.redelivered,
            "redelivered_ids": list(self.redelivered_ids),
            "failed": self.failed,
            "stopped": self.stopped,
            "seconds": round(self.seconds, 3),
            "failures": [dict(f.__dict__) for f in self.failures],
        }


# -- hooks ------------------------------------------------------------------------------------------------------


class DeliveryObserver(Protocol):
    """Sees a delivery as it happens. Subclass it and override what you need (every method is a no-op here), or
    pass any object with some of these methods: only the ones present are called.

    ``on_plan`` comes from the caller's thread; the other calls come from the lane threads (one thread per lane
    when ``concurrency`` > 1, the caller's thread otherwise), so an observer shared by lanes must be thread-safe;
    a lane's own calls are in order. ``indexes`` are positions in the ``events`` given to :func:`deliver`. Every
    request ends with one ``on_answer`` whose ``will_retry`` is False (also for a request given up because the
    delivery was stopped). An exception raised by an observer does not stop the lanes: :func:`deliver`
    re-raises the first one once they are done.
    """

    def on_plan(self, lanes: Mapping[int, Sequence[Sequence[int]]]) -> None:
        """Called once, before anything is sent: each lane's requests (their events' indexes), in sending order
        (re-deliveries come on top, in the same lane)."""
        return None  # not abstract: a subclass overrides only what it needs

    def on_attempt(self, lane: int, indexes: Sequence[int], attempt: int) -> None:
        """A request carrying these events is about to be sent (``attempt`` 1 first, 2 for the first retry)."""
        return None  # not abstract: a subclass overrides only what it needs

    def on_answer(
        self,
        lane: int,
        indexes: Sequence[int],
        status: int | None,
        acknowledged: bool,
        will_retry: bool,
        reason: str,
    ) -> None:
        """The request's outcome: ``status`` None for a timeout or connection error."""
        return None  # not abstract: a subclass overrides only what it needs

    def on_lane_done(self, lane: int) -> None:
        """The lane has nothing more to send."""
        return None  # not abstract: a subclass overrides only what it needs


class Observers(DeliveryObserver):
    """Several observers as one: each call goes to each observer that has the method, in the order given."""

    def __init__(self, *observers: object):
        self.observers = tuple(o for o in observers if o is not None)

    def _each(self, name: str, *args: Any) -> None:
        for observer in self.observers:
            method = getattr(observer, name, None)
            if method is not None:
                method(*args)

    def on_plan(self, lanes: Mapping[int, Sequence[Sequence[int]]]) -> None:
        self._each("on_plan", lanes)

    def on_attempt(self, lane: int, indexes: Sequence[int], attempt: int) -> None:
        self._each("on_attempt", lane, indexes, attempt)

    def on_answer(
        self,
        lane: int,
        indexes: Sequence[int],
        status: int | None,
        acknowledged: bool,
        will_retry: bool,
        reason: str,
    ) -> None:
        self._each("on_answer", lane, indexes, status, acknowledged, will_retry, reason)

    def on_lane_done(self, lane: int) -> None:
        self._each("on_lane_done", lane)


class StopSignal(threading.Event):
    """A ``threading.Event`` that carries why it was set: ``deliver(stop=signal)``, then ``signal.set(reason)``."""

    def __init__(self) -> None:
        super().__init__()
        self.reason = ""

    def set(self, reason: str = "") -> None:
        if reason and not self.reason:
            self.reason = reason
        super().set()


def _stop_reason(stop: threading.Event) -> str:
    reason = getattr(stop, "reason", "")
    return reason if isinstance(reason, str) and reason else "stop requested"


class TrafficClock(DeliveryObserver):
    """A simulation clock driven by the traffic being delivered: pass it to :func:`deliver` as the observer and
    to the fake Pendo server as its clock (``now_ms()`` is that clock's whole protocol).

    ``now_ms()`` is a conservative watermark: the smallest timestamp among the events each lane is still to send
    (the one it is sending now, retries included, and the ones after it: the same as the one it is sending now when
    a lane's traffic is in time order) and the events acknowledged less than ``grace`` seconds ago (wall time);
    it never goes back. Before delivery starts it is the earliest event's time; once nothing is in flight and the
    grace has passed, the latest timestamp delivered. Events without a parseable ``timestamp`` are ignored (with
    none at all, it is the wall clock). ``wall`` (seconds, monotonic) can be replaced in tests. Thread-safe.
    """

    kind = "traffic"  # what the fake Pendo server's GET /__segpendo/clock reports

    def __init__(self, events: Sequence[Any], grace: float = 1.0, *, wall: Callable[[], float] = time.monotonic):
        if grace < 0:
            raise ValueError("grace must be 0 or more seconds")
        self.grace = grace
        self._wall = wall
        self._lock = threading.Lock()
        self._times = [timestamp_ms(e.get("timestamp")) if isinstance(e, dict) else None for e in events]
        known = [t for t in self._times if t is not None]
        self._last: int | None = min(known) if known else None
        self._sending: dict[int, int | None] = {}  # lane -> smallest timestamp it is still to send
        self._ahead: dict[int, tuple[dict[int, int], list[int | None]]] = {}  # lane -> (first index -> position,
        # smallest timestamp from that position on)
        self._recent: deque[tuple[float, int]] = deque()  # (expiry, timestamp), timestamps increasing
        self._high: int | None = None

    def _times_of(self, indexes: Sequence[int]) -> list[int]:
        return [t for i in indexes if 0 <= i < len(self._times) and (t := self._times[i]) is not None]

    def on_plan(self, lanes: Mapping[int, Sequence[Sequence[int]]]) -> None:
        with self._lock:
            for lane, units in lanes.items():
                position = {unit[0]: k for k, unit in enumerate(units) if unit}
                suffix: list[int | None] = [None] * len(units)
                low: int | None = None
                for k in range(len(units) - 1, -1, -1):
                    known = self._times_of(units[k])
                    if known and (low is None or min(known) < low):
                        low = min(known)
                    suffix[k] = low
                self._ahead[lane] = (position, suffix)
                if suffix:
                    self._sending[lane] = suffix[0]

    def on_attempt(self, lane: int, indexes: Sequence[int], attempt: int) -> None:
        known = self._times_of(indexes)
        with self._lock:
            ahead = self._ahead.get(lane)
            k = ahead[0].get(indexes[0]) if ahead is not None and indexes else None
            if ahead is not None and k is not None:
                self._sending[lane] = ahead[1][k]
            else:
                self._sending[lane] = min(known) if known else None
            if known and (self._high is None or max(known) > self._high):
                self._high = max(known)

    def on_answer(
        self,
        lane: int,
        indexes: Sequence[int],
        status: int | None,
        acknowledged: bool,
        will_retry: bool,
        reason: str,
    ) -> None:
        if not acknowledged:
            return
        known = self._times_of(indexes)
        if not known:
            return
        t = min(known)
        with self._lock:
            recent = self._recent
            while recent and recent[-1][1] >= t:  # outlived by a smaller timestamp: never the minimum again
                recent.pop()
            recent.append((self._wall() + self.grace, t))

    def on_lane_done(self, lane: int) -> None:
        with self._lock:
            self._sending.pop(lane, None)

    def now_ms(self) -> int:
        with self._lock:
            now = self._wall()
            recent = self._recent
            while recent and recent[0][0] <= now:
                recent.popleft()
            candidates = [t for t in self._sending.values() if t is not None]
            if recent:
                candidates.append(recent[0][1])
            if candidates:
                value: int | None = min(candidates)
            else:
                value = self._high if self._high is not None else self._last
            if value is None:
                return int(time.time() * 1000)
            if self._last is None or value > self._last:
                self._last = value
            return self._last


class _Hooks:
    """Calls an observer's methods that exist; keeps the first exception for :func:`deliver` to raise."""

    def __init__(self, observer: object | None):
        self.plan = getattr(observer, "on_plan", None)
        self.attempt = getattr(observer, "on_attempt", None)
        self.answer = getattr(observer, "on_answer", None)
        self.done = getattr(observer, "on_lane_done", None)
        self.error: BaseException | None = None
        self.lock = threading.Lock()

    def call(self, fn: Callable[..., Any] | None, *args: Any) -> None:
        if fn is None:
            return
        try:
            fn(*args)
        except Exception as exc:  # re-raised by deliver() once every lane is done
            with self.lock:
                if self.error is None:
                    self.error = exc


# -- requests ---------------------------------------------------------------------------------------------------


@dataclass
class _Unit:
    """One request's worth: its events' indexes, the user key that orders it, and the bytes to send."""

    indexes: list[int]
    key: str
    method: str
    url: str
    body: bytes
    headers: dict[str, str]
    again_after: int | None = None  # re-delivered after this many later requests of the lane, if acknowledged


def _body(value: Any) -> bytes:
    text = js_dumps(value)
    return (text if text is not None else "null").encode("utf-8")


class _Plan:
    """Turns events into requests for one ``via``."""

    def __init__(
        self,
        via: str,
        to: str,
        *,
        secret: str | None,
        write_key: str | None,
        api_key: str | None,
        batch_size: int | None,
        method: str,
        headers: Mapping[str, str] | None,
        data: Any,
    ):
        self.via = via
        self.secret = secret
        self.write_key = write_key
        self.extra = dict(headers or {})
        self.method = method.upper()
        if via == "webhook-actions" and self.method not in ("POST", "PUT", "PATCH"):
            raise DeliveryError(f"webhook-actions method must be POST, PUT or PATCH (got {method!r})")
        if via == "tracking-api":
            if not write_key:
                raise DeliveryError("tracking-api needs a write key (--write-key)")
            self.url = to if urlsplit(to).path.rstrip("/").endswith("/v1/batch") else to.rstrip("/") + "/v1/batch"
            self.batch_size = batch_size or 100
        elif via == "segmentio":
            if "/data/segmentio/" in urlsplit(to).path:
                self.url = to
            elif api_key:
                self.url = to.rstrip("/") + "/data/segmentio/" + api_key
            else:
                raise DeliveryError(
                    "segmentio needs the Pendo API key (--api-key), or a URL ending in /data/segmentio/<apiKey>"
                )
            self.batch_size = 1
        else:
            self.url = to
            self.batch_size = (batch_size or 1) if via == "webhook-actions" else 1  # classic webhooks: one event each
        self.mapping = (
            CompiledMapping(data if data is not None else {"@path": "$."}) if via == "webhook-actions" else None
        )

    def units(self, events: Sequence[Any], lanes: int) -> tuple[list[list[_Unit]], list[Failure]]:
        """Requests per lane (a user's events all in one lane, in order), and events that cannot be sent."""
        by_lane: list[list[int]] = [[] for _ in range(lanes)]
        for i, event in enumerate(events):
            by_lane[zlib.crc32(lane_key(event).encode()) % lanes if lanes > 1 else 0].append(i)
        out: list[list[_Unit]] = []
        failures: list[Failure] = []
        for indexes in by_lane:
            lane: list[_Unit] = []
            batch: list[int] = []
            payloads: list[Any] = []
            size = 0
            for i in indexes:
                payload = events[i]
                if self.mapping is not None:
                    payload = self.mapping(events[i]) if isinstance(events[i], dict) else UNDEFINED
                    if payload is UNDEFINED:
                        reason = "the data mapping gave nothing for this event"
                        failures.append(Failure([i], [_mid(events[i])], None, reason, 0, "not sent"))
                        continue
                piece = len(_body(payload)) if self.via == "tracking-api" else 0
                if batch and (len(batch) >= self.batch_size or size + piece > TRACKING_BATCH_BYTES):
                    lane.append(self._unit(batch, payloads, events))
                    batch, payloads, size = [], [], 0
                batch.append(i)
                payloads.append(payload)
                size += piece
            if batch:
                lane.append(self._unit(batch, payloads, events))
            out.append(lane)
        return out, failures

    def _unit(self, indexes: list[int], payloads: list[Any], events: Sequence[Any]) -> _Unit:
        key = lane_key(events[indexes[0]])
        headers = {"Content-Type": "application/json"}
        if self.via == "tracking-api":
            body = _body({"batch": payloads, "writeKey": self.write_key, "sentAt": _now_iso()})
            token = base64.b64encode(f"{self.write_key}:".encode()).decode()
            headers.update({"User-Agent": f"segpendo/{__version__} (tracking-api)", "Authorization": f"Basic {token}"})
        elif self.via == "webhook-actions":
            batched = self.batch_size > 1
            body = _body(payloads) if batched else _body(payloads[0])
            headers["User-Agent"] = "Segment (Actions)"
            if self.secret:
                headers["X-Signature"] = sign(self.secret, _body(payloads[0]))  # the first item's data only
        else:
            body = _body(payloads[0])
            headers["User-Agent"] = "Segment.io/1.0"
            if self.secret and self.via == "webhook":
                headers["X-Signature"] = sign(self.secret, body)
        headers.update(self.extra)
        return _Unit(indexes, key, self.method if self.via == "webhook-actions" else "POST", self.url, body, headers)


def _mid(event: Any) -> Any:
    return event.get("messageId") if isinstance(event, dict) else None


def _now_iso() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date), None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(when.timestamp() - time.time(), 0.0) if when.tzinfo is not None else None


class _Answer(NamedTuple):
    ok: bool
    status: int | None
    reason: str
    retry_after: float | None


# -- lanes ------------------------------------------------------------------------------------------------------


@dataclass
class _Settings:
    via: str
    timeout: float | None
    max_attempts: int
    backoff: float
    max_backoff: float
    max_retry_after: float
    stop: threading.Event | None
    hooks: _Hooks
    report: DeliveryReport
    lock: threading.Lock
    events: Sequence[Any]
    function: Callable[[Any], Any] | None = None


class _Lane:
    """One connection, sending its units in order with Segment's retries (or calling the function)."""

    def __init__(self, number: int, s: _Settings):
        self.number = number
        self.s = s
        self.conn: http.client.HTTPConnection | None = None
        self.conn_for: tuple[str, str, int | None] | None = None

    # -- transport ------------------------------------------------------------------------------------------
    def _connection(self, url: str) -> tuple[http.client.HTTPConnection, str]:
        parts = urlsplit(url)
        target = (parts.scheme, parts.hostname or "", parts.port)
        if self.conn is None or self.conn_for != target:
            self.close()
            cls = http11.HTTPSConnection if parts.scheme == "https" else http11.HTTPConnection
            self.conn = cls(parts.hostname or "", parts.port, timeout=self.s.timeout)
            self.conn_for = target
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return self.conn, path

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.conn = None

    def _http(self, unit: _Unit) -> _Answer:
        method, url, headers = unit.method, unit.url, dict(unit.headers)
        body: bytes | None = unit.body
        hops = REDIRECTS_FOLLOWED.get(self.s.via, 0)
        try:
            while True:
                conn, path = self._connection(url)
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                text = response.read()
                status = response.status
                if response.getheader("Connection", "").lower() == "close":
                    self.close()
                location = response.getheader("Location")
                if status in (301, 302, 303, 307, 308) and location and hops > 0:
                    hops -= 1  # followed as fetch (Actions) and requests (analytics-python) follow
                    target = urljoin(url, location)
                    if status == 303 or (status in (301, 302) and method == "POST"):
                        method, body = "GET", None
                        headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
                    if urlsplit(target).netloc != urlsplit(url).netloc:
                        headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
                    url = target
                    continue
                if 200 <= status < 300:
                    return _Answer(True, status, "", None)
                reason = text[:200].decode("utf-8", "replace").strip() or (response.reason or "")
                return _Answer(False, status, reason, _retry_after(response.getheader("Retry-After")))
        except (OSError, http.client.HTTPException) as exc:  # timeouts, refused or dropped connections
            self.close()
            return _Answer(False, None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__, None)

    # -- sending --------------------------------------------------------------------------------------------
    def run(self, units: list[_Unit]) -> None:
        queue: deque[tuple[_Unit, bool]] = deque((u, False) for u in units)
        try:
            while queue:
                unit, again = queue.popleft()
                if self._stopped():
                    self._give_up_stopped([u for u, a in [(unit, again), *queue] if not a])
                    break
                acknowledged = self._send(unit, again)
                if acknowledged and not again and unit.again_after is not None:
                    queue.insert(min(unit.again_after, len(queue)), (unit, True))
        finally:
            self.close()
            self.s.hooks.call(self.s.hooks.done, self.number)

    def _stopped(self) -> bool:
        return self.s.stop is not None and self.s.stop.is_set()

    def _stop_text(self) -> str:
        return f"delivery stopped: {_stop_reason(self.s.stop)}" if self.s.stop is not None else "delivery stopped"

    def _give_up_stopped(self, units: list[_Unit]) -> None:
        for unit in units:
            self._final(unit, False, None, self._stop_text(), 0, "not sent")

    def _final(self, unit: _Unit, again: bool, status: int | None, reason: str, attempts: int, verdict: str) -> None:
        """A request that ends unacknowledged: a failure in the report (not for a re-delivery), and the
        observer's last ``on_answer``."""
        s = self.s
        if not again:
            ids = [_mid(s.events[i]) for i in unit.indexes]
            with s.lock:
                s.report.failed += len(unit.indexes)
                s.report.failures.append(Failure(list(unit.indexes), ids, status, reason, attempts, verdict))
        s.hooks.call(s.hooks.answer, self.number, list(unit.indexes), status, False, False, reason)

    def _send(self, unit: _Unit, again: bool) -> bool:
        """Send one request until it is acknowledged, Segment gives up on it, or the delivery is stopped."""
        s = self.s
        status: int | None = None
        attempt = 0
        while True:
            if self._stopped():
                said = f"stopped after {attempt} attempts" if attempt else "not sent"
                self._final(unit, again, status, self._stop_text(), attempt, said)
                return False
            attempt += 1
            with s.lock:
                s.report.requests += 1
                if attempt > 1:
                    s.report.retried += 1
                elif again:
                    s.report.redelivered += len(unit.indexes)
                    s.report.redelivered_ids.extend(_mid(s.events[i]) for i in unit.indexes)
            s.hooks.call(s.hooks.attempt, self.number, list(unit.indexes), attempt)
            answer = self._call(unit) if s.function is not None else self._http(unit)
            status = answer.status
            if answer.ok:
                if not again:
                    with s.lock:
                        s.report.acknowledged += len(unit.indexes)
                s.hooks.call(s.hooks.answer, self.number, list(unit.indexes), status, True, False, "")
                return True
            if s.function is not None:
                verdict = Verdict(False, "not retried (a function is called once per event)")
            else:
                verdict = classify(s.via, status)
            if not verdict.retry:
                self._final(unit, again, status, answer.reason, attempt, verdict.rule)
                return False
            if attempt >= s.max_attempts:
                self._final(unit, again, status, answer.reason, attempt, f"gave up after {attempt} attempts")
                return False
            if self._stopped():
                self._final(unit, again, status, self._stop_text(), attempt, f"stopped after {attempt} attempts")
                return False
            s.hooks.call(s.hooks.answer, self.number, list(unit.indexes), status, False, True, answer.reason)
            if answer.retry_after is not None:
                delay = min(answer.retry_after, s.max_retry_after)
            else:
                delay = min(s.backoff * (2 ** (attempt - 1)), s.max_backoff)
            if delay > 0:
                if s.stop is not None:
                    s.stop.wait(delay)
                else:
                    time.sleep(delay)

    def _call(self, unit: _Unit) -> _Answer:
        assert self.s.function is not None
        event = self.s.events[unit.indexes[0]]
        try:
            answer = self.s.function(json.loads(json.dumps(event)))  # a copy: the callee may change it
        except Exception as exc:  # the system under test failed on this event
            return _Answer(False, None, f"{type(exc).__name__}: {exc}", None)
        if answer is False:
            return _Answer(False, None, "the function returned False", None)
        return _Answer(True, None, "", None)


def _plan_redeliveries(lanes: list[list[_Unit]], rate: float, seed: int) -> None:
    """Mark, reproducibly, the units to send again once acknowledged, and how much later."""
    if rate <= 0:
        return
    for number, units in enumerate(lanes):
        rng = random.Random(f"segpendo-redeliver:{seed}:{number}")
        for unit in units:
            hit = rng.random() < rate
            later = rng.randint(0, REDELIVERY_SPREAD)
            unit.again_after = later if hit else None


def deliver(
    events: Sequence[Any],
    to: str | Callable[[Any], Any],
    via: str = VIA,
    *,
    secret: str | None = None,
    write_key: str | None = None,
    api_key: str | None = None,
    batch_size: int | None = None,
    method: str = METHOD,
    headers: Mapping[str, str] | None = None,
    data: Any = None,
    concurrency: int = CONCURRENCY,
    timeout: float | None = None,
    max_attempts: int = MAX_ATTEMPTS,
    backoff: float = 0.05,
    max_backoff: float = 2.0,
    max_retry_after: float = 10.0,
    observer: DeliveryObserver | None = None,
    stop: threading.Event | None = None,
    redeliver: float = 0.0,
    redeliver_seed: int = 0,
) -> DeliveryReport:
    """Send ``events`` to ``to`` (a URL, or a function for ``via="callable"``) the way Segment sends them.

    ``timeout`` (seconds) defaults to Segment's own for the format (:data:`TIMEOUTS`); ``backoff``,
    ``max_backoff`` and ``max_retry_after`` only compress the waits between attempts, never which answers are
    retried (:func:`classify`). ``observer``, ``stop``, ``redeliver`` and ``redeliver_seed``: see
    ``docs/segment.md``. Returns a :class:`DeliveryReport`; raises :class:`DeliveryError` before sending
    anything for a bad option, and an observer's first exception once the lanes are done.
    """
    if callable(to) and not isinstance(to, str):
        via = "callable"
    if via not in VIAS:
        raise DeliveryError(f"unknown delivery {via!r} (choose from {', '.join(VIAS)})")
    if concurrency < 1 or max_attempts < 1:
        raise DeliveryError("concurrency and max_attempts must be at least 1")
    if batch_size is not None and batch_size < 1:
        raise DeliveryError("batch size must be at least 1")
    if timeout is not None and timeout <= 0:
        raise DeliveryError("timeout must be more than 0 seconds")
    if min(backoff, max_backoff, max_retry_after) < 0:
        raise DeliveryError("backoff, max_backoff and max_retry_after must be 0 or more")
    if not 0.0 <= redeliver <= 1.0:
        raise DeliveryError(f"redeliver is a probability between 0 and 1 (got {redeliver!r})")
    start = time.perf_counter()
    function: Callable[[Any], Any] | None = None
    failures: list[Failure] = []
    if via == "callable":
        if not callable(to):
            raise DeliveryError("via callable needs a function as the target")
        function = to
        report = DeliveryReport("callable", getattr(to, "__qualname__", repr(to)), events=len(events))
        lanes = [[_Unit([i], lane_key(e), "CALL", "", b"", {}) for i, e in enumerate(events)]]
    else:
        assert isinstance(to, str)
        parts = urlsplit(to)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise DeliveryError(f"target must be an http(s) URL (got {to!r})")
        plan = _Plan(
            via,
            to,
            secret=secret,
            write_key=write_key,
            api_key=api_key,
            batch_size=batch_size,
            method=method,
            headers=headers,
            data=data,
        )
        report = DeliveryReport(via, plan.url, events=len(events))
        lanes, failures = plan.units(events, concurrency)
    for failure in failures:
        report.failed += len(failure.indexes)
        report.failures.append(failure)
    _plan_redeliveries(lanes, redeliver, redeliver_seed)
    hooks = _Hooks(observer)
    settings = _Settings(
        via,
        timeout if timeout is not None else TIMEOUTS.get(via),
        max_attempts,
        backoff,
        max_backoff,
        max_retry_after,
        stop,
        hooks,
        report,
        threading.Lock(),
        events,
        function,
    )
    busy = [(n, units) for n, units in enumerate(lanes) if units]
    hooks.call(hooks.plan, {n: [list(u.indexes) for u in units] for n, units in busy})
    if len(busy) <= 1:
        for n, units in busy:
            _Lane(n, settings).run(units)
    else:
        threads = [threading.Thread(target=_Lane(n, settings).run, args=(units,), daemon=True) for n, units in busy]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    if stop is not None and stop.is_set():
        report.stopped = _stop_reason(stop)
    report.failures.sort(key=lambda f: f.indexes[0])
    report.seconds = time.perf_counter() - start
    if hooks.error is not None:
        raise hooks.error
    return report
