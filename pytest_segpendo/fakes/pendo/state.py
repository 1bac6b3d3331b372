"""What the fake Pendo server needs to answer reads and apply its rules, apart from what it lists: the visitors
and accounts that exist with their merged metadata (``GET /api/v1/visitor/<id>``, ``/metadata/schema``, writes to
unknown ids), the agent events already seen (re-sent batches counted once), and the track event names (Pendo's
5,000-name limit).

:class:`MemoryState` keeps it in dictionaries (every test, every run below the memory bound);
:class:`SqliteState` in a SQLite file: one process's once it outgrows memory, or the file every worker process of
a scaled fake shares (:mod:`.scaled`), each request's changes in one transaction so that processes never see
half of one. Neither is thread-safe by itself: the store's lock guards it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

from ...jsonl import dumps_bytes, loads
from ...records import Record, record_key
from ..core.spill import connect

__all__ = ["MemoryState", "PendoState", "SqliteState"]

Groups = dict[str, dict[str, Any]]
_CACHE = 200_000  # ids and names a worker remembers as known before asking the shared file again


class PendoState(Protocol):
    def claim_events(self, keys: list[tuple[Any, ...] | None]) -> list[bool]: ...

    def remember(self, records: Iterable[Record], group: str | None) -> None: ...

    def exists(self, kind: str, ident: str) -> bool: ...

    def create(self, kind: str, ident: str) -> None: ...

    def knows_event_name(self, name: str) -> bool: ...

    def event_name_count(self) -> int: ...

    def entity(self, kind: str, ident: str) -> Groups | None: ...

    def schema_fields(self, kind: str) -> Iterator[tuple[str, str, Any]]: ...

    def size(self) -> int: ...

    def clear(self) -> None: ...

    def forget_cache(self) -> None: ...


def _merge(groups: Groups, record: Record, group: str | None) -> None:
    """Apply one visitor or account write to its groups (top-level fields, the later write winning)."""
    groups.setdefault(group or "agent", {}).update(record.get("metadata") or {})
    if record.get("kind") == "account" and record.get("parentAccountId"):
        groups.setdefault("auto", {})["parentaccountid"] = record["parentAccountId"]


class MemoryState:
    """The state in dictionaries."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.seen: set[tuple[Any, ...]] = set()
        self.entities: dict[tuple[str, str], Groups] = {}
        self.event_names: set[str] = set()

    def forget_cache(self) -> None:
        return None

    def size(self) -> int:
        return len(self.seen) + len(self.entities) + len(self.event_names)

    def claim_events(self, keys: list[tuple[Any, ...] | None]) -> list[bool]:
        out = []
        for key in keys:
            if key is None:
                out.append(False)
                continue
            out.append(key in self.seen)
            self.seen.add(key)
        return out

    def remember(self, records: Iterable[Record], group: str | None) -> None:
        entities = self.entities
        for record in records:
            key = record_key(record)
            if key is not None:
                _merge(entities.setdefault(key, {}), record, group)
            elif record.get("kind") == "track":
                entities.setdefault(("visitor", record["visitorId"]), {})
                if record.get("accountId"):
                    entities.setdefault(("account", record["accountId"]), {})
                self.event_names.add(record["event"])

    def exists(self, kind: str, ident: str) -> bool:
        return (kind, ident) in self.entities

    def create(self, kind: str, ident: str) -> None:
        self.entities.setdefault((kind, ident), {})

    def knows_event_name(self, name: str) -> bool:
        return name in self.event_names

    def event_name_count(self) -> int:
        return len(self.event_names)

    def entity(self, kind: str, ident: str) -> Groups | None:
        groups = self.entities.get((kind, ident))
        return None if groups is None else {g: dict(v) for g, v in groups.items()}

    def schema_fields(self, kind: str) -> Iterator[tuple[str, str, Any]]:
        for (k, _), groups in self.entities.items():
            if k == kind:
                for group, fields in groups.items():
                    for name, value in fields.items():
                        yield group, name, value


_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS entities (kind TEXT NOT NULL, id TEXT NOT NULL, grp TEXT NOT NULL, fields BLOB, "
    "UNIQUE (kind, id, grp))",
    "CREATE TABLE IF NOT EXISTS seen (key BLOB PRIMARY KEY) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS names (name TEXT PRIMARY KEY) WITHOUT ROWID",
)


class SqliteState:
    """The state in a SQLite file (``entities``: one row per visitor or account and group, plus an existence row
    with group ``""``; ``seen``: agent event keys; ``names``: track event names). With ``shared`` (several worker
    processes on one file) every write is one ``BEGIN IMMEDIATE`` transaction, and what this process knows exists
    is remembered (up to 200,000 ids and names, forgotten on a reset) to spare the file a write per track."""

    def __init__(self, path: str | Path, shared: bool = False):
        self.path = Path(path)
        self.conn = connect(self.path)
        self.shared = shared
        for statement in _SCHEMA:
            self.conn.execute(statement)
        self._known: set[tuple[str, ...]] = set()

    def close(self) -> None:
        self.conn.close()

    def forget_cache(self) -> None:
        self._known = set()

    def _note(self, key: tuple[str, ...]) -> None:
        if len(self._known) >= _CACHE:
            self._known = set()
        self._known.add(key)

    def clear(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        for table in ("entities", "seen", "names"):
            self.conn.execute(f"DELETE FROM {table}")
        self.conn.execute("COMMIT")
        self._known = set()

    def size(self) -> int:
        return sum(int(self.conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]) for t in ("entities", "seen"))

    def _write(self) -> _Transaction:
        return _Transaction(self.conn)

    def claim_events(self, keys: list[tuple[Any, ...] | None]) -> list[bool]:
        if all(key is None for key in keys):
            return [False] * len(keys)
        out = []
        with self._write():
            for key in keys:
                if key is None:
                    out.append(False)
                    continue
                cursor = self.conn.execute("INSERT OR IGNORE INTO seen (key) VALUES (?)", (dumps_bytes(list(key)),))
                out.append(cursor.rowcount == 0)
        return out

    def _ensure(self, kind: str, ident: str) -> None:
        if ("e", kind, ident) in self._known:
            return
        self.conn.execute("INSERT OR IGNORE INTO entities (kind, id, grp) VALUES (?, ?, '')", (kind, ident))
        self._note(("e", kind, ident))

    def remember(self, records: Iterable[Record], group: str | None) -> None:
        """Apply one request's records in one transaction, with a handful of statements whatever their number:
        the ids that must exist, the names, then every group's merged fields (read, merged here, written)."""
        known = self._known
        ensure: dict[tuple[str, str], None] = {}
        names: dict[str, None] = {}
        changes: dict[tuple[str, str, str], dict[str, Any]] = {}
        for record in records:
            key = record_key(record)
            if key is None:
                if record.get("kind") != "track":
                    continue
                ensure[("visitor", record["visitorId"])] = None
                if record.get("accountId"):
                    ensure[("account", record["accountId"])] = None
                names[record["event"]] = None
                continue
            ensure[key] = None
            groups: Groups = {}
            _merge(groups, record, group)
            for grp, fields in groups.items():
                changes.setdefault((key[0], key[1], grp), {}).update(fields)
        new_ids = [k for k in ensure if ("e", *k) not in known]
        new_names = [n for n in names if ("n", n) not in known]
        if not new_ids and not new_names and not changes:
            return
        execute = self.conn.execute
        with self._write():
            if new_ids:
                self.conn.executemany("INSERT OR IGNORE INTO entities (kind, id, grp) VALUES (?, ?, '')", new_ids)
            if new_names:
                self.conn.executemany("INSERT OR IGNORE INTO names (name) VALUES (?)", ((n,) for n in new_names))
            if changes:
                current: dict[tuple[str, str, str], bytes] = {}
                wanted: dict[tuple[str, str], list[str]] = {}
                for kind, ident, grp in changes:
                    wanted.setdefault((kind, grp), []).append(ident)
                for (kind, grp), idents in wanted.items():
                    for i in range(0, len(idents), 500):
                        chunk = idents[i : i + 500]
                        marks = ",".join("?" * len(chunk))
                        rows = execute(
                            f"SELECT id, fields FROM entities WHERE kind = ? AND grp = ? AND id IN ({marks})",
                            (kind, grp, *chunk),
                        )
                        for ident, fields in rows:
                            if fields is not None:
                                current[(kind, ident, grp)] = fields
                writes = []
                for target, fields in changes.items():
                    old = current.get(target)
                    merged = loads(old) if old is not None else {}
                    merged.update(fields)
                    writes.append((*target, dumps_bytes(merged)))
                self.conn.executemany(
                    "INSERT INTO entities (kind, id, grp, fields) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (kind, id, grp) DO UPDATE SET fields = excluded.fields",
                    writes,
                )
        for kind, ident in new_ids:
            self._note(("e", kind, ident))
        for name in new_names:
            self._note(("n", name))

    def exists(self, kind: str, ident: str) -> bool:
        if ("e", kind, ident) in self._known:
            return True
        row = self.conn.execute("SELECT 1 FROM entities WHERE kind = ? AND id = ? LIMIT 1", (kind, ident)).fetchone()
        if row is not None:
            self._note(("e", kind, ident))
        return row is not None

    def create(self, kind: str, ident: str) -> None:
        with self._write():
            self._ensure(kind, ident)

    def knows_event_name(self, name: str) -> bool:
        if ("n", name) in self._known:
            return True
        row = self.conn.execute("SELECT 1 FROM names WHERE name = ?", (name,)).fetchone()
        return row is not None

    def event_name_count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM names").fetchone()[0])

    def entity(self, kind: str, ident: str) -> Groups | None:
        rows = self.conn.execute(
            "SELECT grp, fields FROM entities WHERE kind = ? AND id = ? ORDER BY rowid", (kind, ident)
        ).fetchall()
        if not rows:
            return None
        return {grp: loads(fields) for grp, fields in rows if grp != "" and fields is not None}

    def schema_fields(self, kind: str) -> Iterator[tuple[str, str, Any]]:
        cursor = self.conn.execute(
            "SELECT grp, fields FROM entities WHERE kind = ? AND grp != '' ORDER BY rowid", (kind,)
        )
        for grp, fields in cursor:
            if fields is not None:
                for name, value in loads(fields).items():
                    yield grp, name, value

    def load(self, memory: MemoryState) -> None:
        """Take over a :class:`MemoryState` (when one process's state outgrows memory)."""
        with self._write():
            self.conn.executemany(
                "INSERT OR IGNORE INTO seen (key) VALUES (?)", ((dumps_bytes(list(k)),) for k in memory.seen)
            )
            self.conn.executemany("INSERT OR IGNORE INTO names (name) VALUES (?)", ((n,) for n in memory.event_names))
            rows: list[tuple[str, str, str, bytes | None]] = []
            for (kind, ident), groups in memory.entities.items():
                rows.append((kind, ident, "", None))
                rows.extend((kind, ident, grp, dumps_bytes(fields)) for grp, fields in groups.items())
            self.conn.executemany("INSERT OR IGNORE INTO entities (kind, id, grp, fields) VALUES (?, ?, ?, ?)", rows)


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on an exception)."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def __enter__(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.conn.execute("COMMIT" if exc_type is None else "ROLLBACK")
