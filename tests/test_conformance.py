"""A check on one of production's bad days (pytest_segpendo.conformance): seeded Pendo faults and Segment
re-deliveries by default, losses tied to the faults that caused them, early stops that say why, and the traffic's
own clock for local fakes and fakes in another process. Real HTTP: the bundled relay and variants of it."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from werkzeug.wrappers import Response

from pytest_segpendo import defaults
from pytest_segpendo.conformance import (
    FAULT_ROUTES,
    FailFast,
    RemotePendo,
    adjusted,
    default_faults,
    parse_faults,
    resolve_faults,
    run_check,
)
from pytest_segpendo.delivery import StopSignal
from pytest_segpendo.fakes.pendo import FakePendo, FixedClock
from pytest_segpendo.profiles import expect
from pytest_segpendo.relay import Relay
from pytest_segpendo.traffic import generate

KEYS = {"track_secret": "t-secret", "integration_key": "i-key"}
DAY_MS = 86_400_000


class AcksThenLoses(Relay):
    """Answers Segment 200 even when Pendo answered 429 or 5xx: the event is lost, Segment never retries it."""

    def _forward(self, events: Any) -> Response:
        answer = super()._forward(events)
        if answer.status_code >= 500:
            return Response(json.dumps({"ok": True}), status=200, content_type="application/json")
        return answer


class Forgetful(Relay):
    """Forwards every delivery of an event: Segment's re-deliveries reach Pendo twice."""

    def _seen(self, event: Any) -> bool:
        return False


class StrictOnRefusal(Relay):
    """Answers Segment 503 whenever Pendo refused something: with the wrong keys Segment retries for ever."""

    def _seen(self, event: Any) -> bool:
        return False

    def _forward(self, events: Any) -> Response:
        answer = super()._forward(events)
        if json.loads(answer.get_data()).get("refused"):
            return Response(json.dumps({"error": "Pendo refused"}), status=503, content_type="application/json")
        return answer


class EightDaysBack(Relay):
    """Writes every track timestamp 8 days before the event's."""

    def calls(self, event: dict[str, Any]) -> list[tuple[str, str, Any]]:
        out = super().calls(event)
        for _path, _key, body in out:
            if isinstance(body, dict) and isinstance(body.get("timestamp"), int):
                body["timestamp"] -= 8 * DAY_MS
        return out


@contextmanager
def system(kind: type[Relay] = Relay, **options: Any) -> Iterator[tuple[FakePendo, Relay]]:
    fake_keys = options.pop("fake_keys", KEYS)
    relay_keys = options.pop("relay_keys", KEYS)
    with FakePendo(**fake_keys, **options) as pendo, kind(pendo.url, **relay_keys) as relay:
        yield pendo, relay
        relay.raise_errors()
        pendo.raise_errors()


EVENTS = generate(200, seed=0)


# -- the default faults ----------------------------------------------------------------------------------------------


def test_default_faults_are_seeded_and_strike_every_api_route_early() -> None:
    rules = default_faults(3)
    assert rules == default_faults(3) and rules != default_faults(4)
    sure = [r for r in rules if "nth" in r]
    assert [r["route"] for r in sure] == list(FAULT_ROUTES)
    assert all(1 <= r["nth"] <= defaults.FAULT_FIRST and r["status"] in (500, 503) for r in sure)
    random_rules = [r for r in rules if "probability" in r]
    assert {(r.get("status"), r.get("retry_after"), r.get("phase", "before")) for r in random_rules} == {
        (429, defaults.RETRY_AFTER, "before"),
        (500, None, "before"),
        (503, None, "before"),
        (None, None, "after"),
    }
    slow = [r for r in random_rules if r.get("phase") == "after"]
    assert {r["delay_ms"] for r in slow} == {defaults.SLOW_MS} and {r["probability"] for r in slow} == {
        defaults.SLOW_RATE
    }
    assert resolve_faults(True, 3, over_http=True) == rules
    assert resolve_faults(True, 3, over_http=False) == []  # a function has no Segment retries to lean on
    assert resolve_faults(False, 3, over_http=True) == []
    assert parse_faults("off") is False and parse_faults("on") is True
    with pytest.raises(ValueError, match=r"faults\[0\]\.status"):
        parse_faults('[{"route": "track", "status": 200}]')


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_correct_relay_passes_the_default_check_with_a_fault_on_each_route_and_a_redelivery(seed: int) -> None:
    events = generate(200, seed=seed)
    with system() as (pendo, relay):
        result = run_check(events, relay.url, pendo=pendo, seed=seed)
        injected = pendo.injected
        rules_after = pendo.faults.as_json()
    assert result.conforms, result.format()
    assert {"track", "metadata"} <= {i["route"] for i in injected}, injected
    assert result.report.injected and "faults injected by the test" in result.format()
    assert result.delivery is not None and result.delivery.redelivered >= 1 and result.delivery.retried >= 2
    assert result.faults == default_faults(seed)
    assert rules_after == [], "the check's rules are gone once it is over"


def test_a_relay_that_acknowledges_and_then_loses_fails_naming_the_fault() -> None:
    with system(AcksThenLoses) as (pendo, relay):
        result = run_check(EVENTS, relay.url, pendo=pendo, seed=0)
    assert not result.conforms and result.delivery is not None and result.delivery.ok
    missing = result.report.of("missing")
    lost = re.compile(r"acknowledged to Segment, lost after Pendo answered (429|50[03]) at request #\d+$")
    assert missing and all(lost.match(d.cause or "") for d in missing), [d.cause for d in missing]
    lines = result.format().splitlines()
    assert any(line.startswith("    acknowledged to Segment, then lost") for line in lines[:6]), lines[:6]
    assert any("cause: acknowledged to Segment, lost after Pendo answered" in line for line in lines[:15])
    causes = {c["what"] for c in result.report.as_json()["causes"]}
    assert {"faults injected by the test", "acknowledged to Segment, then lost"} <= causes


def test_a_relay_that_forwards_a_redelivered_event_again_fails_with_a_duplicate() -> None:
    with system(Forgetful) as (pendo, relay):
        result = run_check(EVENTS, relay.url, pendo=pendo, seed=0)
    assert result.delivery is not None and result.delivery.redelivered >= 1
    assert not result.conforms and result.report.of("duplicated")
    assert any(d.kind == "track" for d in result.report.of("duplicated"))


def test_no_faults_means_a_good_day_and_the_fakes_own_rules_still_apply() -> None:
    with system() as (pendo, relay):
        own = pendo.faults.add(route="track", status=503, nth=2, count=1)
        result = run_check(EVENTS, relay.url, pendo=pendo, seed=0, faults=False)
        assert pendo.faults.as_json() == [own.as_json()] and own.fired == 1
    assert result.conforms and result.faults == []
    assert result.delivery is not None and result.delivery.redelivered == 0 and result.delivery.retried == 1


def test_given_rules_replace_the_default_ones() -> None:
    rules = [{"route": "metadata", "status": 500, "nth": 1, "count": 2}]
    with system() as (pendo, relay):
        result = run_check(EVENTS, relay.url, pendo=pendo, seed=0, faults=rules)
        injected = pendo.injected
    assert result.conforms and [(i["route"], i["status"]) for i in injected] == [("metadata", 500)] * 2
    assert result.delivery is not None and result.delivery.redelivered >= 1  # Segment's side stays on


def test_a_late_answer_after_processing_makes_a_duplicate_that_does_not_fail() -> None:
    rules = [{"route": "track", "delay_ms": 800, "phase": "after", "nth": 3, "count": 1}]
    with FakePendo(**KEYS) as pendo, Relay(pendo.url, **KEYS, timeout=0.3) as relay:
        result = run_check(EVENTS, relay.url, pendo=pendo, seed=0, faults=rules)
    assert result.conforms, result.format()
    again = result.report.of("retry-duplicate")
    assert len(again) == 1 and again[0].kind == "track" and "late answer" in (again[0].cause or "")


def test_delivery_failures_are_causes_with_segments_verdict() -> None:
    with system(relay_keys={"track_secret": "t-secret", "integration_key": "i-key"}) as (pendo, relay):
        relay.secret = "the-relays-secret"  # Segment signs with another one: every webhook is refused 401
        result = run_check(EVENTS[:5], relay.url, pendo=pendo, seed=0, delivery_options={"secret": "wrong"})
    report = result.report
    assert not report.conforms and len(report.of("rejected")) == 5
    assert all("HTTP 401, not retried (Segment does not retry 4xx)" in (d.reason or "") for d in report.of("rejected"))
    delivery = [c for c in report.causes if c.what == "delivery"]
    assert len(delivery) == 1 and delivery[0].count == 5
    assert delivery[0].text.startswith("HTTP 401, not retried (Segment does not retry 4xx): ")


# -- failing fast ----------------------------------------------------------------------------------------------------


def test_swapped_keys_and_a_relay_that_answers_503_stop_the_check_within_seconds() -> None:
    with system(StrictOnRefusal, relay_keys={"track_secret": "i-key", "integration_key": "t-secret"}) as (
        pendo,
        relay,
    ):
        start = time.monotonic()
        result = run_check(EVENTS, relay.url, pendo=pendo, seed=0)
        seconds = time.monotonic() - start
    assert seconds < 30, "bounded: it would otherwise retry every event five times"
    assert result.stopped is not None and result.stopped.startswith("every Pendo request refused (the last 20): 403 ")
    first = result.format().splitlines()[0]
    assert first.startswith("segpendo: stopped early: every Pendo request refused") and "on /data/track" in first
    assert result.delivery is not None and result.delivery.stopped == result.stopped
    assert any(f.verdict == "not sent" for f in result.delivery.failures)
    assert result.report.notes[0].startswith("the check stopped early: ")


def test_a_system_that_fails_every_delivery_stops_the_check() -> None:
    from pytest_segpendo.fakes.core.server import ServerThread

    def broken(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("500 Internal Server Error", [("Content-Type", "text/plain"), ("Content-Length", "4")])
        return [b"boom"]

    with FakePendo(**KEYS) as pendo, ServerThread(broken) as server:
        result = run_check(EVENTS, server.url, pendo=pendo, seed=0)
    assert result.stopped is not None and result.stopped.startswith(
        f"every recent delivery failed: the last {defaults.FAIL_FAST_FAILED} requests to the system under test were "
        "not acknowledged, even after Segment's retries (last: HTTP 500: boom)"
    )
    assert result.delivery is not None and result.delivery.requests <= defaults.FAIL_FAST_FAILED * 5 + 5


def test_fail_fast_rules() -> None:
    now = [0.0]
    stop = StopSignal()
    ff = FailFast(stop, failed=3, silence=10, refused=4, wall=lambda: now[0])
    ff.on_answer(0, [1], 503, False, True, "busy")
    ff.on_answer(0, [1], 200, True, False, "")
    for i in range(2):
        ff.on_answer(0, [i], 503, False, False, "busy")
    assert not stop.is_set()  # two in a row
    ff.on_answer(0, [5], 200, True, False, "")
    ff.on_answer(0, [6], None, False, True, "timed out")
    ff.on_answer(0, [6], None, False, True, "timed out")
    now[0] = 9.0
    ff.tick()
    assert not stop.is_set()  # 9 s and 2 failures: not yet
    ff.on_answer(0, [6], None, False, True, "timed out")
    now[0] = 11.0
    ff.tick()
    assert stop.is_set() and stop.reason.startswith("no acknowledgement from the system under test for 11 s while 3")
    refusals = [
        {"route": "track", "path": "/data/track", "status": 401, "reason": "key", "request": i} for i in range(4)
    ]
    other = StopSignal()
    assert not FailFast(other).pendo_refusals([*refusals[:3], {**refusals[3], "reason": "another"}])
    assert FailFast(other).pendo_refusals(refusals) and other.reason.endswith("401 key on /data/track")


def test_fail_fast_reads_the_refusals_of_a_fake_in_another_process() -> None:
    with FakePendo(**KEYS) as served:
        remote = RemotePendo(served.url)
        with StrictOnRefusal(served.url, track_secret="i-key", integration_key="t-secret") as relay:
            result = run_check(EVENTS, relay.url, pendo=remote, seed=0)
    assert result.stopped is not None and "every Pendo request refused" in result.stopped


# -- the traffic's clock ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("start", ["2019-03-01T00:00:00Z", "2035-07-01T00:00:00Z"])
def test_traffic_of_any_date_is_judged_by_its_own_time_locally_and_in_another_process(start: str) -> None:
    events = generate(300, seed=2, start=start)
    with system() as (pendo, relay):
        local = run_check(events, relay.url, pendo=pendo, seed=2)
        assert pendo.dropped == []
        assert pendo.clock.now_ms() != 0 and type(pendo.clock).__name__ == "WallClock"  # given back
    assert local.conforms, local.format()
    with FakePendo(**KEYS) as served, Relay(served.url, **KEYS) as relay:
        served.clock = FixedClock(1_700_000_000_000)
        remote = run_check(events, relay.url, pendo=RemotePendo(served.url), seed=2)
        assert served.dropped == [] and served.clock.now_ms() == 1_700_000_000_000  # its fixed clock, back
    assert remote.conforms, remote.format()


@pytest.mark.parametrize("kind", ["seconds", "eight-days-back"])
def test_timestamps_pendo_drops_are_named_as_dropped_by_pendo(kind: str) -> None:
    relay_kind = EightDaysBack if kind == "eight-days-back" else Relay
    bugs = ("seconds-timestamps",) if kind == "seconds" else ()
    with FakePendo(**KEYS) as pendo, relay_kind(pendo.url, **KEYS, bugs=bugs) as relay:
        result = run_check(EVENTS, relay.url, pendo=pendo, seed=0, faults=False)
    dropped = result.report.of("dropped")
    assert dropped and {d.rule for d in dropped} == {"timestamp-too-old"} and {d.kind for d in dropped} == {"track"}
    assert "dropped by Pendo" in "\n".join(result.format().splitlines()[:4])
    if kind == "seconds":
        assert "looks like seconds" in (dropped[0].reason or "")
    else:
        assert " 8.0 days old" in (dropped[0].reason or "") or "days old" in (dropped[0].reason or "")


def test_the_adjust_hook_keeps_each_records_writer_when_the_stream_keeps_its_length() -> None:
    expectation = expect(EVENTS)
    same = adjusted(expectation, lambda records: records.__setitem__(0, dict(records[0])))
    assert same is not expectation and same.writers == expectation.writers and same.origins == expectation.origins
    longer = adjusted(expectation, lambda records: records.append({"kind": "visitor", "id": "x", "metadata": {}}))
    assert longer.writers == [] and longer.origins == []


def test_a_fake_in_another_process_keeps_its_rules_and_shows_late_answers_apart() -> None:
    own = {"route": "track", "delay_ms": 800, "phase": "after", "nth": 3, "count": 1}
    with FakePendo(**KEYS, faults=[own]) as served, Relay(served.url, **KEYS, timeout=0.3) as relay:
        remote = RemotePendo(served.url)
        remote.reset(keep_faults=True)  # what segpendo check --pendo does first
        result = run_check(EVENTS, relay.url, pendo=remote, seed=0)
        after = remote.faults()
    assert result.conforms, result.format()
    assert [(r["route"], r["nth"], r["phase"]) for r in after] == [("track", 3, "after")], "only its own rule again"
    assert any(i["kind"] == "slow" for i in result.report.injected)
    assert [d.kind for d in result.report.of("retry-duplicate")] == ["track"]
