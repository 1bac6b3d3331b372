"""A fake Pendo server: every way data reaches Pendo (agent beacons, Track Events API, Metadata API, the
classic Segment webhook), decoded into records, faithful to real clients. See ``docs/pendo.md``.

>>> from pytest_segpendo.fakes import FakePendo
>>> with FakePendo(track_secret="s3cret") as pendo:
...     pendo.url.startswith("http://127.0.0.1:")
True
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from ... import defaults
from ...records import Record
from ..core.app import FakeServer
from ..core.clock import Clock, FixedClock, WallClock
from ..core.faults import FaultRule
from ..core.server import ServerThread
from ..core.spill import MEMORY_RECORDS, spill_directory
from .app import GIF, ROUTES, PendoApp, PendoConfig
from .decode import decode_jzb, encode_jzb
from .store import PendoStore

__all__ = [
    "GIF",
    "ROUTES",
    "Clock",
    "FakePendo",
    "FixedClock",
    "PendoApp",
    "PendoConfig",
    "WallClock",
    "decode_jzb",
    "encode_jzb",
]


class FakePendo(FakeServer):
    """The fake Pendo server, run in a background thread (127.0.0.1, any free port by default).

    Keys: ``api_key`` (beacon paths, ``/data/segmentio/<key>``), ``integration_key`` (Metadata API and reads),
    ``track_secret`` (Track Events API). A key given must match; a key left None accepts any non-empty value;
    a missing key is always refused.

    ``max_age_days``: a Track Event older than this when it arrives, by ``clock`` (the wall clock by default), is
    answered 200 and never processed, as Pendo does: it is listed in ``dropped``, not in the records. None turns
    the rule off (replays of old captures). ``agent_writes``: Metadata API writes to the ``agent`` group are
    refused (``"refuse"``, as Pendo documents) or taken (``"accept"``). ``classic_settings``: the ``classic``
    profile's settings for ``/data/segmentio`` (``{"trackEvents": True}``: the Pendo-side flag for track calls).
    ``faults``: fault rules to start with (dicts as ``POST /__segpendo/faults`` takes them).

    At scale (``docs/pendo.md``, "At scale"): each list keeps at most ``memory_records`` items in memory, the
    older ones go to SQLite files in a new directory inside ``spill_dir`` (the system's temporary directory by
    default), removed when the fake is garbage-collected; reading streams them back (:meth:`iter_records`).
    ``workers=N`` (N > 1, POSIX) serves the port from N processes, with the same API and inspection.
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
        max_body: int = defaults.MAX_BODY,
        max_decompressed: int = defaults.MAX_DECOMPRESSED,
        journal_limit: int | None = None,
        classic_settings: dict[str, Any] | None = None,
        max_age_days: float | None = defaults.AGE_LIMIT_DAYS,
        agent_writes: str = "refuse",
        clock: Clock | None = None,
        faults: Iterable[Mapping[str, Any] | FaultRule] = (),
        log_requests: bool = False,
        memory_records: int = MEMORY_RECORDS,
        spill_dir: str | Path | None = None,
        workers: int = 1,
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
            agent_writes,
        )
        if memory_records < 0:
            raise ValueError(f"memory_records: must be 0 or more (got {memory_records})")
        self.workers = workers
        if workers > 1:
            self._start_scaled(config, clock, faults, host, port, log_requests, memory_records, spill_dir, workers)
            return
        if workers != 1:
            raise ValueError(f"workers: must be 1 or more (got {workers})")
        store = PendoStore(config.journal_limit, memory_records=memory_records, spill_dir=spill_dir)
        self.app = PendoApp(config, clock, faults, store=store)
        self.server = ServerThread(self.app, host, port, log_requests=log_requests)

    def _start_scaled(
        self,
        config: PendoConfig,
        clock: Clock | None,
        faults: Iterable[Mapping[str, Any] | FaultRule],
        host: str,
        port: int,
        log_requests: bool,
        memory_records: int,
        spill_dir: str | Path | None,
        workers: int,
    ) -> None:
        if os.name != "posix":
            raise ValueError("workers: several processes need a POSIX system (fcntl); use workers=1 here")
        from ..core.workers import MAX_WORKERS, WorkerPool
        from .scaled import ScaledPendoApp, make_directory, spec, worker_file

        if workers > MAX_WORKERS:
            raise ValueError(f"workers: at most {MAX_WORKERS} (got {workers})")
        directory, remove = spill_directory(spill_dir)
        make_directory(directory, workers)
        app = ScaledPendoApp(config, directory, workers, None, memory_records)
        if clock is not None:
            app.clock = clock
        rules = list(faults)
        if rules:
            app.faults.replace(rules)
        self.app = app
        self.server = WorkerPool(  # type: ignore[assignment]
            "pytest_segpendo.fakes.pendo.scaled:worker_app",
            spec(config, directory, workers, memory_records),
            directory,
            workers,
            host,
            port,
            log_requests=log_requests,
            error_files=[worker_file(directory, i) for i in range(workers)],
        )
        weakref.finalize(self, _close_scaled, self.server, app, remove)

    def __enter__(self) -> FakePendo:
        self.start()
        return self

    @property
    def config(self) -> PendoConfig:
        return self.app.config

    @property
    def clock(self) -> Clock:
        """The clock Track Event ages are judged against (``WallClock()`` unless given); assignable at any time,
        also over HTTP (``POST /__segpendo/clock``). A reset keeps it."""
        return self.app.clock

    @clock.setter
    def clock(self, clock: Clock) -> None:
        self.app.clock = clock

    def records(self, view: str = "stream", *, with_source: bool = False) -> list[Record]:
        """Observed records: every write and track event (``stream``), or merged (``state``)."""
        return self.app.store.records_view(view, with_source)

    def iter_records(self, *, with_source: bool = False) -> Iterator[Record]:
        """Every record in arrival order, streamed (from disk once spilled; across worker processes merged by
        request id), without holding them all in memory."""
        return self.app.store.iter_records(with_source=with_source)

    @property
    def warnings(self) -> list[dict[str, Any]]:
        """Accepted data that breaks a rule Pendo applies without dropping it (property names, sizes)."""
        return self.app.store.listed("warnings")

    @property
    def dropped(self) -> list[dict[str, Any]]:
        """Data Pendo answers 200 to and never processes: ``{request, route, rule, reason, source, record}``
        (Track Events over the age limit, Metadata writes to ids that do not exist)."""
        return self.app.store.listed("dropped")

    @property
    def ignored(self) -> list[dict[str, Any]]:
        """Events accepted on ``/data/segmentio`` that the classic destination does not turn into records."""
        return self.app.store.listed("ignored")

    @property
    def duplicates(self) -> int:
        """Agent events received again (re-sent batches) and counted once."""
        return self.app.store.duplicates


def _close_scaled(server: Any, app: Any, remove: Callable[[], None]) -> None:
    try:
        server.stop()
        app.close()
    finally:
        remove()
