"""A fake Pendo server: every way data reaches Pendo (agent beacons, Track Events API, Metadata API, the
classic Segment webhook), decoded into records, faithful to real clients. See ``docs/pendo.md``.

>>> from pytest_segpendo.pendo import FakePendo
>>> with FakePendo(track_secret="s3cret") as pendo:
...     pendo.url.startswith("http://127.0.0.1:")
True
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from ..faults import Faults
from ..records import Record
from ..server import ServerThread
from .app import GIF, ROUTES, PendoApp, PendoConfig
from .decode import decode_jzb, encode_jzb

__all__ = ["GIF", "ROUTES", "FakePendo", "PendoApp", "PendoConfig", "decode_jzb", "encode_jzb"]


class FakePendo:
    """The fake Pendo server, run in a background thread (127.0.0.1, any free port by default).

    Keys: ``api_key`` (beacon paths, ``/data/segmentio/<key>``), ``integration_key`` (Metadata API and reads),
    ``track_secret`` (Track Events API). A key given must match; a key left None accepts any non-empty value;
    a missing key is always refused.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        integration_key: str | None = None,
        track_secret: str | None = None,
        max_body: int = 1 << 20,
        max_decompressed: int = 8 << 20,
        journal_limit: int | None = None,
        classic_settings: dict[str, Any] | None = None,
        log_requests: bool = False,
    ):
        config = PendoConfig(api_key, integration_key, track_secret, max_body, max_decompressed, journal_limit, dict(classic_settings or {}))
        self.app = PendoApp(config)
        self.server = ServerThread(self.app, host, port, log_requests=log_requests)

    # -- lifecycle -----------------------------------------------------------------------------------------
    def start(self) -> FakePendo:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> FakePendo:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def config(self) -> PendoConfig:
        return self.app.config

    # -- what arrived --------------------------------------------------------------------------------------
    def records(self, view: str = "stream", *, with_source: bool = False) -> list[Record]:
        """Observed records: every write and track event (``stream``), or merged (``state``)."""
        return self.app.store.records_view(view, with_source)

    @property
    def rejected(self) -> list[dict[str, Any]]:
        """Every refused request: ``{request, route, method, path, status, reason}``."""
        return self.app.store.snapshot()["rejected"]

    @property
    def warnings(self) -> list[dict[str, Any]]:
        """Accepted data that breaks a rule Pendo applies after accepting (property names, size, age)."""
        return self.app.store.snapshot()["warnings"]

    @property
    def ignored(self) -> list[dict[str, Any]]:
        """Events accepted on ``/data/segmentio`` that the classic destination does not turn into records."""
        return self.app.store.snapshot()["ignored"]

    @property
    def duplicates(self) -> int:
        """Agent events received again (re-sent batches) and counted once."""
        return self.app.store.duplicates

    def requests(self) -> list[dict[str, Any]]:
        """The request journal, oldest first."""
        return self.app.store.requests()

    @property
    def faults(self) -> Faults:
        return self.app.faults

    def reset(self) -> None:
        """Forget everything received, and every fault rule."""
        self.app.store.reset()
        self.app.faults.clear()

    def check(self) -> None:
        """Raise, in this thread, an exception raised inside the server while handling a request."""
        self.server.check()
