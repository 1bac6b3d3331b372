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

from ...defaults import HOST, PORT, PROFILE
from ...profiles import Expectation, UserMapping, expect
from ..core.app import FakeServer
from ..core.server import ServerThread
from .app import MAX_BATCH_BYTES, ROUTES, SegmentApp, SegmentConfig
from .store import SegmentStore

__all__ = ["ROUTES", "FakeSegment", "SegmentApp", "SegmentConfig", "SegmentStore"]


class FakeSegment(FakeServer):
    """The fake Segment Tracking API, run in a background thread (127.0.0.1, any free port by default).

    Point a Segment library's ``host`` at :attr:`url`. Left None, ``write_key`` accepts any non-empty key.
    Given, a request with another key is answered as Segment answers it, 200 ``{"success": true}``, and its
    events are dropped, each listed in :attr:`rejected` with the reason. A missing or empty key gets 400.
    """

    app: SegmentApp

    def __init__(
        self,
        *,
        host: str = HOST,
        port: int = PORT,
        write_key: str | None = None,
        max_body: int = MAX_BATCH_BYTES,
        journal_limit: int | None = None,
        log_requests: bool = False,
    ):
        self.app = SegmentApp(SegmentConfig(write_key, max_body, MAX_BATCH_BYTES, journal_limit))
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
        profile: str = PROFILE,
        settings: Mapping[str, Any] | None = None,
        mapping: UserMapping | str | None = None,
    ) -> Expectation:
        """What Pendo should receive for the captured events, under ``profile`` (default: the toolkit's default
        profile, :data:`pytest_segpendo.defaults.PROFILE`)."""
        return expect(self.events(), profile, settings, mapping)
