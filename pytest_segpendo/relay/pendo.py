"""The relay's side of Pendo: keep-alive connections that post JSON bodies with ``x-pendo-integration-key``."""

from __future__ import annotations

import http.client
import threading
from urllib.parse import urlsplit

from .. import __version__, http11

__all__ = ["KEY_HEADER", "PendoClient", "PendoUnavailable"]

KEY_HEADER = "x-pendo-integration-key"


class PendoUnavailable(Exception):
    """Pendo could not be reached (connection refused, reset, timed out)."""


class PendoClient:
    """Keep-alive connections to Pendo: each request takes an idle one (or opens one) and gives it back."""

    def __init__(self, url: str, timeout: float):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"pendo_url must be an http(s) URL (got {url!r})")
        try:
            _ = parts.port
        except ValueError:
            raise ValueError(f"pendo_url has a bad port (got {url!r})") from None
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def _connect(self) -> http.client.HTTPConnection:
        cls = http11.HTTPSConnection if self.scheme == "https" else http11.HTTPConnection
        return cls(self.host, self.port, timeout=self.timeout)

    def post(self, path: str, key: str, body: bytes) -> tuple[int, bytes]:
        """POST ``body`` to ``path``; (status, answer body). Raises :class:`PendoUnavailable`."""
        headers = {
            "Content-Type": "application/json",
            KEY_HEADER: key,
            "User-Agent": f"segpendo-relay/{__version__}",
        }
        with self._lock:
            conn, reused = (self._idle.pop(), True) if self._idle else (None, False)
        for attempt in (1, 2):
            if conn is None:
                conn = self._connect()
            try:
                conn.request("POST", self.prefix + path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                conn.close()
                conn = None
                if reused and attempt == 1:  # Pendo closed an idle keep-alive connection: once more, afresh
                    reused = False
                    continue
                raise PendoUnavailable(f"{type(exc).__name__}: {exc}") from None
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                raise PendoUnavailable(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from None
            if response.will_close:
                conn.close()
            else:
                with self._lock:
                    self._idle.append(conn)
            return response.status, data
        raise AssertionError("unreachable")

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
