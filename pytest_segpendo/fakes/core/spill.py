"""Where a fake keeps what it received once it no longer fits in memory: a SQLite file.

A fake's lists (records, the journal, refusals, drops, warnings, injected faults) are :class:`SpillList` s: the
newest items in memory, up to a bound (``memory_records``, :data:`MEMORY_RECORDS` by default), the older ones in
one table each of a :class:`SpillFile`, read back in order as a stream.

Why SQLite (the standard library's ``sqlite3``): it is always there; a table with an integer primary key gives
appends, ordered scans and counts in C, in bounded memory (a page cache of a few MiB, whatever the file's
size); a reader opens its own connection and sees a consistent snapshot while the server keeps writing (WAL);
and several processes can share one file with their writes serialised by SQLite's own locks, which is what the
fake's worker processes need for the state that answers reads (:mod:`pytest_segpendo.fakes.pendo.state`).
Durability is not wanted (the file dies with the fake), so the files are written without ``fsync``.
"""

from __future__ import annotations

import heapq
import os
import shutil
import sqlite3
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from ... import defaults
from ...jsonl import dumps_bytes, loads

__all__ = ["MEMORY_RECORDS", "SpillFile", "SpillList", "connect", "spill_directory"]

MEMORY_RECORDS = defaults.MEMORY_RECORDS  # items of each list kept in memory before older ones go to disk
_PAGE = 2000  # rows fetched at a time when streaming a table back


def connect(path: str | Path, timeout: float = 30.0) -> sqlite3.Connection:
    """A connection to a spill file: autocommit (transactions are explicit), WAL so that readers never block the
    writer, no fsync, a bounded page cache; usable from any thread (callers hold their own lock)."""
    conn = sqlite3.connect(str(path), timeout=timeout, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-8000")  # 8 MB
    conn.execute("PRAGMA temp_store=MEMORY")
    return conn


def spill_directory(parent: str | Path | None) -> tuple[Path, Callable[[], None]]:
    """A new directory for one fake's spill files (inside ``parent``, or the system's temporary directory) and
    the function that removes it."""
    if parent is not None:
        os.makedirs(parent, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="segpendo-spill-", dir=None if parent is None else str(parent)))
    return path, lambda: shutil.rmtree(path, ignore_errors=True)


class SpillFile:
    """One SQLite file holding a store's spilled lists, one table each (``key`` INTEGER PRIMARY KEY, ``body`` the
    item's JSON), and a ``meta`` table of small values. Callers serialise writes (the store's lock)."""

    def __init__(self, path: str | Path, autocommit: bool = True):
        self.path = Path(path)
        self.conn = connect(self.path)
        self.autocommit = autocommit  # commit each insert (else: the owner commits, e.g. once per request)
        self._tables: set[str] = set()
        self._open = False
        self.conn.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value BLOB) WITHOUT ROWID")

    def ensure(self, table: str) -> None:
        if table not in self._tables:
            self.conn.execute(f'CREATE TABLE IF NOT EXISTS "{table}" (key INTEGER PRIMARY KEY, body BLOB NOT NULL)')
            self._tables.add(table)

    def begin(self) -> None:
        if not self._open:
            self.conn.execute("BEGIN IMMEDIATE")
            self._open = True

    def commit(self) -> None:
        if self._open:
            self._open = False
            self.conn.execute("COMMIT")

    def insert(self, table: str, rows: Iterable[tuple[int, bytes]]) -> None:
        self.ensure(table)
        self.begin()
        self.conn.executemany(f'INSERT OR REPLACE INTO "{table}" (key, body) VALUES (?, ?)', rows)
        if self.autocommit:
            self.commit()

    def set_meta(self, name: str, value: Any) -> None:
        self.begin()
        self.conn.execute("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", (name, dumps_bytes(value)))
        if self.autocommit:
            self.commit()

    def clear(self, keep: tuple[str, ...] = ("errors",)) -> None:
        """Empty every table but ``keep`` (a worker's errors outlive a reset, as a server's do), at once."""
        self.commit()
        self.conn.execute("BEGIN IMMEDIATE")
        for (name,) in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
            if name not in keep:
                self.conn.execute(f'DELETE FROM "{name}"')
        self.conn.execute("COMMIT")

    def close(self) -> None:
        try:
            self.commit()
        finally:
            self.conn.close()


def tables(conn: sqlite3.Connection) -> set[str]:
    return {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def scan(conn: sqlite3.Connection, table: str) -> Iterator[tuple[int, bytes]]:
    """The rows of ``table`` in key order, fetched a page at a time from one statement (one snapshot)."""
    if table not in tables(conn):
        return iter(())
    cursor = conn.execute(f'SELECT key, body FROM "{table}" ORDER BY key')

    def rows() -> Iterator[tuple[int, bytes]]:
        try:
            while True:
                page = cursor.fetchmany(_PAGE)
                if not page:
                    return
                yield from page
        finally:
            cursor.close()

    return rows()


def count(conn: sqlite3.Connection, table: str) -> int:
    if table not in tables(conn):
        return 0
    return int(conn.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0])


def meta(conn: sqlite3.Connection, name: str, default: Any = None) -> Any:
    row = conn.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
    return default if row is None else loads(row[0])


class SpillList:
    """An append-only list of JSON-able items in ``key`` order: at most ``limit`` in memory (then the oldest go to
    the ``name`` table of the spill file ``spill()`` gives, created on first need), or, with ``cap``, only the
    newest ``cap`` (the rest counted in :attr:`dropped`, nothing spilled).

    Items still changing (a request's journal entry until the request ends) stay in memory until ``sealed(item)``
    says they are done. Not thread-safe: its store's lock guards it; :meth:`reader` returns, under that lock, a
    stream that can be consumed without it.
    """

    def __init__(
        self,
        name: str,
        limit: int,
        spill: Callable[[], SpillFile],
        sealed: Callable[[Any], bool] | None = None,
        cap: int | None = None,
    ):
        self.name = name
        self.limit = max(0, limit)
        self.cap = cap
        self._spill = spill
        self._sealed = sealed
        self._memory: deque[tuple[int, Any]] = deque()
        self._next = 0
        self.count = 0  # items ever appended since the last clear()
        self.spilled = 0  # items on disk
        self.dropped = 0  # items forgotten because of ``cap``

    def __len__(self) -> int:
        return self.count - self.dropped

    @property
    def in_memory(self) -> int:
        return len(self._memory)

    def append(self, item: Any, key: int | None = None) -> None:
        if key is None:
            key = self._next
            self._next += 1
        self._memory.append((key, item))
        self.count += 1
        if self.cap is not None:
            while len(self._memory) > self.cap:
                self._memory.popleft()
                self.dropped += 1
        elif len(self._memory) > self.limit:
            self.flush()

    def flush(self) -> int:
        """Write the sealed items in memory to disk (in the spill file's open transaction); returns how many."""
        if not self._memory or self.cap is not None:
            return 0
        sealed = self._sealed
        rows: list[tuple[int, Any]]
        kept: list[tuple[int, Any]]
        if sealed is None:
            rows, kept = list(self._memory), []
        else:
            rows, kept = [], []
            for pair in self._memory:
                (rows if sealed(pair[1]) else kept).append(pair)
        if not rows:
            return 0
        spill = self._spill()
        spill.insert(self.name, [(key, dumps_bytes(item)) for key, item in rows])
        self.spilled += len(rows)
        self._memory = deque(kept)
        return len(rows)

    def clear(self, spill: SpillFile | None) -> None:
        self._memory = deque()
        self.count = self.spilled = self.dropped = 0
        if spill is not None:
            spill.ensure(self.name)
            spill.begin()
            spill.conn.execute(f'DELETE FROM "{self.name}"')
            if spill.autocommit:
                spill.commit()

    def __iter__(self) -> Iterator[Any]:
        """Every item in order (reads the disk part through a connection of its own)."""
        if not self.spilled:
            return (item for _, item in sorted(self._memory, key=_first))
        snapshot = Snapshot(self._spill().path)
        items = self.reader(snapshot.conn)

        def closing() -> Iterator[Any]:
            try:
                yield from items
            finally:
                snapshot.close()

        return closing()

    def reader(self, conn: sqlite3.Connection | None, copy: bool = False) -> Iterator[Any]:
        """Every item in key order: the spilled ones read through ``conn`` (a reader connection whose snapshot
        the caller took under the store's lock, None when nothing spilled) merged with a copy of those in
        memory taken now. ``copy``: give copies of the in-memory items (they may still change)."""
        memory = sorted(self._memory, key=_first) if self._memory else []
        if copy:
            memory = [(k, dict(v) if isinstance(v, dict) else v) for k, v in memory]
        if conn is None or not self.spilled:
            return (item for _, item in memory)
        disk = ((key, loads(body)) for key, body in scan(conn, self.name))
        return (item for _, item in heapq.merge(disk, memory, key=_first))


def _first(pair: tuple[int, Any]) -> int:
    return pair[0]


class Snapshot:
    """A reader connection to a spill file with its snapshot taken (``BEGIN`` and a first read), to be used by one
    consumer and closed (or dropped) when done."""

    def __init__(self, path: Path):
        self.conn = connect(path)
        self.conn.execute("BEGIN")
        self.conn.execute("SELECT COUNT(*) FROM meta").fetchone()  # the snapshot starts at the first read

    def close(self) -> None:
        try:
            self.conn.execute("COMMIT")
        except sqlite3.Error:
            pass
        self.conn.close()
