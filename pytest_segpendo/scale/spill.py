"""Spill files: what a stage hands the next one, on disk, in compressed frames.

A frame is a list of items (tuples of JSON values) written with :mod:`marshal` (it keeps every JSON value exactly,
numbers beyond 64 bits included, and loads faster than JSON is parsed), compressed with zlib at level 1 (about 7x
smaller for Segment events and Pendo records, at a fraction of the time parsing them costs). A spill file is frames
one after another, each behind a 5-byte header (flag, length). Frames are only ever read by the process tree that
wrote them (or by Dask workers of the same Python version), never from elsewhere.
"""

from __future__ import annotations

import marshal
import os
import shutil
import struct
import sys
import tempfile
import zlib
from array import array
from collections.abc import Iterable, Iterator
from itertools import repeat
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Union

__all__ = [
    "Blob",
    "ShardFiles",
    "append_frames",
    "append_items",
    "encode_lines",
    "read_list",
    "FrameWriter",
    "ShardWriters",
    "SpillDir",
    "decode_frames",
    "encode_frame",
    "read_blob",
    "read_items",
]

HEADER = struct.Struct("<BI")
RAW, DEFLATE = 0, 1
LINES = 2  # flag bit: a frame of lines (positions and the lines), not of marshalled items
LINE_COUNT = struct.Struct("<IB")  # lines in a LINES frame, and whether its items carry a (None) lane
_BIG_ENDIAN = sys.byteorder == "big"
LEVEL = 1  # zlib level: the fastest still compresses JSON-like data about 7x

Blob = Union[str, bytes, tuple[str, ...]]
"""A stage's input: the path of a spill file (the local machine), several (one per worker process that wrote to
the shard), or the file's bytes (sent to a Dask worker)."""


def encode_frame(items: list[Any], compress: bool = True) -> bytes:
    """One frame holding ``items``."""
    data = marshal.dumps(items)
    if compress:
        data = zlib.compress(data, LEVEL)
    return HEADER.pack(DEFLATE if compress else RAW, len(data)) + data


def encode_lines(positions: list[int], lines: list[bytes], lanes: bool, compress: bool = True) -> bytes:
    """One frame of lines (without line ends) and their positions: its items are ``(position, None, line)``
    (``lanes``) or ``(position, line)``, written and read without an object per item."""
    at = array("q", positions)
    if _BIG_ENDIAN:
        at.byteswap()  # stored little-endian, whichever machine reads it
    body = LINE_COUNT.pack(len(lines), lanes) + at.tobytes() + b"\n".join(lines)
    if compress:
        body = zlib.compress(body, LEVEL)
    return HEADER.pack(LINES | (DEFLATE if compress else RAW), len(body)) + body


def _items(flag: int, body: Any) -> list[Any]:
    data = zlib.decompress(body) if flag & DEFLATE else body
    if not flag & LINES:
        return marshal.loads(data)  # type: ignore[no-any-return]
    view = memoryview(data)
    count, lanes = LINE_COUNT.unpack_from(view, 0)
    at = LINE_COUNT.size + 8 * count
    positions = array("q")
    positions.frombytes(view[LINE_COUNT.size : at])
    if _BIG_ENDIAN:
        positions.byteswap()
    lines = bytes(view[at:]).split(b"\n") if count else []
    if lanes:
        return list(zip(positions, repeat(None), lines))
    return list(zip(positions, lines))


def decode_frames(data: bytes) -> Iterator[list[Any]]:
    """The item lists of the frames in ``data`` (whole frames, one after another)."""
    view = memoryview(data)
    at, end = 0, len(data)
    while at < end:
        flag, size = HEADER.unpack_from(view, at)
        at += HEADER.size
        body = view[at : at + size]
        at += size
        yield _items(flag, body)


def read_blob(blob: Blob) -> bytes:
    if isinstance(blob, bytes):
        return blob
    if isinstance(blob, tuple):
        return b"".join(Path(p).read_bytes() for p in blob)
    return Path(blob).read_bytes()


def read_items(blob: Blob) -> Iterator[Any]:
    """Every item of a spill file (its path, or its bytes), in the order written; of several files, one after
    the other."""
    if isinstance(blob, bytes):
        for items in decode_frames(blob):
            yield from items
        return
    for path in blob if isinstance(blob, tuple) else (blob,):
        with open(path, "rb") as f:
            yield from _read_stream(f)


def append_items(folder: str, name: str, items_by_shard: Iterable[list[Any]], compress: bool) -> list[tuple[int, str]]:
    """Append each shard's items, as one frame, to this process's own spill file of the shard
    (``{name}-{shard}-{pid}``: no two processes write one file); the (shard, path) of each file written."""
    return append_frames(folder, name, (encode_frame(items, compress) if items else b"" for items in items_by_shard))


def append_frames(folder: str, name: str, frames_by_shard: Iterable[bytes]) -> list[tuple[int, str]]:
    """:func:`append_items` for frames already made (empty bytes: nothing for that shard)."""
    pid = os.getpid()
    out = []
    for shard, frame in enumerate(frames_by_shard):
        if frame:
            path = os.path.join(folder, f"{name}-{shard:05d}-{pid}")
            with open(path, "ab") as f:
                f.write(frame)
            out.append((shard, path))
    return out


class ShardFiles:
    """The spill files of each shard written by worker processes themselves (:func:`append_items`)."""

    def __init__(self, shards: int):
        self.files: list[dict[str, None]] = [{} for _ in range(shards)]

    def __len__(self) -> int:
        return len(self.files)

    def add(self, written: Iterable[tuple[int, str]]) -> None:
        for shard, path in written:
            self.files[shard][path] = None

    def close(self) -> None:
        """Nothing to flush: each frame was written whole by the process that made it."""

    def blobs(self) -> list[Blob]:
        """Per shard, its files (in the order first written), or empty bytes."""
        return [tuple(sorted(paths)) if paths else b"" for paths in self.files]


def _read_stream(f: BinaryIO) -> Iterator[Any]:
    while True:
        head = f.read(HEADER.size)
        if len(head) < HEADER.size:
            return
        flag, size = HEADER.unpack(head)
        yield from _items(flag, f.read(size))


def read_list(blob: Blob) -> list[Any]:
    """Every item of a spill file (or files, or bytes) in one list, the order written; a file read at once."""
    out: list[Any] = []
    if isinstance(blob, bytes):
        for items in decode_frames(blob):
            out.extend(items)
        return out
    for path in blob if isinstance(blob, tuple) else (blob,):
        for items in decode_frames(Path(path).read_bytes()):
            out.extend(items)
    return out


class FrameWriter:
    """Appends frames to one spill file; items added one by one are framed ``frame_items`` at a time."""

    def __init__(self, path: Path, compress: bool = True, frame_items: int = 1024):
        self.path = path
        self.compress = compress
        self.frame_items = max(1, frame_items)
        self.buffer: list[Any] = []
        self.items = 0
        self.size = 0
        self._file: BinaryIO | None = None

    def add(self, item: Any) -> None:
        self.buffer.append(item)
        if len(self.buffer) >= self.frame_items:
            self.flush()

    def add_frame(self, frame: bytes, items: int) -> None:
        """Append a frame made elsewhere (:func:`encode_frame`) holding ``items`` items."""
        self.flush()
        self._write(frame)
        self.items += items

    def flush(self) -> None:
        if self.buffer:
            self._write(encode_frame(self.buffer, self.compress))
            self.items += len(self.buffer)
            self.buffer = []

    def _write(self, frame: bytes) -> None:
        if self._file is None:
            self._file = open(self.path, "ab")  # noqa: SIM115 - closed by close()
        self._file.write(frame)
        self.size += len(frame)

    def close(self) -> None:
        self.flush()
        if self._file is not None:
            self._file.close()
            self._file = None

    def blob(self) -> Blob:
        """What a stage reading this file is given (closing it first); an empty file is empty bytes."""
        self.close()
        return str(self.path) if self.path.exists() else b""


class ShardWriters:
    """One :class:`FrameWriter` per shard under ``folder``, named ``{name}-{shard}``."""

    def __init__(self, folder: Path, name: str, shards: int, compress: bool = True, buffered: int = 65536):
        self.writers = [
            FrameWriter(folder / f"{name}-{i:05d}", compress, frame_items=max(64, buffered // max(1, shards)))
            for i in range(shards)
        ]

    def __len__(self) -> int:
        return len(self.writers)

    def add(self, shard: int, item: Any) -> None:
        self.writers[shard].add(item)

    def add_frames(self, frames: Iterable[tuple[int, bytes, int]]) -> None:
        for shard, frame, items in frames:
            self.writers[shard].add_frame(frame, items)

    def close(self) -> None:
        for w in self.writers:
            w.close()

    def blobs(self) -> list[Blob]:
        return [w.blob() for w in self.writers]

    @property
    def size(self) -> int:
        return sum(w.size for w in self.writers)


class SpillDir:
    """A temporary folder for spill files (under ``parent``, or the system's temporary folder), removed on exit
    with everything in it, whatever happened."""

    def __init__(self, parent: str | os.PathLike[str] | None = None):
        self.parent = parent
        self.path: Path | None = None

    def __enter__(self) -> Path:
        if self.parent is not None:
            Path(self.parent).mkdir(parents=True, exist_ok=True)
        self.path = Path(tempfile.mkdtemp(prefix="segpendo-spill-", dir=self.parent))
        return self.path

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)
            self.path = None


def spill_size(folder: Path) -> int:
    """Bytes of the files under ``folder`` now."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
