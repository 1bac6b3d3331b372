"""What the fake Pendo server has seen: records, refusals, warnings, the request journal, and the merged
visitors and accounts it answers reads with. Thread-safe; every request's writes land together."""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

from ..records import Record, record_key, state_view

__all__ = ["PendoStore"]


def _now_iso() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"


class PendoStore:
    def __init__(self, journal_limit: int | None = None):
        self._lock = threading.Lock()
        self._next_id = 1
        self.journal_limit = journal_limit
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.records: list[Record] = []
            self.rejected: list[dict[str, Any]] = []
            self.warnings: list[dict[str, Any]] = []
            self.ignored: list[dict[str, Any]] = []
            self.duplicates = 0
            self.journal: deque[dict[str, Any]] = deque(maxlen=self.journal_limit)
            self.journal_dropped = 0
            self._seen: set[tuple[Any, ...]] = set()
            self._entities: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
            self._event_names: set[str] = set()

    # -- requests ------------------------------------------------------------------------------------------
    def new_request(self, method: str, path: str, route: str, query: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        with self._lock:
            entry = {
                "id": self._next_id,
                "time": _now_iso(),
                "method": method,
                "path": path,
                "route": route,
                "query": query,
                "headers": headers,
                "status": None,
                "outcome": None,
            }
            self._next_id += 1
            if self.journal.maxlen is not None and len(self.journal) == self.journal.maxlen:
                self.journal_dropped += 1
            self.journal.append(entry)
            return entry

    def reject(self, entry: dict[str, Any], status: int, reason: str) -> None:
        with self._lock:
            entry.update(status=status, outcome="rejected", reason=reason)
            self.rejected.append(
                {"request": entry["id"], "route": entry["route"], "method": entry["method"], "path": entry["path"], "status": status, "reason": reason}
            )

    # -- accepted data -------------------------------------------------------------------------------------
    def accept(
        self,
        entry: dict[str, Any],
        records: list[Record],
        group: str | None = None,
        warnings: list[tuple[str, str]] | None = None,
        ignored: list[dict[str, Any]] | None = None,
        duplicates: int = 0,
    ) -> int:
        """Store one request's records, warnings and ignored events together; returns how many records."""
        source = {"route": entry["route"], "request": entry["id"]}
        with self._lock:
            for record in records:
                self.records.append({**record, "source": source})
                self._remember(record, group)
            for rule, detail in warnings or ():
                self.warnings.append({"request": entry["id"], "route": entry["route"], "rule": rule, "detail": detail})
            for item in ignored or ():
                self.ignored.append({"request": entry["id"], "route": entry["route"], **item})
            self.duplicates += duplicates
            entry.update(outcome="accepted", records=len(records))
            if duplicates:
                entry["duplicates"] = duplicates
        return len(records)

    def claim_events(self, keys: list[tuple[Any, ...] | None]) -> list[bool]:
        """Mark agent events as seen; True where one was seen before (a re-sent batch). Atomic per batch."""
        out = []
        with self._lock:
            for key in keys:
                if key is None:
                    out.append(False)
                    continue
                out.append(key in self._seen)
                self._seen.add(key)
        return out

    def _remember(self, record: Record, group: str | None) -> None:
        key = record_key(record)
        if key is not None:
            groups = self._entities.setdefault(key, {})
            groups.setdefault(group or "agent", {}).update(record.get("metadata") or {})
            if key[0] == "account" and record.get("parentAccountId"):
                groups.setdefault("auto", {})["parentaccountid"] = record["parentAccountId"]
        elif record.get("kind") == "track":
            self._entities.setdefault(("visitor", record["visitorId"]), {})
            if record.get("accountId"):
                self._entities.setdefault(("account", record["accountId"]), {})
            self._event_names.add(record["event"])

    def exists(self, kind: str, ident: str) -> bool:
        with self._lock:
            return (kind, ident) in self._entities

    def create(self, kind: str, ident: str) -> None:
        with self._lock:
            self._entities.setdefault((kind, ident), {})

    def knows_event_name(self, name: str) -> bool:
        with self._lock:
            return name in self._event_names

    def event_name_count(self) -> int:
        with self._lock:
            return len(self._event_names)

    def entity(self, kind: str, ident: str) -> dict[str, dict[str, Any]] | None:
        with self._lock:
            groups = self._entities.get((kind, ident))
            return None if groups is None else {g: dict(v) for g, v in groups.items()}

    def schema(self, kind: str) -> dict[str, dict[str, Any]]:
        """Fields seen per group for ``kind``, typed from their latest values (``/metadata/schema/{kind}``)."""
        out: dict[str, dict[str, Any]] = {}
        with self._lock:
            for (k, _), groups in self._entities.items():
                if k != kind:
                    continue
                for group, fields in groups.items():
                    target = out.setdefault(group, {})
                    for name, value in fields.items():
                        target[name.lower()] = _field_schema(name, value)
        return out

    # -- reading -------------------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "records": [dict(r) for r in self.records],
                "rejected": list(self.rejected),
                "duplicates": self.duplicates,
                "warnings": list(self.warnings),
                "ignored": list(self.ignored),
            }

    def records_view(self, view: str = "stream", with_source: bool = False) -> list[Record]:
        with self._lock:
            records = [dict(r) for r in self.records]
        if view == "state":
            return state_view({k: v for k, v in r.items() if k != "source"} for r in records)
        if not with_source:
            for r in records:
                r.pop("source", None)
        return records

    def requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(e) for e in self.journal]


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
