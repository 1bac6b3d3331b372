"""The fakes: a fake Pendo server (:mod:`.pendo`) and a fake Segment Tracking API (:mod:`.segment`), on the
machinery they share (:mod:`.core`). See ``docs/pendo.md`` and ``docs/segment.md``.

>>> from pytest_segpendo.fakes import FakePendo, FakeSegment
>>> with FakePendo() as pendo, FakeSegment() as segment:
...     pendo.url != segment.url
True
"""

from __future__ import annotations

from .core import FaultError, FaultRule, HandlerError, RemoteError, RemotePendo, ServerThread
from .pendo import FakePendo, PendoConfig
from .segment import FakeSegment, SegmentConfig

__all__ = [
    "FakePendo",
    "FakeSegment",
    "FaultError",
    "FaultRule",
    "HandlerError",
    "PendoConfig",
    "RemoteError",
    "RemotePendo",
    "SegmentConfig",
    "ServerThread",
]
