"""A fake Pendo server: every way data reaches Pendo (agent beacons, Track Events API, Metadata API, the
classic Segment webhook), decoded into records, faithful to real clients. See ``docs/pendo.md``.

>>> from pytest_segpendo.fakes import FakePendo
>>> with FakePendo(track_secret="s3cret") as pendo:
...     pendo.url.startswith("http://127.0.0.1:")
True
"""

from __future__ import annotations

from typing import Any

from ...records import Record
from ..core.app import FakeServer
from ..core.server import ServerThread
from .app import GIF, ROUTES, PendoApp, PendoConfig
from .decode import decode_jzb, encode_jzb

__all__ = ["GIF", "ROUTES", "FakePendo", "PendoApp", "PendoConfig", "decode_jzb", "encode_jzb"]


class FakePendo(FakeServer):
    """The fake Pendo server, run in a background thread (127.0.0.1, any free port by default).

    Keys: ``api_key`` (beacon paths, ``/data/segmentio/<key>``), ``integration_key`` (Metadata API and reads),
    ``track_secret`` (Track Events API). A key given must match; a key left None accepts any non-empty value;
    a missing key is always refused. ``max_age_days``: Track Events older than this (by the wall clock) get a
    ``timestamp-old`` warning, as Pendo does not process them; None turns the rule off (for replayed traffic).
    """

    app: PendoApp

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
        max_age_days: float | None = 7,
        log_requests: bool = False,
    ):
        config = PendoConfig(
            api_key,
            integration_key,
            track_secret,
            max_body,
            max_decompressed,
            journal_limit,
            dict(classic_settings or {}),
            max_age_days,
        )
        self.app = PendoApp(config)
        self.server = ServerThread(self.app, host, port, log_requests=log_requests)

    def __enter__(self) -> FakePendo:
        self.start()
        return self

    @property
    def config(self) -> PendoConfig:
        return self.app.config

    def records(self, view: str = "stream", *, with_source: bool = False) -> list[Record]:
        """Observed records: every write and track event (``stream``), or merged (``state``)."""
        return self.app.store.records_view(view, with_source)

    @property
    def warnings(self) -> list[dict[str, Any]]:
        """Accepted data that breaks a rule Pendo applies after accepting (property names, size, age)."""
        return self.app.store.listed("warnings")

    @property
    def ignored(self) -> list[dict[str, Any]]:
        """Events accepted on ``/data/segmentio`` that the classic destination does not turn into records."""
        return self.app.store.listed("ignored")

    @property
    def duplicates(self) -> int:
        """Agent events received again (re-sent batches) and counted once."""
        return self.app.store.duplicates
