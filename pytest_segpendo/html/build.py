"""Build a run document (the HTML report's input) from a check's pieces: the diff report, the delivery, the
expected and received records, the fake Pendo server's injected faults, and the delivery's retries.

``run_document(result, pendo=pendo)`` is what ``segpendo check`` and the plugin call; a JSON report read
back from disk (``segpendo check --report``) is a run document already.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..events import timestamp_ms

__all__ = ["TimelineRecorder", "build_timeline", "records_by_kind", "run_document"]

Record = Mapping[str, Any]


def _track_times(records: Iterable[Record]) -> list[int]:
    return [
        int(t)
        for r in records
        if r.get("kind") == "track" and isinstance(t := r.get("timestamp"), (int, float)) and not isinstance(t, bool)
    ]


def _event_time(events: Sequence[Any] | None, index: int) -> int | None:
    if events is None or not 0 <= index < len(events):
        return None
    event = events[index]
    if not isinstance(event, Mapping):
        return None
    for key in ("timestamp", "originalTimestamp", "sentAt", "receivedAt"):
        t = timestamp_ms(event.get(key))
        if t is not None:
            return t
    return None


class TimelineRecorder:
    """A delivery observer (``deliver(..., observer=recorder)``) that keeps each retry as a timeline mark, at
    the time of the first event the retried request carried. Thread-safe (lanes call it concurrently)."""

    def __init__(self, events: Sequence[Any]):
        self.events = events
        self.marks: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def on_attempt(self, lane: int, indexes: Sequence[int], attempt: int) -> None:
        """Nothing: an answer says whether the request is retried."""

    def on_answer(
        self, lane: int, indexes: Sequence[int], status: int | None, acknowledged: bool, will_retry: bool, reason: str
    ) -> None:
        if not will_retry or not indexes:
            return
        t = _event_time(self.events, indexes[0])
        if t is None:
            return
        answer = f"HTTP {status}" if status is not None else "no answer"
        label = f"event {indexes[0] + 1}{'+' if len(indexes) > 1 else ''}: {answer}, retried ({reason})"
        with self._lock:
            self.marks.append({"time": t, "type": "retry", "label": label})

    def on_lane_done(self, lane: int) -> None:
        """Nothing to do."""


def build_timeline(
    expected: Iterable[Record],
    received: Iterable[Record],
    *,
    events: Sequence[Any] | None = None,
    delivery: Mapping[str, Any] | None = None,
    injected: Iterable[Mapping[str, Any]] = (),
    sourced: Iterable[Record] = (),
    marks: Iterable[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The ``timeline`` of a run document, on the axis of the track events' own timestamps.

    ``expected``/``received``: records (their track events' ``timestamp``); ``events``: the Segment events sent
    (to place the delivery's failures, by index); ``delivery``: ``DeliveryReport.as_json()``; ``injected``: the
    fake's injected faults (``FakePendo.injected``), placed at the time of the records the faulted request
    carried (its would-be ``records``, or what the fake stored from it: pass ``sourced``, the fake's records
    ``with_source=True``); ``marks``: more marks as they are (e.g. :class:`TimelineRecorder`'s retries)."""
    out_marks: list[dict[str, Any]] = [dict(m) for m in marks]
    for failure in (delivery or {}).get("failures") or ():
        indexes = failure.get("indexes") or ()
        times = [t for t in (_event_time(events, i) for i in indexes) if t is not None]
        if not times:
            continue
        status = failure.get("status")
        answer = f"HTTP {status}" if status is not None else "no answer"
        out_marks.append(
            {
                "time": min(times),
                "type": "failure",
                "count": len(indexes),
                "label": f"gave up after {failure.get('attempts', '?')} attempts: {answer}: "
                f"{failure.get('reason', '')}",
            }
        )
    by_request: dict[Any, list[int]] = {}
    for r in sourced:
        source = r.get("source")
        if isinstance(source, Mapping) and source.get("request") is not None:
            by_request.setdefault(source["request"], []).extend(_track_times([r]))
    for item in injected:
        times = _track_times(item.get("records") or ()) or by_request.get(item.get("request")) or []
        if not times:
            continue
        kind = item.get("kind") or "fault"
        what = f"status {item['status']}" if item.get("status") is not None and kind != "slow" else str(kind)
        if item.get("delay_ms"):
            what += f", {item['delay_ms']} ms late"
        if item.get("phase") == "after":
            what += ", after processing"
        out_marks.append(
            {
                "time": min(times),
                "type": "fault",
                "label": f"request #{item.get('request', '?')} ({item.get('route', '?')}): {what}",
            }
        )
    return {
        "axis": "event time",
        "expected": _track_times(expected),
        "received": _track_times(received),
        "marks": sorted(out_marks, key=lambda m: m["time"]),
    }


def _per_kind(records: Iterable[Record], state: bool) -> Counter[str]:
    """Records per kind; in the state view each visitor, account and parent account once (Pendo merges them)."""
    counts: Counter[str] = Counter()
    seen: set[tuple[str, Any]] = set()
    for r in records:
        kind = str(r.get("kind"))
        if state and kind != "track":
            key = (kind, r.get("id"))
            if key in seen:
                continue
            seen.add(key)
        counts[kind] += 1
    return counts


def records_by_kind(
    report: Mapping[str, Any], expected: Sequence[Record], received: Sequence[Record]
) -> dict[str, dict[str, int]] | None:
    """Expected, received and matched records per kind, in the report's view, or None when the counts cannot be
    made to agree with the report's own totals (then the report shows differences per kind without matched)."""
    exp, rec = _per_kind(expected, report.get("view") == "state"), _per_kind(received, report.get("view") == "state")
    by_kind = report.get("by_kind") or {}
    out: dict[str, dict[str, int]] = {}
    for kind in sorted(set(exp) | set(rec)):
        lost = sum((by_kind.get(cls) or {}).get(kind, 0) for cls in ("missing", "changed"))
        out[kind] = {"expected": exp[kind], "observed": rec[kind], "matched": max(0, exp[kind] - lost)}
    if sum(exp.values()) != report.get("expected") or sum(v["matched"] for v in out.values()) != report.get("matched"):
        return None
    return out


def run_document(
    source: Any,
    *,
    delivery: Any = None,
    title: str | None = None,
    nodeid: str | None = None,
    outcome: str | None = None,
    events: Sequence[Any] | None = None,
    pendo: Any = None,
    expected: Sequence[Record] | None = None,
    received: Sequence[Record] | None = None,
    marks: Iterable[Mapping[str, Any]] = (),
    timeline: bool = True,
) -> dict[str, Any]:
    """The run document of one check, ready for :func:`~pytest_segpendo.html.write_html`.

    ``source``: a ``CheckResult`` (``run_check``'s), a ``DiffReport``, or a JSON report already (a mapping).
    From a ``CheckResult`` the delivery, the expected records and the received ones come along; pass the
    ``FakePendo`` as ``pendo`` to place its injected faults on the timeline, ``events`` (the Segment events
    sent) to place the delivery's failures, ``marks`` for more (a :class:`TimelineRecorder`'s retries).
    ``timeline=False`` leaves the timeline out."""
    report = getattr(source, "report", source)
    if delivery is None:
        delivery = getattr(source, "delivery", None)
    expectation = getattr(source, "expectation", None)
    if expected is None and expectation is not None:
        expected = list(expectation.stream)
    observed = getattr(source, "observed", None)
    if received is None and observed is not None:
        received = list(observed.records)
    doc: dict[str, Any] = dict(report) if isinstance(report, Mapping) else report.as_json()
    if "notes" not in doc and getattr(report, "notes", None):
        doc["notes"] = list(report.notes)
    if delivery is not None:
        doc["delivery"] = dict(delivery) if isinstance(delivery, Mapping) else delivery.as_json()
    for key, value in (("title", title), ("nodeid", nodeid), ("outcome", outcome)):
        if value is not None:
            doc[key] = value
    if expected is not None and received is not None:
        counts = records_by_kind(doc, expected, received)
        if counts is not None:
            doc["records_by_kind"] = counts
    if timeline and expected is not None and received is not None:
        injected: list[Mapping[str, Any]] = []
        sourced: list[Record] = []
        if pendo is not None:
            injected = list(getattr(pendo, "injected", None) or ())
            records = getattr(pendo, "records", None)
            if callable(records):
                try:
                    sourced = records(with_source=True)
                except TypeError:  # a fake without sources (a remote one)
                    sourced = []
        line = build_timeline(
            expected,
            received,
            events=events,
            delivery=doc.get("delivery"),
            injected=injected,
            sourced=sourced,
            marks=marks,
        )
        if line["expected"] or line["received"]:
            doc["timeline"] = line
    return doc
