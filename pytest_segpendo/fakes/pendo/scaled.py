"""The fake Pendo server in several processes (``FakePendo(workers=N)``): the app each worker process serves, and
the same app in the parent, where it only reads and controls (see ``docs/pendo.md``, "At scale").

Every process's :class:`ScaledPendoApp` has the same configuration, :class:`~..core.workers.SharedFaults` (rules
counted across processes), the shared clock, and a :class:`~.store.MergedPendoStore` view over every worker's
file for inspection. A worker's own :class:`~.store.PendoStore` writes to its file at the end of each request and
keeps the state that answers reads (visitors, accounts, names, agent event keys) in the shared SQLite file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..core.clock import Clock, FixedClock, WallClock, clock_kind
from ..core.spill import SpillFile
from ..core.workers import ClockPump, Control, SharedClock, SharedFaults, error_recorder
from .app import ROUTES, PendoApp, PendoConfig
from .state import SqliteState
from .store import MergedPendoStore, PendoStore

__all__ = ["ScaledPendoApp", "worker_app"]

CONTROL = "control.bin"
SHARED = "shared.sqlite"


def worker_file(directory: Path, index: int) -> Path:
    return directory / f"worker-{index}.sqlite"


class ScaledPendoApp(PendoApp):
    """A Pendo fake's app over a directory shared by ``workers`` processes; ``index`` is this worker's number, or
    None in the parent (which serves nothing: its ``store`` is the merged view)."""

    def __init__(
        self, config: PendoConfig, directory: Path, workers: int, index: int | None, memory_records: int
    ) -> None:
        self.directory = directory
        self.control = Control(directory / CONTROL, slot=index)
        self._pump: ClockPump | None = None
        self._parent = index is None
        self._given_clock: tuple[int, Clock] | None = None
        files = [worker_file(directory, i) for i in range(workers)]
        view = MergedPendoStore(files, directory / SHARED, self.control, config.journal_limit)
        rules = SharedFaults(ROUTES, self.control, directory / SHARED)
        self._files: list[SpillFile] = []
        self._state: SqliteState | None = None
        if index is None:
            super().__init__(config, store=view, rules=rules)  # type: ignore[arg-type]
        else:
            spill = SpillFile(files[index], autocommit=False)
            self._state = SqliteState(directory / SHARED, shared=True)
            store = PendoStore(
                config.journal_limit,
                memory_records=memory_records,
                spill_file=spill,
                shared=self.control,
                state=self._state,
            )
            self._files.append(spill)
            super().__init__(config, store=store, rules=rules)
        self.view = view

    # -- the clock every process shares -----------------------------------------------------------------------
    @property
    def clock(self) -> Clock:
        version, ms, kind = self.control.clock()
        given = self._given_clock
        if given is not None and given[0] == version:
            return given[1]
        if ms is None:
            return WallClock()
        if kind == "fixed":
            return FixedClock(ms)
        return SharedClock(self.control)

    @clock.setter
    def clock(self, clock: Clock) -> None:
        if not callable(getattr(clock, "now_ms", None)):
            raise TypeError(f"a clock needs a now_ms() method returning milliseconds (got {type(clock).__name__})")
        if self._pump is not None:
            self._pump.stop()
            self._pump = None
        if isinstance(clock, WallClock):
            version = self.control.set_clock(None, "wall")
        else:
            version = self.control.set_clock(int(clock.now_ms()), clock_kind(clock))
            if self._parent:  # a clock object of the caller's may move (FixedClock.set, a TrafficClock)
                self._pump = ClockPump(clock, self.control, version)
        self._given_clock = (version, clock)

    def now_ms(self) -> int:
        _, ms, _ = self.control.clock()
        return int(self._wall_ms() if ms is None else ms)

    @staticmethod
    def _wall_ms() -> int:
        return WallClock().now_ms()

    def close(self) -> None:
        if self._pump is not None:
            self._pump.stop()
            self._pump = None
        for spill in self._files:
            spill.close()
        if self._state is not None:
            self._state.close()
        self.control.close()


def make_directory(directory: Path, workers: int) -> None:
    """Prepare a scaled fake's shared directory: the control file and the worker files (so readers find them)."""
    Control(directory / CONTROL, create=True).close()
    SqliteState(directory / SHARED, shared=True).close()
    for index in range(workers):
        SpillFile(worker_file(directory, index)).close()


def spec(config: PendoConfig, directory: Path, workers: int, memory_records: int) -> dict[str, Any]:
    return {
        "config": dataclasses.asdict(config),
        "directory": str(directory),
        "workers": workers,
        "memory_records": memory_records,
    }


def worker_app(data: dict[str, Any], index: int) -> tuple[ScaledPendoApp, Callable[[BaseException, str], None]]:
    """The factory a worker process calls (``pytest_segpendo.fakes.core.workers``)."""
    directory = Path(data["directory"])
    app = ScaledPendoApp(PendoConfig(**data["config"]), directory, data["workers"], index, data["memory_records"])
    return app, error_recorder(worker_file(directory, index))
