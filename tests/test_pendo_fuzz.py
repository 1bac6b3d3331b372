"""Property-based tests of every decoder of the fake Pendo server: whatever arrives, the answer is 2xx or 4xx
(never 5xx), a refusal carries a JSON reason and is recorded, and the server keeps serving."""

from __future__ import annotations

import base64
import json
import time
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pytest_segpendo.fakes.pendo import FakePendo, encode_jzb

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=20,
)
# Things shaped like what the decoders expect, with holes: more likely to reach deep code paths.
agent_event = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["meta", "identify", "track", "load", "click", "guideSeen"])
        | st.text(max_size=5)
        | st.integers()
    },
    optional={
        "visitor_id": json_values,
        "account_id": json_values,
        "track_event_name": json_values,
        "props": st.fixed_dictionaries(
            {},
            optional={
                "visitor": json_values,
                "account": json_values,
                "parentAccount": json_values,
                "visitor_id": json_values,
                "account_id": json_values,
            },
        )
        | json_values,
        "tabId": json_values,
        "sequence": json_values,
        "browser_time": json_values,
        "url": json_values,
    },
)
track_like = st.fixed_dictionaries(
    {},
    optional={
        "type": st.just("track") | json_values,
        "event": st.text(max_size=10) | json_values,
        "visitorId": st.text(max_size=10) | json_values,
        "accountId": json_values,
        "timestamp": st.integers() | json_values,
        "properties": st.dictionaries(st.text(max_size=40), json_values, max_size=5) | json_values,
        "context": st.dictionaries(st.sampled_from(["ip", "userAgent", "url", "title", "x"]), json_values, max_size=4)
        | json_values,
    },
)
metadata_like = (
    st.lists(
        st.fixed_dictionaries({}, optional={"visitorId": json_values, "accountId": json_values, "values": json_values}),
        max_size=4,
    )
    | json_values
)
segment_like = st.fixed_dictionaries(
    {"type": st.sampled_from(["identify", "group", "track", "page", "screen", "alias"]) | json_values},
    optional={
        "userId": json_values,
        "anonymousId": json_values,
        "groupId": json_values,
        "traits": json_values,
        "event": json_values,
        "previousId": json_values,
    },
)

SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
# Examples that once broke the fake are replayed on every run, whatever the random draw.


@pytest.fixture(scope="module")
def pendo() -> Iterator[FakePendo]:
    with FakePendo(max_body=256 * 1024, max_decompressed=512 * 1024) as fake:
        yield fake


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


def check(pendo: FakePendo, response: requests.Response, read: bool = False) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.json()["error"], "a refusal names its reason"
        if not (read and response.status_code == 404):  # "not found" answers a read; it refuses nothing
            assert pendo.rejected[-1]["reason"] == response.json()["error"]
    pendo.raise_errors()


@SETTINGS
@given(events=st.lists(agent_event, max_size=4) | json_values)
def test_beacon_jzb_of_any_json(pendo: FakePendo, session: requests.Session, events: Any) -> None:
    check(pendo, session.get(f"{pendo.url}/data/ptm.gif/k", params={"jzb": encode_jzb(events)}))


@SETTINGS
@given(raw=st.binary(max_size=300), mode=st.sampled_from(["b64", "zlib", "text"]))
def test_beacon_jzb_of_any_bytes(pendo: FakePendo, session: requests.Session, raw: bytes, mode: str) -> None:
    if mode == "zlib":
        raw = zlib.compress(raw)
    text = raw.decode("latin-1") if mode == "text" else base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    check(pendo, session.get(f"{pendo.url}/data/ptm.gif/k", params={"jzb": text}))


@SETTINGS
@given(
    body=st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()),
    content_type=st.sampled_from(["application/json", "text/plain", ""]),
)
def test_beacon_post_bodies(pendo: FakePendo, session: requests.Session, body: bytes, content_type: str) -> None:
    check(pendo, session.post(f"{pendo.url}/data/ptm.gif/k", data=body, headers={"Content-Type": content_type}))


@SETTINGS
@given(body=track_like | json_values, raw=st.none() | st.binary(max_size=100))
@example(body=None, raw=b"[" * 5000)  # deeper than the parser's stack: once a 500
@example(body=None, raw=b"[" * 1000 + b"]" * 1000)  # parsed, but too deep to write back out: once a 500
def test_track_api(pendo: FakePendo, session: requests.Session, body: Any, raw: bytes | None) -> None:
    data = raw if raw is not None else json.dumps(body).encode()
    check(pendo, session.post(f"{pendo.url}/data/track", data=data, headers={"x-pendo-integration-key": "s"}))


@SETTINGS
@given(body=metadata_like, kind=st.sampled_from(["visitor", "account", "nope"]), create=st.booleans())
def test_metadata_api(pendo: FakePendo, session: requests.Session, body: Any, kind: str, create: bool) -> None:
    url = f"{pendo.url}/api/v1/metadata/{kind}/custom/value" + ("?create=true" if create else "")
    check(pendo, session.post(url, data=json.dumps(body).encode(), headers={"x-pendo-integration-key": "s"}))


@SETTINGS
@given(ident=st.text(max_size=12), field=st.text(min_size=1, max_size=8), value=json_values)
@example(ident="\n", field="\n", value=None)
@example(ident="", field="x", value=1)
@example(ident="a/b", field="c%2F", value="v")
def test_single_value_put_and_reads(
    pendo: FakePendo, session: requests.Session, ident: str, field: str, value: Any
) -> None:
    from urllib.parse import quote

    key = {"x-pendo-integration-key": "s"}
    check(
        pendo,
        session.put(
            f"{pendo.url}/api/v1/metadata/visitor/custom/value/{quote(ident, safe='')}/{quote(field, safe='')}",
            data=json.dumps(value),
            headers=key,
        ),
    )
    check(pendo, session.get(f"{pendo.url}/api/v1/visitor/{quote(ident, safe='')}", headers=key), read=True)


@SETTINGS
@given(body=segment_like | st.lists(segment_like, max_size=3) | json_values)
def test_segmentio_webhook(pendo: FakePendo, session: requests.Session, body: Any) -> None:
    check(pendo, session.post(f"{pendo.url}/data/segmentio/k", data=json.dumps(body).encode()))


def test_still_serving_after_hostile_input(pendo: FakePendo, session: requests.Session) -> None:
    """Brings its own hostile input (it used to rely on the fuzz tests having run first in the same module, and
    proved nothing when run alone or first): every route gets broken bodies, then a valid request is served."""
    before = len(pendo.rejected)
    broken = [b"", b"{", b"\xff", b"[" * 3000, b'{"events": "%%%"}', b"null", zlib.compress(b"[]")]
    paths = ["/data/track", "/data/ptm.gif/k", "/api/v1/metadata/visitor/custom/value", "/data/segmentio/k"]
    for path in paths:
        for body in broken:
            check(pendo, session.post(pendo.url + path, data=body, headers={"x-pendo-integration-key": "s"}))
    assert len(pendo.rejected) - before == len(paths) * len(broken), "each broken body is refused with a reason"
    stamp = int(time.time() * 1000)
    r = session.post(
        f"{pendo.url}/data/track",
        json={"type": "track", "event": "After", "visitorId": "u", "timestamp": stamp, "context": {}},
        headers={"x-pendo-integration-key": "s"},
    )
    assert r.status_code == 200 and pendo.records()[-1]["event"] == "After"
