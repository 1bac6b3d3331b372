"""JSON Lines in and out: one JSON value per line, read lazily, every bad line reported with its number."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Union

__all__ = ["JsonlError", "JsonlLine", "Source", "dumps", "iter_jsonl", "load_jsonl", "write_jsonl"]

Source = Union[str, Path, IO[bytes]]

_decode = json.JSONDecoder().decode


class JsonlError(ValueError):
    """A JSONL file that cannot be used; the message names the file and the line."""


@dataclass(frozen=True)
class JsonlLine:
    """One non-blank line: its 1-based number and either the parsed ``value`` or an ``error``."""

    line: int
    value: Any = None
    error: str | None = None


def dumps(value: Any) -> str:
    """Compact JSON with non-ASCII kept as is: the form every JSONL file of the toolkit uses."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _open(source: Source) -> tuple[IO[bytes], bool]:
    if isinstance(source, (str, Path)):
        if str(source) == "-":
            return sys.stdin.buffer, False
        return open(source, "rb"), True  # noqa: SIM115 - closed by the caller
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
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield JsonlLine(number, error=f"not valid UTF-8 (byte {exc.start + 1})")
                continue
            try:
                yield JsonlLine(number, value=_decode(text.strip()))
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


def write_jsonl(values: Iterable[Any], out: IO[str]) -> int:
    """Write one compact JSON value per line; returns how many were written."""
    n = 0
    write = out.write
    for value in values:
        write(dumps(value))
        write("\n")
        n += 1
    return n
