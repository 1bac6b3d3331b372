"""Segment events from where teams keep them: a JSONL file (plain or gzipped), a folder of such files, or a
Segment archive export, read as a stream.

A Segment archive (the Amazon S3 / AWS S3 storage destinations) is laid out as
``segment-logs/{source-id}/{received-day}/{file}.gz``: gzipped, newline-separated JSON, one call per line, grouped
by the UTC day Segment received them (segment-docs ``src/connections/storage/catalog/amazon-s3/index.md``). A folder
is read recursively, its files in path order, so such an export replays day by day.

A line that is not JSON, not an object, or not a valid Segment event does not stop the run: it is counted and
listed with its file and line number (:attr:`EventSource.bad`), so nothing is lost silently.

>>> import gzip, json, os, tempfile
>>> folder = tempfile.mkdtemp()
>>> day = os.path.join(folder, "segment-logs", "src1", "1767571200000")
>>> os.makedirs(day)
>>> with gzip.open(os.path.join(day, "a.gz"), "wt") as f:
...     _ = f.write(json.dumps({"type": "track", "userId": "u1", "event": "E"}) + "\\nnot json\\n")
>>> source = EventSource(folder)
>>> [e["event"] for e in source], source.events, [(b.line, b.error[:12]) for b in source.bad]
(['E'], 1, [(2, 'invalid JSON')])
"""

from __future__ import annotations

import gzip
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from .jsonl import loads

__all__ = ["BadLine", "EventSource", "LineBatch", "bad_line", "event_files", "parse_line"]

GZIP_MAGIC = b"\x1f\x8b"
SUFFIXES = (".jsonl", ".json", ".ndjson", ".gz", ".jsonl.gz", ".json.gz", ".ndjson.gz")
KEPT_TEXT = 200  # characters of a bad line kept for the report


@dataclass(frozen=True)
class BadLine:
    """A line that could not be used: where it is, why, and the start of its text."""

    source: str
    line: int
    error: str
    text: str = ""

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.error}"


def event_files(path: str | Path) -> list[Path]:
    """The files a path stands for: itself, or every event file below a folder (recursively, in path order).

    Files whose names do not look like event files (``.jsonl``, ``.json``, ``.ndjson``, optionally ``.gz``, or no
    suffix at all, as some exports write) are left out; hidden files and folders too."""
    root = Path(path)
    if not root.is_dir():
        return [root]
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            if name.endswith(SUFFIXES) or "." not in name:
                found.append(Path(folder) / name)
    return sorted(found)


@dataclass(frozen=True)
class LineBatch:
    """Consecutive raw lines of one source, the first being line ``first``; or (``error``) the point from which the
    source could not be read."""

    source: str
    first: int
    lines: list[bytes]
    error: str | None = None


def parse_line(line: bytes, validate: Callable[[Any], list[str]] | None = None) -> tuple[Any, str | None]:
    """``(value, None)`` for a good non-blank line, ``(None, why)`` for a bad one, as :class:`EventSource` decides:
    not JSON, not a JSON object, or (``validate``, e.g. ``pytest_segpendo.events.validate_event``) not valid."""
    try:
        value = loads(line)
    except (ValueError, UnicodeDecodeError) as exc:
        message = getattr(exc, "msg", None) or str(exc)
        return None, f"invalid JSON: {message}"
    if not isinstance(value, dict):
        return None, f"not a JSON object ({type(value).__name__})"
    if validate is not None:
        errors = validate(value)
        if errors:
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            return None, f"invalid event: {errors[0]}{more}"
    return value, None


def bad_line(source: str, number: int, error: str, raw: bytes) -> BadLine:
    """A :class:`BadLine`, keeping the start of its text."""
    text = raw[: KEPT_TEXT * 4].decode("utf-8", "replace")[:KEPT_TEXT]
    return BadLine(source, number, error, text)


def _open(path: Path) -> IO[bytes]:
    raw = open(path, "rb")  # noqa: SIM115 - closed by the caller
    head = raw.peek(2)[:2] if hasattr(raw, "peek") else b""
    if head == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    return raw


@dataclass
class EventSource:
    """Events from ``paths`` (files, folders, or ``-`` for stdin), streamed in order; bad lines are counted.

    ``validate``: also count events that break the Segment Spec as bad lines (with the first broken rule), instead of
    passing them on. Iterate once; afterwards :attr:`events`, :attr:`bad` and :attr:`files` tell what was read.
    """

    paths: str | Path | Sequence[str | Path]
    validate: bool = False
    events: int = 0
    bad: list[BadLine] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def _sources(self) -> Iterable[tuple[str, IO[bytes], bool]]:
        given = [self.paths] if isinstance(self.paths, (str, Path)) else list(self.paths)
        for item in given:
            if str(item) == "-":
                stdin = sys.stdin.buffer
                head = stdin.peek(2)[:2] if hasattr(stdin, "peek") else b""
                stream: IO[bytes] = gzip.GzipFile(fileobj=stdin, mode="rb") if head == GZIP_MAGIC else stdin  # type: ignore[assignment]
                yield "<stdin>", stream, False
                continue
            files = event_files(item)
            if not files and Path(item).is_dir():
                raise FileNotFoundError(f"{item}: no event files in this folder (.jsonl, .json, .ndjson, .gz)")
            for path in files:
                yield str(path), _open(path), True

    def __iter__(self) -> Iterator[dict[str, Any]]:
        from .events import validate_event

        for name, stream, close in self._sources():
            self.files.append(name)
            try:
                yield from self._read(name, stream, validate_event if self.validate else None)
            finally:
                if close:
                    stream.close()

    def _read(self, name: str, stream: IO[bytes], validate: Any) -> Iterator[dict[str, Any]]:
        number = 0
        try:
            for number, raw in enumerate(stream, 1):
                line = raw.strip()
                if not line:
                    continue
                value, error = parse_line(line, validate)
                if error is not None:
                    self._bad(name, number, error, line)
                    continue
                self.events += 1
                yield value
        except (OSError, EOFError, gzip.BadGzipFile) as exc:  # a truncated or corrupt gzip member
            self._bad(name, number + 1, f"unreadable from here on: {exc}", b"")

    def batches(self, lines: int = 10000) -> Iterator[LineBatch]:
        """The raw lines, ``lines`` at a time, for a caller that parses them elsewhere (``pytest_segpendo.scale``
        parses them in worker processes with :func:`parse_line`, then hands the results back with
        :meth:`account`). A file that cannot be read further ends with a batch holding only that ``error``."""
        for name, stream, close in self._sources():
            self.files.append(name)
            number, first, batch = 0, 1, []
            try:
                try:
                    for number, raw in enumerate(stream, 1):
                        batch.append(raw)
                        if len(batch) >= lines:
                            yield LineBatch(name, first, batch)
                            first, batch = number + 1, []
                except (OSError, EOFError, gzip.BadGzipFile) as exc:
                    if batch:
                        yield LineBatch(name, first, batch)
                        batch = []
                    yield LineBatch(name, number + 1, [], f"unreadable from here on: {exc}")
                if batch:
                    yield LineBatch(name, first, batch)
            finally:
                if close:
                    stream.close()

    def account(self, events: int, bad: Iterable[BadLine]) -> None:
        """Count what a batch held: its good events and its bad lines (in order)."""
        self.events += events
        self.bad.extend(bad)

    def _bad(self, name: str, number: int, error: str, raw: bytes) -> None:
        self.bad.append(bad_line(name, number, error, raw))

    def summary(self) -> str:
        """``N events from F files; B bad lines (first: file:line: why)``."""
        files = f"{len(self.files)} file{'s' if len(self.files) != 1 else ''}"
        text = f"{self.events:,} events from {files}"
        if self.bad:
            text += f"; {len(self.bad):,} bad line{'s' if len(self.bad) != 1 else ''} skipped (first: {self.bad[0]})"
        return text

    def bad_lines_json(self) -> list[dict[str, Any]]:
        """Every bad line, for a JSON report."""
        return [{"source": b.source, "line": b.line, "error": b.error, "text": b.text} for b in self.bad]
