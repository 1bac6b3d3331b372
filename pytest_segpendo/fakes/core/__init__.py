"""What both fakes share: the server runner (:mod:`.server`), the WSGI app base with its request journal,
dispatch and inspection endpoints (:mod:`.app`), bounded body reading (:mod:`.httpkit`), fault injection
(:mod:`.faults`), the simulation clock (:mod:`.clock`), and the client of a fake run by another process
(:mod:`.remote`)."""

from __future__ import annotations

from .app import FakeApp, FakeServer, RequestJournal
from .clock import Clock, FixedClock, WallClock
from .faults import FaultError, FaultRule, Faults
from .remote import RemoteError, RemotePendo
from .server import HandlerError, ServerThread

__all__ = [
    "Clock",
    "FakeApp",
    "FakeServer",
    "FaultError",
    "FaultRule",
    "Faults",
    "FixedClock",
    "HandlerError",
    "RemoteError",
    "RemotePendo",
    "RequestJournal",
    "ServerThread",
    "WallClock",
]
