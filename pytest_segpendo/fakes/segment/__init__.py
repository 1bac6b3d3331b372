"""The fake Segment Tracking API that real Segment libraries post to (``docs/segment.md``). Delivery of events
to a system under test, in Segment's wire formats, is :mod:`pytest_segpendo.delivery`.

>>> from pytest_segpendo.fakes import FakeSegment
>>> with FakeSegment(write_key="wk") as segment:
...     segment.url.startswith("http://127.0.0.1:")
True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...profiles import Expectation, UserMapping, expect
from ..core.app import FakeServer
from ..core.server import ServerThread
from .app import ROUTES, SegmentApp, SegmentConfig
from .store import SegmentStore

__all__ = ["ROUTES", "FakeSegment", "SegmentApp", "SegmentConfig", "SegmentStore"]


class FakeSegment(FakeServer):
    """The fake Segment Tracking API, run in a background thread (127.0.0.1, any free port by default).

    Point a Segment library's ``host`` at :attr:`url`. ``write_key`` given must match; left None, any
    non-empty write key is accepted; a missing one is always refused (401).
    """

    app: SegmentApp

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        write_key: str | None = None,
        max_body: int = 500 * 1024,
        journal_limit: int | None = None,
        log_requests: bool = False,
    ):
        self.app = SegmentApp(SegmentConfig(write_key, max_body, 500 * 1024, journal_limit))
        self.server = ServerThread(self.app, host, port, log_requests=log_requests)

    def __enter__(self) -> FakeSegment:
        self.start()
        return self

    def events(self) -> list[dict[str, Any]]:
        """The captured events, in arrival order, as Segment would deliver them (receivedAt set, batch
        context merged); each messageId once."""
        events: list[dict[str, Any]] = self.app.store.snapshot()["events"]
        return events

    @property
    def duplicates(self) -> int:
        """Events received again with a messageId already captured (a client's retry), dropped as Segment does."""
        return self.app.store.duplicates

    def expected(
        self,
        profile: str = "track-api",
        settings: Mapping[str, Any] | None = None,
        mapping: UserMapping | str | None = None,
    ) -> Expectation:
        """What Pendo should receive for the captured events, under ``profile``."""
        return expect(self.events(), profile, settings, mapping)
