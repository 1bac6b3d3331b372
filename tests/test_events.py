"""The Segment event model: one bad event per rule, with the exact message a user sees."""

from __future__ import annotations

import copy
from datetime import datetime, timezone

import pytest

from pytest_segpendo.events import (
    MAX_EVENT_BYTES,
    InvalidEvent,
    event_size,
    is_iso8601,
    normalise,
    require_valid_event,
    validate_event,
)

BASE = {
    "identify": {"type": "identify", "userId": "u1", "traits": {"email": "a@b.c"}},
    "group": {"type": "group", "userId": "u1", "groupId": "g1", "traits": {"name": "Acme"}},
    "track": {"type": "track", "userId": "u1", "event": "Signed Up", "properties": {"plan": "pro"}},
    "page": {"type": "page", "anonymousId": "a1", "name": "Home", "properties": {"path": "/"}},
    "screen": {"type": "screen", "anonymousId": "a1", "name": "Home", "properties": {}},
    "alias": {"type": "alias", "userId": "u1", "previousId": "a1"},
}


def event(kind: str, **changes: object) -> dict:
    out = copy.deepcopy(BASE[kind])
    for key, value in changes.items():
        if value is DROP:
            out.pop(key, None)
        else:
            out[key] = value
    return out


DROP = object()


def messages(ev: object) -> list[str]:
    return [str(e) for e in validate_event(ev)]


@pytest.mark.parametrize("kind", sorted(BASE))
def test_minimal_event_of_each_type_is_valid(kind: str) -> None:
    assert messages(BASE[kind]) == []


@pytest.mark.parametrize(
    ("ev", "expected"),
    [
        # the event itself
        ([1, 2], ["event: must be a JSON object (got array)"]),
        ("text", ["event: must be a JSON object (got string)"]),
        ({"userId": "u1"}, ["type: required"]),
        (
            {"type": "purchase", "userId": "u1"},
            ["type: must be one of alias, group, identify, page, screen, track (got 'purchase')"],
        ),
        # identity: userId or anonymousId, empty string counts as absent
        (event("track", userId=DROP), ["track: userId or anonymousId required"]),
        (event("track", userId=""), ["track: userId or anonymousId required"]),
        (event("identify", userId=None, anonymousId=""), ["identify: userId or anonymousId required"]),
        (event("track", userId=True), ["track.userId: must be a string or a number (got boolean)"]),
        (event("page", anonymousId={"id": 1}), ["page.anonymousId: must be a string or a number (got object)"]),
        # each call's required field
        (event("track", event=DROP), ["track.event: required"]),
        (event("track", event=None), ["track.event: required"]),
        (event("track", event=42), ["track.event: must be a string (got number)"]),
        (event("group", groupId=DROP), ["group.groupId: required"]),
        (event("group", groupId=""), ["group.groupId: required"]),
        (event("group", groupId=["g"]), ["group.groupId: must be a string or a number (got array)"]),
        (event("alias", previousId=DROP), ["alias.previousId: required"]),
        (event("alias", previousId=False), ["alias.previousId: must be a string or a number (got boolean)"]),
        (event("page", name=3), ["page.name: must be a string (got number)"]),
        (event("screen", category=[]), ["screen.category: must be a string (got array)"]),
        # free-form objects
        (event("identify", traits="vip"), ["identify.traits: must be an object (got string)"]),
        (event("group", traits=[1]), ["group.traits: must be an object (got array)"]),
        (event("track", properties=5), ["track.properties: must be an object (got number)"]),
        (event("page", properties="x"), ["page.properties: must be an object (got string)"]),
        # common fields
        (event("track", messageId="m" * 101), ["track.messageId: at most 100 characters (got 101)"]),
        (event("track", messageId=7), ["track.messageId: must be a string (got number)"]),
        (
            event("track", timestamp="yesterday"),
            ["track.timestamp: must be an ISO-8601 date-time string (got 'yesterday')"],
        ),
        (
            event("track", sentAt="2024-02-30T00:00:00Z"),
            ["track.sentAt: must be an ISO-8601 date-time string (got '2024-02-30T00:00:00Z')"],
        ),
        (
            event("track", receivedAt=1700000000000),
            ["track.receivedAt: must be an ISO-8601 date-time string (got 1700000000000)"],
        ),
        (
            event("track", originalTimestamp="2024-01-02T25:00:00Z"),
            ["track.originalTimestamp: must be an ISO-8601 date-time string (got '2024-01-02T25:00:00Z')"],
        ),
        (event("track", version=True), ["track.version: must be a number or a string (got boolean)"]),
        (event("track", context="web"), ["track.context: must be an object (got string)"]),
        (event("track", context={"page": "/home"}), ["track.context.page: must be an object (got string)"]),
        (event("track", context={"traits": []}), ["track.context.traits: must be an object (got array)"]),
        (event("track", context={"ip": 127001}), ["track.context.ip: must be a string (got number)"]),
        (
            event("track", context={"groupId": {"id": "g"}}),
            ["track.context.groupId: must be a string or a number (got object)"],
        ),
        (event("track", context={"active": "yes"}), ["track.context.active: must be a boolean (got string)"]),
        (event("track", integrations=[]), ["track.integrations: must be an object (got array)"]),
        (
            event("track", integrations={"Pendo": "on"}),
            ["track.integrations.Pendo: must be a boolean or an object (got string)"],
        ),
    ],
)
def test_each_rule_names_path_and_rule(ev: object, expected: list[str]) -> None:
    assert messages(ev) == expected


def test_every_error_is_reported_not_just_the_first() -> None:
    bad = {"type": "track", "properties": [], "messageId": "x" * 200, "timestamp": "soon"}
    assert messages(bad) == [
        "track: userId or anonymousId required",
        "track.event: required",
        "track.properties: must be an object (got array)",
        "track.messageId: at most 100 characters (got 200)",
        "track.timestamp: must be an ISO-8601 date-time string (got 'soon')",
    ]


def test_size_limit_is_32_kb_of_compact_utf8_json() -> None:
    ev = event("track", properties={"blob": ""})
    room = MAX_EVENT_BYTES - event_size(ev)
    ev["properties"]["blob"] = "x" * room
    assert event_size(ev) == MAX_EVENT_BYTES
    assert messages(ev) == []
    ev["properties"]["blob"] += "x"
    assert messages(ev) == [f"track: at most 32 KB (32768 bytes) per event (got {MAX_EVENT_BYTES + 1} bytes)"]


def test_size_counts_utf8_bytes_not_characters() -> None:
    ev = event("track", properties={"blob": ""})
    room = MAX_EVENT_BYTES - event_size(ev)
    ev["properties"]["blob"] = "é" * (room // 2 + 1)  # two bytes each
    assert len(str(ev)) < MAX_EVENT_BYTES
    assert messages(ev)[0].startswith("track: at most 32 KB")


def test_numeric_ids_are_accepted_as_segment_libraries_accept_them() -> None:
    assert messages(event("identify", userId=12345)) == []
    assert messages(event("group", groupId=987)) == []
    assert messages(event("track", context={"groupId": 5})) == []


@pytest.mark.parametrize(
    "text",
    [
        "2024-01-02",
        "2024-01-02T03:04",
        "2024-01-02T03:04:05Z",
        "2024-01-02T03:04:05.678Z",
        "2024-01-02T03:04:05+02:00",
        "2024-01-02T03:04:05.123456-0530",
    ],
)
def test_iso8601_forms_accepted(text: str) -> None:
    assert is_iso8601(text)


@pytest.mark.parametrize(
    "text",
    ["2024-1-2", "2024-01-02 03:04:05", "2024-02-30", "2024-01-02T24:00:00Z", "2024-01-02T03:04:05+25:00", "", "now"],
)
def test_iso8601_forms_refused(text: str) -> None:
    assert not is_iso8601(text)


def test_require_valid_event_raises_with_every_error() -> None:
    with pytest.raises(InvalidEvent) as info:
        require_valid_event({"type": "group"})
    assert [str(e) for e in info.value.errors] == ["group: userId or anonymousId required", "group.groupId: required"]
    assert str(info.value) == "group: userId or anonymousId required; group.groupId: required"
    ok = BASE["track"]
    assert require_valid_event(ok) is ok


def test_normalise_fills_what_libraries_fill_without_touching_input() -> None:
    original = {"type": "track", "userId": 42, "event": "Signed Up", "properties": {"plan": "pro"}}
    before = copy.deepcopy(original)
    now = datetime(2026, 1, 5, 9, 0, 0, 123000, tzinfo=timezone.utc)
    out = normalise(original, now=now, message_id="m-1")
    assert original == before
    assert out == {
        "type": "track",
        "userId": "42",
        "event": "Signed Up",
        "properties": {"plan": "pro"},
        "messageId": "m-1",
        "timestamp": "2026-01-05T09:00:00.123Z",
        "sentAt": "2026-01-05T09:00:00.123Z",
        "context": {"library": {"name": "analytics-python", "version": "2.4.0"}},
        "integrations": {},
    }
    assert validate_event(out) == []


def test_normalise_keeps_fields_already_present() -> None:
    ev = {
        "type": "identify",
        "userId": "u",
        "messageId": "keep",
        "timestamp": "2020-01-01T00:00:00.000Z",
        "context": {"library": {"name": "analytics.js", "version": "next-1.76.1"}, "ip": "1.2.3.4"},
    }
    out = normalise(ev, library={"name": "x", "version": "1"})
    assert out["messageId"] == "keep"
    assert out["timestamp"] == "2020-01-01T00:00:00.000Z"
    assert out["context"] == ev["context"]
    assert is_iso8601(out["sentAt"])
    fresh = normalise({"type": "identify", "userId": "u"}, library={"name": "analytics-node", "version": "3.1.0"})
    assert fresh["context"]["library"] == {"name": "analytics-node", "version": "3.1.0"}
    assert len(fresh["messageId"]) == 36 and fresh["messageId"][14] == "4"


def test_the_old_name_check_event_warns_and_still_works() -> None:
    ok = {"type": "track", "userId": "u1", "event": "E"}
    with pytest.warns(DeprecationWarning, match="require_valid_event"):
        from pytest_segpendo import check_event
    assert check_event(ok) is ok
    with pytest.warns(DeprecationWarning, match="require_valid_event"):
        from pytest_segpendo.events import check_event as old

        assert old(ok) is ok
