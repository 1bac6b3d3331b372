"""The fake Segment Tracking API over real HTTP: endpoints, write keys, limits, refusals, what it captures."""

from __future__ import annotations

import base64
import gzip
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from pytest_segpendo.fakes import FakeSegment
from pytest_segpendo.traffic import generate


@pytest.fixture
def segment() -> Iterator[FakeSegment]:
    with FakeSegment(write_key="wk") as fake:
        yield fake
        fake.raise_errors()


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def event(i: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        "type": "track",
        "userId": "u1",
        "event": f"E{i}",
        "properties": {"i": i},
        "messageId": f"m-{i}",
        "timestamp": "2026-01-05T09:00:00.000Z",
        **extra,
    }


def test_batch_with_basic_auth_is_captured_with_receivedAt_and_merged_context(segment: FakeSegment) -> None:
    body = {
        "batch": [event(1), event(2, context={"ip": "1.1.1.1"})],
        "context": {"library": {"name": "x"}, "ip": "9.9.9.9"},
        "integrations": {"All": True},
        "sentAt": "2026-01-05T09:00:01.000Z",
    }
    r = requests.post(f"{segment.url}/v1/batch", json=body, headers=basic("wk"))
    assert r.status_code == 200 and r.json() == {"success": True}
    events = segment.events()
    assert [e["event"] for e in events] == ["E1", "E2"]
    assert events[0]["context"] == {"library": {"name": "x"}, "ip": "9.9.9.9"}
    assert events[1]["context"] == {"library": {"name": "x"}, "ip": "1.1.1.1"}, "the item's own context wins"
    assert events[0]["integrations"] == {"All": True}
    received = events[0]["receivedAt"]
    assert received.endswith("Z") and received[:4] == time.strftime("%Y")
    assert events[0]["timestamp"] == "2026-01-05T09:00:00.000Z", "the client's timestamp is kept"
    assert "writeKey" not in events[0]


@pytest.mark.parametrize("call", ["identify", "track", "page", "screen", "group", "alias"])
def test_single_event_endpoints_set_the_type_from_the_path(segment: FakeSegment, call: str) -> None:
    body = {"userId": "u1", "writeKey": "wk", "event": "E", "groupId": "g", "previousId": "p", "traits": {}}
    r = requests.post(f"{segment.url}/v1/{call}", json=body)
    assert r.status_code == 200
    captured = segment.events()[-1]
    assert (
        captured["type"] == call
        and captured["messageId"].startswith("api-")
        and captured["timestamp"] == captured["receivedAt"]
    )


def test_import_is_a_batch_alias_and_gzip_bodies_work(segment: FakeSegment) -> None:
    data = gzip.compress(json.dumps({"batch": [event(3)], "writeKey": "wk"}).encode())
    r = requests.post(
        f"{segment.url}/v1/import", data=data, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}
    )
    assert r.status_code == 200 and segment.events()[0]["event"] == "E3"


def test_write_key_by_bearer_plus_body(segment: FakeSegment) -> None:
    r = requests.post(
        f"{segment.url}/v1/batch",
        json={"batch": [event()], "writeKey": "wk"},
        headers={"Authorization": "Bearer oauth-token"},
    )
    assert r.status_code == 200 and len(segment.events()) == 1


@pytest.mark.parametrize(
    ("headers", "body", "status", "code", "message"),
    [
        (
            {},
            {"batch": [event()]},
            400,
            "missing_write_key",
            'write key required: HTTP Basic auth with the write key as user name, or "writeKey" in the body',
        ),
        ({}, {"batch": [event()], "writeKey": ""}, 400, "missing_write_key", "write key required"),
        (basic(""), {"batch": [event()]}, 400, "missing_write_key", "write key required"),
        (
            {"Authorization": "Basic !!!"},
            {"batch": [event()]},
            400,
            "missing_write_key",
            "Authorization: Basic credentials are not base64 of 'writeKey:'",
        ),
        (basic("wk"), {"events": []}, 400, "invalid_request", "body.batch: required (a JSON array of events)"),
        (
            basic("wk"),
            {"batch": [event(properties={"blob": "x" * 40_000})]},
            400,
            "payload_too_large",
            "batch[0]: event of",
        ),
    ],
)
def test_refusals_carry_code_and_message(
    segment: FakeSegment, headers: dict[str, str], body: Any, status: int, code: str, message: str
) -> None:
    r = requests.post(f"{segment.url}/v1/batch", json=body, headers=headers)
    assert r.status_code == status
    assert r.json()["code"] == code and r.json()["message"].startswith(message)
    assert segment.events() == [] and segment.rejected[-1]["status"] == status


def test_a_missing_write_key_gets_400_citing_the_only_report_of_it(segment: FakeSegment) -> None:
    # Segment does not document it; segmentio/analytics-go#205 (a user's curl tests) reports 400 for an empty key
    r = requests.post(f"{segment.url}/v1/track", json={"userId": "u", "event": "E"})
    assert r.status_code == 400 and set(r.json()) == {"code", "message"}, "the shape analytics-python reads"
    assert "segmentio/analytics-go#205" in r.json()["message"] and "not documented" in r.json()["message"]
    assert segment.rejected[-1]["reason"] == r.json()["message"]


@pytest.mark.parametrize("how", ["basic", "body", "bearer+body"])
def test_a_wrong_write_key_gets_200_and_every_event_is_dropped_and_listed(segment: FakeSegment, how: str) -> None:
    # segmentio/analytics-node#59 and analytics-ruby#136 (maintainers): the edge is stateless, always answers 200
    body: dict[str, Any] = {"batch": [event(1), event(2), {"type": "track", "userId": "u"}]}
    headers: dict[str, str] = {}
    if how == "basic":
        headers = basic("not-wk")
    else:
        body["writeKey"] = "not-wk"
        if how == "bearer+body":
            headers = {"Authorization": "Bearer oauth-token"}
    r = requests.post(f"{segment.url}/v1/batch", json=body, headers=headers)
    assert r.status_code == 200 and r.json() == {"success": True}
    assert segment.events() == []
    assert [(x["status"], x["index"], x["messageId"]) for x in segment.rejected] == [
        (200, 0, "m-1"),
        (200, 1, "m-2"),
        (200, 2, segment.rejected[2]["messageId"]),
    ]
    for refused in segment.rejected:
        assert refused["reason"].startswith("wrong write key: Segment answers 200 and drops the events (")
        assert "segmentio/analytics-node#59" in refused["reason"] and "analytics-ruby#136" in refused["reason"]
        assert refused["route"] == "batch" and refused["request"] == 1
    [entry] = segment.requests()
    assert (entry["status"], entry["outcome"], entry["events"], entry["refused"]) == (200, "dropped", 0, 3)


def test_a_wrong_write_key_on_a_single_call_and_a_right_one_after_it(segment: FakeSegment) -> None:
    r = requests.post(f"{segment.url}/v1/identify", json={"userId": "u", "messageId": "x1"}, headers=basic("nope"))
    assert r.status_code == 200 and r.json() == {"success": True}
    assert segment.rejected[0]["messageId"] == "x1" and segment.rejected[0]["index"] == 0
    r = requests.post(f"{segment.url}/v1/identify", json={"userId": "u", "messageId": "x1"}, headers=basic("wk"))
    assert r.status_code == 200 and [e["messageId"] for e in segment.events()] == ["x1"], "not a duplicate"


def test_any_non_empty_key_is_right_when_none_is_configured() -> None:
    with FakeSegment() as fake:
        r = requests.post(f"{fake.url}/v1/batch", json={"batch": [event()]}, headers=basic("whatever"))
        assert r.status_code == 200 and len(fake.events()) == 1 and fake.rejected == []


def test_expected_defaults_to_the_toolkits_default_profile(segment: FakeSegment) -> None:
    from pytest_segpendo.defaults import PROFILE
    from pytest_segpendo.profiles import expect

    events = generate(60, seed=8)
    requests.post(f"{segment.url}/v1/batch", json={"batch": events, "writeKey": "wk"})
    captured = segment.events()
    assert segment.expected().stream == expect(captured, PROFILE).stream
    assert segment.expected().stream != segment.expected("classic").stream, "the default is not an arbitrary one"


def test_body_limits_and_bad_json(segment: FakeSegment) -> None:
    big = {"batch": [event(i, properties={"blob": "x" * 30_000}) for i in range(18)], "writeKey": "wk"}  # ~540 KB
    r = requests.post(f"{segment.url}/v1/batch", json=big)
    assert r.status_code == 400 and r.json()["code"] == "payload_too_large", "Segment answers 400 to large payloads"
    r = requests.post(f"{segment.url}/v1/batch", data=b"{nope", headers=basic("wk"))
    assert r.status_code == 400 and r.json()["message"].startswith("body: not valid JSON")
    bomb = gzip.compress(b" " * (5 << 20))
    r = requests.post(f"{segment.url}/v1/batch", data=bomb, headers={**basic("wk"), "Content-Encoding": "gzip"})
    assert r.status_code == 400 and r.json()["message"] == "gzip body: decompresses to more than 512000 bytes"


def test_invalid_events_are_refused_one_by_one_with_reasons(segment: FakeSegment) -> None:
    body = {
        "batch": [event(1), {"type": "track", "userId": "u"}, {"userId": "u"}, "not an event", event(2)],
        "writeKey": "wk",
    }
    r = requests.post(f"{segment.url}/v1/batch", json=body)
    assert r.status_code == 200, "Segment answers 200 and drops invalid events"
    assert [e["event"] for e in segment.events()] == ["E1", "E2"]
    refused = [(x["index"], x["reason"]) for x in segment.rejected]
    assert refused == [
        (1, "track.event: required"),
        (2, "type: required"),
        (3, "event: must be a JSON object (got string)"),
    ]


def test_over_2500_events_answer_200_but_are_all_refused(segment: FakeSegment) -> None:
    body = {"batch": [{"type": "track", "userId": "u", "event": "E"}] * 2501, "writeKey": "wk"}
    assert requests.post(f"{segment.url}/v1/batch", json=body).status_code == 200
    assert segment.events() == [] and len(segment.rejected) == 2501
    assert segment.rejected[0]["reason"] == "batch of 2501 events: at most 2,500 per batch"


def test_a_messageId_already_captured_is_a_duplicate(segment: FakeSegment) -> None:
    for _ in range(3):
        requests.post(f"{segment.url}/v1/batch", json={"batch": [event(1), event(2)], "writeKey": "wk"})
    assert len(segment.events()) == 2 and segment.duplicates == 4
    data = requests.get(f"{segment.url}/__segpendo/records").json()
    assert data["duplicates"] == 4 and len(data["events"]) == 2 and data["rejected"] == []
    assert requests.get(f"{segment.url}/__segpendo/events").json() == data


def test_inspection_reset_requests_and_faults(segment: FakeSegment) -> None:
    assert (
        requests.post(
            f"{segment.url}/__segpendo/faults", json=[{"route": "batch", "status": 500, "count": 1}]
        ).status_code
        == 200
    )
    first = requests.post(f"{segment.url}/v1/batch", json={"batch": [event()], "writeKey": "wk"})
    assert first.status_code == 500 and first.json()["code"] == "error"
    assert requests.post(f"{segment.url}/v1/batch", json={"batch": [event()], "writeKey": "wk"}).status_code == 200
    journal = requests.get(f"{segment.url}/__segpendo/requests").json()["requests"]
    assert [(e["route"], e["status"], e["outcome"]) for e in journal] == [
        ("batch", 500, "fault"),
        ("batch", 200, "accepted"),
    ]
    requests.post(f"{segment.url}/__segpendo/reset")
    assert segment.events() == [] and segment.requests() == [] and segment.faults.as_json() == []


def test_captured_events_flow_into_the_expectation(segment: FakeSegment) -> None:
    events = generate(200, seed=3)
    requests.post(f"{segment.url}/v1/batch", json={"batch": events, "writeKey": "wk"})
    captured = segment.events()
    assert len(captured) == 200
    expected = segment.expected("track-api")
    tracks = [e for e in captured if e["type"] == "track" and e.get("userId")]
    assert len(expected.stream) == len(tracks)
    assert [r["event"] for r in expected.stream] == [e["event"] for e in tracks]
