"""The fake Pendo server over real HTTP: every route, its answers, refusals with reasons, warnings, faults,
and the inspection endpoints."""

from __future__ import annotations

import gzip
import json
import re
import time
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from pytest_segpendo.fakes.pendo import GIF, FakePendo, decode_jzb, encode_jzb

NOW = int(time.time() * 1000)


@pytest.fixture
def pendo() -> Iterator[FakePendo]:
    with FakePendo(
        api_key="key1", integration_key="int1", track_secret="sec1", max_body=64 * 1024, max_decompressed=256 * 1024
    ) as fake:
        yield fake
        fake.raise_errors()


def meta(vid: str, seq: int, **visitor: Any) -> dict[str, Any]:
    return {
        "type": "meta",
        "visitor_id": vid,
        "account_id": "acct-1",
        "props": {"visitor": {"id": vid, **visitor}, "account": {"id": "acct-1", "plan": "pro"}, "parentAccount": {}},
        "tabId": "tab-1",
        "frameId": "frame-1",
        "sequence": seq,
        "browser_time": NOW,
    }


def track_event(name: str, seq: int, props: Any = None) -> dict[str, Any]:
    return {
        "type": "track",
        "track_event_name": name,
        "visitor_id": "u1",
        "account_id": "acct-1",
        "props": props or {},
        "url": "https://app/x",
        "tabId": "tab-1",
        "frameId": "frame-1",
        "sequence": seq,
        "browser_time": NOW + seq,
    }


def track_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "type": "track",
        "event": "Signed Up",
        "visitorId": "u1",
        "accountId": "acct-1",
        "timestamp": NOW,
        "properties": {"plan": "pro"},
        "context": {"ip": "1.2.3.4", "userAgent": "UA", "url": "https://a/b", "title": "B"},
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not DROP}


DROP = object()


# -- agent beacons -----------------------------------------------------------------------------------------


def test_jzb_round_trip_matches_the_agent_encoding() -> None:
    events = [meta("u1", 0, name="Zoë 🚀")]
    text = encode_jzb(events)
    assert set(text) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert decode_jzb(text, 1 << 20) == events


def test_get_beacon_answers_a_gif_and_makes_records(pendo: FakePendo) -> None:
    jzb = encode_jzb(
        [
            meta("u1", 0, plan="pro", language="en_US"),
            track_event("Clicked", 1, {"a": 1}),
            {"type": "load", "tabId": "tab-1", "sequence": 2},
        ]
    )
    r = requests.get(
        f"{pendo.url}/data/ptm.gif/key1",
        params={"v": "2.291.4_prod", "ct": NOW, "jzb": jzb},
        headers={"Origin": "http://app.local"},
    )
    assert (
        r.status_code == 200
        and r.content == GIF
        and r.headers["Content-Length"] == "42"
        and r.headers["Content-Type"] == "image/gif"
    )
    assert r.headers["Access-Control-Allow-Origin"] == "http://app.local"
    assert pendo.records() == [
        {"kind": "visitor", "id": "u1", "metadata": {"plan": "pro", "language": "en_US"}},
        {"kind": "account", "id": "acct-1", "metadata": {"plan": "pro"}, "parentAccountId": None},
        {
            "kind": "track",
            "event": "Clicked",
            "visitorId": "u1",
            "accountId": "acct-1",
            "timestamp": NOW + 1,
            "properties": {"a": 1},
            "context": {"url": "https://app/x"},
        },
    ]
    assert pendo.records(with_source=True)[0]["source"] == {"route": "ptm.gif", "request": 1}
    assert pendo.requests()[0]["events"] == ["meta", "track", "load"]


@pytest.mark.parametrize("content_type", ["application/json", "text/plain;charset=UTF-8", None])
def test_post_beacon_with_events_under_any_content_type(pendo: FakePendo, content_type: str | None) -> None:
    body = json.dumps({"events": encode_jzb([meta("u2", 0, big="x" * 3000)])})
    headers = {"Content-Type": content_type} if content_type else {}
    r = requests.post(f"{pendo.url}/data/ptm.gif/key1?v=1&ct=1&s={len(body)}", data=body, headers=headers)
    assert r.status_code == 200 and r.content == b"" and r.headers["Content-Length"] == "0"
    assert pendo.records()[0]["metadata"]["big"] == "x" * 3000


def test_cors_preflight(pendo: FakePendo) -> None:
    r = requests.options(
        f"{pendo.url}/data/ptm.gif/key1",
        headers={
            "Origin": "http://app.local",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert r.status_code == 204
    assert r.headers["Access-Control-Allow-Origin"] == "http://app.local"
    assert (
        "POST" in r.headers["Access-Control-Allow-Methods"]
        and r.headers["Access-Control-Allow-Headers"] == "content-type"
    )


def test_resent_batches_are_recorded_once_and_counted(pendo: FakePendo) -> None:
    jzb = encode_jzb([meta("u1", 0), track_event("A", 1)])
    for rt in (None, "1", "2"):
        params = {"jzb": jzb, **({"rt": rt} if rt else {})}
        assert requests.get(f"{pendo.url}/data/ptm.gif/key1", params=params).status_code == 200
    assert [r["kind"] for r in pendo.records()] == ["visitor", "account", "track"]
    assert pendo.duplicates == 4
    snapshot = requests.get(f"{pendo.url}/__segpendo/records").json()
    assert snapshot["duplicates"] == 4 and len(snapshot["records"]) == 3


def test_identify_events_write_the_visitor_and_account_they_make_current(pendo: FakePendo) -> None:
    event = {
        "type": "identify",
        "visitor_id": "u9",
        "account_id": "p1::c1",
        "props": {"old_visitor_id": "_PENDO_T_x", "old_account_id": None, "visitor_id": "u9", "account_id": "p1::c1"},
    }
    requests.get(f"{pendo.url}/data/ptm.gif/key1", params={"jzb": encode_jzb([event])})
    assert pendo.records() == [
        {"kind": "visitor", "id": "u9", "metadata": {}},
        {"kind": "account", "id": "p1::c1", "metadata": {}, "parentAccountId": "p1"},
    ]


@pytest.mark.parametrize(
    ("jzb", "status", "reason"),
    [
        ("", 400, "jzb: required"),
        ("abc$def", 400, "jzb: not base64url (characters A-Z a-z 0-9 - _ only)"),
        ("A", 400, "jzb: not valid base64url (length 1)"),
        ("aGVsbG8", 400, "jzb: not valid zlib data"),
        (encode_jzb({"not": "a list"}), 400, "jzb: must decode to a JSON array of events"),
        (encode_jzb([1]), 400, "events[0]: must be an object"),
        (encode_jzb([{"type": "meta", "props": {}}]), 400, "events[0].props.visitor: must be an object"),
        (encode_jzb([{"type": "track", "visitor_id": "u"}]), 400, "events[0].track_event_name: required (a string)"),
        (
            encode_jzb([{"type": "track", "track_event_name": "E"}]),
            400,
            "events[0].visitor_id: required (a visitor id)",
        ),
        (encode_jzb([{"props": {}}]), 400, "events[0].type: required (a string)"),
    ],
)
def test_malformed_beacons_are_refused_with_the_field_named(
    pendo: FakePendo, jzb: str, status: int, reason: str
) -> None:
    r = requests.get(f"{pendo.url}/data/ptm.gif/key1", params={"jzb": jzb})
    assert r.status_code == status
    assert r.json()["error"].startswith(reason)
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert pendo.rejected[-1]["reason"].startswith(reason) and pendo.records() == []


def test_a_decompression_bomb_is_refused_without_inflating_it(pendo: FakePendo) -> None:
    bomb = zlib.compress(b"[" + b" " * (20 << 20) + b"]", 9)  # 20 MB of JSON in about 20 KB
    assert len(bomb) < 32 * 1024
    import base64

    jzb = base64.urlsafe_b64encode(bomb).rstrip(b"=").decode()
    r = requests.post(f"{pendo.url}/data/ptm.gif/key1", data=json.dumps({"events": jzb}))
    assert r.status_code == 413 and r.json()["error"] == "body.events: decompresses to more than 262144 bytes"


def test_beacon_keys(pendo: FakePendo) -> None:
    jzb = encode_jzb([meta("u1", 0)])
    assert requests.get(f"{pendo.url}/data/ptm.gif", params={"jzb": jzb}).status_code == 401
    wrong = requests.get(f"{pendo.url}/data/ptm.gif/other", params={"jzb": jzb})
    assert wrong.status_code == 403 and "not the configured key" in wrong.json()["error"]
    with FakePendo() as anykey:
        assert requests.get(f"{anykey.url}/data/ptm.gif/whatever", params={"jzb": jzb}).status_code == 200


def test_guide_routes(pendo: FakePendo) -> None:
    jzb = encode_jzb({"visitorId": "u1", "url": "https://app/page"})
    r = requests.get(f"{pendo.url}/data/guide.json/key1", params={"id": "7", "jzb": jzb, "v": "1", "ct": "1"})
    assert r.status_code == 200 and r.json() == {
        "guides": [],
        "normalizedUrl": "https://app/page",
        "lastGuideStepSeen": {},
        "id": "7",
    }
    probe = requests.get(f"{pendo.url}/data/guide.gif/key1", params={"jzb": "eJwFwIEIAAAAwDDQd3-N1QABFQC5", "ct": "1"})
    assert probe.status_code == 200 and probe.content == GIF
    log = requests.get(f"{pendo.url}/data/log.gif/key1", params={"msg": "hello", "version": "1"})
    assert log.status_code == 200 and pendo.requests()[-1]["message"] == "hello"
    assert (
        requests.post(
            f"{pendo.url}/data/errorlog?apiKey=key1", json={"error": "boom", "version": "1", "visitorId": "u1"}
        ).status_code
        == 200
    )
    assert pendo.records() == []


# -- Track Events API --------------------------------------------------------------------------------------


def post_track(pendo: FakePendo, body: Any, key: str | None = "sec1", **kw: Any) -> requests.Response:
    headers = {"x-pendo-integration-key": key} if key is not None else {}
    return requests.post(f"{pendo.url}/data/track", json=body, headers=headers, **kw)


def test_track_event_becomes_a_record(pendo: FakePendo) -> None:
    r = post_track(pendo, track_body(visitorId=42, accountId=7))
    assert r.status_code == 200
    assert pendo.records() == [
        {
            "kind": "track",
            "event": "Signed Up",
            "visitorId": "42",
            "accountId": "7",
            "timestamp": NOW,
            "properties": {"plan": "pro"},
            "context": {"ip": "1.2.3.4", "userAgent": "UA", "url": "https://a/b", "title": "B"},
        }
    ]
    assert pendo.warnings == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ([track_body()], "body: must be one JSON object (the Track Events API takes one event per request)"),
        (track_body(type="page"), "type: must be \"track\" (got 'page')"),
        (track_body(type=DROP), 'type: required ("track")'),
        (track_body(event=DROP), "event: required (a non-empty string)"),
        (track_body(event=""), "event: required (a non-empty string)"),
        (track_body(event=5), "event: must be a string (got int)"),
        (track_body(visitorId=DROP), "visitorId: required"),
        (track_body(visitorId={"id": 1}), "visitorId: must be a string (got dict)"),
        (track_body(accountId=[1]), "accountId: must be a string (got list)"),
        (track_body(timestamp=DROP), "timestamp: required (integer milliseconds since the epoch)"),
        (
            track_body(timestamp="2026-01-05T09:00:00Z"),
            "timestamp: must be an integer, milliseconds since the epoch (got '2026-01-05T09:00:00Z')",
        ),
        (track_body(timestamp=1.5), "timestamp: must be an integer, milliseconds since the epoch (got 1.5)"),
        (track_body(properties=[1]), "properties: must be an object (got list)"),
        (track_body(context=DROP), "context: required (an object; {} is allowed)"),
        (track_body(context="x"), "context: must be an object (got str)"),
        (track_body(context={"ip": 1}), "context.ip: must be a string (got int)"),
    ],
)
def test_bad_track_bodies_are_refused_with_the_field_named(pendo: FakePendo, body: Any, reason: str) -> None:
    r = post_track(pendo, body)
    assert r.status_code == 400 and r.json() == {"error": reason, "status": 400}
    assert pendo.rejected == [
        {"request": 1, "route": "track", "method": "POST", "path": "/data/track", "status": 400, "reason": reason}
    ]


def test_track_keys_and_body_limits(pendo: FakePendo) -> None:
    assert post_track(pendo, track_body(), key=None).status_code == 401
    assert post_track(pendo, track_body(), key="int1").status_code == 403
    r = requests.post(f"{pendo.url}/data/track", data=b"{nope", headers={"x-pendo-integration-key": "sec1"})
    assert r.status_code == 400 and r.json()["error"].startswith("body: not valid JSON: Expecting property name")
    big = track_body(properties={"blob": "x" * 70_000})
    assert post_track(pendo, big).status_code == 413
    zipped = gzip.compress(json.dumps(track_body(event="Zipped")).encode())
    r = requests.post(
        f"{pendo.url}/data/track",
        data=zipped,
        headers={"x-pendo-integration-key": "sec1", "Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert r.status_code == 200 and pendo.records()[-1]["event"] == "Zipped"
    bomb = gzip.compress(b" " * (10 << 20))
    r = requests.post(
        f"{pendo.url}/data/track", data=bomb, headers={"x-pendo-integration-key": "sec1", "Content-Encoding": "gzip"}
    )
    assert r.status_code == 413 and r.json()["error"] == "gzip body: decompresses to more than 262144 bytes"
    assert [x["status"] for x in pendo.rejected] == [401, 403, 400, 413, 413]


def test_rules_pendo_applies_after_accepting_are_warnings(pendo: FakePendo) -> None:
    """support.pendo.io 360032294291 (Configure Track Events): property names take letters, digits and _, at most
    32 characters, not both beginning and ending with __; properties over 512 bytes of JSON show as "event
    properties JSON too large". Pendo keeps such events: they are warnings, not drops."""
    props = {"has space": 1, "1st": 2, "__dunder__": 3, "a" * 33: 4, "fine_name": "y" * 600}
    r = post_track(pendo, track_body(properties=props, extra=1))
    assert r.status_code == 200 and len(pendo.records()) == 1 and pendo.dropped == []
    rules = [(w["rule"], w["detail"]) for w in pendo.warnings]
    assert ("unknown-field", "extra: not a Track Events API field; Pendo ignores it") in rules
    assert [d for r_, d in rules if r_ == "property-name"] == [
        "properties.has space: only letters, digits and _, not starting with a digit",
        "properties.1st: only letters, digits and _, not starting with a digit",
        "properties.__dunder__: must not both begin and end with __",
        f"properties.{'a' * 33}: longer than 32 characters",
    ]
    assert any(r_ == "properties-too-large" for r_, _ in rules)
    assert {r_ for r_, _ in rules} == {"unknown-field", "property-name", "properties-too-large"}


# -- Metadata API ------------------------------------------------------------------------------------------

HEADERS = {"x-pendo-integration-key": "int1", "content-type": "application/json"}


def test_bulk_metadata_with_and_without_create(pendo: FakePendo) -> None:
    """Pendo's bulk endpoint only updates objects that exist ("It will not create new records": Pendo's v1 API
    reference as paraphrased by public READMEs); ``?create=true`` creates them (support.pendo.io community post
    9320635116315). A write to an unknown id is answered 200, listed in ``missing`` and never applied: a drop."""
    url = f"{pendo.url}/api/v1/metadata/visitor/custom/value"
    r = requests.post(url, json=[{"visitorId": "u1", "values": {"plan": "free"}}], headers=HEADERS)
    assert r.status_code == 200
    assert r.json() == {"total": 1, "updated": 0, "failed": 1, "missing": ["u1"], "errors": []}
    assert pendo.records() == [] and pendo.warnings == []
    assert pendo.dropped == [
        {
            "request": 1,
            "route": "metadata",
            "rule": "metadata-unknown-id",
            "reason": "visitor 'u1' does not exist: Pendo lists it in `missing` and never applies the write "
            "(add ?create=true to create it)",
            "source": "https://support.pendo.io/hc/en-us/community/posts/9320635116315",
            "record": {"kind": "visitor", "id": "u1", "metadata": {"plan": "free"}},
        }
    ]
    r = requests.post(
        url + "?create=true",
        json=[{"visitorId": "u1", "values": {"plan": "free", "seats": 3}}, {"visitorId": 2, "values": {}}],
        headers=HEADERS,
    )
    assert r.json() == {"total": 2, "updated": 2, "failed": 0, "missing": [], "errors": []}
    r = requests.post(url, json=[{"visitorId": "u1", "values": {"plan": "pro"}}], headers=HEADERS)
    assert r.json()["updated"] == 1
    assert pendo.records("state")[0] == {"kind": "visitor", "id": "u1", "metadata": {"plan": "pro", "seats": 3}}
    account = requests.post(
        f"{pendo.url}/api/v1/metadata/account/custom/value?create=true",
        json=[{"accountId": "p::c", "values": {"tier": 1}}],
        headers=HEADERS,
    )
    assert account.status_code == 200
    assert pendo.records()[-1] == {"kind": "account", "id": "p::c", "metadata": {"tier": 1}, "parentAccountId": "p"}
    assert len(pendo.dropped) == 1


@pytest.mark.parametrize(
    ("path", "body", "status", "reason"),
    [
        ("visitor/custom/value", {"visitorId": "u"}, 400, "body: must be a JSON array of {visitorId, values} objects"),
        ("visitor/custom/value", ["u"], 400, "body[0]: must be an object"),
        ("visitor/custom/value", [{"values": {}}], 400, "body[0].visitorId: required"),
        (
            "visitor/custom/value",
            [{"accountId": "a", "values": {}}],
            400,
            "body[0].visitorId: required (accountId is for kind account)",
        ),
        (
            "account/custom/value",
            [{"accountId": "a", "values": 5}],
            400,
            "body[0].values: required (an object of field values)",
        ),
        ("user/custom/value", [], 404, "metadata kind 'user': use visitor or account"),
        ("visitor/auto/value", [], 404, "metadata group 'auto': use agent or custom"),
    ],
)
def test_bad_metadata_requests(pendo: FakePendo, path: str, body: Any, status: int, reason: str) -> None:
    r = requests.post(f"{pendo.url}/api/v1/metadata/{path}?create=true", json=body, headers=HEADERS)
    assert r.status_code == status and r.json()["error"] == reason


def test_single_value_put_reads_and_schema(pendo: FakePendo) -> None:
    r = requests.put(
        f"{pendo.url}/api/v1/metadata/visitor/custom/value/user%2F1/APPID_targetingcookies",
        data='"YES"',
        headers=HEADERS,
    )
    assert r.status_code == 200
    requests.put(
        f"{pendo.url}/api/v1/metadata/visitor/pendo/value/user%2F1/donotprocess", data="false", headers=HEADERS
    )
    assert pendo.rejected[-1]["status"] == 404
    requests.put(f"{pendo.url}/api/v1/metadata/visitor/custom/value/user%2F1/seats", data="3", headers=HEADERS)
    assert pendo.records() == [
        {"kind": "visitor", "id": "user/1", "metadata": {"APPID_targetingcookies": "YES"}},
        {"kind": "visitor", "id": "user/1", "metadata": {"seats": 3}},
    ]
    requests.get(f"{pendo.url}/data/ptm.gif/key1", params={"jzb": encode_jzb([meta("user/1", 0, role="admin")])})
    visitor = requests.get(f"{pendo.url}/api/v1/visitor/user%2F1", headers=HEADERS)
    assert visitor.json() == {
        "visitorId": "user/1",
        "metadata": {"custom": {"APPID_targetingcookies": "YES", "seats": 3}, "agent": {"role": "admin"}},
    }
    missing = requests.get(f"{pendo.url}/api/v1/account/nope", headers=HEADERS)
    assert missing.status_code == 404 and missing.json()["error"] == "account 'nope' not found"
    schema = requests.get(f"{pendo.url}/api/v1/metadata/schema/visitor", headers=HEADERS).json()
    assert schema["custom"]["appid_targetingcookies"]["Type"] == "string"
    assert schema["custom"]["seats"]["Type"] == "integer" and schema["custom"]["seats"]["DisplayName"] == "seats"
    assert schema["agent"]["role"]["Type"] == "string"
    assert requests.get(f"{pendo.url}/api/v1/metadata/schema/visitor").status_code == 401


# -- classic cloud mode ----------------------------------------------------------------------------------------


def test_segmentio_webhook_applies_the_classic_mapping(pendo: FakePendo) -> None:
    url = f"{pendo.url}/data/segmentio/key1"
    assert (
        requests.post(
            url, json={"type": "identify", "userId": "u1", "traits": {"id": "crm-1", "email": "a@b.c"}}
        ).status_code
        == 200
    )
    assert (
        requests.post(
            url,
            json=[
                {"type": "group", "userId": "u1", "groupId": "c", "traits": {"parentAccount": {"id": "p", "n": 1}}},
                {"type": "track", "userId": "u1", "event": "E"},
            ],
        ).status_code
        == 200
    )
    assert pendo.records() == [
        {"kind": "visitor", "id": "crm-1", "metadata": {"email": "a@b.c"}},
        {"kind": "account", "id": "p::c", "metadata": {}, "parentAccountId": "p"},
        {"kind": "parentAccount", "id": "p", "metadata": {"n": 1}},
    ]
    assert pendo.ignored[0]["type"] == "track" and pendo.ignored[0]["reason"].startswith(
        "track calls on /data/segmentio become Track Events only when Pendo enables a setting on your subscription"
    )
    bad = requests.post(url, json=[{"type": "group", "userId": "u1"}])
    assert bad.status_code == 400 and bad.json()["error"] == "body[0]: group.groupId: required"
    assert requests.post(f"{pendo.url}/data/segmentio/wrong", json={}).status_code == 403


# -- routing, inspection, faults ------------------------------------------------------------------------------


def test_unknown_routes_and_methods_are_refused_and_recorded(pendo: FakePendo) -> None:
    r = requests.post(f"{pendo.url}/data/tracks", json={})
    assert r.status_code == 404 and r.json()["error"] == "no such route: POST /data/tracks"
    r = requests.get(f"{pendo.url}/data/track")
    assert r.status_code == 405 and r.json()["error"] == "GET is not allowed on /data/track (use OPTIONS, POST)"
    assert [x["status"] for x in pendo.rejected] == [404, 405]


def test_inspection_endpoints(pendo: FakePendo) -> None:
    post_track(pendo, track_body())
    post_track(pendo, track_body(type="x"))
    data = requests.get(f"{pendo.url}/__segpendo/records").json()
    assert (
        set(data) >= {"records", "rejected", "duplicates"} and len(data["records"]) == 1 and len(data["rejected"]) == 1
    )
    assert data["records"][0]["source"] == {"route": "track", "request": 1}
    journal = requests.get(f"{pendo.url}/__segpendo/requests").json()["requests"]
    assert [(e["id"], e["route"], e["status"], e["outcome"]) for e in journal] == [
        (1, "track", 200, "accepted"),
        (2, "track", 400, "rejected"),
    ]
    assert journal[0]["headers"]["x-pendo-integration-key"] == "sec1"
    assert requests.post(f"{pendo.url}/__segpendo/reset").json() == {"reset": True}
    assert requests.get(f"{pendo.url}/__segpendo/records").json()["records"] == []
    assert requests.get(f"{pendo.url}/__segpendo/requests").json()["requests"] == []


def test_faults_over_http_status_retry_after_and_counts(pendo: FakePendo) -> None:
    rules = [{"route": "track", "status": 429, "retry_after": 2, "nth": 2, "count": 2}]
    assert requests.post(f"{pendo.url}/__segpendo/faults", json=rules).status_code == 200
    statuses = []
    for _ in range(5):
        r = post_track(pendo, track_body())
        statuses.append(r.status_code)
        if r.status_code == 429:
            assert r.headers["Retry-After"] == "2"
    assert statuses == [200, 429, 429, 200, 200]
    assert len(pendo.records()) == 3 and pendo.rejected == []
    state = requests.get(f"{pendo.url}/__segpendo/faults").json()["faults"]
    assert state[0]["matched"] == 5 and state[0]["fired"] == 2
    bad = requests.post(f"{pendo.url}/__segpendo/faults", json=[{"route": "trak", "status": 500}])
    assert bad.status_code == 400 and bad.json()["error"].startswith("faults[0].route: unknown route 'trak'")


def test_faults_by_probability_are_reproducible_from_the_seed(pendo: FakePendo) -> None:
    def run() -> list[int]:
        pendo.reset()
        pendo.faults.add(route="*", status=503, probability=0.4, seed=7, count=None)
        return [post_track(pendo, track_body()).status_code for _ in range(20)]

    first, second = run(), run()
    assert first == second and 503 in first and 200 in first


def test_delay_and_dropped_connections(pendo: FakePendo) -> None:
    pendo.faults.add(route="track", delay_ms=150)
    start = time.monotonic()
    assert post_track(pendo, track_body()).status_code == 200
    assert time.monotonic() - start >= 0.15
    pendo.faults.replace([{"route": "track", "drop": True}])
    with pytest.raises(requests.ConnectionError):
        post_track(pendo, track_body(), timeout=5)
    assert post_track(pendo, track_body()).status_code == 200, "the server keeps serving"
    assert [e["outcome"] for e in pendo.requests()] == ["accepted", "dropped", "accepted"]


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"status": 200}, "faults[0].status: must be an HTTP error status, 400-599 (got 200)"),
        ({"count": 0}, "faults[0].count: must be a whole number >= 1, or null for every request (got 0)"),
        ({"probability": 2}, "faults[0].probability: must be between 0 and 1 (got 2)"),
        ({"status": 500, "drop": True}, "faults[0]: give status or drop, not both"),
        ({"colour": "red"}, "faults[0].colour: unknown field"),
    ],
)
def test_bad_fault_rules(pendo: FakePendo, rule: dict[str, Any], message: str) -> None:
    from pytest_segpendo.fakes.core.faults import FaultError

    with pytest.raises(FaultError, match="^" + re.escape(message)):
        pendo.faults.add(**rule)


def test_journal_can_be_bounded() -> None:
    with FakePendo(journal_limit=3) as fake:
        for _ in range(5):
            requests.post(f"{fake.url}/data/track", json=track_body(), headers={"x-pendo-integration-key": "k"})
        assert [e["id"] for e in fake.requests()] == [3, 4, 5]
        assert requests.get(f"{fake.url}/__segpendo/requests").json()["dropped"] == 2
        assert len(fake.records()) == 5, "records are never dropped"
