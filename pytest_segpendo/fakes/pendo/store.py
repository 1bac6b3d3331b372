"""What the fake Pendo server has seen: records, refusals, silent drops, warnings, injected faults, the request
journal, and the merged visitors and accounts it answers reads with (:mod:`.state`). Thread-safe; every request's
writes land together.

Every list keeps at most ``memory_records`` items in memory, older ones go to a SQLite file (:mod:`..core.spill`);
the state moves to SQLite too once it holds more than ``memory_records`` ids, keys and names. Reading streams
from disk. :class:`MergedPendoStore` reads the stores of a scaled fake's worker processes as one."""

from __future__ import annotations

import heapq
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ...jsonl import loads
from ...records import Record, state_view
from ..core.app import RequestJournal, Shared
from ..core.spill import MEMORY_RECORDS, Snapshot, SpillFile, SpillList, count, meta, scan
from .state import MemoryState, PendoState, SqliteState

__all__ = ["INSPECTED", "MergedPendoStore", "PendoStore"]

INSPECTED = ("records", "rejected", "warnings", "ignored", "dropped", "injected")


class PendoStore(RequestJournal):
    LISTS = ("journal", "rejected", "injected", "records", "warnings", "dropped", "ignored")
    INSPECTED = INSPECTED

    def __init__(
        self,
        journal_limit: int | None = None,
        *,
        memory_records: int = MEMORY_RECORDS,
        spill_dir: str | Path | None = None,
        spill_file: SpillFile | None = None,
        shared: Shared | None = None,
        state: PendoState | None = None,
    ):
        super().__init__(
            journal_limit, memory_records=memory_records, spill_dir=spill_dir, spill_file=spill_file, shared=shared
        )
        self.records = SpillList("records", memory_records, self.spill)
        self.warnings = SpillList("warnings", memory_records, self.spill)
        self.dropped = SpillList("dropped", memory_records, self.spill)
        self.ignored = SpillList("ignored", memory_records, self.spill)
        self.state: PendoState = state if state is not None else MemoryState()
        self.duplicates = 0
        self._persisted = 0

    def reset(self) -> None:
        with self.lock:
            self.clear_lists()
            self.state.clear()
            self.duplicates = 0

    def new_generation(self) -> None:
        super().new_generation()
        self.state.forget_cache()
        self.duplicates = self._persisted = 0

    def persist(self) -> None:
        if self.duplicates != self._persisted:
            self.spill().set_meta("duplicates", self.duplicates)
            self._persisted = self.duplicates

    def _outgrown(self) -> None:
        """Move the state to SQLite once it holds more than ``memory_records`` entries (call with the lock held)."""
        state = self.state
        if isinstance(state, MemoryState) and state.size() > self.memory_records:
            disk = SqliteState(self.spill().path.with_name("state.sqlite"))
            disk.load(state)
            self.state = disk

    # -- accepted data -------------------------------------------------------------------------------------
    def accept(
        self,
        entry: dict[str, Any],
        records: list[Record],
        group: str | None = None,
        warnings: list[tuple[str, str]] | None = None,
        ignored: list[dict[str, Any]] | None = None,
        duplicates: int = 0,
        dropped: list[dict[str, Any]] | None = None,
    ) -> int:
        """Store one request's records, warnings, ignored events and silent drops together; returns how many
        records. A drop is ``{rule, reason, source, record}``: data Pendo answers 200 to and never processes."""
        request = entry["id"]
        source = {"route": entry["route"], "request": request}
        with self.lock:
            key = self._key
            for record in records:
                self.records.append({**record, "source": source}, key(request))
            if records:
                self.state.remember(records, group)
                self._outgrown()
            for rule, detail in warnings or ():
                self.warnings.append(
                    {"request": request, "route": entry["route"], "rule": rule, "detail": detail}, key(request)
                )
            for item in ignored or ():
                self.ignored.append({"request": request, "route": entry["route"], **item}, key(request))
            for item in dropped or ():
                self.dropped.append({"request": request, "route": entry["route"], **item}, key(request))
            self.duplicates += duplicates
            entry.update(outcome="accepted", records=len(records))
            if duplicates:
                entry["duplicates"] = duplicates
            if dropped:
                entry["dropped"] = len(dropped)
        return len(records)

    def claim_events(self, keys: list[tuple[Any, ...] | None]) -> list[bool]:
        """Mark agent events as seen; True where one was seen before (a re-sent batch). Atomic per batch."""
        with self.lock:
            out = self.state.claim_events(keys)
            self._outgrown()
            return out

    def exists(self, kind: str, ident: str) -> bool:
        with self.lock:
            return self.state.exists(kind, ident)

    def create(self, kind: str, ident: str) -> None:
        with self.lock:
            self.state.create(kind, ident)

    def knows_event_name(self, name: str) -> bool:
        with self.lock:
            return self.state.knows_event_name(name)

    def event_name_count(self) -> int:
        with self.lock:
            return self.state.event_name_count()

    def entity(self, kind: str, ident: str) -> dict[str, dict[str, Any]] | None:
        with self.lock:
            return self.state.entity(kind, ident)

    def schema(self, kind: str) -> dict[str, dict[str, Any]]:
        """Fields seen per group for ``kind``, typed from their latest values (``/metadata/schema/{kind}``)."""
        out: dict[str, dict[str, Any]] = {}
        with self.lock:
            for group, name, value in self.state.schema_fields(kind):
                out.setdefault(group, {})[name.lower()] = _field_schema(name, value)
        return out

    # -- reading -------------------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        return _snapshot(self, self.duplicates)

    def records_view(self, view: str = "stream", with_source: bool = False) -> list[Record]:
        return _records_view(self.iter_records(with_source=True), view, with_source)

    def iter_records(self, with_source: bool = False) -> Iterator[Record]:
        """Every record in arrival order, streamed (from disk once spilled)."""
        return _without_source(self.stream("records"), with_source)

    def totals(self) -> dict[str, Any]:
        return {**super().totals(), "duplicates": self.duplicates}


def _without_source(records: Iterator[Record], with_source: bool) -> Iterator[Record]:
    if with_source:
        yield from records
        return
    for record in records:
        record.pop("source", None)
        yield record


def _snapshot(store: Any, duplicates: int) -> dict[str, Any]:
    out: dict[str, Any] = {name: [] for name in INSPECTED}
    for name in INSPECTED:
        out[name] = list(store.stream(name))
    return {
        "records": out["records"],
        "rejected": out["rejected"],
        "duplicates": duplicates,
        "warnings": out["warnings"],
        "ignored": out["ignored"],
        "dropped": out["dropped"],
        "injected": out["injected"],
    }


def _records_view(records: Iterator[Record], view: str, with_source: bool) -> list[Record]:
    if view == "state":
        return state_view({k: v for k, v in r.items() if k != "source"} for r in records)
    return list(_without_source(records, with_source))


class MergedPendoStore:
    """The stores of a scaled fake's worker processes (one SQLite file each, written at the end of every request)
    read as one store: every list merged in arrival order (by request id, which the processes take from one
    counter), counts summed, and a reset that empties them all. What inspection and the parent process read."""

    LISTS = PendoStore.LISTS
    INSPECTED = INSPECTED

    def __init__(self, files: Sequence[Path], state_file: Path, shared: Any, journal_limit: int | None = None):
        self.files = list(files)
        self.state_file = state_file
        self.shared = shared
        self.journal_limit = journal_limit
        self.lock = threading.Lock()  # for callers that take a store's lock; nothing here needs it

    def _snapshots(self) -> list[Snapshot]:
        return [Snapshot(path) for path in self.files if path.exists()]

    def stream(self, name: str, copy: bool = True) -> Iterator[Any]:
        snapshots = self._snapshots()

        def rows(snapshot: Snapshot) -> Iterator[tuple[int, bytes]]:
            return scan(snapshot.conn, name)

        def items() -> Iterator[Any]:
            try:
                merged = heapq.merge(*(rows(s) for s in snapshots), key=_first)
                for _, body in merged:
                    yield loads(body)
            finally:
                for snapshot in snapshots:
                    snapshot.close()

        return items()

    def _count(self, name: str) -> int:
        total = 0
        for snapshot in self._snapshots():
            try:
                total += count(snapshot.conn, name)
            finally:
                snapshot.close()
        return total

    def counts(self) -> dict[str, int]:
        """How many items each list holds, from the counters the processes write after each request (cheap: for
        watching a run); :meth:`totals` counts the files."""
        return dict(zip(self.LISTS, self.shared.counts()))

    @property
    def duplicates(self) -> int:
        total = 0
        for snapshot in self._snapshots():
            try:
                total += int(meta(snapshot.conn, "duplicates", 0))
            finally:
                snapshot.close()
        return total

    def requests(self) -> list[dict[str, Any]]:
        if self.journal_limit is None:
            return list(self.stream("journal"))
        return list(deque(self.stream("journal"), maxlen=self.journal_limit))

    @property
    def journal_dropped(self) -> int:
        if self.journal_limit is None:
            return 0
        return max(0, self._count("journal") - self.journal_limit)

    def listed(self, name: str) -> list[Any]:
        return list(self.stream(name))

    def inspected(self) -> tuple[str, ...]:
        return self.INSPECTED

    def iter_inspection(self, lists: Iterable[str] | None = None) -> Iterator[tuple[str, Any]]:
        for name in self.INSPECTED if lists is None else lists:
            for item in self.stream(name):
                yield name, item

    def totals(self) -> dict[str, Any]:
        return {"counts": {name: self._count(name) for name in self.INSPECTED}, "duplicates": self.duplicates}

    def snapshot(self) -> dict[str, Any]:
        return _snapshot(self, self.duplicates)

    def iter_records(self, with_source: bool = False) -> Iterator[Record]:
        return _without_source(self.stream("records"), with_source)

    def records_view(self, view: str = "stream", with_source: bool = False) -> list[Record]:
        return _records_view(self.iter_records(with_source=True), view, with_source)

    def activity(self) -> tuple[int, int]:
        result: tuple[int, int] = self.shared.activity()
        return result

    def reset(self) -> None:
        """Forget everything every process received: a new generation (each process drops what it keeps for
        itself at its next request), then every file emptied."""
        self.shared.new_generation()
        self.shared.clear_counts()
        for path in self.files:
            if path.exists():
                spill = SpillFile(path)
                try:
                    spill.clear()
                finally:
                    spill.close()
        state = SqliteState(self.state_file, shared=True)  # its tables only: the fault rules live there too
        try:
            state.clear()
        finally:
            state.close()


def _first(pair: tuple[int, bytes]) -> int:
    return pair[0]


def _field_schema(name: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        kind = "boolean"
    elif isinstance(value, int):
        kind = "integer"
    elif isinstance(value, float):
        kind = "float"
    elif isinstance(value, list):
        kind = "list"
    elif isinstance(value, dict):
        kind = "object"
    else:
        kind = "string"
    return {
        "Type": kind,
        "DisplayName": name,
        "ElementType": "",
        "ElementFormat": "",
        "Dirty": False,
        "isHidden": False,
        "isDeleted": False,
        "isCalculated": False,
        "isPerApp": False,
        "isPromoted": False,
        "neverIndex": False,
    }
