"""The HTTP behaviour both fakes share (fakes/core): an early answer (413 for a body over the cap) that a real
client can read, draining within bounds, ``Expect: 100-continue``, and a fake that keeps serving after hostile
input, whatever ran before (each test brings its own hostile input)."""

from __future__ import annotations

import base64
import http.client
import json
import socket
import time
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from werkzeug.wrappers import Request, Response

from pytest_segpendo.fakes import FakePendo, FakeSegment
from pytest_segpendo.fakes.core.server import ServerThread

MiB = 1 << 20
KEY = {"x-pendo-integration-key": "k", "content-type": "application/json"}


def track(event: str = "E") -> dict[str, Any]:
    return {"type": "track", "event": event, "visitorId": "u", "timestamp": int(time.time() * 1000), "context": {}}


def oversize(n: int) -> bytes:
    """A JSON body of ``n`` bytes (a relay's batch that grew too large)."""
    pad = n - len(b'{"pad": ""}')
    return b'{"pad": "' + b"x" * pad + b'"}'


@pytest.fixture
def pendo() -> Iterator[FakePendo]:
    with FakePendo() as fake:
        yield fake
        fake.raise_errors()


# -- 413 the client can read ------------------------------------------------------------------------------------


def test_requests_reads_the_413_and_its_reason_for_an_8_mib_body(pendo: FakePendo) -> None:
    """nginx answers a body over client_max_body_size with 413 and reads and discards the rest (lingering_close),
    so a relay that splits its batch on 413 sees the 413. Before, the fake closed on a client still sending and
    the client saw a connection reset instead."""
    r = requests.post(pendo.url + "/data/track", data=oversize(8 * MiB), headers=KEY, timeout=30)
    assert r.status_code == 413
    assert r.json() == {"error": f"body of {8 * MiB} bytes is over the {MiB}-byte limit", "status": 413}
    assert r.headers["Connection"] == "close"
    assert pendo.rejected[0]["status"] == 413
    again = requests.post(pendo.url + "/data/track", json=track(), headers=KEY, timeout=10)
    assert again.status_code == 200 and len(pendo.records()) == 1


def test_http_client_reads_the_413_then_a_new_connection_works(pendo: FakePendo) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", pendo.port, timeout=30)
    conn.request("POST", "/api/v1/metadata/visitor/custom/value", body=oversize(4 * MiB), headers=KEY)
    answer = conn.getresponse()
    assert answer.status == 413 and json.loads(answer.read())["error"].endswith(f"over the {MiB}-byte limit")
    conn.close()
    conn = http.client.HTTPConnection("127.0.0.1", pendo.port, timeout=10)
    conn.request("POST", "/data/track", body=json.dumps(track()), headers=KEY)
    assert conn.getresponse().status == 200


def test_a_chunked_oversize_body_gets_a_readable_413(pendo: FakePendo) -> None:
    """Without Content-Length (chunked) the cap is found while reading; the rest is drained the same way."""

    def chunks() -> Iterator[bytes]:
        yield b'{"pad": "'
        for _ in range(48):
            yield b"x" * 65536
        yield b'"}'

    r = requests.post(pendo.url + "/data/track", data=chunks(), headers=KEY, timeout=30)
    assert r.status_code == 413 and r.json()["error"] == f"body is over the {MiB}-byte limit"


def test_the_segment_fake_answers_its_oversize_refusal_readably_too() -> None:
    """Segment answers 400 to a batch over 500 KB (its docs); the client must be able to read it all the same."""
    with FakeSegment() as segment:
        r = requests.post(segment.url + "/v1/batch", data=oversize(6 * MiB), auth=("wk", ""), timeout=30)
        assert r.status_code == 400 and "limit" in r.json()["message"]
        ok = requests.post(segment.url + "/v1/track", json={"userId": "u", "event": "E"}, auth=("wk", ""), timeout=10)
        assert ok.status_code == 200
        segment.raise_errors()


# -- draining is bounded -------------------------------------------------------------------------------------------


@Request.application
def refuse_unread(request: Request) -> Response:
    """An app that answers without reading the body, like a 413 decided from Content-Length."""
    return Response('{"error": "too large"}', status=413, content_type="application/json")


def raw_request(port: int, length: int, extra: str = "", path: str = "/x") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=20)
    head = f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {length}\r\n{extra}\r\n"
    sock.sendall(head.encode())
    return sock


def read_answer(sock: socket.socket) -> bytes:
    data = b""
    while b"too large" not in data:
        part = sock.recv(65536)
        if not part:
            break
        data += part
    return data


def test_beyond_linger_bytes_the_connection_is_closed_not_read_forever() -> None:
    """A client that keeps sending past the drain bound is cut off (never a hang, never memory growth)."""
    with ServerThread(refuse_unread, linger_bytes=MiB) as server:
        sock = raw_request(server.port, 1 << 30)  # announces 1 GiB
        sent, failed = 0, None
        try:
            while sent < 256 * MiB:  # bounded: the kernel buffers hold a few MiB at most
                sent += sock.send(b"x" * 65536)
        except OSError as exc:
            failed = exc
        finally:
            sock.close()
        assert failed is not None, "the server stopped reading and closed"
        assert sent < 64 * MiB
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as again:
            again.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
            assert read_answer(again).startswith(b"HTTP/1.1 413"), "still serving"


def test_a_client_that_stops_sending_is_closed_after_the_idle_window() -> None:
    """The answer comes at once; then the server waits a bounded time for the rest of the body, and closes."""
    with ServerThread(refuse_unread, linger_seconds=0.5) as server:
        sock = raw_request(server.port, 10 * MiB)
        sock.sendall(b"x" * 1000)
        answer = read_answer(sock)
        assert answer.startswith(b"HTTP/1.1 413") and b"Connection: close" in answer
        sock.settimeout(20)  # a bound for the test, far above the fake's window
        assert sock.recv(65536) == b"", "closed by the server after its idle window"
        sock.close()


def test_expect_100_continue_is_answered_only_when_the_body_is_wanted(pendo: FakePendo) -> None:
    """A request refused from its Content-Length gets the final answer, not ``100 Continue`` (nginx sets
    expect_tested before its 413); a request the fake reads gets ``100 Continue`` first."""
    big = raw_request(pendo.port, 8 * MiB, "Expect: 100-continue\r\nx-pendo-integration-key: k\r\n", "/data/track")
    big.sendall(b"")
    head = big.recv(65536)
    assert head.startswith(b"HTTP/1.1 413"), head[:40]
    big.close()
    payload = json.dumps(track()).encode()
    small = socket.create_connection(("127.0.0.1", pendo.port), timeout=10)
    small.sendall(
        b"POST /data/track HTTP/1.1\r\nHost: t\r\nx-pendo-integration-key: k\r\nExpect: 100-continue\r\n"
        + f"Content-Length: {len(payload)}\r\n\r\n".encode()
    )
    assert small.recv(65536).startswith(b"HTTP/1.1 100 Continue")
    small.sendall(payload)
    assert small.recv(65536).startswith(b"HTTP/1.1 200")
    small.close()
    assert len(pendo.records()) == 1


# -- still serving after hostile input (independent of test order) ------------------------------------------------


def hostile_requests(port: int, path: str, headers: dict[str, str]) -> int:
    """Send a bounded set of broken requests; returns how many got an HTTP answer (the others were cut off)."""
    answered = 0
    bodies: list[bytes] = [
        b"",
        b"{",
        b"\xff\xfe\x00",
        b"[" * 5000,
        json.dumps({"a": [1] * 10000}).encode(),
        zlib.compress(b"[" + b" " * (20 * MiB) + b"]"),
        base64.b64encode(b"\x00" * 300),
        oversize(2 * MiB),
    ]
    for body in bodies:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        assert response.status < 500, (body[:20], response.status)
        response.read()
        answered += 1
        conn.close()
    for extra in ({"Content-Encoding": "gzip"}, {"Content-Encoding": "br"}):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("POST", path, body=b"not gzip at all", headers={**headers, **extra})
        assert conn.getresponse().status < 500
        answered += 1
        conn.close()
    # a client that announces a body and goes away mid-way, and one that sends half a request line
    for raw in (f'POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n{{"a":', "POST /da"):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(raw.encode())
    return answered


def test_the_pendo_fake_keeps_serving_after_hostile_input() -> None:
    with FakePendo() as pendo:
        assert hostile_requests(pendo.port, "/data/track", KEY) == 10
        r = requests.post(pendo.url + "/data/track", json=track("After"), headers=KEY, timeout=10)
        assert r.status_code == 200 and [x["event"] for x in pendo.records()] == ["After"]
        deadline = time.monotonic() + 10  # the body cut short is refused once the server sees the end of it
        while len(pendo.rejected) < 11 and time.monotonic() < deadline:
            time.sleep(0.02)
        rejected = pendo.rejected
        assert len(rejected) == 11, "each broken request, the one cut short too, is refused"
        assert all(400 <= x["status"] < 500 and x["reason"] for x in rejected)
        assert rejected[3]["reason"] == "body: arrays and objects nested more than 128 levels deep"
        pendo.raise_errors()


def test_the_segment_fake_keeps_serving_after_hostile_input() -> None:
    auth = "Basic " + base64.b64encode(b"wk:").decode()
    with FakeSegment() as segment:
        assert hostile_requests(segment.port, "/v1/batch", {"Authorization": auth}) == 10
        ok = requests.post(segment.url + "/v1/track", json={"userId": "u", "event": "E"}, auth=("wk", ""), timeout=10)
        assert ok.status_code == 200 and [e["event"] for e in segment.events()] == ["E"]
        segment.raise_errors()
