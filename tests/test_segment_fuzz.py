"""Property-based tests of the fake Segment API: any body, any credentials, gzip or not: never a 5xx, every
refusal has a code and a message and is recorded, and the server keeps serving."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_segpendo.fakes import FakeSegment

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=16,
)
segment_event = st.fixed_dictionaries(
    {"type": st.sampled_from(["identify", "group", "track", "page", "screen", "alias"]) | json_values},
    optional={
        "userId": json_values,
        "anonymousId": json_values,
        "event": json_values,
        "groupId": json_values,
        "previousId": json_values,
        "traits": json_values,
        "properties": json_values,
        "context": json_values,
        "integrations": json_values,
        "messageId": json_values,
        "timestamp": json_values,
    },
)
batch_body = st.fixed_dictionaries(
    {"batch": st.lists(segment_event | json_values, max_size=5)},
    optional={"writeKey": json_values, "context": json_values, "integrations": json_values, "sentAt": json_values},
)
auth = st.sampled_from([None, "basic", "bearer", "garbage"])
SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)


@pytest.fixture(scope="module")
def segment() -> Iterator[FakeSegment]:
    with FakeSegment() as fake:
        yield fake


def headers_for(kind: str | None) -> dict[str, str]:
    if kind == "basic":
        return {"Authorization": "Basic " + base64.b64encode(b"wk:").decode()}
    if kind == "bearer":
        return {"Authorization": "Bearer tok"}
    if kind == "garbage":
        return {"Authorization": "Basic ???"}
    return {}


def check(segment: FakeSegment, response: requests.Response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        body = response.json()
        assert body["code"] and body["message"]
        assert segment.rejected[-1]["reason"] == body["message"]
    segment.raise_errors()


@SETTINGS
@given(body=batch_body | json_values, how=auth, zipped=st.booleans(), route=st.sampled_from(["batch", "import"]))
def test_batch_bodies(segment: FakeSegment, body: Any, how: str | None, zipped: bool, route: str) -> None:
    data = json.dumps(body).encode()
    headers = headers_for(how)
    if zipped:
        data = gzip.compress(data)
        headers["Content-Encoding"] = "gzip"
    check(segment, requests.post(f"{segment.url}/v1/{route}", data=data, headers=headers))


@SETTINGS
@given(
    body=segment_event | json_values,
    call=st.sampled_from(["identify", "track", "page", "screen", "group", "alias"]),
    how=auth,
)
def test_single_event_bodies(segment: FakeSegment, body: Any, call: str, how: str | None) -> None:
    check(segment, requests.post(f"{segment.url}/v1/{call}", data=json.dumps(body).encode(), headers=headers_for(how)))


@SETTINGS
@given(raw=st.binary(max_size=200), encoding=st.sampled_from(["gzip", "deflate", "br", None]))
def test_raw_bytes(segment: FakeSegment, raw: bytes, encoding: str | None) -> None:
    headers = headers_for("basic")
    if encoding:
        headers["Content-Encoding"] = encoding
    check(segment, requests.post(f"{segment.url}/v1/batch", data=raw, headers=headers))


def test_still_serving_after_broken_input(segment: FakeSegment) -> None:
    """Whatever order the tests run in: broken bodies first, then a good call on the same fake."""
    for body in (b"{", b"\xff\xfe", b'{"batch": 7}', b"[" * 2000, b'{"writeKey": "k", "batch": [null, 1, "x"]}'):
        broken = requests.post(f"{segment.url}/v1/batch", data=body, headers={"Content-Type": "application/json"})
        assert broken.status_code < 500
    r = requests.post(f"{segment.url}/v1/track", json={"userId": "u", "event": "E", "writeKey": "k"})
    assert r.status_code == 200 and r.json() == {"success": True}


@pytest.fixture(scope="module")
def keyed() -> Iterator[FakeSegment]:
    with FakeSegment(write_key="wk") as fake:
        yield fake


@SETTINGS
@given(body=batch_body, key=st.sampled_from(["wk", "other", ""]), in_body=st.booleans())
def test_a_wrong_key_never_captures_and_lists_every_event(
    keyed: FakeSegment, body: dict[str, Any], key: str, in_body: bool
) -> None:
    body = {k: v for k, v in body.items() if k != "writeKey"}
    headers = {}
    if in_body:
        body["writeKey"] = key
    else:
        headers = {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}
    captured, refused = len(keyed.events()), len(keyed.rejected)
    response = requests.post(f"{keyed.url}/v1/batch", data=json.dumps(body).encode(), headers=headers)
    check(keyed, response)
    if key == "":
        assert response.status_code == 400 and response.json()["code"] == "missing_write_key"
    elif key == "other" and response.status_code == 200:
        assert len(keyed.events()) == captured, "nothing sent with a wrong key is captured"
        new = keyed.rejected[refused:]
        assert len(new) == len(body["batch"]) and all(r["reason"].startswith("wrong write key") for r in new)
