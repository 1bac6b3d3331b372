"""JSON Lines in and out: one JSON value per line, read lazily, every bad line reported with its number."""

from __future__ import annotations

import gc
import json
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Union

__all__ = [
    "JsonlError",
    "dumps_bytes",
    "loads",
    "JsonlLine",
    "Source",
    "bulk",
    "dumps",
    "iter_jsonl",
    "iter_values",
    "load_jsonl",
    "load_jsonl_values",
    "write_jsonl",
]

Source = Union[str, Path, IO[bytes]]

_decode = json.JSONDecoder().decode

try:  # orjson parses and writes JSON two to three times faster: it is what makes 10^5-event runs cheap
    import orjson as _orjson
except ImportError:  # pragma: no cover - orjson is a dependency; the standard library still works
    _orjson = None  # type: ignore[assignment]  # optional module: every use checks "is not None" first


def loads(data: bytes | str) -> Any:
    """Parse one JSON text: fast with orjson, with the standard library's errors and leniency as fallback.

    Numbers are parsed as orjson parses them: an integer beyond 64 bits becomes a float, as in JavaScript.
    """
    if _orjson is not None:
        try:
            return _orjson.loads(data)
        except _orjson.JSONDecodeError:
            pass  # let the standard library decide, and word the error (lone surrogates, NaN, bad JSON)
    return _decode(data.decode("utf-8") if isinstance(data, bytes) else data)


def dumps_bytes(value: Any) -> bytes:
    """Compact UTF-8 JSON as bytes (orjson when it can write the value)."""
    if _orjson is not None:
        try:
            return _orjson.dumps(value)
        except (TypeError, _orjson.JSONEncodeError):
            pass  # integers beyond 64 bits, lone surrogates
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "backslashreplace")


class JsonlError(ValueError):
    """A JSONL file that cannot be used; the message names the file and the line."""


@dataclass(frozen=True)
class JsonlLine:
    """One non-blank line: its 1-based number, its size in bytes, and the parsed ``value`` or an ``error``."""

    line: int
    value: Any = None
    error: str | None = None
    size: int = 0


def dumps(value: Any) -> str:
    """Compact JSON with non-ASCII kept as is: the form every JSONL file of the toolkit uses."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _open(source: Source) -> tuple[IO[bytes], bool]:
    if isinstance(source, (str, Path)):
        if str(source) == "-":
            return sys.stdin.buffer, False
        return open(source, "rb"), True
    return source, False


def source_name(source: Source) -> str:
    """How messages refer to ``source`` (``<stdin>`` for ``-``)."""
    if isinstance(source, (str, Path)):
        return "<stdin>" if str(source) == "-" else str(source)
    return getattr(source, "name", "<stream>")


def iter_jsonl(source: Source) -> Iterator[JsonlLine]:
    """Parse ``source`` (a path, ``-`` for stdin, or a binary stream) line by line; blank lines are skipped.

    Opening the file raises ``OSError``; a line that is not UTF-8 or not JSON is yielded with ``error`` set.
    """
    stream, close = _open(source)
    try:
        for number, raw in enumerate(stream, 1):
            if not raw.strip():
                continue
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield JsonlLine(number, error=f"not valid UTF-8 (byte {exc.start + 1})")
                continue
            try:
                yield JsonlLine(number, value=loads(raw.strip()), size=len(raw))
            except ValueError as exc:  # JSONDecodeError, or a number too long to convert
                message = getattr(exc, "msg", str(exc))
                col = getattr(exc, "colno", None)
                yield JsonlLine(number, error=f"invalid JSON: {message}" + (f" (column {col})" if col else ""))
    finally:
        if close:
            stream.close()


def load_jsonl(source: Source) -> list[Any]:
    """Every value of a JSONL file; :class:`JsonlError` names the file and line of the first bad line."""
    name = source_name(source)
    values = []
    try:
        for item in iter_jsonl(source):
            if item.error is not None:
                raise JsonlError(f"{name}:{item.line}: {item.error}")
            values.append(item.value)
    except OSError as exc:
        raise JsonlError(f"cannot read {name}: {exc.strerror or exc}") from None
    return values


@contextmanager
def bulk() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while reading or building many JSON values.

    Parsed JSON holds no reference cycles, yet the collector keeps rescanning every new dict: pausing it
    makes loading 10^5 events about twice as fast.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _read_all(source: Source) -> bytes:
    name = source_name(source)
    try:
        if isinstance(source, (str, Path)) and str(source) != "-":
            return Path(source).read_bytes()
        stream, _ = _open(source)
        return stream.read()
    except OSError as exc:
        raise JsonlError(f"cannot read {name}: {exc.strerror or exc}") from None


def iter_values(source: Source) -> Iterator[tuple[int, Any, int]]:
    """``(line number, value, size bound)`` for each non-blank line, parsed one by one as they are consumed.

    The input is read at once; a bad line raises :class:`JsonlError` naming the file and line when it is
    reached. The size bound is an upper bound of the value's compact JSON size
    (see :func:`pytest_segpendo.events.size_bound_of_line`).
    """
    name = source_name(source)
    data = _read_all(source)
    for number, line in enumerate(data.split(b"\n"), 1):
        if not line or line.isspace():
            continue
        try:
            value = loads(line.strip())
        except UnicodeDecodeError as exc:
            raise JsonlError(f"{name}:{number}: not valid UTF-8 (byte {exc.start + 1})") from None
        except ValueError as exc:
            message = getattr(exc, "msg", str(exc))
            col = getattr(exc, "colno", None)
            raise JsonlError(
                f"{name}:{number}: invalid JSON: {message}" + (f" (column {col})" if col else "")
            ) from None
        yield number, value, len(line) * 9 // 2 + 1


def load_jsonl_values(source: Source, size_bounds: list[int] | None = None) -> list[Any]:
    """Like :func:`load_jsonl`, faster: the whole input is read at once (errors still name the line).

    With ``size_bounds``, each value's size bound (see :func:`iter_values`) is appended to it.
    """
    values = []
    for _, value, bound in iter_values(source):
        values.append(value)
        if size_bounds is not None:
            size_bounds.append(bound)
    return values


def write_jsonl(values: Iterable[Any], out: IO[str]) -> int:
    """Write one compact JSON value per line; returns how many were written."""
    n = 0
    write = out.write
    for value in values:
        write(dumps(value))
        write("\n")
        n += 1
    return n
