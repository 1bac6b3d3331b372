"""Delivery to a system under test: every wire format's bytes and headers, signatures, retries, order."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.wrappers import Request, Response

from pytest_segpendo.delivery import DeliveryError, DeliveryReport, deliver, sign
from pytest_segpendo.fakes import FakePendo, FakeSegment
from pytest_segpendo.fakes.core.server import ServerThread
from pytest_segpendo.mapping import js_dumps
from pytest_segpendo.traffic import generate


class Receiver:
    """Records every request; answers from a script of statuses (then 200)."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.script: list[Any] = []
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        body = request.get_data()
        with self.lock:
            self.seen.append(
                {
                    "method": request.method,
                    "path": request.full_path.rstrip("?"),
                    "headers": dict(request.headers),
                    "body": body,
                }
            )
            step = self.script.pop(0) if self.script else 200
        if isinstance(step, tuple) and step[0] == "sleep":
            time.sleep(step[1])
            step = 200
        if isinstance(step, tuple):
            status, headers = step
        else:
            status, headers = step, {}
        return Response(b"{}" if status < 300 else b'{"error": "scripted"}', status=status, headers=headers)(
            environ, start_response
        )


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    app = Receiver()
    with ServerThread(app) as server:
        yield app, server.url + "/hooks/segment"


EVENTS = [
    {
        "type": "track",
        "userId": "u1",
        "event": "Order Completed",
        "properties": {"revenue": 49.0, "items": [1, 2], "note": "Zoë ✓"},
        "messageId": "m1",
    },
    {"type": "identify", "userId": "u2", "traits": {"plan": "pro"}, "messageId": "m2"},
    {"type": "track", "anonymousId": "a3", "event": "Viewed", "properties": {}, "messageId": "m3"},
]


def test_classic_webhook_one_event_per_post_signed(receiver: tuple[Receiver, str]) -> None:
    app, url = receiver
    report = deliver(EVENTS, url, "webhook", secret="s3cret", headers={"X-Env": "ci"})
    assert report.ok and report.requests == 3 and report.acknowledged == 3
    for event, seen in zip(EVENTS, app.seen):
        assert seen["method"] == "POST" and seen["path"] == "/hooks/segment"
        assert seen["body"] == js_dumps(event).encode()  # JSON.stringify's bytes: 49.0 is written 49
        assert seen["headers"]["Content-Type"] == "application/json"
        assert seen["headers"]["User-Agent"] == "Segment.io/1.0"
        assert seen["headers"]["X-Env"] == "ci"
        assert seen["headers"]["X-Signature"] == hmac.new(b"s3cret", seen["body"], hashlib.sha1).hexdigest()
    assert b'"revenue":49,' in app.seen[0]["body"] and "Zoë ✓".encode() in app.seen[0]["body"]


def test_unsigned_without_a_secret(receiver: tuple[Receiver, str]) -> None:
    app, url = receiver
    deliver(EVENTS[:1], url, "webhook")
    assert "X-Signature" not in app.seen[0]["headers"]


def test_webhook_actions_single_requests_sign_the_data(receiver: tuple[Receiver, str]) -> None:
    app, url = receiver
    mapping = {"name": {"@path": "$.event"}, "who": {"@path": "$.userId"}}
    report = deliver(EVENTS, url, "webhook-actions", secret="k", method="PUT", data=mapping)
    assert report.ok
    datas = [{"name": "Order Completed", "who": "u1"}, {"who": "u2"}, {"name": "Viewed"}]
    for data, seen in zip(datas, app.seen):
        assert seen["method"] == "PUT" and seen["headers"]["User-Agent"] == "Segment (Actions)"
        assert seen["body"] == js_dumps(data).encode()
        assert seen["headers"]["X-Signature"] == sign("k", js_dumps(data))


def test_webhook_actions_batches_sign_the_first_items_data_only(receiver: tuple[Receiver, str]) -> None:
    app, url = receiver
    events = [{"type": "track", "userId": "u", "event": f"E{i}", "messageId": f"m{i}"} for i in range(7)]
    report = deliver(events, url, "webhook-actions", secret="k", batch_size=3, method="PATCH")
    assert report.ok and report.requests == 3
    sizes = [len(json.loads(s["body"])) for s in app.seen]
    assert sizes == [3, 3, 1]
    first = app.seen[0]
    assert first["method"] == "PATCH"
    assert first["body"] == js_dumps(events[:3]).encode()
    assert first["headers"]["X-Signature"] == sign("k", js_dumps(events[0]))
    assert first["headers"]["X-Signature"] != sign("k", first["body"])


def test_tracking_api_batches_with_basic_auth(receiver: tuple[Receiver, str]) -> None:
    app, url = receiver
    events = generate(250, seed=1)
    report = deliver(events, url.replace("/hooks/segment", ""), "tracking-api", write_key="wk", batch_size=100)
    assert report.ok and report.requests == 3
    first = app.seen[0]
    assert first["path"] == "/v1/batch"
    assert first["headers"]["Authorization"] == "Basic d2s6"  # base64("wk:")
    body = json.loads(first["body"])
    assert set(body) == {"batch", "writeKey", "sentAt"} and body["writeKey"] == "wk" and len(body["batch"]) == 100
    assert [e["messageId"] for s in app.seen for e in json.loads(s["body"])["batch"]] == [
        e["messageId"] for e in events
    ]


def test_tracking_api_into_the_fake_segment_captures_every_event() -> None:
    events = generate(600, seed=2)
    with FakeSegment(write_key="wk") as segment:
        report = deliver(events, segment.url, "tracking-api", write_key="wk", concurrency=3)
        assert report.ok
        captured = segment.events()
    assert sorted(e["messageId"] for e in captured) == sorted(e["messageId"] for e in events)
    strip = lambda e: {k: v for k, v in e.items() if k != "receivedAt"}
    by_id = {e["messageId"]: e for e in events}
    assert all(strip(e) == {k: v for k, v in by_id[e["messageId"]].items() if k != "receivedAt"} for e in captured)


def test_segmentio_path_into_the_fake_pendo() -> None:
    events = [
        {"type": "identify", "userId": "u1", "traits": {"plan": "pro"}},
        {"type": "group", "userId": "u1", "groupId": "g", "traits": {"n": 1}},
    ]
    with FakePendo(api_key="pk") as pendo:
        report = deliver(events, pendo.url, "segmentio", api_key="pk")
        assert report.ok and report.target == pendo.url + "/data/segmentio/pk"
        assert [r["kind"] for r in pendo.records()] == ["visitor", "account"]
        assert pendo.requests()[0]["headers"]["user-agent"] == "Segment.io/1.0"


def test_retries_on_5xx_429_and_dropped_connections_then_success(receiver: tuple[Receiver, str]) -> None:
    app, url = receiver
    app.script = [500, 503, (429, {"Retry-After": "0.3"})]
    start = time.monotonic()
    report = deliver(EVENTS[:1], url, "webhook", max_attempts=5, backoff=0.01)
    assert report.ok and report.requests == 4 and report.retried == 3
    assert time.monotonic() - start >= 0.3, "Retry-After is waited out"
    assert len({s["body"] for s in app.seen}) == 1, "a retry sends the same bytes"


def test_client_errors_are_not_retried_and_reported(receiver: tuple[Receiver, str]) -> None:
    app, url = receiver
    app.script = [400]
    report = deliver(EVENTS[:2], url, "webhook", backoff=0.01)
    assert not report.ok and report.acknowledged == 1 and report.failed == 1 and report.requests == 2
    failure = report.failures[0]
    assert (
        failure.status == 400
        and failure.attempts == 1
        and failure.message_ids == ["m1"]
        and "scripted" in failure.reason
        and failure.verdict == "not retried (Segment does not retry 4xx)"
    )
    assert "failed: event 1 (m1): HTTP 400, not retried (Segment does not retry 4xx): " in report.format()


def test_attempts_are_bounded_and_timeouts_count_as_failures(receiver: tuple[Receiver, str]) -> None:
    app, url = receiver
    app.script = [("sleep", 0.6)] * 3
    report = deliver(EVENTS[:1], url, "webhook", timeout=0.2, max_attempts=3, backoff=0.01)
    assert report.failed == 1 and report.requests == 3 and report.failures[0].status is None
    assert "timed out" in report.failures[0].reason and report.failures[0].verdict == "gave up after 3 attempts"
    assert "no answer, gave up after 3 attempts: TimeoutError: timed out" in report.format()


def test_a_dropped_connection_is_retried() -> None:
    with FakePendo() as pendo:
        pendo.faults.add(route="segmentio", drop=True, count=1)
        report = deliver(EVENTS[1:2], pendo.url, "segmentio", api_key="k", backoff=0.01)
        assert report.ok and report.retried == 1
        assert [e["outcome"] for e in pendo.requests()] == ["dropped", "accepted"]


def test_concurrency_keeps_each_users_events_in_order(receiver: tuple[Receiver, str]) -> None:
    app, url = receiver
    events = generate(400, seed=5, mix={"saas": 1, "anonymous": 1})
    report = deliver(events, url, "webhook", concurrency=4)
    assert report.ok and report.requests == 400
    arrived = [json.loads(s["body"]) for s in app.seen]

    def per_user(items: list[dict[str, Any]]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for e in items:
            key = e.get("userId") or e.get("anonymousId")
            out.setdefault(key, []).append(e["messageId"])
        return out

    assert per_user(arrived) == per_user(events)


def test_a_python_callable_as_the_system_under_test() -> None:
    got: list[dict[str, Any]] = []

    def relay(event: dict[str, Any]) -> bool:
        if event["type"] == "identify":
            raise ValueError("identify not handled")
        got.append(event)
        return True

    report = deliver(EVENTS, relay)
    assert report.via == "callable" and report.acknowledged == 2 and report.failed == 1
    assert report.failures[0].reason == "ValueError: identify not handled"
    assert got == [EVENTS[0], EVENTS[2]]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"via": "email"}, "unknown delivery 'email'"),
        ({"via": "tracking-api"}, "tracking-api needs a write key"),
        ({"via": "segmentio"}, "segmentio needs the Pendo API key"),
        ({"via": "webhook-actions", "method": "GET"}, "webhook-actions method must be POST, PUT or PATCH (got 'GET')"),
        ({"via": "webhook", "concurrency": 0}, "concurrency and max_attempts must be at least 1"),
    ],
)
def test_bad_options_fail_before_sending(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(DeliveryError, match=re.escape(message)):
        deliver(EVENTS, "http://127.0.0.1:9/", **kwargs)
    with pytest.raises(DeliveryError, match="target must be an http"):
        deliver(EVENTS, "ftp://x/", "webhook")


def test_report_as_json() -> None:
    report = DeliveryReport("webhook", "http://x/", events=2, requests=3, acknowledged=2, retried=1, seconds=0.5)
    assert report.ok and report.as_json()["retried"] == 1
    assert (
        report.summary()
        == "2 events to http://x/ via webhook in 3 requests: 2 acknowledged, 1 retries, 0 failed (0.50 s, 4 events/s)"
    )
