"""A fake run by another process (``segpendo serve``), used through its ``/__segpendo/`` inspection endpoints."""

from __future__ import annotations

import http.client
from typing import Any
from urllib.parse import urlsplit

from ...jsonl import loads

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

    def _call(self, method: str, path: str) -> Any:
        conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
        try:
            conn.request(method, "/__segpendo/" + path, body=b"" if method == "POST" else None)
            answer = conn.getresponse()
            data = answer.read()
        except OSError as exc:
            raise RemoteError(
                f"cannot reach the fake Pendo server at {self.url}: {exc.strerror or exc} (is segpendo serve running "
                "there?)"
            ) from None
        finally:
            conn.close()
        if answer.status != 200:
            raise RemoteError(f"{self.url}/__segpendo/{path} answered HTTP {answer.status}: is this a segpendo fake?")
        try:
            return loads(data)
        except ValueError:
            raise RemoteError(f"{self.url}/__segpendo/{path} did not answer JSON: is this a segpendo fake?") from None

    def reset(self) -> None:
        """Forget everything received and every fault rule."""
        self._call("POST", "reset")

    def activity(self) -> tuple[int, int]:
        """``(requests received so far, requests being handled now)``."""
        data = self._call("GET", "activity")
        return int(data["received"]), int(data["active"])

    def inspection(self) -> dict[str, Any]:
        """What ``GET /__segpendo/records`` answers: records, refusals, warnings, duplicates."""
        data: dict[str, Any] = self._call("GET", "records")
        return data
