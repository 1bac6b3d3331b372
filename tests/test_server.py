"""The shared server runner: port 0, readiness, keep-alive, draining unread bodies, stopping, handler errors."""

from __future__ import annotations

import http.client
import socket

import pytest
from werkzeug.wrappers import Request, Response

from pytest_segpendo.fakes.core.server import HandlerError, ServerThread


@Request.application
def echo(request: Request) -> Response:
    if request.path == "/boom":
        raise ValueError("a bug in the handler")
    if request.path == "/refuse":
        return Response("refused without reading the body", status=401)
    peer = request.environ.get("REMOTE_PORT")
    return Response(f"{len(request.get_data())} {peer}", content_type="text/plain")


def test_port_zero_gives_a_real_port_and_start_returns_ready() -> None:
    with ServerThread(echo) as server:
        assert server.port > 0 and server.url == f"http://127.0.0.1:{server.port}"
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        conn.request("GET", "/")  # no retry, no sleep: ready means ready
        assert conn.getresponse().status == 200


def test_keep_alive_serves_many_requests_on_one_connection_even_after_unread_bodies() -> None:
    with ServerThread(echo) as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        peers = set()
        for i, path in enumerate(["/a", "/refuse", "/b", "/refuse", "/c"]):
            conn.request("POST", path, body=b"x" * (1000 * (i + 1)))
            response = conn.getresponse()
            body = response.read().decode()
            assert response.getheader("Connection") != "close"
            if response.status == 200:
                size, peer = body.split()
                assert int(size) == 1000 * (i + 1)
                peers.add(peer)
        assert len(peers) == 1, "every request went over the same connection"


def test_http_1_0_and_connection_close_are_honoured() -> None:
    with ServerThread(echo) as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        conn.request("GET", "/", headers={"Connection": "close"})
        response = conn.getresponse()
        assert response.getheader("Connection") == "close"
        response.read()


def test_stop_closes_idle_keep_alive_connections_and_frees_the_port() -> None:
    server = ServerThread(echo).start()
    port = server.port
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/")
    conn.getresponse().read()
    server.stop()
    assert not server.running
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        conn.request("GET", "/")
        conn.getresponse()


def test_an_error_in_a_handler_is_a_500_and_is_raised_by_raise_errors() -> None:
    with ServerThread(echo) as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        conn.request("GET", "/boom")
        response = conn.getresponse()
        assert response.status == 500 and b"raise_errors()" in response.read()
        with pytest.raises(HandlerError, match="a bug in the handler") as info:
            server.raise_errors()
        assert isinstance(info.value.__cause__, ValueError)
        server.raise_errors()  # reported once
        conn.request("GET", "/")
        assert conn.getresponse().status == 200, "the server keeps serving"


def test_a_taken_port_is_an_os_error() -> None:
    with ServerThread(echo) as first, pytest.raises(OSError):
        ServerThread(echo, port=first.port).start()
