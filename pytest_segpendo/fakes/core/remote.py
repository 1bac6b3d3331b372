"""A fake run by another process (``segpendo serve``), used through its ``/__segpendo/`` inspection endpoints."""

from __future__ import annotations

import http.client
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import quote, urlsplit

from ... import http11
from ...jsonl import dumps_bytes, loads

__all__ = ["RemoteError", "RemotePendo"]


class RemoteError(Exception):
    """A fake in another process could not be reached, or did not answer as a fake does."""


class RemotePendo:
    """A fake Pendo server running in another process (``segpendo serve``), used through its ``/__segpendo/``
    inspection endpoints: what a check needs (reset, activity, what it received) without sharing memory.

    >>> from pytest_segpendo.fakes import FakePendo
    >>> with FakePendo() as fake:
    ...     remote = RemotePendo(fake.url)
    ...     remote.reset()
    ...     remote.activity()[1], remote.inspection()["records"]
    (0, [])
    """

    def __init__(self, url: str, timeout: float = 10.0):
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise RemoteError(f"the fake Pendo server's URL must be http://host:port (got {url!r})")
        self.url = url.rstrip("/")
        self._host = parts.hostname
        self._port = parts.port or 80
        self._timeout = timeout

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        conn = http11.HTTPConnection(self._host, self._port, timeout=self._timeout)
        data = dumps_bytes(body) if body is not None else b"" if method == "POST" else None
        headers = {"Content-Type": "application/json"} if body is not None else {}
        try:
            conn.request(method, "/__segpendo/" + path, body=data, headers=headers)
            answer = conn.getresponse()
            raw = answer.read()
        except OSError as exc:
            raise RemoteError(
                f"cannot reach the fake Pendo server at {self.url}: {exc.strerror or exc} (is segpendo serve running "
                "there?)"
            ) from None
        finally:
            conn.close()
        try:
            out = loads(raw)
        except ValueError:
            out = None
        if answer.status == 400 and isinstance(out, dict) and isinstance(out.get("error"), str):
            raise RemoteError(f"{self.url}/__segpendo/{path} refused: {out['error']}")
        if answer.status != 200:
            raise RemoteError(f"{self.url}/__segpendo/{path} answered HTTP {answer.status}: is this a segpendo fake?")
        if out is None:
            raise RemoteError(f"{self.url}/__segpendo/{path} did not answer JSON: is this a segpendo fake?")
        return out

    def reset(self, keep_faults: bool = False) -> None:
        """Forget everything received, and every fault rule unless ``keep_faults`` (the clock is kept)."""
        self._call("POST", "reset?keep=faults" if keep_faults else "reset")

    def activity(self) -> tuple[int, int]:
        """``(requests received so far, requests being handled now)``."""
        data = self._call("GET", "activity")
        return int(data["received"]), int(data["active"])

    def counts(self) -> dict[str, int]:
        """How many items each of the fake's lists holds (``records``, ``rejected``, ``dropped``...): cheap, for
        watching a run; ``{}`` from a fake older than 0.2."""
        counts = self._call("GET", "activity").get("counts")
        return {str(k): int(v) for k, v in counts.items()} if isinstance(counts, dict) else {}

    def inspection(self, stream: bool = False) -> dict[str, Any]:
        """What ``GET /__segpendo/records`` answers: records, refusals, drops, warnings, injected faults...
        ``stream``: read it through the streamed form (``records.jsonl``), never holding the whole answer as one
        document: what a run of 10^6 records wants."""
        if not stream:
            data: dict[str, Any] = self._call("GET", "records")
            return data
        out: dict[str, Any] = {"records": [], "rejected": [], "warnings": [], "ignored": [], "dropped": []}
        out["injected"] = []
        for name, item in self.iter_lines():
            if name == "end":
                out["duplicates"] = int(item.get("duplicates", 0) or 0)
            else:
                out.setdefault(name, []).append(item)
        return out

    def iter_lines(self, lists: Iterable[str] | None = None) -> Iterator[tuple[str, Any]]:
        """``GET /__segpendo/records.jsonl`` read as it arrives: ``(list, item)`` for every item, list after list,
        then ``("end", {"counts": {...}, "duplicates": N})``. RemoteError when the stream is cut short."""
        path = "records.jsonl" + (f"?lists={quote(','.join(lists))}" if lists else "")
        conn = http11.HTTPConnection(self._host, self._port, timeout=self._timeout)
        try:
            try:
                conn.request("GET", "/__segpendo/" + path)
                answer = conn.getresponse()
            except OSError as exc:
                raise RemoteError(f"cannot reach the fake Pendo server at {self.url}: {exc.strerror or exc}") from None
            if answer.status != 200:
                text = answer.read()[:300].decode("utf-8", "replace")
                raise RemoteError(f"{self.url}/__segpendo/{path} answered HTTP {answer.status}: {text}")
            ended = False
            while True:
                try:
                    line = answer.readline()
                except (OSError, http.client.HTTPException) as exc:
                    raise RemoteError(f"{self.url}/__segpendo/{path}: the stream broke: {exc}") from None
                if not line:
                    break
                if not line.strip():
                    continue
                try:
                    value = loads(line)
                    ((name, item),) = value.items()
                except (ValueError, AttributeError):
                    raise RemoteError(
                        f"{self.url}/__segpendo/{path}: not a line of the stream: {line[:80]!r}"
                    ) from None
                yield name, item
                if name == "end":
                    ended = True
                    break
            if not ended:
                raise RemoteError(f"{self.url}/__segpendo/{path}: the stream ended before its last line")
        finally:
            conn.close()

    def iter_records(self, with_source: bool = False) -> Iterator[dict[str, Any]]:
        """Every record the fake holds, in arrival order, streamed (``records.jsonl?lists=records``)."""
        for name, item in self.iter_lines(["records"]):
            if name == "records":
                if not with_source:
                    item.pop("source", None)
                yield item

    def clock(self) -> dict[str, Any]:
        """The fake's clock: ``{"now": ms, "kind": "wall" | "fixed" | ...}``."""
        data: dict[str, Any] = self._call("GET", "clock")
        return data

    def set_clock(self, ms: int | None) -> dict[str, Any]:
        """Stop the fake's clock at ``ms`` (milliseconds since the epoch), or give it back the wall clock (None)."""
        data: dict[str, Any] = self._call("POST", "clock", {"now": ms})
        return data

    def faults(self) -> list[dict[str, Any]]:
        """The fault rules, with their counters."""
        data = self._call("GET", "faults")
        return list(data["faults"])

    def set_faults(self, rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Replace the fault rules (``[]`` clears them); RemoteError names a bad field."""
        data = self._call("POST", "faults", rules)
        return list(data["faults"])
