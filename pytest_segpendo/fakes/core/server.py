"""The server runner both fakes share: a WSGI app on werkzeug's threaded server, in a background thread.

- binds ``127.0.0.1`` and port 0 (any free port) by default; the real port is known once constructed;
- ready when :meth:`ServerThread.start` returns; :meth:`ServerThread.stop` takes milliseconds, not the half
  second of ``socketserver``'s poll interval, and also closes idle keep-alive connections;
- HTTP/1.1 keep-alive (werkzeug's own handler closes every connection): a request body the app did not read
  is drained, so the next request on the connection starts at the right byte;
- no log line per request unless ``log_requests=True``;
- an exception raised inside the app is answered with a 500 and kept: :meth:`ServerThread.check` raises it in
  the caller's thread, so a bug in a fake fails the test that triggered it.
"""

from __future__ import annotations

import socket
import threading
import traceback
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

__all__ = ["HandlerError", "ServerThread"]

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
_DRAIN_LIMIT = 1 << 20  # read at most this much of an unread request body to keep the connection


def _deprecated(old: str, new: str) -> None:
    import warnings

    warnings.warn(f"{old} is deprecated: use {new}", DeprecationWarning, stacklevel=3)


class HandlerError(RuntimeError):
    """An exception raised inside a fake's request handler, re-raised in the test's thread by ``check()``."""


class _CountingInput:
    """``wsgi.input`` limited to Content-Length, counting what the app read (to drain the rest)."""

    def __init__(self, raw: Any, length: int):
        self.raw = raw
        self.left = length

    def read(self, size: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        n = self.left if size is None or size < 0 else min(size, self.left)
        data: bytes = self.raw.read(n)
        self.left -= len(data)
        if not data:
            self.left = 0
        return data

    def readline(self, size: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        n = self.left if size is None or size < 0 else min(size, self.left)
        data: bytes = self.raw.readline(n)
        self.left -= len(data)
        return data

    def __iter__(self) -> Any:
        while True:
            line = self.readline()
            if not line:
                return
            yield line


class _Handler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if self.server.log_requests:
            super().log_request(code, size)

    def log_error(self, format: str, *args: Any) -> None:
        if self.server.log_requests:
            super().log_error(format, *args)

    def run_wsgi(self) -> None:
        environ = self.make_environ()
        self.environ = environ
        counting: _CountingInput | None = None
        chunked = environ.get("wsgi.input_terminated", False)
        if not chunked:
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            counting = _CountingInput(environ["wsgi.input"], max(length, 0))
            environ["wsgi.input"] = counting
        if self.headers.get("Expect", "").lower().strip() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")

        status: list[str] = []
        headers: list[tuple[str, str]] = []

        def start_response(
            code: str, response_headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], None]:
            status[:] = [code]
            headers[:] = response_headers
            return lambda data: None  # the legacy write() is not used by the fakes

        try:
            result = self.server.app(environ, start_response)
            try:
                body = b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        except Exception as exc:  # a bug in the fake: answer, keep it for check()
            self.server.record_error(exc)
            status[:] = ["500 INTERNAL SERVER ERROR"]
            headers[:] = [("Content-Type", "application/json")]
            body = b'{"error": "internal error in the fake server (see ServerThread.raise_errors())"}'

        keep = self._keep_alive(counting, chunked)
        code_text, _, reason = status[0].partition(" ")
        self.send_response(int(code_text), reason)
        names = set()
        for name, value in headers:
            names.add(name.lower())
            self.send_header(name, value)
        if "content-length" not in names:
            self.send_header("Content-Length", str(len(body)))
        if not keep:
            self.send_header("Connection", "close")
        # Headers and body in one write: two small writes meet Nagle's algorithm and the client's delayed
        # ACK, and every keep-alive response would wait 40 ms.
        self._headers_buffer.append(b"\r\n")
        if body and self.command != "HEAD":
            self._headers_buffer.append(body)
        self.flush_headers()
        self.close_connection = not keep

    def _keep_alive(self, counting: _CountingInput | None, chunked: bool) -> bool:
        if self.server.stopping or self.close_connection:
            return False
        if self.headers.get("Connection", "").lower() == "close":
            return False
        if self.request_version != "HTTP/1.1" and self.headers.get("Connection", "").lower() != "keep-alive":
            return False
        if chunked:
            return False  # an unread chunked body cannot be skipped cheaply: start afresh
        if counting is not None and counting.left:
            if counting.left > _DRAIN_LIMIT:
                return False
            try:
                while counting.read(65536):
                    pass
            except OSError:
                return False
        return True

    def handle(self) -> None:
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        self.server.track(self.connection, True)
        try:
            super().handle()
        except OSError:
            pass  # the client went away, or stop() shut the connection
        finally:
            self.server.track(self.connection, False)


class _Server(ThreadedWSGIServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, host: str, port: int, app: WSGIApp, log_requests: bool):
        self.log_requests = log_requests
        self.stopping = False
        self.errors: list[tuple[BaseException, str]] = []
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        # Bind here: werkzeug's own binding prints to stderr and calls sys.exit() when the port is taken.
        listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((host, port))
            listener.listen(self.request_queue_size)
            super().__init__(host, port, app, handler=_Handler, fd=listener.fileno())
        finally:
            listener.close()  # werkzeug keeps its own duplicate of the descriptor

    def record_error(self, exc: BaseException) -> None:
        with self._lock:
            self.errors.append((exc, traceback.format_exc()))

    def track(self, conn: socket.socket, alive: bool) -> None:
        with self._lock:
            if alive:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def close_connections(self) -> None:
        with self._lock:
            conns = list(self._connections)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        if self.log_requests:
            super().handle_error(request, client_address)


class ServerThread:
    """Run a WSGI app on ``host:port`` in a daemon thread; usable as a context manager."""

    def __init__(self, app: WSGIApp, host: str = "127.0.0.1", port: int = 0, *, log_requests: bool = False):
        self.app = app
        self.host = host
        self.requested_port = port
        self.log_requests = log_requests
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------------------
    def start(self) -> ServerThread:
        """Bind and serve; returns once the server accepts connections. Raises OSError if the port is taken."""
        if self._server is not None:
            raise RuntimeError("server already started")
        self._server = server = _Server(self.host, self.requested_port, self.app, self.log_requests)
        ready = threading.Event()

        def serve() -> None:
            ready.set()
            server.serve_forever(poll_interval=0.5)

        self._thread = threading.Thread(target=serve, name=f"segpendo-server-{server.port}", daemon=True)
        self._thread.start()
        ready.wait(5)
        return self

    def stop(self) -> None:
        """Stop serving and close every connection (milliseconds, whatever the poll interval)."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.stopping = True
        stopper = threading.Thread(target=server.shutdown, daemon=True)
        stopper.start()
        try:  # wake the selector now instead of at the end of its poll interval
            with socket.create_connection((self._connect_host(), server.port), timeout=0.5):
                pass
        except OSError:
            pass
        stopper.join(2)
        server.close_connections()
        thread.join(2)
        self._server = None
        self._thread = None

    def _connect_host(self) -> str:
        return "127.0.0.1" if self.host in ("0.0.0.0", "", "localhost") else ("::1" if self.host == "::" else self.host)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- facts ---------------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("server not started")
        return self._server.port

    @property
    def url(self) -> str:
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"http://{host}:{self.port}"

    # -- errors raised inside handlers ----------------------------------------------------------------------
    @property
    def errors(self) -> list[tuple[BaseException, str]]:
        return list(self._server.errors) if self._server else []

    def check(self) -> None:
        """Deprecated name of :meth:`raise_errors`."""
        _deprecated("ServerThread.check()", "raise_errors()")
        self.raise_errors()

    def raise_errors(self) -> None:
        """Raise :class:`HandlerError` for the first exception raised inside the app since the last call."""
        server = self._server
        if server is None or not server.errors:
            return
        with server._lock:
            (exc, text), server.errors[:] = server.errors[0], []
        raise HandlerError(f"the fake server failed while handling a request:\n{text}") from exc
