"""What both fakes need from HTTP: bounded body reading (with gzip and a decompression cap), JSON answers with
a reason, and the "bad input" exception that turns into a 4xx and a rejection record."""

from __future__ import annotations

import zlib
from typing import Any

from werkzeug.wrappers import Request, Response

from ...jsonl import dumps_bytes, loads

__all__ = ["MAX_JSON_DEPTH", "BadRequest", "inflate", "json_response", "parse_json", "read_body", "read_json"]

MAX_JSON_DEPTH = 128
"""Deepest nesting of arrays and objects a fake takes. Neither Pendo nor Segment documents one; the fakes refuse
deeper JSON (400) so that whatever they keep can be written back out (orjson writes at most 254 levels)."""


class BadRequest(Exception):
    """Bad input: answered with ``status`` and ``{"error": reason}``, kept in the fake's ``rejected`` list."""

    def __init__(self, status: int, reason: str, **extra: Any):
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.extra = extra


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    response = Response(dumps_bytes(body), status=status, content_type="application/json")
    if headers:
        response.headers.update(headers)
    return response


def inflate(data: bytes, limit: int, wbits: int = zlib.MAX_WBITS, what: str = "body") -> bytes:
    """Decompress ``data`` (zlib by default, gzip with ``wbits=16 + MAX_WBITS``) without ever holding more
    than ``limit`` bytes: a decompression bomb is refused with 413."""
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise BadRequest(
            400, f"{what}: not valid {'gzip' if wbits > zlib.MAX_WBITS else 'zlib'} data ({exc})"
        ) from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise BadRequest(413, f"{what}: decompresses to more than {limit} bytes")
    if not inflater.eof:
        raise BadRequest(400, f"{what}: compressed data is truncated")
    return out


def read_body(request: Request, max_bytes: int, max_decompressed: int) -> bytes:
    """The request body, refused with 413 when over ``max_bytes`` (before reading it) or, once un-gzipped,
    over ``max_decompressed``; ``Content-Encoding: gzip`` is understood."""
    length = request.content_length
    if length is not None and length > max_bytes:
        raise BadRequest(413, f"body of {length} bytes is over the {max_bytes}-byte limit")
    data = request.stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise BadRequest(413, f"body is over the {max_bytes}-byte limit")
    encoding = (request.headers.get("Content-Encoding") or "").strip().lower()
    if encoding in ("gzip", "x-gzip"):
        data = inflate(data, max_decompressed, 16 + zlib.MAX_WBITS, "gzip body")
    elif encoding == "deflate":
        data = inflate(data, max_decompressed, zlib.MAX_WBITS, "deflate body")
    elif encoding not in ("", "identity"):
        raise BadRequest(415, f"Content-Encoding {encoding!r} is not supported (use gzip or none)")
    return data


def too_deep(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when arrays and objects nest more than ``limit`` levels in ``value`` (checked without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        for child in children:
            if isinstance(child, (dict, list)):
                if depth >= limit:
                    return True
                stack.append((child, depth + 1))
    return False


def parse_json(data: bytes | str, what: str = "body") -> Any:
    """``data`` parsed as JSON; 400 naming ``what`` and the problem when it is not UTF-8, not JSON, or nested
    more than :data:`MAX_JSON_DEPTH` levels."""
    try:
        value = loads(data)
    except UnicodeDecodeError:
        raise BadRequest(400, f"{what}: not valid UTF-8") from None
    except RecursionError:  # deeper than the parser's stack: deeper than the limit too
        raise BadRequest(400, f"{what}: arrays and objects nested more than {MAX_JSON_DEPTH} levels deep") from None
    except ValueError as exc:
        message = getattr(exc, "msg", str(exc))
        line, col = getattr(exc, "lineno", None), getattr(exc, "colno", None)
        where = f" (line {line}, column {col})" if line else ""
        raise BadRequest(400, f"{what}: not valid JSON: {message}{where}") from None
    if too_deep(value):
        raise BadRequest(400, f"{what}: arrays and objects nested more than {MAX_JSON_DEPTH} levels deep")
    return value


def read_json(request: Request, max_bytes: int, max_decompressed: int) -> Any:
    """The body parsed as JSON; 400 naming the problem when it is empty or not JSON."""
    data = read_body(request, max_bytes, max_decompressed)
    if not data.strip():
        raise BadRequest(400, "body: required (a JSON document)")
    return parse_json(data)
