"""The hot paths' own HTTP/1.1 head parsing (pytest_segpendo.http11), in place of email.parser: the servers
(both fakes, the bundled relay) refuse a bad head with 400, 414 or 431, never a 5xx, and keep serving; good
heads keep their meaning (keep-alive, HTTP/1.0, pipelining, chunked bodies, repeated fields); the clients read
any server's answer exactly as http.client reads it."""

from __future__ import annotations

import http.client
import json
import random
import re
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from pytest_segpendo import http11
from pytest_segpendo.fakes.pendo import FakePendo

TRACK = json.dumps(
    {"type": "track", "event": "E", "visitorId": "u", "timestamp": int(time.time() * 1000), "context": {}}
).encode()


@pytest.fixture(scope="module")
def pendo() -> Iterator[FakePendo]:
    with FakePendo() as fake:
        yield fake
        fake.raise_errors()


def exchange(port: int, raw: bytes, timeout: float = 10) -> bytes:
    """Send ``raw`` and read until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(raw)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while data := sock.recv(65536):
            chunks.append(data)
    return b"".join(chunks)


def statuses(answer: bytes) -> list[int]:
    return [int(code) for code in re.findall(rb"HTTP/1\.1 (\d{3}) ", answer)]


def post(path: str, body: bytes, extra: str = "") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: t\r\nx-pendo-integration-key: k\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{extra}\r\n"
    ).encode() + body


BAD_HEADS = [
    (b"GARBAGE\r\n\r\n", 400, "malformed request line"),
    (b"GET / HTTP/2.0\r\nHost: t\r\n\r\n", 400, "HTTP version HTTP/2.0 is not supported"),
    (b"GET / HTTX/1.1\r\nHost: t\r\n\r\n", 400, "malformed HTTP version"),
    (b"G@T / HTTP/1.1\r\nHost: t\r\n\r\n", 400, "malformed method"),
    (b"GET /a b HTTP/1.1\r\nHost: t\r\n\r\n", 400, "malformed request line"),
    (b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n", 414, "request line longer than 65536 bytes"),
    (b"GET / HTTP/1.1\r\nHost t\r\n\r\n", 400, "malformed header line"),
    (b"GET / HTTP/1.1\r\nHost : t\r\n\r\n", 400, "malformed header line"),
    (b"GET / HTTP/1.1\r\nX-A: 1\r\n  folded\r\n\r\n", 400, "obs-fold"),
    (b"GET / HTTP/1.1\r\nX-A: a\x00b\r\n\r\n", 400, "malformed header line"),
    (b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(101)) + b"\r\n", 431, "more than 100"),
    (b"GET / HTTP/1.1\r\nX-Big: " + b"v" * 70000 + b"\r\n\r\n", 431, "larger than 65536 bytes"),
    (b"POST /data/track HTTP/1.1\r\nContent-Length: ten\r\n\r\n", 400, "is not a number of bytes"),
    (b"POST /data/track HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400, "is not a number of bytes"),
    (b"POST /data/track HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400, "conflicting"),
    (
        b"POST /data/track HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
        "Content-Length and Transfer-Encoding together",
    ),
    (b"POST /data/track HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 400, "the last coding must be chunked"),
    (b"POST /data/track HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 400, "not supported"),
]


@pytest.mark.parametrize(("raw", "status", "reason"), BAD_HEADS, ids=[r for _, _, r in BAD_HEADS])
def test_a_bad_head_is_refused_with_its_reason_and_the_connection_closed(
    pendo: FakePendo, raw: bytes, status: int, reason: str
) -> None:
    answer = exchange(pendo.port, raw + b"GET /__segpendo/activity HTTP/1.1\r\n\r\n")
    assert statuses(answer) == [status], "one answer, then the connection closes: the rest is unframed"
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"Connection: close" in head
    assert reason in json.loads(body)["error"]
    assert statuses(exchange(pendo.port, b"GET /__segpendo/activity HTTP/1.1\r\nConnection: close\r\n\r\n")) == [200]


def test_random_heads_never_get_a_5xx_and_the_server_keeps_serving(pendo: FakePendo) -> None:
    rng = random.Random(11)
    alphabet = b"GETPOST /:\r\n\t\x00\x7fHTTP/1.0-_aZ09%;,\x80\xff"
    for _ in range(150):
        raw = bytes(rng.choice(alphabet) for _ in range(rng.randrange(1, 120)))
        if rng.random() < 0.5:
            raw = b"POST /data/track HTTP/1.1\r\n" + raw
        answer = exchange(pendo.port, raw + b"\r\n\r\n")
        assert all(code < 500 for code in statuses(answer)), (raw, answer[:200])
    conn = http.client.HTTPConnection("127.0.0.1", pendo.port, timeout=10)
    conn.request("GET", "/__segpendo/activity")
    assert conn.getresponse().status == 200


def test_keep_alive_pipelining_and_http_1_0(pendo: FakePendo) -> None:
    pendo.reset()
    two = post("/data/track", TRACK) + post("/data/track", TRACK, "Connection: close\r\n")
    answer = exchange(pendo.port, two)
    assert statuses(answer) == [200, 200], "two requests in one write: two answers"
    assert answer.count(b"Connection: close") == 1
    conn = http.client.HTTPConnection("127.0.0.1", pendo.port, timeout=10)
    for _ in range(3):
        conn.request("POST", "/data/track", body=TRACK, headers={"x-pendo-integration-key": "k"})
        response = conn.getresponse()
        response.read()
        assert response.status == 200 and not response.will_close
    old = exchange(pendo.port, b"GET /__segpendo/activity HTTP/1.0\r\n\r\n" * 2)
    assert statuses(old) == [200] and b"Connection: close" in old
    kept = exchange(pendo.port, b"GET /__segpendo/activity HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" * 2)
    assert statuses(kept) == [200, 200] and kept.count(b"Connection: keep-alive") == 2
    assert len(pendo.records()) == 5


def test_lenient_where_rfc_9112_allows_it(pendo: FakePendo) -> None:
    """An empty line before the request line, and lines ended by a bare LF, are read (RFC 9112 2.2)."""
    pendo.reset()
    raw = b"\r\nPOST /data/track HTTP/1.1\nHost: t\nx-pendo-integration-key: k\nContent-Length: %d\n\n" % len(TRACK)
    assert statuses(exchange(pendo.port, raw + TRACK)) == [200]
    assert len(pendo.records()) == 1


def test_a_chunked_body_and_repeated_fields(pendo: FakePendo) -> None:
    pendo.reset()
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(TRACK[i : i + 10]), TRACK[i : i + 10]) for i in range(0, len(TRACK), 10))
    raw = (
        b"POST /data/track HTTP/1.1\r\nHost: t\r\nx-pendo-integration-key: k\r\nUser-Agent: a\r\nUser-Agent: b\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunks + b"0\r\n\r\n"
    )
    assert statuses(exchange(pendo.port, raw)) == [200]
    assert pendo.requests()[-1]["headers"]["user-agent"] == "a,b", "repeated fields joined, as werkzeug joins them"
    assert len(pendo.records()) == 1


# -- the client side ------------------------------------------------------------------------------------------


def canned(answers: list[bytes]) -> tuple[int, threading.Thread]:
    """A server that answers each connection with the next canned bytes, then closes."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        with listener:
            for answer in answers:
                conn, _ = listener.accept()
                with conn:
                    conn.recv(65536)
                    conn.sendall(answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener.getsockname()[1], thread


ANSWERS = [
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Two: a\r\nx-two: b\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 429 Too Many\r\nRetry-After: 3  \r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX-Fold: a\r\n  b\r\nContent-Length: 1\r\n\r\nx",
    b"HTTP/1.1 302 Found\r\nLocation : /elsewhere\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.0 200 OK\r\nX-Ctl: a\x01b\r\n\r\nbody to the end",
    b"HTTP/1.1 100 Continue\r\nX-Skip: 1\r\n\r\n"
    b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
]


def read_with(cls: Any, port: int) -> tuple[int, str, list[tuple[str, str]], bytes, bool]:
    conn = cls("127.0.0.1", port, timeout=10)
    conn.request("GET", "/")
    response = conn.getresponse()
    body = response.read()
    return response.status, response.reason, response.getheaders(), body, response.will_close


@pytest.mark.parametrize("answer", ANSWERS, ids=range(len(ANSWERS)))
def test_the_client_reads_any_answer_as_http_client_does(answer: bytes) -> None:
    port, thread = canned([answer, answer])
    expected = read_with(http.client.HTTPConnection, port)
    assert read_with(http11.HTTPConnection, port) == expected
    thread.join(10)


def test_fields_look_up_names_without_regard_to_case() -> None:
    fields = http11.Fields([("Content-Type", "a"), ("X-Two", "1"), ("x-two", "2")])
    assert fields.get("content-type") == "a" and fields["CONTENT-TYPE"] == "a"
    assert fields.get_all("X-TWO") == ["1", "2"] and fields.get("missing", "d") == "d"
    assert "x-two" in fields and len(fields) == 3 and fields.keys() == ["Content-Type", "X-Two", "x-two"]


class _Sink:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def sendall(self, data: bytes) -> None:
        self.sent.append(bytes(data))


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({"Content-Type": "application/json", "x-pendo-integration-key": "k", "User-Agent": "r/1"}, b'{"a":1}'),
        ({}, None),
        ({"Host": "elsewhere", "Content-Length": "2"}, b"ab"),
        ({"Accept-Encoding": "gzip"}, b""),
        ({"X-Bytes": "v"}, bytearray(b"xy")),
    ],
)
def test_the_client_writes_the_bytes_http_client_writes(headers: dict[str, str], body: Any) -> None:
    def written(cls: Any) -> bytes:
        conn = cls("example.org", 8080)
        conn.sock = _Sink()
        conn.request("POST", "/p?q=1", body=body, headers=headers)
        return b"".join(conn.sock.sent)

    assert written(http11.HTTPConnection) == written(http.client.HTTPConnection)


def test_the_client_refuses_the_headers_http_client_refuses() -> None:
    for headers in ({"X-Bad": "a\r\nInjected: 1"}, {"Bad:Name": "v"}):
        conn = http11.HTTPConnection("example.org", 8080)
        conn.sock = _Sink()
        with pytest.raises(ValueError, match="Invalid header"):
            conn.request("POST", "/", body=b"x", headers=headers)
