"""What the fake Segment API has captured: events, refusals and duplicates, with the request journal."""

from __future__ import annotations

from typing import Any

from ..core.app import RequestJournal

__all__ = ["SegmentStore"]


class SegmentStore(RequestJournal):
    """Captured events, refused requests and events, and duplicates (same messageId). Thread-safe."""

    def __init__(self, journal_limit: int | None = None):
        super().__init__(journal_limit)
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.clear_journal()
            self.events: list[dict[str, Any]] = []
            self.sources: list[dict[str, Any]] = []
            self.duplicates = 0
            self.duplicate_ids: list[str] = []
            self._ids: set[str] = set()

    def accept(
        self,
        entry: dict[str, Any],
        events: list[dict[str, Any]],
        refused: list[tuple[int, Any, str]],
        *,
        dropped: bool = False,
    ) -> tuple[int, int]:
        """Keep the valid events (dropping messageIds already captured) and the refused ones, together.
        ``dropped``: the request was answered 200 but none of its events is kept (a wrong write key)."""
        source = {"route": entry["route"], "request": entry["id"]}
        stored = dup = 0
        with self.lock:
            for event in events:
                mid = event.get("messageId")
                if isinstance(mid, str) and mid in self._ids:
                    dup += 1
                    self.duplicate_ids.append(mid)
                    continue
                if isinstance(mid, str):
                    self._ids.add(mid)
                self.events.append(event)
                self.sources.append(source)
                stored += 1
            for index, mid, reason in refused:
                self.rejected.append(
                    {
                        "request": entry["id"],
                        "route": entry["route"],
                        "method": entry["method"],
                        "path": entry["path"],
                        "status": 200,
                        "index": index,
                        "messageId": mid,
                        "reason": reason,
                    }
                )
            self.duplicates += dup
            entry.update(outcome="dropped" if dropped else "accepted", events=stored, refused=len(refused))
            if dup:
                entry["duplicates"] = dup
        return stored, dup

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "events": [dict(e) for e in self.events],
                "rejected": list(self.rejected),
                "duplicates": self.duplicates,
            }
