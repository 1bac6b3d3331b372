"""The bundled reference relay (``pytest_segpendo.relay``): over real HTTP, Segment's delivery -> relay -> fake
Pendo gives exactly what profile ``track-api+metadata`` predicts; signatures, refusals and Pendo's failures are
answered as documented; and each bug of the bug bank shows in Pendo's records, in the field it names only."""

from __future__ import annotations

import copy
import hashlib
import hmac
import http.client
import inspect
import json
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from pytest_segpendo.delivery import deliver
from pytest_segpendo.fakes import FakePendo
from pytest_segpendo.fakes.pendo import FixedClock
from pytest_segpendo.profiles import expect, get_profile
from pytest_segpendo.records import account_record, visitor_record
from pytest_segpendo.relay import BANK, BROKEN, BUGS, MAX_BODY, Bug, Relay, server
from pytest_segpendo.relay.bugs import POINTS, Hooks
from pytest_segpendo.traffic import DEFAULT_START_MS, generate
from pytest_segpendo.verify import compare

PROFILE = "track-api+metadata"
TRACK_SECRET = "track-s3cret"
INTEGRATION_KEY = "int-key"
SECRET = "segment-shared-secret"
MIX = {"saas": 3, "edge": 1, "mobile": 1, "anonymous": 1}

# A realistic mix reaching most edge cases (unicode, nested traits, numeric ids, nulls, parent accounts...).
GENERATED = generate(400, seed=1, mix=MIX)
# A group whose groupId is already "parent::child" (see test_parent_child_account_id).
JOINED = [
    {
        "type": "group",
        "userId": "u-joined",
        "groupId": "org_parent::acc_child",
        "traits": {"name": "Child Ltd", "plan": "pro"},
        "messageId": "j1",
        "timestamp": "2026-01-05T09:00:03.000Z",
        "receivedAt": "2026-01-05T09:00:03.250Z",
    }
]
# Ids that only digits make up, with leading zeros: what numeric-ids-as-numbers loses (the generator's
# numeric ids are real numbers, which Pendo's API turns back into the same strings).
DIGIT_IDS = [
    {
        "type": "identify",
        "userId": "007",
        "anonymousId": "anon-007",
        "traits": {"name": "Bond"},
        "messageId": "d1",
        "timestamp": "2026-01-05T09:00:00.000Z",
        "receivedAt": "2026-01-05T09:00:00.250Z",
    },
    {
        "type": "group",
        "userId": "007",
        "groupId": "0042",
        "traits": {"name": "Leading Zeros Ltd"},
        "messageId": "d2",
        "timestamp": "2026-01-05T09:00:01.000Z",
        "receivedAt": "2026-01-05T09:00:01.250Z",
    },
    {
        "type": "track",
        "userId": "007",
        "event": "Mission Accepted",
        "properties": {},
        "context": {"groupId": "0042"},
        "messageId": "d3",
        "timestamp": "2026-01-05T09:00:02.000Z",
        "receivedAt": "2026-01-05T09:00:02.250Z",
    },
]
TRAFFIC = GENERATED + DIGIT_IDS
EXPECTED = expect(TRAFFIC, PROFILE)


@pytest.fixture
def pendo() -> Iterator[FakePendo]:
    with FakePendo(track_secret=TRACK_SECRET, integration_key=INTEGRATION_KEY, max_age_days=None) as fake:
        yield fake
        fake.raise_errors()


def relay_for(pendo: FakePendo, **options: Any) -> Relay:
    options.setdefault("secret", SECRET)
    return Relay(pendo.url, track_secret=TRACK_SECRET, integration_key=INTEGRATION_KEY, **options)


def post(
    url: str, body: bytes, headers: dict[str, str] | None = None, method: str = "POST"
) -> tuple[int, dict[str, Any]]:
    parts = url.split("//", 1)[1]
    host, _, port = parts.partition(":")
    conn = http.client.HTTPConnection(host, int(port.split("/")[0]), timeout=10)
    try:
        conn.request(method, "/segment", body=body, headers={"Content-Type": "application/json", **(headers or {})})
        response = conn.getresponse()
        text = response.read()
    finally:
        conn.close()
    return response.status, json.loads(text) if text else {}


def signature(body: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


def compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


# -- the correct relay -----------------------------------------------------------------------------------------


def test_the_traffic_has_what_the_bugs_need() -> None:
    cases = {tuple(sorted(e.get("traits", {}))) for e in TRAFFIC if e["type"] == "identify"}
    assert cases, "identifies"
    assert any(not str(e.get("userId") or "") and e["type"] == "track" for e in TRAFFIC), "anonymous tracks"
    assert any(
        e["type"] == "track" and "groupId" in e.get("context", {}) and "groupId" not in e.get("properties", {})
        for e in TRAFFIC
    )
    assert any(e["type"] == "group" and "parentAccount" in e.get("traits", {}) for e in TRAFFIC)
    assert any(not json.dumps(e, ensure_ascii=False).isascii() for e in TRAFFIC), "non-ASCII text"
    assert any(isinstance(e.get("userId"), int) for e in TRAFFIC), "numeric ids"
    assert any(e["type"] == "identify" and not e.get("traits") for e in TRAFFIC), "identify without traits"
    assert sum(e["type"] == "track" for e in TRAFFIC) >= 100 and len(EXPECTED.ignored) > 100


def test_webhooks_give_exactly_what_the_profile_predicts(pendo: FakePendo) -> None:
    with relay_for(pendo) as relay:
        report = deliver(TRAFFIC, relay.url, "webhook", secret=SECRET)
        relay.raise_errors()
    assert report.ok, report.format()
    assert report.requests == len(TRAFFIC) and report.retried == 0
    assert pendo.records("state") == EXPECTED.state
    assert pendo.records() == EXPECTED.stream
    assert pendo.rejected == []
    routes = {r["route"] for r in pendo.requests()}
    assert routes == {"track", "metadata"}
    assert {r["path"] for r in pendo.requests()} == {
        "/data/track",
        "/api/v1/metadata/visitor/custom/value",
        "/api/v1/metadata/account/custom/value",
    }
    assert {r["query"].get("create") for r in pendo.requests() if r["route"] == "metadata"} == {"true"}
    keys = {(r["route"], r["headers"]["x-pendo-integration-key"]) for r in pendo.requests()}
    assert keys == {("track", TRACK_SECRET), ("metadata", INTEGRATION_KEY)}


def test_webhooks_actions_batches_signed_on_their_first_item(pendo: FakePendo) -> None:
    with relay_for(pendo) as relay:
        report = deliver(TRAFFIC, relay.url, "webhook-actions", secret=SECRET, batch_size=20)
        relay.raise_errors()
    assert report.ok, report.format()
    assert report.requests == -(-len(TRAFFIC) // 20)
    assert pendo.records("state") == EXPECTED.state
    assert pendo.rejected == []


def test_the_relay_answers_only_once_pendo_has_the_data(pendo: FakePendo) -> None:
    event = next(e for e in TRAFFIC if e["type"] == "track" and e.get("userId"))
    body = compact(event)
    with relay_for(pendo) as relay:
        status, answer = post(relay.url, body, {"X-Signature": signature(body)})
        assert len(pendo.records()) == 1  # already there when the answer arrives
    assert status == 200 and answer == {"ok": True, "events": 1, "forwarded": 1, "ignored": 0}


def test_ids_timestamps_and_context_the_way_the_profile_reads_them(pendo: FakePendo) -> None:
    at = "2026-01-05T09:00:00.000Z"
    events: list[dict[str, Any]] = [
        {"type": "track", "userId": 1, "event": "Number Id", "timestamp": at},
        {"type": "track", "userId": 1.5, "event": "Float Id", "timestamp": at, "context": {"groupId": 2.25}},
        {"type": "track", "userId": 12345678901234567890, "event": "Big Id", "timestamp": at},
        {"type": "track", "userId": 1e21, "event": "Huge Id", "timestamp": at, "properties": {"groupId": 0}},
        {"type": "track", "userId": 0, "event": "Zero Id", "timestamp": at},
        {"type": "track", "userId": True, "event": "Bool Id", "timestamp": at},
        {"type": "track", "userId": {"id": 1}, "event": "Object Id", "timestamp": at},
        {"type": "track", "userId": "", "anonymousId": "a1", "event": "Empty Id", "timestamp": at},
        {"type": "track", "userId": None, "anonymousId": "a1", "event": "Null Id", "timestamp": at},
        {"type": "track", "userId": "u1", "event": 5, "timestamp": at},
        {"type": "track", "userId": "u1", "timestamp": at},
        {"type": "track", "userId": "u1", "event": "Offset", "timestamp": "2026-01-05T11:00:00.5+02:00"},
        {"type": "track", "userId": "u1", "event": "Compact Offset", "timestamp": "2026-01-05T03:30:00.123456-0530"},
        {"type": "track", "userId": "u1", "event": "Date Only", "timestamp": "2026-01-05"},
        {"type": "track", "userId": "u1", "event": "No Offset", "timestamp": "2026-01-05T09:00:00"},
        {"type": "track", "userId": "u1", "event": "Leap Second", "timestamp": "2016-12-31T23:59:60Z"},
        {"type": "track", "userId": "u1", "event": "Number Time", "timestamp": 1767603600123},
        {
            "type": "track",
            "userId": "u1",
            "event": "Null Group In Properties",
            "timestamp": at,
            "properties": {"groupId": None},
            "context": {"groupId": "g-ctx"},
        },
        {
            "type": "track",
            "userId": "u1",
            "event": "Both Groups",
            "timestamp": at,
            "properties": {"groupId": "g-props"},
            "context": {"groupId": "g-ctx"},
        },
        {
            "type": "track",
            "userId": "u1",
            "event": "Null Page",
            "timestamp": at,
            "context": {"ip": "10.0.0.1", "page": None},
        },
        {"type": "track", "userId": "u1", "event": "No Context", "timestamp": at, "properties": "not an object"},
        {
            "type": "track",
            "userId": "u1",
            "event": "Page",
            "timestamp": at,
            "context": {"page": {"url": "https://x.test/a", "title": "A"}, "userAgent": "UA"},
        },
        {"type": "identify", "userId": 42, "traits": {"n": 1}},
        {"type": "identify", "userId": "u2", "traits": {}},
        {"type": "identify", "userId": "u2", "traits": ["not", "an", "object"]},
        {"type": "identify", "userId": "u2"},
        {"type": "identify", "anonymousId": "a2", "traits": {"n": 1}},
        {"type": "group", "userId": "u2", "groupId": 7, "traits": {"plan": "pro"}},
        {"type": "group", "userId": "u2", "groupId": "", "traits": {"plan": "pro"}},
        {"type": "group", "userId": "u2", "groupId": "g9"},
        {"type": "group", "userId": "u2", "groupId": "g9", "traits": "pro"},
        {"type": "page", "userId": "u2", "name": "Home"},
        {"type": "screen", "userId": "u2", "name": "Home"},
        {"type": "alias", "userId": "u2", "previousId": "a2"},
    ]
    expected = expect(events, PROFILE)
    assert [r["visitorId"] for r in expected.stream[:5]] == ["1", "1.5", "12345678901234567000", "1e+21", "0"]
    with relay_for(pendo, secret=None) as relay:
        report = deliver(events, relay.url, "webhook")
        relay.raise_errors()
    assert report.ok, report.format()
    assert pendo.records() == expected.stream
    assert pendo.rejected == []


def test_what_pendo_would_refuse_is_not_sent(pendo: FakePendo) -> None:
    """What Pendo would refuse is not sent: a track with an empty event name (the profile ignores it too); a
    track without a timestamp gets the relay's clock (the profile predicts null: any time matches)."""
    events = [
        {"type": "track", "userId": "u1", "event": "", "timestamp": "2026-01-05T09:00:00.000Z"},
        {"type": "track", "userId": "u1", "event": "No Time"},
    ]
    before = int(time.time() * 1000)
    with relay_for(pendo, secret=None) as relay:
        report = deliver(events, relay.url, "webhook")
    after = int(time.time() * 1000)
    assert report.ok
    assert pendo.rejected == []
    [record] = pendo.records()
    assert record["event"] == "No Time" and before <= record["timestamp"] <= after
    expectation = expect(events, PROFILE)
    assert [r["event"] for r in expectation.stream] == ["No Time"] and expectation.stream[0]["timestamp"] is None
    assert compare(expectation, pendo).conforms


def test_parent_child_account_id(pendo: FakePendo) -> None:
    """A groupId already "parent::child" names its parent account, in the profile as in the fake's Metadata API."""
    with relay_for(pendo) as relay:
        assert deliver(JOINED, relay.url, "webhook", secret=SECRET).ok
    state = pendo.records("state")
    assert state == expect(JOINED, PROFILE).state
    assert all(r["parentAccountId"] == r["id"].split("::")[0] for r in state if r["kind"] == "account")


# -- signatures and refusals -------------------------------------------------------------------------------------


def test_forged_unsigned_and_tampered_webhooks_are_refused_and_forward_nothing(pendo: FakePendo) -> None:
    events = TRAFFIC[:40]
    with relay_for(pendo) as relay:
        forged = deliver(events, relay.url, "webhook", secret="not-the-secret")
        unsigned = deliver(events, relay.url, "webhook")
        batch = deliver(events, relay.url, "webhook-actions", secret="not-the-secret", batch_size=20)
        body = compact(events[0])
        tampered = body.replace(b'"type":"', b'"type": "', 1)
        assert tampered != body
        answers = [
            post(relay.url, tampered, {"X-Signature": signature(body)}),
            post(relay.url, body, {"X-Signature": signature(body)[:-1]}),
            post(relay.url, body, {"X-Signature": "é" + signature(body)[1:]}),
            post(
                relay.url,
                compact([{**events[0], "userId": "intruder"}, events[1]]),
                {"X-Signature": signature(compact(events[0]))},
            ),
        ]
        relay.raise_errors()
    for report in (forged, unsigned, batch):
        assert report.failed == report.events and report.acknowledged == 0
        assert {f.status for f in report.failures} == {401}
        assert all(f.attempts == 1 for f in report.failures), "401 is not retried"
    assert "X-Signature: required" in unsigned.failures[0].reason
    assert [status for status, _ in answers] == [401] * 4
    assert "does not match" in answers[0][1]["error"]
    assert pendo.requests() == [] and pendo.records() == []


def test_bad_bodies_and_methods(pendo: FakePendo) -> None:
    with relay_for(pendo) as relay:

        def signed(body: bytes) -> tuple[int, dict[str, Any]]:
            return post(relay.url, body, {"X-Signature": signature(body)})

        assert signed(b'{"type": "track",')[0] == 400
        assert signed(b'{"type": "track", "userId": NaN}')[0] == 400
        assert signed(b"\xff\xfe{}")[0] == 400
        status, answer = signed(b'"just a string"')
        assert status == 400 and "JSON object" in answer["error"]
        assert post(relay.url, b'{"type": "track",')[0] == 401, "unsigned junk: refused before it is read as JSON"
        big = b'{"pad": "' + b"x" * MAX_BODY + b'"}'
        assert signed(big)[0] == 413
        assert post(relay.url, b"", method="GET")[0] == 405
        status, answer = signed(b"[]")
        assert status == 200 and answer["forwarded"] == 0
        status, answer = signed(compact([1, {"type": "page"}]))
        assert status == 200 and answer["ignored"] == 2
        relay.raise_errors()
    assert pendo.requests() == []


def test_pendo_5xx_answers_502_and_segment_retries(pendo: FakePendo) -> None:
    pendo.faults.add(route="track", status=503, nth=1, count=2)
    pendo.faults.add(route="metadata", status=500, nth=3, count=1)
    with relay_for(pendo) as relay:
        report = deliver(TRAFFIC[:80], relay.url, "webhook", secret=SECRET, backoff=0.01)
        relay.raise_errors()
    assert report.ok and report.retried == 3
    assert pendo.records("state") == expect(TRAFFIC[:80], PROFILE).state


def test_pendo_4xx_is_answered_200_with_a_note(pendo: FakePendo) -> None:
    events = [e for e in TRAFFIC if e["type"] in ("track", "identify") and e.get("userId")][:6]
    with Relay(pendo.url, track_secret="wrong-secret", integration_key=INTEGRATION_KEY) as relay:
        body = compact(events)
        status, answer = post(relay.url, body)
        report = deliver(events, relay.url, "webhook")
        relay.raise_errors()
    assert report.ok and report.retried == 0
    assert status == 200 and answer["refused"] and "not retried" in answer["note"]
    assert {(r["path"], r["status"]) for r in answer["refused"]} == {("/data/track", 403)}
    assert answer["forwarded"] == sum(e["type"] == "identify" and bool(e.get("traits")) for e in events)
    assert {r["route"] for r in pendo.rejected} == {"track"}
    assert all(r["kind"] == "visitor" for r in pendo.records())


def test_pendo_unreachable_answers_502() -> None:
    with FakePendo() as gone:
        url = gone.url
    with Relay(url, track_secret="t", integration_key="k") as relay:
        status, answer = post(relay.url, compact(DIGIT_IDS[0]))
        relay.raise_errors()
    assert status == 502 and "could not be reached" in answer["error"]


# -- the bug bank ---------------------------------------------------------------------------------------------------


def test_bugs_are_named_and_checked() -> None:
    assert len(BUGS) >= 14 and set(BROKEN) <= set(BUGS)
    assert all(isinstance(text, str) and text for text in BUGS.values())
    assert set(BUGS) == set(BUG_EXPECTATIONS) | {"unsigned-accepted", "batch-truncated"}
    with pytest.raises(ValueError, match="unknown bug 'typo' .*seconds-timestamps"):
        Relay("http://127.0.0.1:1", track_secret="t", integration_key="k", bugs=["typo"])
    assert Relay("http://127.0.0.1:1", track_secret="t", integration_key="k", bugs="double-send").bugs == {
        "double-send"
    }
    with pytest.raises(ValueError, match="http"):
        Relay("ftp://example.com", track_secret="t", integration_key="k")


def test_each_bug_is_declared_once_at_one_hook_point() -> None:
    """The bank is the one place a bug lives: the relay's code names none, and each bug changes one field of one
    hook point (so it cannot reach into another bug's path)."""
    assert list(BANK) == list(BUGS) and all(BANK[name].description == BUGS[name] for name in BUGS)
    relay_code = inspect.getsource(server)
    assert [name for name in BUGS if name in relay_code] == []
    assert all(bug.field in POINTS[bug.point] and bug.breaks for bug in BANK.values())
    with pytest.raises(ValueError, match="no hook point"):
        Bug("typo", "a bug at a point the relay does not have", "x", "read", "userid", lambda value, event: value)
    plain = Hooks()
    assert plain.write("timestamp", 5, {}) == 5 and plain.check("signature", "bad") == "bad"


Record = dict[str, Any]
_profile = get_profile(PROFILE)


def correct(event: dict[str, Any]) -> list[Record]:
    return _profile.expect([event]).stream


def is_id(value: Any) -> bool:
    return value is not None and value != "" and not isinstance(value, (dict, list, bool))


def changed(event: dict[str, Any], **fields: Any) -> list[Record]:
    return correct({**copy.deepcopy(event), **fields})


def with_traits(fn: Callable[[dict[str, Any]], dict[str, Any]]) -> Callable[[dict[str, Any]], list[Record]]:
    def apply(event: dict[str, Any]) -> list[Record]:
        if event["type"] in ("identify", "group") and isinstance(event.get("traits"), dict):
            return changed(event, traits=fn(event["traits"]))
        return correct(event)

    return apply


def tracks(fn: Callable[[Record], Record]) -> Callable[[dict[str, Any]], list[Record]]:
    return lambda event: [fn(dict(r)) if r["kind"] == "track" else r for r in correct(event)]


def anonymous_first(event: dict[str, Any]) -> list[Record]:
    if event["type"] in ("track", "identify") and is_id(event.get("anonymousId")):
        return changed(event, userId=event["anonymousId"])
    return correct(event)


def without_context_group(event: dict[str, Any]) -> list[Record]:
    if event["type"] == "track" and "groupId" in (event.get("context") or {}):
        context = {k: v for k, v in event["context"].items() if k != "groupId"}
        return changed(event, context=context)
    return correct(event)


def digits_as_numbers(event: dict[str, Any]) -> list[Record]:
    def number(value: Any) -> Any:
        return int(value) if isinstance(value, str) and value.isascii() and value.isdigit() else value

    event = copy.deepcopy(event)
    for key in ("userId", "groupId"):
        if key in event:
            event[key] = number(event[key])
    for holder in ("properties", "context"):
        if isinstance(event.get(holder), dict) and "groupId" in event[holder]:
            event[holder]["groupId"] = number(event[holder]["groupId"])
    return correct(event)


def flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def mangle(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("ascii", "replace").decode("ascii")
    if isinstance(value, dict):
        return {mangle(k): mangle(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mangle(v) for v in value]
    return value


def group_to_visitor(event: dict[str, Any]) -> list[Record]:
    if event["type"] == "group":
        if not is_id(event.get("groupId")):
            return []
        return changed(event, type="identify")
    return correct(event)


def empty_traits_sent(event: dict[str, Any]) -> list[Record]:
    traits = event.get("traits")
    if event["type"] in ("identify", "group") and not (isinstance(traits, dict) and traits):
        ident = event.get("userId" if event["type"] == "identify" else "groupId")
        if is_id(ident):
            return [visitor_record(str(ident), {}) if event["type"] == "identify" else account_record(str(ident), {})]
    return correct(event)


# What Pendo receives with each bug, event by event: the profile's prediction with exactly that change.
BUG_EXPECTATIONS: dict[str, Callable[[dict[str, Any]], list[Record]]] = {
    "non-string-traits-dropped": with_traits(lambda t: {k: v for k, v in t.items() if isinstance(v, str)}),
    "anonymous-id-first": anonymous_first,
    "seconds-timestamps": tracks(lambda r: {**r, "timestamp": r["timestamp"] // 1000}),
    "account-lost": without_context_group,
    "event-name-case": tracks(lambda r: {**r, "event": r["event"].lower()}),
    "numeric-ids-as-numbers": digits_as_numbers,
    "double-send": lambda event: [r for record in correct(event) for r in (record, record)],
    "parent-account-dropped": lambda e: (
        changed(e, traits={k: v for k, v in e["traits"].items() if k != "parentAccount"})
        if e["type"] == "group" and isinstance(e.get("traits"), dict)
        else correct(e)
    ),
    "nested-traits-flattened": with_traits(flatten),
    "non-ascii-mangled": lambda event: [mangle(r) for r in correct(event)],
    "properties-dropped": tracks(lambda r: {**r, "properties": {}}),
    "group-traits-to-visitor": group_to_visitor,
    "received-at-timestamps": lambda e: (
        changed(e, timestamp=e["receivedAt"]) if e["type"] == "track" and "receivedAt" in e else correct(e)
    ),
    "empty-traits-sent": empty_traits_sent,
}


@pytest.mark.parametrize("bug", sorted(BUG_EXPECTATIONS))
def test_each_bug_changes_only_what_it_names(pendo: FakePendo, bug: str) -> None:
    with relay_for(pendo, bugs=[bug]) as relay:
        report = deliver(TRAFFIC, relay.url, "webhook", secret=SECRET)
        relay.raise_errors()
    assert report.ok, report.format()
    observed = pendo.records()
    assert observed != EXPECTED.stream, f"{bug}: the traffic does not show this bug"
    assert observed == [r for event in TRAFFIC for r in BUG_EXPECTATIONS[bug](event)]


def test_bug_examples_spelled_out(pendo: FakePendo) -> None:
    """The bank's bugs as a reader of a diff would meet them."""
    expected_tracks = [r for r in EXPECTED.stream if r["kind"] == "track"]

    def run(bug: str, events: list[dict[str, Any]] = TRAFFIC) -> list[Record]:
        pendo.reset()
        with relay_for(pendo, bugs=[bug]) as relay:
            assert deliver(events, relay.url, "webhook", secret=SECRET).ok
        return pendo.records()

    seconds = [r for r in run("seconds-timestamps") if r["kind"] == "track"]
    assert [r["timestamp"] for r in seconds] == [r["timestamp"] // 1000 for r in expected_tracks]
    on_the_day = FixedClock(DEFAULT_START_MS + 86_400_000)  # the traffic's own day: Pendo's 7-day rule applies
    with (
        FakePendo(track_secret=TRACK_SECRET, integration_key=INTEGRATION_KEY, clock=on_the_day) as dated,
        relay_for(dated, bugs=["seconds-timestamps"]) as relay,
    ):
        assert deliver(DIGIT_IDS, relay.url, "webhook", secret=SECRET).ok
    assert dated.records("state") and not [r for r in dated.records() if r["kind"] == "track"]
    assert [d["rule"] for d in dated.dropped] == ["timestamp-too-old"]  # 1970: Pendo never processes it
    doubled = [r for r in run("double-send") if r["kind"] == "track"]
    assert doubled[0::2] == expected_tracks and doubled[1::2] == expected_tracks
    lost = {r["event"]: r["accountId"] for r in run("account-lost", DIGIT_IDS) if r["kind"] == "track"}
    assert lost == {"Mission Accepted": None}
    numbers = run("numeric-ids-as-numbers", DIGIT_IDS)
    assert [(r["kind"], r["id"] if "id" in r else r["visitorId"]) for r in numbers] == [
        ("visitor", "7"),
        ("account", "42"),
        ("track", "7"),
    ]
    unicode = next(e for e in TRAFFIC if e.get("event") == "Réservation confirmée ✓")
    [mangled] = run("non-ascii-mangled", [unicode])
    assert mangled["event"] == "R?servation confirm?e ?" and mangled["properties"]["prix ?"] == 12.5


def test_unsigned_accepted_forwards_forged_webhooks(pendo: FakePendo) -> None:
    with relay_for(pendo, bugs=["unsigned-accepted"]) as relay:
        forged = deliver(TRAFFIC, relay.url, "webhook", secret="forger")
        relay.raise_errors()
    assert forged.ok
    assert pendo.records("state") == EXPECTED.state  # what a forger sent is in Pendo


def test_batch_truncated_forwards_the_first_event_of_each_batch(pendo: FakePendo) -> None:
    with relay_for(pendo, bugs=["batch-truncated"]) as relay:
        report = deliver(TRAFFIC, relay.url, "webhook-actions", secret=SECRET, batch_size=20)
        single = deliver(TRAFFIC[:30], relay.url, "webhook", secret=SECRET)
        relay.raise_errors()
    assert report.ok and single.ok
    firsts = TRAFFIC[::20]
    assert pendo.records() == expect(firsts, PROFILE).stream + expect(TRAFFIC[:30], PROFILE).stream
    assert len(expect(firsts, PROFILE).stream) < len(EXPECTED.stream)


def test_broken_variant_differs_from_the_profile(pendo: FakePendo) -> None:
    with relay_for(pendo, bugs=BROKEN) as relay:
        assert deliver(TRAFFIC, relay.url, "webhook", secret=SECRET).ok
    observed = pendo.records("state")
    assert observed != EXPECTED.state
    entities = [r for r in observed if r["kind"] != "track"]
    assert entities and all(isinstance(v, str) for r in entities for v in r["metadata"].values())
    tracks = [r for r in observed if r["kind"] == "track"]
    expected_tracks = [r for r in EXPECTED.state if r["kind"] == "track"]
    assert [{**r, "accountId": None} for r in tracks] == [{**r, "accountId": None} for r in expected_tracks]
    assert sum(r["accountId"] is None for r in tracks) > sum(r["accountId"] is None for r in expected_tracks)


# -- command line ----------------------------------------------------------------------------------------------------

CLI = [sys.executable, "-m", "pytest_segpendo.relay"]


@contextmanager
def running(args: list[str]) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """The relay's command line, started; yields the process and its URL (from its ready line)."""
    with subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            ready, _, _ = select.select([proc.stdout], [], [], 15)
            assert ready, "no ready line within 15 s"
            line = proc.stdout.readline()
            assert re.fullmatch(r'\{"relay": "http://127\.0\.0\.1:\d+"\}\n', line), line
            yield proc, json.loads(line)["relay"]
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_cli_forwards_and_stops_on_a_signal(pendo: FakePendo, signum: int) -> None:
    args = [
        "--pendo",
        pendo.url,
        "--track-secret",
        TRACK_SECRET,
        "--integration-key",
        INTEGRATION_KEY,
        "--secret",
        SECRET,
    ]
    with running(args) as (proc, url):
        assert url.startswith("http://127.0.0.1:")
        events = TRAFFIC[:60]
        report = deliver(events, url, "webhook", secret=SECRET)
        assert report.ok, report.format()
        assert pendo.records("state") == expect(events, PROFILE).state
        assert deliver(events[:1], url, "webhook", max_attempts=1).failures[0].status == 401
        proc.send_signal(signum)
        assert proc.wait(timeout=10) == 0
        assert proc.stderr is not None and proc.stderr.read() == ""


def test_cli_bugs(pendo: FakePendo) -> None:
    args = ["--pendo", pendo.url, "--track-secret", TRACK_SECRET, "--integration-key", INTEGRATION_KEY]
    with running([*args, "--bug", "event-name-case", "--bug", "properties-dropped"]) as (proc, url):
        event = next(e for e in TRAFFIC if e["type"] == "track" and e.get("userId") and e.get("properties"))
        assert deliver([event], url, "webhook").ok
        [record] = pendo.records()
        assert record["event"] == event["event"].lower() and record["properties"] == {}
        proc.terminate()
        assert proc.wait(timeout=10) == 0


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "the following arguments are required: --pendo, --track-secret, --integration-key"),
        (["--pendo", "ftp://x", "--track-secret", "t", "--integration-key", "k"], "pendo_url must be an http(s) URL"),
        (
            ["--pendo", "http://127.0.0.1:1", "--track-secret", "t", "--integration-key", "k", "--bug", "nope"],
            "unknown bug 'nope'",
        ),
        (
            ["--pendo", "http://127.0.0.1:1", "--track-secret", "t", "--integration-key", "k", "--port", "x"],
            "--port: invalid int value",
        ),
        (
            ["--pendo", "http://127.0.0.1:1", "--track-secret", "t", "--integration-key", "k", "--port", "70000"],
            "--port must be between",
        ),
        (
            ["--pendo", "http://127.0.0.1:1", "--track-secret", "t", "--integration-key", "k", "--bogus"],
            "unrecognized arguments: --bogus",
        ),
    ],
)
def test_cli_bad_arguments_exit_2_with_one_line(args: list[str], message: str) -> None:
    done = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("relay: ") and message in lines[0], done.stderr
