"""Rules the fake Pendo server applies as Pendo does, over real HTTP: silent drops (old Track Events, Metadata
writes to unknown ids), the simulation clock they are judged by, writes to the agent group, the bulk answer,
and track calls on the classic cloud-mode webhook."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import requests

from pytest_segpendo import defaults
from pytest_segpendo.fakes.pendo import FakePendo, FixedClock, WallClock

TRACK_SOURCE = "https://support.pendo.io/hc/en-us/articles/360032294291-Configure-Track-Events"
KEY = {"x-pendo-integration-key": "k"}
DAY = 86_400_000


def ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def body(stamp: int, event: str = "Report Created") -> dict[str, Any]:
    return {"type": "track", "event": event, "visitorId": "u1", "timestamp": stamp, "properties": {}, "context": {}}


@pytest.fixture
def pendo() -> Iterator[FakePendo]:
    with FakePendo() as fake:
        yield fake
        fake.raise_errors()


def post(pendo: FakePendo, payload: Any) -> requests.Response:
    return requests.post(pendo.url + "/data/track", json=payload, headers=KEY, timeout=10)


# -- Track Events older than seven days ------------------------------------------------------------------------


def test_a_track_event_8_days_old_is_answered_200_and_dropped(pendo: FakePendo) -> None:
    """support.pendo.io 360032294291 (Configure Track Events): "Pendo can't process data associated with a Track
    Event if: The timestamp exceeds seven days." The answer is the usual 200: nothing tells the sender."""
    now = int(time.time() * 1000)
    old = now - 8 * DAY
    r = post(pendo, body(old))
    assert r.status_code == 200 and r.content == b""
    assert pendo.records() == [] and pendo.warnings == [] and pendo.rejected == []
    [drop] = pendo.dropped
    assert drop["request"] == 1 and drop["route"] == "track"
    assert drop["rule"] == "timestamp-too-old" and drop["source"] == TRACK_SOURCE
    assert drop["record"] == {
        "kind": "track",
        "event": "Report Created",
        "visitorId": "u1",
        "accountId": None,
        "timestamp": old,
        "properties": {},
        "context": {},
    }
    assert "is 8.0 days old" in drop["reason"] and "over Pendo's 7-day limit" in drop["reason"]
    assert "seconds" not in drop["reason"]
    entry = pendo.requests()[0]
    assert (entry["status"], entry["outcome"], entry["records"], entry["dropped"]) == (200, "accepted", 0, 1)
    snapshot = requests.get(pendo.url + "/__segpendo/records", timeout=10).json()
    assert snapshot["dropped"] == [drop] and snapshot["records"] == []


def test_a_timestamp_in_seconds_is_dropped_with_the_hint(pendo: FakePendo) -> None:
    """Pendo's timestamp is "int64 in milliseconds after the epoch" (Configure Track Events, server side): a
    timestamp in seconds (1e9 range) reads as January 1970, far older than seven days, so Pendo drops it."""
    seconds = int(time.time())
    assert post(pendo, body(seconds)).status_code == 200
    assert pendo.records() == []
    [drop] = pendo.dropped
    assert drop["rule"] == "timestamp-too-old" and drop["record"]["timestamp"] == seconds
    assert "(1970-01-" in drop["reason"]
    assert f"(it looks like seconds, not milliseconds: {seconds} x 1000 is " in drop["reason"]


def test_within_seven_days_is_kept(pendo: FakePendo) -> None:
    """The limit is seven days: an event 6 days and 23 hours old is processed."""
    now = int(time.time() * 1000)
    stamps = [now, now - 6 * DAY, now - 7 * DAY + 3_600_000, now + 60_000]  # future: no rule is documented
    for stamp in stamps:
        assert post(pendo, body(stamp)).status_code == 200
    assert [r["timestamp"] for r in pendo.records()] == stamps and pendo.dropped == []


def test_max_age_days_none_turns_the_rule_off_and_its_default_is_the_shared_one() -> None:
    """For replays of old captures: the rule can be turned off; its default lives in pytest_segpendo.defaults."""
    assert FakePendo().config.max_age_days == defaults.AGE_LIMIT_DAYS
    with FakePendo(max_age_days=None) as replay:
        assert post(replay, body(1_000_000_000_000)).status_code == 200
        assert len(replay.records()) == 1 and replay.dropped == []
    with FakePendo(max_age_days=1) as strict:
        post(strict, body(int(time.time() * 1000) - 2 * DAY))
        assert strict.records() == [] and "over Pendo's 1-day limit" in strict.dropped[0]["reason"]
    with pytest.raises(ValueError, match="max_age_days"):
        FakePendo(max_age_days=-1)


# -- the simulation clock -------------------------------------------------------------------------------------

JAN_5 = ms("2026-01-05T09:00:00Z")


def test_a_fixed_clock_judges_traffic_as_of_its_day() -> None:
    """Generated traffic is dated January 2026: judged against a clock of the next day it is within Pendo's seven
    days and kept; against a clock of 2026-01-20 it is 15 days old and dropped."""
    clock = FixedClock(ms("2026-01-06T00:00:00Z"))
    with FakePendo(clock=clock) as pendo:
        assert pendo.clock is clock
        assert post(pendo, body(JAN_5, "Kept")).status_code == 200
        clock.set(ms("2026-01-20T00:00:00Z"))
        assert post(pendo, body(JAN_5, "Dropped")).status_code == 200
        assert [r["event"] for r in pendo.records()] == ["Kept"]
        assert [d["record"]["event"] for d in pendo.dropped] == ["Dropped"]
        assert "is 14.6 days old at 2026-01-20T00:00:00.000Z" in pendo.dropped[0]["reason"]
        pendo.clock = FixedClock(ms("2026-01-07T00:00:00Z"))  # assignable while serving
        post(pendo, body(JAN_5, "Kept again"))
        pendo.clock = WallClock()
        post(pendo, body(JAN_5, "Dropped again"))
        assert [r["event"] for r in pendo.records()] == ["Kept", "Kept again"]
        assert len(pendo.dropped) == 2


def test_any_object_with_now_ms_is_a_clock() -> None:
    """A clock that follows the traffic being delivered (delivery.TrafficClock) needs only ``now_ms()``."""

    class Follow:
        def __init__(self) -> None:
            self.t = JAN_5

        def now_ms(self) -> int:
            return self.t

    follow = Follow()
    with FakePendo(clock=follow) as pendo:
        post(pendo, body(JAN_5))
        follow.t += 8 * DAY
        post(pendo, body(JAN_5))
        assert len(pendo.records()) == 1 and len(pendo.dropped) == 1
        assert requests.get(pendo.url + "/__segpendo/clock", timeout=10).json() == {"now": follow.t, "kind": "custom"}
    with pytest.raises(TypeError, match="now_ms"):
        FakePendo(clock=object())  # type: ignore[arg-type]


def test_the_clock_over_http_round_trip(pendo: FakePendo) -> None:
    """``GET/POST /__segpendo/clock``: what a check in another process uses (RemotePendo.set_clock)."""
    url = pendo.url + "/__segpendo/clock"
    before = int(time.time() * 1000)
    wall = requests.get(url, timeout=10).json()
    assert wall["kind"] == "wall" and before <= wall["now"] <= int(time.time() * 1000)
    fixed = ms("2026-01-06T00:00:00Z")
    assert requests.post(url, json={"now": fixed}, timeout=10).json() == {"now": fixed, "kind": "fixed"}
    assert requests.get(url, timeout=10).json() == {"now": fixed, "kind": "fixed"}
    assert isinstance(pendo.clock, FixedClock) and pendo.clock.now_ms() == fixed
    post(pendo, body(JAN_5))
    assert len(pendo.records()) == 1
    requests.post(pendo.url + "/__segpendo/reset", timeout=10)
    assert requests.get(url, timeout=10).json()["kind"] == "fixed", "a reset keeps the clock"
    back = requests.post(url, json={"now": None}, timeout=10).json()
    assert back["kind"] == "wall" and back["now"] >= before
    post(pendo, body(JAN_5))
    assert pendo.records() == [] and len(pendo.dropped) == 1


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"now", 'body: must be a JSON object {"now": <milliseconds since the epoch> | null}'),
        (b"[1]", 'body: must be a JSON object {"now": <milliseconds since the epoch> | null}'),
        (b"{}", "now: required (milliseconds since the epoch, or null for the wall clock)"),
        (b'{"now": 1, "tz": "UTC"}', "tz: unknown field"),
        (b'{"now": "2026-01-06"}', "now: must be a whole number of milliseconds since the epoch (got '2026-01-06')"),
        (b'{"now": 1.5}', "now: must be a whole number of milliseconds since the epoch (got 1.5)"),
        (b'{"now": true}', "now: must be a whole number of milliseconds since the epoch (got True)"),
        (b'{"now": -1}', "now: must be between 0 and 253402300799999 (year 9999) milliseconds (got -1)"),
    ],
)
def test_bad_clock_settings_are_400_with_a_reason(pendo: FakePendo, payload: bytes, reason: str) -> None:
    r = requests.post(pendo.url + "/__segpendo/clock", data=payload, timeout=10)
    assert r.status_code == 400 and r.json()["error"].startswith(reason)
    assert requests.get(pendo.url + "/__segpendo/clock", timeout=10).json()["kind"] == "wall", "nothing changed"


# -- Metadata API: the agent group and the bulk answer ----------------------------------------------------------

META = {"x-pendo-integration-key": "k", "content-type": "application/json"}


def test_agent_group_writes_are_refused_by_default_with_the_documented_rule(pendo: FakePendo) -> None:
    """support.pendo.io 360031832072 (Visitor and Account Metadata, older revision), Agent Metadata: "These
    fields cannot be modified manually or through the API." 400 is the one refusal Pendo documents for the bulk
    endpoint ("The format is unacceptable..."); 403 stays the fake's answer for a wrong key."""
    bulk = requests.post(
        pendo.url + "/api/v1/metadata/visitor/agent/value?create=true",
        json=[{"visitorId": "u1", "values": {"plan": "pro"}}],
        headers=META,
        timeout=10,
    )
    single = requests.put(pendo.url + "/api/v1/metadata/account/agent/value/a1/plan", data='"pro"', headers=META)
    for r in (bulk, single):
        assert r.status_code == 400
        error = r.json()["error"]
        assert error.startswith('metadata group agent: Pendo documents that agent metadata "cannot be modified')
        assert "support.pendo.io/hc/en-us/articles/360031832072" in error and 'agent_writes="accept"' in error
    assert pendo.records() == [] and [x["status"] for x in pendo.rejected] == [400, 400]
    with pytest.raises(ValueError, match="agent_writes: use refuse or accept"):
        FakePendo(agent_writes="maybe")


def test_agent_group_writes_accepted_when_configured() -> None:
    with FakePendo(agent_writes="accept") as pendo:
        r = requests.post(
            pendo.url + "/api/v1/metadata/visitor/agent/value?create=true",
            json=[{"visitorId": "u1", "values": {"plan": "pro"}}],
            headers=META,
            timeout=10,
        )
        assert r.status_code == 200 and r.json()["updated"] == 1
        assert requests.put(pendo.url + "/api/v1/metadata/visitor/agent/value/u1/seats", data="3", headers=META).ok
        visitor = requests.get(pendo.url + "/api/v1/visitor/u1", headers=META, timeout=10).json()
        assert visitor["metadata"] == {"agent": {"plan": "pro", "seats": 3}}


def test_the_bulk_answer_counts_and_lists(pendo: FakePendo) -> None:
    """Fields clients read: RedHat inventory reads total/updated/failed/missing, OpenNTI failed/missing/errors;
    Pendo's legacy reference (paraphrased): total = updated + failed, failed = len(missing) + len(errors)."""
    url = pendo.url + "/api/v1/metadata/account/custom/value"
    requests.post(url + "?create=true", json=[{"accountId": "a1", "values": {}}], headers=META, timeout=10)
    items = [{"accountId": a, "values": {"n": i}} for i, a in enumerate(["a1", "nope-1", "a1", "nope-2"])]
    answer = requests.post(url, json=items, headers=META, timeout=10).json()
    assert answer == {"total": 4, "updated": 2, "failed": 2, "missing": ["nope-1", "nope-2"], "errors": []}
    assert answer["total"] == answer["updated"] + answer["failed"]
    assert answer["failed"] == len(answer["missing"]) + len(answer["errors"])
    assert [(d["rule"], d["record"]["id"]) for d in pendo.dropped] == [
        ("metadata-unknown-id", "nope-1"),
        ("metadata-unknown-id", "nope-2"),
    ]
    assert "kind" not in answer, "no client reads a kind key: the fake does not invent one"


# -- classic cloud mode: track calls ---------------------------------------------------------------------------

TRACK_CALL = {
    "type": "track",
    "event": "Report Created",
    "userId": "u1",
    "messageId": "m-1",
    "timestamp": "2026-01-05T09:00:00.000Z",
    "properties": {"groupId": "acct-9", "widgets": 3},
    "context": {"ip": "1.2.3.4", "userAgent": "UA", "page": {"url": "https://app/r", "title": "R"}},
}


def test_classic_track_calls_are_ignored_without_the_pendo_flag(pendo: FakePendo) -> None:
    """segment-docs catalog/pendo (cloud mode): "Using Track method also requires a setting enabled on your
    Pendo subscription. contact Pendo to enable this feature flag for your account." Without it Pendo accepts
    the call and records nothing."""
    r = requests.post(pendo.url + "/data/segmentio/key", json=TRACK_CALL, timeout=10)
    assert r.status_code == 200 and pendo.records() == [] and pendo.dropped == []
    [ignored] = pendo.ignored
    assert (ignored["type"], ignored["messageId"]) == ("track", "m-1")
    assert "requires a setting enabled on your Pendo subscription" in ignored["reason"]
    assert "setting trackEvents is off" in ignored["reason"]


def test_classic_track_calls_become_track_events_with_the_flag() -> None:
    """With the flag: "When you send a Track call, we will send it as a Pendo Track Event ... Pendo will map
    groupId to an account ID" (segment-docs catalog/pendo, 2018-2022 revisions)."""
    clock = FixedClock(ms("2026-01-06T00:00:00Z"))
    with FakePendo(classic_settings={"trackEvents": True}, clock=clock) as pendo:
        anonymous = {"type": "track", "event": "Viewed", "anonymousId": "anon-1", "timestamp": "2026-01-05T10:00:00Z"}
        assert requests.post(pendo.url + "/data/segmentio/key", json=[TRACK_CALL, anonymous], timeout=10).ok
        assert pendo.records() == [
            {
                "kind": "track",
                "event": "Report Created",
                "visitorId": "u1",
                "accountId": "acct-9",
                "timestamp": JAN_5,
                "properties": {"groupId": "acct-9", "widgets": 3},
                "context": {"ip": "1.2.3.4", "userAgent": "UA", "url": "https://app/r", "title": "R"},
            },
            {
                "kind": "track",
                "event": "Viewed",
                "visitorId": "_PENDO_T_anon-1",
                "accountId": None,
                "timestamp": JAN_5 + 3_600_000,
                "properties": {},
                "context": {},
            },
        ]
        assert pendo.ignored == []
        clock.set(ms("2026-02-01T00:00:00Z"))  # they are Track Events: the seven-day rule applies to them
        requests.post(pendo.url + "/data/segmentio/key", json=TRACK_CALL, timeout=10)
        assert len(pendo.records()) == 2 and pendo.dropped[0]["rule"] == "timestamp-too-old"
        assert pendo.dropped[0]["route"] == "segmentio"
