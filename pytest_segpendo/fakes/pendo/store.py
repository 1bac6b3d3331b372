"""What the fake Pendo server has seen: records, refusals, silent drops, warnings, injected faults, the request
journal, and the merged visitors and accounts it answers reads with. Thread-safe; every request's writes land
together."""

from __future__ import annotations

from typing import Any

from ...records import Record, record_key, state_view
from ..core.app import RequestJournal

__all__ = ["PendoStore"]


class PendoStore(RequestJournal):
    def __init__(self, journal_limit: int | None = None):
        super().__init__(journal_limit)
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.clear_journal()
            self.records: list[Record] = []
            self.warnings: list[dict[str, Any]] = []
            self.dropped: list[dict[str, Any]] = []
            self.ignored: list[dict[str, Any]] = []
            self.duplicates = 0
            self._seen: set[tuple[Any, ...]] = set()
            self._entities: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
            self._event_names: set[str] = set()

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
        source = {"route": entry["route"], "request": entry["id"]}
        with self.lock:
            for record in records:
                self.records.append({**record, "source": source})
                self._remember(record, group)
            for rule, detail in warnings or ():
                self.warnings.append({"request": entry["id"], "route": entry["route"], "rule": rule, "detail": detail})
            for item in ignored or ():
                self.ignored.append({"request": entry["id"], "route": entry["route"], **item})
            for item in dropped or ():
                self.dropped.append({"request": entry["id"], "route": entry["route"], **item})
            self.duplicates += duplicates
            entry.update(outcome="accepted", records=len(records))
            if duplicates:
                entry["duplicates"] = duplicates
            if dropped:
                entry["dropped"] = len(dropped)
        return len(records)

    def claim_events(self, keys: list[tuple[Any, ...] | None]) -> list[bool]:
        """Mark agent events as seen; True where one was seen before (a re-sent batch). Atomic per batch."""
        out = []
        with self.lock:
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
        with self.lock:
            return (kind, ident) in self._entities

    def create(self, kind: str, ident: str) -> None:
        with self.lock:
            self._entities.setdefault((kind, ident), {})

    def knows_event_name(self, name: str) -> bool:
        with self.lock:
            return name in self._event_names

    def event_name_count(self) -> int:
        with self.lock:
            return len(self._event_names)

    def entity(self, kind: str, ident: str) -> dict[str, dict[str, Any]] | None:
        with self.lock:
            groups = self._entities.get((kind, ident))
            return None if groups is None else {g: dict(v) for g, v in groups.items()}

    def schema(self, kind: str) -> dict[str, dict[str, Any]]:
        """Fields seen per group for ``kind``, typed from their latest values (``/metadata/schema/{kind}``)."""
        out: dict[str, dict[str, Any]] = {}
        with self.lock:
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
        with self.lock:
            return {
                "records": [dict(r) for r in self.records],
                "rejected": list(self.rejected),
                "duplicates": self.duplicates,
                "warnings": list(self.warnings),
                "ignored": list(self.ignored),
                "dropped": list(self.dropped),
                "injected": [dict(i) for i in self.injected],
            }

    def records_view(self, view: str = "stream", with_source: bool = False) -> list[Record]:
        with self.lock:
            records = [dict(r) for r in self.records]
        if view == "state":
            return state_view({k: v for k, v in r.items() if k != "source"} for r in records)
        if not with_source:
            for r in records:
                r.pop("source", None)
        return records


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
