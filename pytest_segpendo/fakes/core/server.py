"""The server runner both fakes share: a WSGI app on werkzeug's threaded server, in a background thread.

- binds ``127.0.0.1`` and port 0 (any free port) by default; the real port is known once constructed;
- ready when :meth:`ServerThread.start` returns; :meth:`ServerThread.stop` takes milliseconds, not the half
  second of ``socketserver``'s poll interval, and also closes idle keep-alive connections;
- HTTP/1.1 keep-alive (werkzeug's own handler closes every connection): a request body the app did not read
  is drained, so the next request on the connection starts at the right byte;
- an answer given before the body was read (a 413 for a body over the cap, a 401, an injected fault) can be
  read by the client: a small unread body is drained before answering; a large one is read and discarded
  after the answer, within bounds (``linger_bytes``, 5 s in all, 2 s without data), and the connection is then
  closed, as nginx's ``lingering_close`` does. Beyond the bounds the connection is closed: never a hang, never
  more than 64 KiB held in memory;
- ``Expect: 100-continue`` is answered ``100 Continue`` only when the app starts reading the body, so a request
  refused before that (a 413 decided from ``Content-Length``) does not make the client send its body;
- request heads are read by :mod:`pytest_segpendo.http11` (not ``email.parser``): strict and bounded, a head to
  refuse is answered 400, 414 or 431 with ``{"error", "status"}`` and the connection closed, and no app sees it;
- an answer without ``Content-Length`` longer than 1 MiB (a streamed inspection) is sent as it is produced,
  chunked;
- no log line per request unless ``log_requests=True``;
- an exception raised inside the app is answered with a 500 and kept: :meth:`ServerThread.check` raises it in
  the caller's thread, so a bug in a fake fails the test that triggered it.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from email.utils import formatdate
from http import HTTPStatus
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit

from werkzeug.serving import DechunkedInput, ThreadedWSGIServer, WSGIRequestHandler

from ...http11 import HeadError, RequestHead, read_request_head
from ...jsonl import dumps_bytes

__all__ = ["HandlerError", "ServerThread", "reuse_port_supported"]

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
_DRAIN_LIMIT = 1 << 20  # read at most this much of an unread request body to keep the connection
LINGER_BYTES = 64 << 20  # after an early answer, read and discard at most this much of the body, then close
LINGER_SECONDS = 5.0  # ... for at most this long in all
LINGER_IDLE = 2.0  # ... waiting at most this long for more data
_CHUNK = 64 * 1024
STREAM_AFTER = 1 << 20  # an answer without Content-Length longer than this is sent as it is produced (chunked)
_PHRASES = {s.value: s.phrase for s in HTTPStatus}


def reuse_port_supported() -> bool:
    """True where several processes can each listen on one port and the kernel spreads connections among them
    (``SO_REUSEPORT`` on Linux). Elsewhere (macOS, the BSDs: the option exists but does not balance; Windows:
    absent) processes share one listening socket instead (see :class:`ServerThread`'s ``sock``)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def _dance(text: str) -> str:
    """A WSGI environ string: the UTF-8 bytes of ``text`` as latin-1 (werkzeug's own conversion)."""
    return text.encode().decode("latin1") if not text.isascii() else text


_date_cache: tuple[int, str] = (0, "")


def _http_date() -> str:
    """The ``Date`` header's value, formatted once a second."""
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, formatdate(now, usegmt=True))
    return _date_cache[1]


def _first_part(result: Iterable[bytes], headers: list[tuple[str, str]]) -> tuple[bytes, Iterator[bytes] | None]:
    """(the answer's body, None) when it is short or has a Content-Length; else (its first megabyte, the rest
    still to produce), so that a long inspection answer is streamed instead of held whole."""
    if any(name.lower() == "content-length" for name, _ in headers):
        return b"".join(result), None
    parts = iter(result)
    kept: list[bytes] = []
    size = 0
    for part in parts:
        kept.append(part)
        size += len(part)
        if size > STREAM_AFTER:
            return b"".join(kept), parts
    return b"".join(kept), None


def _close(result: Any) -> None:
    close = getattr(result, "close", None)
    if close is not None:
        close()


def _deprecated(old: str, new: str) -> None:
    import warnings

    warnings.warn(f"{old} is deprecated: use {new}", DeprecationWarning, stacklevel=3)


class HandlerError(RuntimeError):
    """An exception raised inside a fake's request handler, re-raised in the test's thread by ``check()``."""


class _Input:
    """``wsgi.input`` limited to Content-Length (``length``) or ending with the chunked body (``length`` None),
    knowing what the app left unread, and sending ``100 Continue`` when the app first reads (if asked for)."""

    def __init__(self, raw: Any, length: int | None, send_continue: Callable[[], None] | None = None):
        self.raw = raw
        self.left = length  # None: chunked, length unknown
        self.finished = length == 0
        self._send_continue = send_continue

    def _start(self) -> None:
        if self._send_continue is not None:
            send, self._send_continue = self._send_continue, None
            send()

    @property
    def awaiting_continue(self) -> bool:
        """The client asked for ``100 Continue`` and has not had it: it may not send the body at all."""
        return self._send_continue is not None

    def forget_continue(self) -> None:
        self._send_continue = None

    def _size(self, size: int | None) -> int:
        if self.left is None:
            return _CHUNK if size is None or size < 0 else size
        return self.left if size is None or size < 0 else min(size, self.left)

    def _took(self, data: bytes, asked: int) -> bytes:
        ended = asked > 0 and not data  # the client closed (or the chunked body ended)
        if self.left is not None:
            self.left -= len(data)
            if self.left <= 0 or ended:
                self.left = 0
                self.finished = True
        elif ended:
            self.finished = True
        return data

    def read(self, size: int | None = -1) -> bytes:
        if self.finished:
            return b""
        self._start()
        if self.left is None and (size is None or size < 0):
            parts = []
            while data := self.read(_CHUNK):
                parts.append(data)
            return b"".join(parts)
        n = self._size(size)
        return self._took(self.raw.read(n), n)

    def readline(self, size: int | None = -1) -> bytes:
        if self.finished:
            return b""
        self._start()
        n = self._size(size)
        return self._took(self.raw.readline(n), n)

    def __iter__(self) -> Any:
        while True:
            line = self.readline()
            if not line:
                return
            yield line


class _Handler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    headers: Any  # the request's header fields (pytest_segpendo.http11.Fields), not an email.message.Message

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if self.server.log_requests:
            super().log_request(code, size)

    def log_error(self, format: str, *args: Any) -> None:
        if self.server.log_requests:
            super().log_error(format, *args)

    # -- one request: the head read by http11 (strict, bounded), the environ built here ------------------------------
    def handle_one_request(self) -> None:
        self.close_connection = True
        self.environ = {}
        try:
            head = read_request_head(self.rfile)
        except HeadError as exc:
            self.requestline, self.request_version, self.command = "", "HTTP/1.1", ""
            self._refuse_head(exc.status, exc.reason)
            return
        if head is None:
            return
        self.requestline, self.command, self.path, self.request_version = (
            head.line,
            head.method,
            head.target,
            head.version,
        )
        self.headers = head.fields
        self.close_connection = not head.keep_alive
        self.run_wsgi(head)
        self.wfile.flush()

    def _refuse_head(self, status: int, reason: str) -> None:
        """Answer a head that cannot be served (no app sees it), then close: the rest of the stream is unframed."""
        body = dumps_bytes({"error": reason, "status": status})
        phrase = _PHRASES.get(status, "Bad Request")
        self.log_request(status)
        self.wfile.write(
            f"HTTP/1.1 {status} {phrase}\r\nServer: {self.server_version}\r\nDate: {_http_date()}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        self.wfile.flush()

    def _environ(self, head: RequestHead) -> dict[str, Any]:
        """The WSGI environ werkzeug's own handler would build for this request (same keys and values)."""
        target = head.target
        if target.startswith("/") and not target.startswith("//") and "#" not in target:
            path, _, query = target.partition("?")
            host = None
        else:
            parts = urlsplit(target)
            path = f"/{parts.netloc}{parts.path}" if not parts.scheme and parts.netloc else parts.path
            query = parts.query
            host = parts.netloc if parts.scheme and parts.netloc else None
        raw_target = _dance(target)
        server_address = self.server.server_address
        client = self.client_address
        environ: dict[str, Any] = {
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": self.rfile,
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": self.server.multiprocess,
            "wsgi.run_once": False,
            "werkzeug.socket": self.connection,
            "SERVER_SOFTWARE": self.server_version,
            "REQUEST_METHOD": head.method,
            "SCRIPT_NAME": "",
            "PATH_INFO": _dance(unquote(path)),
            "QUERY_STRING": _dance(query),
            "REQUEST_URI": raw_target,
            "RAW_URI": raw_target,
            "REMOTE_ADDR": client[0] if client else "<local>",
            "REMOTE_PORT": client[1] if client else 0,
            "SERVER_NAME": server_address[0],
            "SERVER_PORT": str(server_address[1]),
            "SERVER_PROTOCOL": head.version,
        }
        for name, value in head.fields.items():
            if "_" in name:
                continue  # as werkzeug: a name with "_" could pass for another once upper-cased
            key = name.upper().replace("-", "_")
            if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                key = "HTTP_" + key
                if key in environ:
                    value = f"{environ[key]},{value}"
            environ[key] = value
        if head.chunked:
            environ["wsgi.input_terminated"] = True
            environ["wsgi.input"] = DechunkedInput(self.rfile)  # type: ignore[arg-type]
        if host is not None:
            environ["HTTP_HOST"] = host
        return environ

    def run_wsgi(self, head: RequestHead | None = None) -> None:
        if head is None:  # called by werkzeug's machinery: not in this server
            raise RuntimeError("run_wsgi needs the request head")
        environ = self._environ(head)
        self.environ = environ
        length = None if head.chunked else head.length
        expects = (head.fields.get("expect") or "").lower().strip() == "100-continue" and head.version == "HTTP/1.1"
        body = _Input(environ["wsgi.input"], length, self._send_continue if expects else None)
        environ["wsgi.input"] = body

        status: list[str] = []
        headers: list[tuple[str, str]] = []

        def start_response(
            code: str, response_headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], None]:
            status[:] = [code]
            headers[:] = response_headers
            return lambda data: None  # the legacy write() is not used by the fakes

        stream: Iterator[bytes] | None = None
        result: Any = None
        try:
            result = self.server.app(environ, start_response)
            payload, stream = _first_part(result, headers)
        except Exception as exc:  # a bug in the fake: answer, keep it for check()
            _close(result)
            result = None
            self.server.record_error(exc)
            status[:] = ["500 INTERNAL SERVER ERROR"]
            headers[:] = [("Content-Type", "application/json")]
            payload = b'{"error": "internal error in the fake server (see ServerThread.raise_errors())"}'
        try:
            keep, linger = self._keep_alive(body)
            code_text, _, reason = status[0].partition(" ")
            code = int(code_text)
            self.log_request(code)
            lines = [f"HTTP/1.1 {code} {reason}\r\nServer: {self.server_version}\r\nDate: {_http_date()}\r\n"]
            names = set()
            for name, value in headers:
                names.add(name.lower())
                lines.append(f"{name}: {value}\r\n")
            head_only = self.command == "HEAD" or code in (204, 304) or 100 <= code < 200
            chunked = stream is not None and not head_only and "content-length" not in names
            if chunked:
                if head.version == "HTTP/1.1":
                    lines.append("Transfer-Encoding: chunked\r\n")
                else:
                    keep = False  # an HTTP/1.0 client reads the body to the end of the connection
                    chunked = False
            elif "content-length" not in names and not (code in (204, 304) or 100 <= code < 200):
                lines.append(f"Content-Length: {len(payload)}\r\n")
            if not keep:
                lines.append("Connection: close\r\n")
            elif head.version == "HTTP/1.0":
                lines.append("Connection: keep-alive\r\n")
            lines.append("\r\n")
            # Headers and body in one write: two small writes meet Nagle's algorithm and the client's delayed
            # ACK, and every keep-alive response would wait 40 ms.
            data = "".join(lines).encode("latin-1")
            if head_only:
                self.wfile.write(data)
            elif stream is None:
                self.wfile.write(data + payload)
            else:
                self._stream(data, payload, stream, chunked)
            self.close_connection = self.close_connection or not keep
        finally:
            _close(result)
        if linger:
            self._linger(body)

    def _stream(self, head: bytes, first: bytes, rest: Iterator[bytes], chunked: bool) -> None:
        """Send a long answer as the app produces it (chunked for HTTP/1.1); an error half-way closes the
        connection (the client sees a truncated body, never a hang) and is kept for raise_errors()."""

        def frame(data: bytes) -> bytes:
            return b"%x\r\n%s\r\n" % (len(data), data) if chunked else data

        self.wfile.write(head + (frame(first) if first else b""))
        try:
            for part in rest:
                if part:
                    self.wfile.write(frame(part))
        except OSError:
            self.close_connection = True
            return
        except Exception as exc:
            self.server.record_error(exc)
            self.close_connection = True
            return
        if chunked:
            self.wfile.write(b"0\r\n\r\n")

    def handle_expect_100(self) -> bool:
        return True  # http.server would answer 100 Continue at once: _Input does it when the app reads

    def _send_continue(self) -> None:
        self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self.wfile.flush()

    def _keep_alive(self, body: _Input) -> tuple[bool, bool]:
        """(keep the connection, read and discard the rest of the body after answering)."""
        if self.server.stopping:
            return False, False
        keepable = (
            not self.close_connection
            and self.headers.get("Connection", "").lower() != "close"
            and (self.request_version == "HTTP/1.1" or self.headers.get("Connection", "").lower() == "keep-alive")
        )
        if body.finished:
            return keepable, False
        if body.awaiting_continue:
            # Answered before the app read anything: the client may send its body now, or may not.
            body.forget_continue()
            return False, True
        if body.left is not None and body.left <= _DRAIN_LIMIT:
            try:  # small: drain now, keep the connection
                while body.read(_CHUNK):
                    pass
            except OSError:
                return False, False
            return keepable, False
        return False, True  # large or chunked: answer first, then linger

    def _linger(self, body: _Input) -> None:
        """Read and discard the rest of the body so that the client, still sending, reads the answer; give up
        after ``linger_bytes``, ``LINGER_SECONDS`` in all or ``LINGER_IDLE`` without data (then the
        connection closes)."""
        budget = self.server.linger_bytes
        deadline = time.monotonic() + self.server.linger_seconds
        try:
            self.connection.settimeout(min(LINGER_IDLE, self.server.linger_seconds))
            while budget > 0 and time.monotonic() < deadline:
                data = body.read(min(_CHUNK, budget))
                if not data:
                    return
                budget -= len(data)
        except (OSError, ValueError):
            return  # timed out, reset, or a broken chunked body: close

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

    def __init__(
        self,
        host: str,
        port: int,
        app: WSGIApp,
        log_requests: bool,
        linger_bytes: int = LINGER_BYTES,
        linger_seconds: float = LINGER_SECONDS,
        reuse_port: bool = False,
        sock: socket.socket | None = None,
        on_error: Callable[[BaseException, str], None] | None = None,
    ):
        self.log_requests = log_requests
        self.linger_bytes = linger_bytes
        self.linger_seconds = linger_seconds
        self.on_error = on_error
        self.stopping = False
        self.errors: list[tuple[BaseException, str]] = []
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.shared = sock is not None
        if sock is not None:  # a listening socket other processes accept from too
            super().__init__(host, port, app, handler=_Handler, fd=sock.fileno())
            self.socket.setblocking(False)  # a connection another process took must not block this one's accept
            return
        # Bind here: werkzeug's own binding prints to stderr and calls sys.exit() when the port is taken.
        listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            listener.bind((host, port))
            listener.listen(self.request_queue_size)
            super().__init__(host, port, app, handler=_Handler, fd=listener.fileno())
        finally:
            listener.close()  # werkzeug keeps its own duplicate of the descriptor

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, address = self.socket.accept()
        if self.shared:
            conn.setblocking(True)  # where an accepted socket inherits the listener's non-blocking mode (BSDs)
        return conn, address

    def record_error(self, exc: BaseException) -> None:
        text = traceback.format_exc()
        with self._lock:
            self.errors.append((exc, text))
        if self.on_error is not None:
            try:
                self.on_error(exc, text)
            except Exception:  # pragma: no cover - keeping the error must not break the answer
                pass

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
    """Run a WSGI app on ``host:port`` in a daemon thread; usable as a context manager.

    ``linger_bytes`` and ``linger_seconds`` bound what is read and discarded of a request body left unread by an
    early answer (a 413), so that the client reads that answer (module doc).

    Several processes can serve one port: with ``reuse_port=True`` (where :func:`reuse_port_supported`) each binds
    its own listening socket with ``SO_REUSEPORT`` and the kernel spreads new connections among them; elsewhere
    one process listens and hands the socket to the others (``sock``: an already listening socket, accepted from
    by every process that has it). ``on_error(exc, traceback_text)`` is called for each exception raised inside
    the app (a worker process keeps them for its parent); ``poll_interval``: how often the serving loop looks at
    a stop request, in seconds, when no wake-up connection reaches it (another process on the same port)."""

    def __init__(
        self,
        app: WSGIApp,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        log_requests: bool = False,
        linger_bytes: int = LINGER_BYTES,
        linger_seconds: float = LINGER_SECONDS,
        reuse_port: bool = False,
        sock: socket.socket | None = None,
        on_error: Callable[[BaseException, str], None] | None = None,
        poll_interval: float = 0.5,
    ):
        self.app = app
        self.host = host
        self.requested_port = port
        self.log_requests = log_requests
        self.linger_bytes = linger_bytes
        self.linger_seconds = linger_seconds
        self.reuse_port = reuse_port
        self.sock = sock
        self.on_error = on_error
        self.poll_interval = poll_interval
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------------------
    def start(self) -> ServerThread:
        """Bind and serve; returns once the server accepts connections. Raises OSError if the port is taken."""
        if self._server is not None:
            raise RuntimeError("server already started")
        self._server = server = _Server(
            self.host,
            self.requested_port,
            self.app,
            self.log_requests,
            self.linger_bytes,
            self.linger_seconds,
            self.reuse_port,
            self.sock,
            self.on_error,
        )
        ready = threading.Event()

        def serve() -> None:
            ready.set()
            server.serve_forever(poll_interval=self.poll_interval)

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
