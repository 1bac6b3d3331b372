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
body to check the signature (as Segment's documentation shows) gets the same bytes. Timeouts, connection
errors, 408, 429 (waiting ``Retry-After``) and 5xx are retried with exponential back-off, a bounded number of
times; with ``concurrency`` > 1 events are spread over parallel connections by user, so each user's events
still arrive in order.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import threading
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from . import __version__
from .mapping import UNDEFINED, CompiledMapping, js_dumps

__all__ = ["VIAS", "DeliveryError", "DeliveryReport", "Failure", "deliver", "sign"]

VIAS = ("webhook", "webhook-actions", "tracking-api", "segmentio", "callable")
TRACKING_BATCH_BYTES = 475_000  # as analytics-python: under the API's 500 KB


class DeliveryError(ValueError):
    """Delivery cannot start: a bad target or option (the message says which)."""


def sign(secret: str, body: bytes | str) -> str:
    """Segment's ``X-Signature``: hex HMAC-SHA1 of ``body`` keyed with the shared secret."""
    data = body.encode("utf-8") if isinstance(body, str) else body
    return hmac.new(secret.encode("utf-8"), data, hashlib.sha1).hexdigest()


@dataclass
class Failure:
    """Events that were not acknowledged, and why."""

    indexes: list[int]
    message_ids: list[Any]
    status: int | None
    reason: str
    attempts: int


@dataclass
class DeliveryReport:
    """What a delivery did: events sent and acknowledged, HTTP requests made, retries, failures."""

    via: str
    target: str
    events: int = 0
    requests: int = 0
    acknowledged: int = 0
    retried: int = 0
    failed: int = 0
    failures: list[Failure] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.acknowledged == self.events

    def summary(self) -> str:
        rate = f", {self.events / self.seconds:,.0f} events/s" if self.seconds > 0 else ""
        return (
            f"{self.events} events to {self.target} via {self.via} in {self.requests} requests: "
            f"{self.acknowledged} acknowledged, {self.retried} retries, {self.failed} failed ({self.seconds:.2f} "
            f"s{rate})"
        )

    def format(self, limit: int = 10) -> str:
        lines = [self.summary()]
        for f in self.failures[:limit]:
            status = f"HTTP {f.status}" if f.status is not None else "no answer"
            ids = ", ".join(str(i) for i in f.message_ids[:3]) + (" ..." if len(f.message_ids) > 3 else "")
            lines.append(
                f"  failed: event {f.indexes[0] + 1}{'+' if len(f.indexes) > 1 else ''} ({ids}): {status} after "
                f"{f.attempts} attempts: {f.reason}"
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
            "failed": self.failed,
            "seconds": round(self.seconds, 3),
            "failures": [f.__dict__ for f in self.failures],
        }


@dataclass
class _Unit:
    """One request's worth: its events' indexes, the user key that orders it, and the bytes to send."""

    indexes: list[int]
    key: str
    method: str
    url: str
    body: bytes
    headers: dict[str, str]


def _user_key(event: Any) -> str:
    if isinstance(event, dict):
        for name in ("userId", "anonymousId"):
            value = event.get(name)
            if value not in (None, ""):
                return f"{name}:{value}"
    return ""


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
            by_lane[zlib.crc32(_user_key(event).encode()) % lanes if lanes > 1 else 0].append(i)
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
                        failures.append(
                            Failure([i], [_mid(events[i])], None, "the data mapping gave nothing for this event", 0)
                        )
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
        key = _user_key(events[indexes[0]])
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


class _Lane:
    """One connection, sending its units in order with Segment-like retries."""

    def __init__(
        self,
        report: DeliveryReport,
        lock: threading.Lock,
        *,
        timeout: float,
        max_attempts: int,
        backoff: float,
        max_backoff: float,
        max_retry_after: float,
    ):
        self.report = report
        self.lock = lock
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_retry_after = max_retry_after
        self.conn: http.client.HTTPConnection | None = None
        self.conn_for: tuple[str, str, int | None] | None = None

    def _connection(self, url: str) -> tuple[http.client.HTTPConnection, str]:
        parts = urlsplit(url)
        target = (parts.scheme, parts.hostname or "", parts.port)
        if self.conn is None or self.conn_for != target:
            self.close()
            cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
            self.conn = cls(parts.hostname or "", parts.port, timeout=self.timeout)
            self.conn_for = target
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return self.conn, path

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.conn = None

    def send(self, unit: _Unit, events: Sequence[Any]) -> None:
        status: int | None = None
        reason = ""
        attempt = 0
        while attempt < self.max_attempts:
            attempt += 1
            if attempt > 1:
                with self.lock:
                    self.report.retried += 1
            with self.lock:
                self.report.requests += 1
            retry_after: float | None = None
            try:
                conn, path = self._connection(unit.url)
                conn.request(unit.method, path, body=unit.body, headers=unit.headers)
                response = conn.getresponse()
                text = response.read()
                status = response.status
                if response.getheader("Connection", "").lower() == "close":
                    self.close()
                if 200 <= status < 300:
                    with self.lock:
                        self.report.acknowledged += len(unit.indexes)
                    return
                reason = text[:200].decode("utf-8", "replace").strip() or (response.reason or "")
                retryable = status in (408, 429) or (500 <= status < 600 and status not in (501, 505))
                if not retryable:
                    break
                header = response.getheader("Retry-After")
                if header:
                    try:
                        retry_after = min(max(float(header), 0.0), self.max_retry_after)
                    except ValueError:
                        retry_after = None
            except (OSError, http.client.HTTPException) as exc:  # timeouts, refused or dropped connections
                self.close()
                status, reason = None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            if attempt < self.max_attempts:
                delay = (
                    retry_after
                    if retry_after is not None
                    else min(self.backoff * (2 ** (attempt - 1)), self.max_backoff)
                )
                time.sleep(delay)
        with self.lock:
            self.report.failed += len(unit.indexes)
            self.report.failures.append(
                Failure(list(unit.indexes), [_mid(events[i]) for i in unit.indexes], status, reason, attempt)
            )


def deliver(
    events: Sequence[Any],
    to: str | Callable[[Any], Any],
    via: str = "webhook",
    *,
    secret: str | None = None,
    write_key: str | None = None,
    api_key: str | None = None,
    batch_size: int | None = None,
    method: str = "POST",
    headers: Mapping[str, str] | None = None,
    data: Any = None,
    concurrency: int = 1,
    timeout: float = 5.0,
    max_attempts: int = 5,
    backoff: float = 0.05,
    max_backoff: float = 2.0,
    max_retry_after: float = 10.0,
) -> DeliveryReport:
    """Send ``events`` to ``to`` (a URL, or a function for ``via="callable"``) the way Segment sends them.

    Returns a :class:`DeliveryReport`; raises :class:`DeliveryError` before sending anything for a bad option.
    """
    if callable(to) and not isinstance(to, str):
        via = "callable"
    if via not in VIAS:
        raise DeliveryError(f"unknown delivery {via!r} (choose from {', '.join(VIAS)})")
    if concurrency < 1 or max_attempts < 1:
        raise DeliveryError("concurrency and max_attempts must be at least 1")
    if batch_size is not None and batch_size < 1:
        raise DeliveryError("batch size must be at least 1")
    start = time.perf_counter()
    if via == "callable":
        if not callable(to):
            raise DeliveryError("via callable needs a function as the target")
        return _deliver_to_callable(events, to, start)
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
    lock = threading.Lock()

    def run(units: list[_Unit]) -> None:
        lane = _Lane(
            report,
            lock,
            timeout=timeout,
            max_attempts=max_attempts,
            backoff=backoff,
            max_backoff=max_backoff,
            max_retry_after=max_retry_after,
        )
        try:
            for unit in units:
                lane.send(unit, events)
        finally:
            lane.close()

    if concurrency == 1:
        run(lanes[0])
    else:
        threads = [threading.Thread(target=run, args=(units,), daemon=True) for units in lanes if units]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    report.failures.sort(key=lambda f: f.indexes[0])
    report.seconds = time.perf_counter() - start
    return report


def _deliver_to_callable(events: Sequence[Any], fn: Callable[[Any], Any], start: float) -> DeliveryReport:
    report = DeliveryReport("callable", getattr(fn, "__qualname__", repr(fn)), events=len(events))
    for i, event in enumerate(events):
        report.requests += 1
        try:
            answer = fn(json.loads(json.dumps(event)))  # a copy: the callee may change it
        except Exception as exc:  # the system under test failed on this event
            report.failed += 1
            report.failures.append(Failure([i], [_mid(event)], None, f"{type(exc).__name__}: {exc}", 1))
            continue
        if answer is False:
            report.failed += 1
            report.failures.append(Failure([i], [_mid(event)], None, "the function returned False", 1))
        else:
            report.acknowledged += 1
    report.seconds = time.perf_counter() - start
    return report
