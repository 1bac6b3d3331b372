"""The delivery hooks other parts build on: the observer, stopping, the traffic clock, re-deliveries."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from werkzeug.wrappers import Request, Response

from pytest_segpendo.delivery import (
    REDELIVERY_SPREAD,
    DeliveryError,
    DeliveryObserver,
    Observers,
    StopSignal,
    TrafficClock,
    deliver,
)
from pytest_segpendo.events import timestamp_ms
from pytest_segpendo.fakes import FakeSegment
from pytest_segpendo.fakes.core.server import ServerThread
from pytest_segpendo.traffic import generate


def track(i: int, user: str = "u1", ts: str | None = None) -> dict[str, Any]:
    event = {"type": "track", "userId": user, "event": f"E{i}", "messageId": f"m{i}"}
    if ts is not None:
        event["timestamp"] = ts
    return event


def iso(day: int, hour: int = 0) -> str:
    return f"2026-01-{day:02d}T{hour:02d}:00:00.000Z"


class Scripted:
    """Answers per messageId from a script of statuses (then 200); calls ``on_request`` with each event."""

    def __init__(self) -> None:
        self.script: dict[str, list[int]] = {}
        self.bodies: list[bytes] = []
        self.lock = threading.Lock()
        self.on_request: Any = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        body = Request(environ).get_data()
        data = json.loads(body)
        event = data[0] if isinstance(data, list) else data  # a Webhooks (Actions) batch: its first item
        if self.on_request is not None:
            self.on_request(event)
        with self.lock:
            self.bodies.append(body)
            steps = self.script.get(event.get("messageId"), [])
            status = steps.pop(0) if steps else 200
        return Response(b"{}" if status < 300 else b'{"error": "scripted"}', status=status)(environ, start_response)


@pytest.fixture
def receiver() -> Iterator[tuple[Scripted, str]]:
    app = Scripted()
    with ServerThread(app) as server:
        yield app, server.url + "/hook"


class Recorder(DeliveryObserver):
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.lock = threading.Lock()

    def on_attempt(self, lane: int, indexes: Sequence[int], attempt: int) -> None:
        with self.lock:
            self.calls.append(("attempt", lane, list(indexes), attempt))

    def on_answer(
        self,
        lane: int,
        indexes: Sequence[int],
        status: int | None,
        acknowledged: bool,
        will_retry: bool,
        reason: str,
    ) -> None:
        with self.lock:
            self.calls.append(("answer", lane, list(indexes), status, acknowledged, will_retry, reason))

    def on_lane_done(self, lane: int) -> None:
        with self.lock:
            self.calls.append(("done", lane))


# -- observer ---------------------------------------------------------------------------------------------------


def test_the_observer_sees_every_attempt_answer_and_lane(receiver: tuple[Scripted, str]) -> None:
    app, url = receiver
    app.script = {"m0": [503], "m1": [404]}
    seen = Recorder()
    report = deliver([track(0), track(1), track(2)], url, "webhook", backoff=0, observer=seen)
    assert report.acknowledged == 2 and report.failed == 1
    assert seen.calls == [
        ("attempt", 0, [0], 1),
        ("answer", 0, [0], 503, False, True, '{"error": "scripted"}'),
        ("attempt", 0, [0], 2),
        ("answer", 0, [0], 200, True, False, ""),
        ("attempt", 0, [1], 1),
        ("answer", 0, [1], 404, False, False, '{"error": "scripted"}'),
        ("attempt", 0, [2], 1),
        ("answer", 0, [2], 200, True, False, ""),
        ("done", 0),
    ]


def test_lanes_report_their_own_events_in_order(receiver: tuple[Scripted, str]) -> None:
    _, url = receiver
    events = generate(120, seed=3, mix={"saas": 1, "anonymous": 1})
    seen = Recorder()
    report = deliver(events, url, "webhook", concurrency=3, observer=seen)
    assert report.ok
    lanes = {call[1] for call in seen.calls}
    assert len(lanes) > 1 and all(("done", lane) in seen.calls for lane in lanes)
    for lane in lanes:
        sent = [c[2][0] for c in seen.calls if c[0] == "attempt" and c[1] == lane]
        assert sent == sorted(sent), "a lane sends its events in their order"
        assert seen.calls[max(i for i, c in enumerate(seen.calls) if c[1] == lane)] == ("done", lane)
    assert sorted(c[2][0] for c in seen.calls if c[0] == "answer") == list(range(120))


def test_an_observer_needs_only_the_methods_it_wants(receiver: tuple[Scripted, str]) -> None:
    _, url = receiver
    done: list[int] = []

    class OnlyDone:
        def on_lane_done(self, lane: int) -> None:
            done.append(lane)

    assert deliver([track(0)], url, "webhook", observer=OnlyDone()).ok  # type: ignore[arg-type]
    assert done == [0]


def test_observers_combine_a_clock_and_a_progress_observer(receiver: tuple[Scripted, str]) -> None:
    _, url = receiver
    events = [track(i, user=f"u{i % 3}", ts=iso(1 + i)) for i in range(9)]
    plans: list[Any] = []

    class Clock(TrafficClock):
        def on_plan(self, lanes: Any) -> None:
            plans.append(dict(lanes))
            super().on_plan(lanes)

    clock, seen = Clock(events), Recorder()
    assert deliver(events, url, "webhook", concurrency=2, observer=Observers(clock, seen, None)).ok
    assert len(plans) == 1 and sum(len(units) for units in plans[0].values()) == 9
    assert sum(1 for c in seen.calls if c[0] == "attempt") == 9 and seen.calls[-1][0] == "done"
    assert clock.now_ms() >= timestamp_ms(iso(1))


def test_an_observer_error_is_raised_after_every_event_was_sent(receiver: tuple[Scripted, str]) -> None:
    app, url = receiver

    class Broken(DeliveryObserver):
        def on_answer(self, *args: Any) -> None:
            raise RuntimeError("observer bug")

    with pytest.raises(RuntimeError, match="observer bug"):
        deliver([track(i) for i in range(4)], url, "webhook", observer=Broken())
    assert len(app.bodies) == 4, "the lanes kept sending"


# -- stop -------------------------------------------------------------------------------------------------------


def test_stop_ends_the_delivery_and_reports_every_unacknowledged_event(receiver: tuple[Scripted, str]) -> None:
    app, url = receiver
    stop = StopSignal()

    class Budget(DeliveryObserver):
        acks = 0

        def on_answer(self, lane: int, indexes: Any, status: Any, acknowledged: bool, *rest: Any) -> None:
            self.acks += acknowledged
            if self.acks == 3:
                stop.set("budget of 3 events reached")

    report = deliver([track(i) for i in range(10)], url, "webhook", observer=Budget(), stop=stop)
    assert len(app.bodies) == 3 and report.acknowledged == 3 and report.failed == 7
    assert report.stopped == "budget of 3 events reached" and not report.ok
    assert [f.indexes for f in report.failures] == [[i] for i in range(3, 10)]
    assert {(f.reason, f.verdict, f.attempts) for f in report.failures} == {
        ("delivery stopped: budget of 3 events reached", "not sent", 0)
    }
    assert "; stopped: budget of 3 events reached" in report.summary()
    assert "no answer, not sent: delivery stopped: budget of 3 events reached" in report.format()


def test_stop_interrupts_retries_in_every_lane(receiver: tuple[Scripted, str]) -> None:
    app, url = receiver
    events = [track(i, user=f"u{i}") for i in range(6)]
    app.script = {f"m{i}": [503] * 100 for i in range(6)}
    stop = threading.Event()  # a plain Event works too
    seen = Recorder()
    result: list[Any] = []
    worker = threading.Thread(
        target=lambda: result.append(
            deliver(events, url, "webhook", concurrency=3, backoff=30, max_backoff=30, stop=stop, observer=seen)
        )
    )
    worker.start()
    for _ in range(500):  # bounded: until every lane has had a first answer
        with seen.lock:
            if sum(1 for c in seen.calls if c[0] == "answer") >= 1:
                break
        time.sleep(0.01)
    stop.set()
    worker.join(timeout=20)
    assert not worker.is_alive(), "a back-off wait ends when the delivery is stopped"
    [report] = result
    assert report.acknowledged == 0 and report.failed == 6 and report.stopped == "stop requested"
    assert all(f.reason == "delivery stopped: stop requested" for f in report.failures)
    assert {f.verdict for f in report.failures} <= {"not sent", "stopped after 1 attempts"}
    assert any(f.status == 503 and f.verdict == "stopped after 1 attempts" for f in report.failures)
    final = [c for c in seen.calls if c[0] == "answer" and not c[5]]
    assert sorted(i for c in final for i in c[2]) == list(range(6)), "every event ends with a last on_answer"


def test_a_stop_set_before_delivery_sends_nothing(receiver: tuple[Scripted, str]) -> None:
    app, url = receiver
    stop = StopSignal()
    stop.set("CI time budget")
    report = deliver([track(0), track(1)], url, "webhook", stop=stop)
    assert app.bodies == [] and report.failed == 2 and report.stopped == "CI time budget"


def test_stop_and_observer_work_with_a_callable_too() -> None:
    stop = StopSignal()
    got: list[Any] = []

    def sut(event: dict[str, Any]) -> None:
        got.append(event["messageId"])
        if len(got) == 2:
            stop.set("enough")

    seen = Recorder()
    report = deliver([track(i) for i in range(5)], sut, observer=seen, stop=stop)
    assert got == ["m0", "m1"] and report.acknowledged == 2 and report.failed == 3
    assert seen.calls[0] == ("attempt", 0, [0], 1) and seen.calls[-1] == ("done", 0)


# -- the traffic clock ------------------------------------------------------------------------------------------


class Wall:
    """A wall clock the test moves (``tick``: seconds it moves by itself at each reading)."""

    def __init__(self, tick: float = 0.0) -> None:
        self.now = 100.0
        self.tick = tick

    def __call__(self) -> float:
        self.now += self.tick
        return self.now


def test_clock_is_the_earliest_event_before_delivery_and_ignores_unparseable_times() -> None:
    events = [track(0, ts=iso(9)), track(1, ts="last tuesday"), track(2, ts=iso(3)), track(3), "not an event"]
    assert TrafficClock(events).now_ms() == timestamp_ms(iso(3))
    before = int(time.time() * 1000)
    assert TrafficClock([track(0)]).now_ms() >= before, "no timestamp at all: the wall clock"


def test_clock_watermark_over_lanes_retries_and_recent_acknowledgements() -> None:
    events = [track(i, ts=iso(day)) for i, day in enumerate([1, 2, 3, 8, 9, 10])]
    wall = Wall()
    clock = TrafficClock(events, grace=1.0, wall=wall)
    ms = lambda day: timestamp_ms(iso(day))
    assert clock.now_ms() == ms(1)
    clock.on_attempt(0, [0], 1)  # lane 0 sends day 1; lane 1 sends day 8
    clock.on_attempt(1, [3], 1)
    assert clock.now_ms() == ms(1)
    clock.on_answer(0, [0], 200, True, False, "")
    clock.on_attempt(0, [1], 1)  # lane 0 moves on to day 2, day 1 acknowledged just now
    assert clock.now_ms() == ms(1), "a just-acknowledged event holds the clock for the grace"
    wall.now += 1.5
    assert clock.now_ms() == ms(2)
    clock.on_answer(1, [3], 503, False, True, "")  # lane 1 retries day 8; lane 0 races ahead
    clock.on_attempt(1, [3], 2)
    for i in (1, 2):
        clock.on_answer(0, [i], 200, True, False, "")
        clock.on_attempt(0, [i + 1], 1) if i == 1 else clock.on_lane_done(0)
    wall.now += 5
    assert clock.now_ms() == ms(8), "held by the retried event"
    clock.on_answer(1, [3], 200, True, False, "")
    clock.on_attempt(1, [4, 5], 1)  # a batch counts as its earliest event
    assert clock.now_ms() == ms(8)
    wall.now += 1.01
    assert clock.now_ms() == ms(9)
    clock.on_attempt(1, [0], 1)  # an old event sent late never moves the clock back
    assert clock.now_ms() == ms(9)
    clock.on_answer(1, [0], 200, True, False, "")
    clock.on_lane_done(1)
    assert clock.now_ms() == ms(9)
    wall.now += 2
    assert clock.now_ms() == ms(10), "nothing in flight: the latest timestamp delivered"


def test_clock_with_the_plan_holds_for_lanes_not_started_and_events_still_to_come() -> None:
    events = [track(i, ts=iso(day)) for i, day in enumerate([5, 6, 2, 7, 1, 9])]
    ms = lambda day: timestamp_ms(iso(day))
    wall = Wall()
    clock = TrafficClock(events, grace=0.5, wall=wall)
    clock.on_plan({0: [[0], [1], [2]], 1: [[3], [4, 5]]})
    assert clock.now_ms() == ms(1), "lane 1 has not started: its day-1 event is still to come"
    clock.on_attempt(1, [3], 1)
    clock.on_answer(1, [3], 200, True, False, "")
    clock.on_attempt(1, [4, 5], 1)
    clock.on_answer(1, [4, 5], 200, True, False, "")
    clock.on_lane_done(1)
    wall.now += 1
    assert clock.now_ms() == ms(2), "lane 0 sends day 5 now but day 2 later in the lane"
    clock.on_attempt(0, [0], 1)
    clock.on_answer(0, [0], 200, True, False, "")
    clock.on_attempt(0, [1], 1)
    assert clock.now_ms() == ms(2)
    clock.on_answer(0, [1], 200, True, False, "")
    clock.on_attempt(0, [2], 1)
    clock.on_answer(0, [2], 200, True, False, "")
    clock.on_attempt(0, [0], 1)  # a re-delivery of an earlier request: the clock does not go back
    assert clock.now_ms() == ms(2)
    clock.on_answer(0, [0], 200, True, False, "")
    clock.on_lane_done(0)
    wall.now += 1
    assert clock.now_ms() == ms(9)


def test_the_plan_lists_each_lanes_requests_in_order(receiver: tuple[Scripted, str]) -> None:
    _, url = receiver
    plans: list[Any] = []

    class Plan(DeliveryObserver):
        def on_plan(self, lanes: Any) -> None:
            plans.append(dict(lanes))

    events = generate(90, seed=2, mix={"saas": 1, "anonymous": 1})
    assert deliver(events, url, "webhook-actions", batch_size=4, concurrency=3, observer=Plan()).ok
    [plan] = plans
    assert len(plan) == 3 and all(len(unit) <= 4 for units in plan.values() for unit in units)
    assert sorted(i for units in plan.values() for unit in units for i in unit) == list(range(90))
    assert all(
        [i for unit in units for i in unit] == sorted(i for unit in units for i in unit) for units in plan.values()
    )


def test_clock_during_a_real_delivery_never_runs_ahead_of_what_is_in_flight(receiver: tuple[Scripted, str]) -> None:
    app, url = receiver
    events = generate(300, seed=6, mix={"saas": 2, "anonymous": 1})
    assert any(
        (timestamp_ms(a["timestamp"]) or 0) > (timestamp_ms(b["timestamp"]) or 0) for a, b in zip(events, events[1:])
    ), "sessions overlap: the traffic is not in time order"
    wall = Wall(tick=0.01)  # read under the clock's lock: a logical time that runs with the delivery
    clock = TrafficClock(events, wall=wall)
    samples: list[tuple[int, int]] = []
    lock = threading.Lock()

    def sample(event: dict[str, Any]) -> None:
        t = timestamp_ms(event.get("timestamp"))
        if t is not None:
            with lock:
                samples.append((clock.now_ms(), t))

    app.on_request = sample
    app.script = {e["messageId"]: [500] for e in events[::7]}
    report = deliver(events, url, "webhook", concurrency=4, backoff=0, observer=clock)
    assert report.ok and report.retried == len(events[::7])
    assert len(samples) == len(events) + report.retried
    assert all(now <= t for now, t in samples), "an event in flight is never older than the clock"
    nows = [now for now, _ in samples]
    assert nows[-1] > nows[0], "the clock moved with the traffic"
    wall.now += 2
    times = [t for e in events if (t := timestamp_ms(e.get("timestamp"))) is not None]
    assert clock.now_ms() == max(times)


def test_clock_samples_never_decrease_under_concurrency(receiver: tuple[Scripted, str]) -> None:
    app, url = receiver
    events = generate(200, seed=7)
    clock = TrafficClock(events, grace=0.0)
    samples: list[int] = []
    app.on_request = lambda event: samples.append(clock.now_ms())
    assert deliver(events, url, "webhook", concurrency=3, observer=clock).ok
    assert samples == sorted(samples)


# -- re-deliveries ----------------------------------------------------------------------------------------------


def test_redelivery_sends_identical_bytes_later_and_is_counted_apart(receiver: tuple[Scripted, str]) -> None:
    app, url = receiver
    events = generate(80, seed=8)
    seen = Recorder()
    report = deliver(events, url, "webhook", secret="s", redeliver=0.25, redeliver_seed=4, observer=seen)
    assert report.ok and report.acknowledged == 80 and report.retried == 0
    assert 0 < report.redelivered < 80 and len(report.redelivered_ids) == report.redelivered
    assert report.requests == 80 + report.redelivered == len(app.bodies)
    ids = [json.loads(b)["messageId"] for b in app.bodies]
    for mid in report.redelivered_ids:
        first, second = [i for i, x in enumerate(ids) if x == mid]
        assert app.bodies[first] == app.bodies[second], "same bytes, same messageId"
        originals_between = sum(1 for i in range(first + 1, second) if ids.index(ids[i]) == i)
        assert originals_between <= REDELIVERY_SPREAD, "later, soon after"
    assert f"{report.redelivered} re-delivered" in report.summary()
    assert report.as_json()["redelivered_ids"] == report.redelivered_ids
    again = deliver(events, url, "webhook", secret="s", redeliver=0.25, redeliver_seed=4)
    other = deliver(events, url, "webhook", secret="s", redeliver=0.25, redeliver_seed=5)
    assert again.redelivered_ids == report.redelivered_ids, "reproducible"
    assert other.redelivered_ids != report.redelivered_ids


def test_redelivery_stays_in_its_lane_and_the_fake_segment_counts_duplicates() -> None:
    events = generate(400, seed=9, mix={"saas": 1, "anonymous": 1})
    seen = Recorder()
    with FakeSegment(write_key="wk") as segment:
        report = deliver(
            events,
            segment.url,
            "tracking-api",
            write_key="wk",
            batch_size=10,
            concurrency=3,
            redeliver=0.3,
            redeliver_seed=1,
            observer=seen,
        )
        assert report.ok and report.redelivered > 0
        assert segment.duplicates == report.redelivered, "each re-delivered event arrives twice, kept once"
        assert len(segment.events()) == 400
    lanes_of: dict[tuple[int, ...], set[int]] = {}
    for call in seen.calls:
        if call[0] == "attempt":
            lanes_of.setdefault(tuple(call[2]), set()).add(call[1])
    assert all(len(lanes) == 1 for lanes in lanes_of.values()), "a re-delivery is sent in its own lane"
    assert sum(1 for c in seen.calls if c[0] == "attempt") == report.requests


def test_no_redelivery_by_default_and_a_bad_rate_is_refused(receiver: tuple[Scripted, str]) -> None:
    _, url = receiver
    assert deliver(generate(30, seed=1), url, "webhook").redelivered == 0
    with pytest.raises(DeliveryError, match="redeliver is a probability"):
        deliver([track(0)], url, "webhook", redeliver=1.5)
