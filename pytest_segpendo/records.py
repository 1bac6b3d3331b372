"""Pendo records: what arrives on Pendo's wire, normalised (``docs/index.md``, "Records and views").

- visitor: ``{"kind": "visitor", "id": str, "metadata": {...}}``
- account: ``{"kind": "account", "id": str, "metadata": {...}, "parentAccountId": str | None}``
- parentAccount: ``{"kind": "parentAccount", "id": str, "metadata": {...}}``
- track: ``{"kind": "track", "event": str, "visitorId": str, "accountId": str | None, "timestamp": int | None,
  "properties": {...}, "context": {...}}``

Two views: the **stream** (every metadata write and every track event, in order) and the **state** (each
visitor, account and parent account after merging its writes field by field, last write wins, in order; track
events unchanged).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

__all__ = [
    "ENTITY_KINDS",
    "RECORD_KINDS",
    "account_record",
    "collapse_repeats",
    "repeats_kept",
    "parent_account_record",
    "record_errors",
    "record_key",
    "state_view",
    "track_record",
    "visitor_record",
]

ENTITY_KINDS = ("visitor", "account", "parentAccount")
RECORD_KINDS = (*ENTITY_KINDS, "track")

Record = dict[str, Any]


def visitor_record(id: str, metadata: dict[str, Any] | None = None) -> Record:
    return {"kind": "visitor", "id": id, "metadata": dict(metadata or {})}


def account_record(id: str, metadata: dict[str, Any] | None = None, parent_account_id: str | None = None) -> Record:
    return {"kind": "account", "id": id, "metadata": dict(metadata or {}), "parentAccountId": parent_account_id}


def parent_account_record(id: str, metadata: dict[str, Any] | None = None) -> Record:
    return {"kind": "parentAccount", "id": id, "metadata": dict(metadata or {})}


def track_record(
    event: str,
    visitor_id: str,
    account_id: str | None = None,
    timestamp: int | None = None,
    properties: dict[str, Any] | None = None,
    context: dict[str, Any] | None = None,
) -> Record:
    return {
        "kind": "track",
        "event": event,
        "visitorId": visitor_id,
        "accountId": account_id,
        "timestamp": timestamp,
        "properties": properties if properties is not None else {},
        "context": context if context is not None else {},
    }


def record_key(record: Record) -> tuple[str, str] | None:
    """``(kind, id)`` of a visitor, account or parent account; None for a track event."""
    kind = record.get("kind")
    if kind in ENTITY_KINDS:
        return kind, record["id"]
    return None


def state_view(stream: Iterable[Record]) -> list[Record]:
    """Merge the writes of each visitor, account and parent account, in order; keep track events as they are.

    Metadata merges field by field (top-level keys), the later write winning, as Pendo merges it. An account's
    ``parentAccountId`` is the latest one a write gave; a write without one does not clear it. Output order:
    visitors, accounts, parent accounts (each in order of first appearance), then track events in stream order.
    """
    merged: dict[tuple[str, str], Record] = {}
    tracks: list[Record] = []
    for record in stream:
        key = record_key(record)
        if key is None:
            tracks.append(record)
            continue
        current = merged.get(key)
        if current is None:
            current = merged[key] = {**record, "metadata": dict(record.get("metadata") or {})}
            continue
        current["metadata"].update(record.get("metadata") or {})
        if key[0] == "account" and record.get("parentAccountId") is not None:
            current["parentAccountId"] = record["parentAccountId"]
    out = [r for kind in ENTITY_KINDS for (k, _), r in merged.items() if k == kind]
    return out + tracks


def repeats_kept(stream: Sequence[Record]) -> list[int]:
    """The indexes :func:`collapse_repeats` keeps: every record but a metadata write identical to the previous
    write of the same record (for callers that carry something beside each record: positions, origins)."""
    last: dict[tuple[str, str], Record] = {}
    kept = []
    for index, record in enumerate(stream):
        key = record_key(record)
        if key is not None:
            if last.get(key) == record:
                continue
            last[key] = record
        kept.append(index)
    return kept


def collapse_repeats(stream: Iterable[Record]) -> list[Record]:
    """Drop each metadata write identical to the previous write of the same record (track events are kept)."""
    records = stream if isinstance(stream, list) else list(stream)
    return [records[i] for i in repeats_kept(records)]


_FIELDS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "visitor": {"kind": str, "id": str, "metadata": dict},
    "account": {"kind": str, "id": str, "metadata": dict, "parentAccountId": (str, type(None))},
    "parentAccount": {"kind": str, "id": str, "metadata": dict},
    "track": {
        "kind": str,
        "event": str,
        "visitorId": str,
        "accountId": (str, type(None)),
        "timestamp": (int, type(None)),
        "properties": dict,
        "context": dict,
    },
}


def record_errors(record: Any) -> list[str]:
    """What makes ``record`` not a record (empty when it is one): wrong kind, missing fields, wrong types."""
    if not isinstance(record, dict):
        return ["a record must be a JSON object"]
    kind = record.get("kind")
    if kind not in _FIELDS:
        return [f"kind: must be one of {', '.join(RECORD_KINDS)} (got {kind!r})"]
    errors = []
    for name, types in _FIELDS[kind].items():
        if name not in record:
            errors.append(f"{kind}.{name}: required")
        elif not isinstance(record[name], types) or isinstance(record[name], bool):
            errors.append(f"{kind}.{name}: wrong type ({type(record[name]).__name__})")
    return errors
