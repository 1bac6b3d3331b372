"""HTTP/1.1 message heads without ``email.parser``: the hot paths' own header parsing.

``http.server`` and ``http.client`` hand every head to ``email.parser`` (through ``http.client.parse_headers``):
general (folding, MIME defects, policies) and slow, the largest single cost of a 10^5-event run. Here:

- :func:`read_request_head` reads a request's head for the fakes' and the relay's server
  (:mod:`pytest_segpendo.fakes.core.server`): strict (RFC 9112), bounded (:data:`MAX_LINE` bytes of request line,
  :data:`MAX_HEAD` bytes and :data:`MAX_FIELDS` lines of header fields), refusing garbage as a :class:`HeadError`:
  414 for a request line too long, 431 for header fields too large or too many, 400 for everything else
  (another version than HTTP/1.0 and 1.1, a transfer coding other than chunked: bad input is never a 5xx);
- :class:`HTTPConnection` and :class:`HTTPSConnection` are ``http.client``'s, with responses whose head is read
  the same way: when every header line is plain (a token, a colon, a value without control characters) the
  fields are split directly; otherwise the lines go to ``email.parser`` exactly as ``http.client`` gives them,
  so that an odd server is read as ``http.client`` reads it (a client is lenient, a server strict).
"""

from __future__ import annotations

import email.parser
import http.client
import re
from collections.abc import Iterator
from typing import Any, Protocol

__all__ = [
    "MAX_FIELDS",
    "MAX_HEAD",
    "MAX_LINE",
    "Fields",
    "HTTPConnection",
    "HTTPResponse",
    "HTTPSConnection",
    "HeadError",
    "RequestHead",
    "read_request_head",
]

MAX_LINE = 65536  # bytes of a request line; longer is 414 (as http.server)
MAX_HEAD = 65536  # bytes of all header lines together; more is 431
MAX_FIELDS = 100  # header lines; more is 431 (http.client's limit)
MAX_BLANK = 8  # empty lines tolerated before a request line (RFC 9112 2.2: "SHOULD ignore at least one")

# field-name is a token; field-value is visible characters, spaces, tabs and obs-text, never other controls.
_FIELD = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*([^\x00-\x08\x0a-\x1f\x7f]*?)[ \t]*\r?\n")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_TARGET = re.compile(r"[\x21-\x7e\x80-\xff]+")
_VERSION = re.compile(r"HTTP/(\d)\.(\d)")


class Readable(Protocol):
    """A buffered binary stream (a socket's ``makefile("rb")``); ``peek`` is used when it has one."""

    def read(self, size: int = -1, /) -> bytes: ...

    def readline(self, size: int = -1, /) -> bytes: ...


class HeadError(Exception):
    """A request head a server must refuse: answer ``status`` with ``reason``, then close the connection."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


class Fields:
    """Header fields in arrival order, looked up without regard to case: the part of ``http.client.HTTPMessage``
    that responses' users call (``get``, ``get_all``, ``items``...). ``get`` gives the first value of a name."""

    __slots__ = ("_items", "_first")

    def __init__(self, items: list[tuple[str, str]]):
        self._items = items
        self._first = {name.lower(): value for name, value in reversed(items)}

    def get(self, name: str, default: Any = None) -> Any:
        return self._first.get(name.lower(), default)

    def get_all(self, name: str, default: Any = None) -> Any:
        key = name.lower()
        if key not in self._first:
            return default
        return [value for n, value in self._items if n.lower() == key]

    def __getitem__(self, name: str) -> str | None:
        return self._first.get(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._first

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def keys(self) -> list[str]:
        return [name for name, _ in self._items]

    def values(self) -> list[str]:
        return [value for _, value in self._items]

    def items(self) -> list[tuple[str, str]]:
        return list(self._items)

    def __repr__(self) -> str:
        return f"Fields({self._items!r})"


class RequestHead:
    """A parsed request head: ``method``, ``target`` (as sent), ``version`` (``"HTTP/1.1"``), the fields, and what
    the body's framing is (``length`` bytes, or ``chunked``)."""

    __slots__ = ("method", "target", "version", "fields", "length", "chunked", "keep_alive", "line")

    def __init__(self, method: str, target: str, version: str, fields: Fields, line: str):
        self.method = method
        self.target = target
        self.version = version
        self.fields = fields
        self.line = line
        self.length = 0
        self.chunked = False
        connection = {t.strip().lower() for t in ",".join(fields.get_all("connection") or ()).split(",")}
        if version == "HTTP/1.1":
            self.keep_alive = "close" not in connection
        else:
            self.keep_alive = "keep-alive" in connection and "close" not in connection


_FIELD_TEXT = re.compile(r"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*([^\x00-\x08\x0a-\x1f\x7f]*?)[ \t]*")


def _fields(lines: list[str]) -> list[tuple[str, str]]:
    """Strict field lines (latin-1 text, line ends removed) -> (name, value); HeadError 400 for a line that is not
    ``token ":" value``."""
    out: list[tuple[str, str]] = []
    match = _FIELD_TEXT.fullmatch
    for line in lines:
        found = match(line)
        if found is None:
            if line[:1] in (" ", "\t"):
                raise HeadError(400, "header continuation lines (obs-fold) are not accepted")
            raise HeadError(400, f"malformed header line {line[:60]!r} (expected Name: value)")
        out.append((found[1], found[2]))
    return out


def _request_line(text: str) -> tuple[str, str, str]:
    parts = text.split(" ")
    if len(parts) != 3:
        raise HeadError(400, f"malformed request line {text[:80]!r} (expected METHOD target HTTP/1.1)")
    method, target, version = parts
    if not _TOKEN.fullmatch(method):
        raise HeadError(400, f"malformed method {method[:40]!r}")
    if not _TARGET.fullmatch(target):
        raise HeadError(400, "malformed request target")
    if version != "HTTP/1.1" and version != "HTTP/1.0":
        numbers = _VERSION.fullmatch(version)
        if numbers is None:
            raise HeadError(400, f"malformed HTTP version {version[:20]!r}")
        raise HeadError(400, f"HTTP version {version} is not supported (use HTTP/1.1)")
    return method, target, version


def _head(text: str, lines: list[str]) -> RequestHead:
    method, target, version = _request_line(text)
    if len(lines) > MAX_FIELDS:
        raise HeadError(431, f"more than {MAX_FIELDS} header fields")
    head = RequestHead(method, target, version, Fields(_fields(lines)), text)
    _framing(head)
    return head


def read_request_head(rfile: Readable) -> RequestHead | None:
    """Read one request head from ``rfile``; None when the client closed (or sent only empty lines) before a
    request line. Raises :class:`HeadError` for a head to refuse, ``OSError`` when the connection fails."""
    peek = getattr(rfile, "peek", None)
    if peek is not None:
        # The common case: the whole head is already in the read buffer. Take it in one read and split it.
        buffered = peek(1)
        end = buffered.find(b"\r\n\r\n", 0, MAX_HEAD)
        if (
            end > 0
            and buffered[:1] not in (b"\r", b"\n")
            and buffered.count(b"\n", 0, end) == buffered.count(b"\r\n", 0, end)
        ):
            data = rfile.read(end + 4).decode("latin-1")
            lines = data[:-4].split("\r\n")
            return _head(lines[0], lines[1:])
    line = b""
    for _ in range(MAX_BLANK + 1):
        line = rfile.readline(MAX_LINE + 1)
        if not line:
            return None
        if line not in (b"\r\n", b"\n"):
            break
    else:
        return None
    if len(line) > MAX_LINE:
        raise HeadError(414, f"request line longer than {MAX_LINE} bytes")
    if not line.endswith(b"\n"):
        return None  # the connection ended inside the request line
    raw: list[str] = []
    size = 0
    while True:
        field = rfile.readline(MAX_HEAD + 1 - size)
        if not field.endswith(b"\n"):
            if len(field) + size > MAX_HEAD:
                raise HeadError(431, f"header fields larger than {MAX_HEAD} bytes")
            return None  # the connection ended inside the head
        if field in (b"\r\n", b"\n"):
            break
        size += len(field)
        raw.append(_text(field))
        if len(raw) > MAX_FIELDS:
            raise HeadError(431, f"more than {MAX_FIELDS} header fields")
    return _head(_text(line), raw)


def _text(line: bytes) -> str:
    """A line without its end (CRLF, or a bare LF: RFC 9112 2.2 lets a server take one)."""
    return line[:-2].decode("latin-1") if line.endswith(b"\r\n") else line[:-1].decode("latin-1")


def _framing(head: RequestHead) -> None:
    """The body's length (RFC 9112 6): chunked, a Content-Length, or none; 400 for what cannot be trusted."""
    fields = head.fields
    codings = fields.get_all("transfer-encoding")
    lengths = fields.get_all("content-length")
    if codings:
        if lengths:
            raise HeadError(400, "Content-Length and Transfer-Encoding together (give one)")
        names = [c.strip().lower() for c in ",".join(codings).split(",") if c.strip()]
        if not names or names[-1] != "chunked":
            raise HeadError(400, "Transfer-Encoding: the last coding must be chunked")
        if len(names) > 1:
            raise HeadError(400, f"Transfer-Encoding {', '.join(names)} is not supported (use chunked alone)")
        head.chunked = True
        return
    if lengths:
        values = {v.strip() for value in lengths for v in value.split(",")}
        if len(values) != 1:
            raise HeadError(400, "conflicting Content-Length values")
        value = values.pop()
        if not value.isdigit() or not value.isascii() or len(value) > 18:
            raise HeadError(400, f"Content-Length {value[:20]!r} is not a number of bytes")
        head.length = int(value)


# -- the client side ----------------------------------------------------------------------------------------------

_MAXLINE: int = getattr(http.client, "_MAXLINE", 65536)  # http.client's own bounds on a response head
_MAXHEADERS: int = getattr(http.client, "_MAXHEADERS", 100)


def _read_response_fields(fp: Readable) -> Fields | http.client.HTTPMessage:
    """The fields of a response head, read as ``http.client.parse_headers`` reads them (same bounds, same
    errors); plain lines are split directly, anything else goes to ``email.parser`` as http.client does."""
    peek = getattr(fp, "peek", None)
    if peek is not None:
        buffered = peek(1)
        if buffered[:2] == b"\r\n":
            fp.read(2)
            return Fields([])
        end = buffered.find(b"\r\n\r\n")
        lines_in = buffered.count(b"\n", 0, end)
        if end > 0 and lines_in == buffered.count(b"\r\n", 0, end) and lines_in < _MAXHEADERS:
            items: list[tuple[str, str]] = []
            for line in buffered[:end].decode("latin-1").split("\r\n"):
                match = _FIELD_TEXT.fullmatch(line)
                if match is None or line[-1] in " \t" or len(line) > _MAXLINE:
                    break
                items.append((match[1], match[2]))
            else:
                fp.read(end + 4)
                return Fields(items)
    lines = []
    while True:
        line = fp.readline(_MAXLINE + 1)
        if len(line) > _MAXLINE:
            raise http.client.LineTooLong("header line")
        lines.append(line)
        if len(lines) > _MAXHEADERS:
            raise http.client.HTTPException(f"got more than {_MAXHEADERS} headers")
        if line in (b"\r\n", b"\n", b""):
            break
    fields: list[tuple[str, str]] = []
    for line in lines[:-1]:
        plain = _FIELD.fullmatch(line)
        if plain is None or line.rstrip(b"\r\n")[-1:] in (b" ", b"\t"):
            # Not plain (or trailing blanks, which email.parser keeps): read it exactly as http.client does.
            text = b"".join(lines).decode("iso-8859-1")
            return email.parser.Parser(_class=http.client.HTTPMessage).parsestr(text)
        fields.append((plain[1].decode("ascii"), plain[2].decode("latin-1")))
    return Fields(fields)


class HTTPResponse(http.client.HTTPResponse):
    """``http.client.HTTPResponse`` with the head read by :func:`_read_response_fields`; otherwise the same."""

    def begin(self) -> None:
        if self.headers is not None:
            return
        while True:
            version, status, reason = self._read_status()
            if status != http.client.CONTINUE:
                break
            _read_response_fields(self.fp)  # the 100 response's own fields
        self.code = self.status = status
        self.reason = reason.strip()
        if version in ("HTTP/1.0", "HTTP/0.9"):
            self.version = 10
        elif version.startswith("HTTP/1."):
            self.version = 11
        else:
            raise http.client.UnknownProtocol(version)
        self.headers = self.msg = _read_response_fields(self.fp)
        coding = self.headers.get("transfer-encoding")
        self.chunked = bool(coding and coding.lower() == "chunked")
        if self.chunked:
            self.chunk_left = None
        self.will_close = self._check_close()
        self.length = None
        length = self.headers.get("content-length")
        if length and not self.chunked:
            try:
                self.length = int(length)
            except ValueError:
                self.length = None
            else:
                if self.length < 0:
                    self.length = None
        method = self._method
        if status in (http.client.NO_CONTENT, http.client.NOT_MODIFIED) or 100 <= status < 200 or method == "HEAD":
            self.length = 0
        if not self.will_close and not self.chunked and self.length is None:
            self.will_close = True


_legal_name = http.client._is_legal_header_name  # type: ignore[attr-defined]
_illegal_value = http.client._is_illegal_header_value  # type: ignore[attr-defined]


def _send_request(
    conn: http.client.HTTPConnection, method: str, url: str, body: Any, headers: Any, encode_chunked: bool
) -> bool:
    """``request()`` for the common case (a bytes body or none, str header names and values): the same head
    http.client writes, with the same checks, built in one go; False (nothing sent) for any other case."""
    if encode_chunked or not (body is None or isinstance(body, bytes)) or not isinstance(headers, dict):
        return False
    lines = []
    names = set()
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str):
            return False
        raw_name, raw_value = name.encode("ascii"), value.encode("latin-1")
        if not _legal_name(raw_name):
            raise ValueError(f"Invalid header name {raw_name!r}")
        if _illegal_value(raw_value):
            raise ValueError(f"Invalid header value {raw_value!r}")
        names.add(name.lower())
        lines.append(raw_name + b": " + raw_value)
    conn.putrequest(method, url, skip_host="host" in names, skip_accept_encoding="accept-encoding" in names)
    if "content-length" not in names and "transfer-encoding" not in names:
        length = conn._get_content_length(body, method)  # type: ignore[attr-defined]
        if length is not None:
            conn._output(b"Content-Length: %d" % length)  # type: ignore[attr-defined]
    conn._buffer.extend(lines)  # type: ignore[attr-defined]
    if body and getattr(conn, "_HTTPConnection__state", None) == http.client._CS_REQ_STARTED:  # type: ignore[attr-defined]
        # Head and body in one write (http.client makes two: two segments, two wake-ups of the server).
        conn._HTTPConnection__state = http.client._CS_REQ_SENT  # type: ignore[attr-defined]
        buffer = conn._buffer  # type: ignore[attr-defined]
        buffer.extend((b"", b""))
        message = b"\r\n".join(buffer) + body
        del buffer[:]
        conn.send(message)
    else:
        conn.endheaders(body)
    return True


class HTTPConnection(http.client.HTTPConnection):
    """``http.client.HTTPConnection`` whose responses are :class:`HTTPResponse`, and whose requests with a bytes
    body are written without ``putheader``'s per-header round trips (same bytes, same checks)."""

    response_class = HTTPResponse

    def _send_request(self, method: str, url: str, body: Any, headers: Any, encode_chunked: bool) -> None:
        if not _send_request(self, method, url, body, headers, encode_chunked):
            super()._send_request(method, url, body, headers, encode_chunked)  # type: ignore[misc]


class HTTPSConnection(http.client.HTTPSConnection):
    """``http.client.HTTPSConnection``, as :class:`HTTPConnection`."""

    response_class = HTTPResponse

    def _send_request(self, method: str, url: str, body: Any, headers: Any, encode_chunked: bool) -> None:
        if not _send_request(self, method, url, body, headers, encode_chunked):
            super()._send_request(method, url, body, headers, encode_chunked)  # type: ignore[misc]
