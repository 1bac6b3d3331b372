"""The simulation clock a fake judges time-based rules against (Pendo's 7-day limit on Track Events).

A clock is any object with ``now_ms() -> int`` (milliseconds since the epoch). :class:`WallClock` is the
machine's clock; :class:`FixedClock` stands still at a given instant until :meth:`FixedClock.set` moves it, so
that traffic dated in the past can be judged as if it had been sent on its day:

>>> clock = FixedClock(1767657600000)  # 2026-01-06T00:00:00Z
>>> clock.now_ms(), clock_kind(clock)
(1767657600000, 'fixed')
>>> clock.set(1768867200000); clock.now_ms()  # 2026-01-20T00:00:00Z
1768867200000
>>> clock_kind(WallClock())
'wall'

Another object with ``now_ms()`` works too (for example a clock that follows the traffic being delivered);
``GET /__segpendo/clock`` reports it with ``kind`` = its ``kind`` attribute, or ``"custom"``.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "FixedClock", "WallClock", "check_ms", "clock_kind"]


@runtime_checkable
class Clock(Protocol):
    """Anything that tells the time in integer milliseconds since the epoch."""

    def now_ms(self) -> int: ...


def check_ms(value: object, what: str = "now") -> int:
    """``value`` as milliseconds since the epoch; ValueError naming ``what`` when it is not a whole number >= 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise ValueError(f"{what}: must be a whole number of milliseconds since the epoch (got {value!r:.40})")
    if isinstance(value, float) and not value.is_integer():
        raise ValueError(f"{what}: must be a whole number of milliseconds since the epoch (got {value!r})")
    if value < 0 or value > 253_402_300_799_999:  # 9999-12-31T23:59:59.999Z
        raise ValueError(f"{what}: must be between 0 and 253402300799999 (year 9999) milliseconds (got {value!r})")
    return int(value)


class WallClock:
    """The machine's clock."""

    kind = "wall"

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def __repr__(self) -> str:
        return "WallClock()"


class FixedClock:
    """A clock that stands still at ``ms`` (milliseconds since the epoch) until :meth:`set` moves it."""

    kind = "fixed"

    def __init__(self, ms: int):
        self._ms = check_ms(ms, "FixedClock(ms)")
        self._lock = threading.Lock()

    def now_ms(self) -> int:
        with self._lock:
            return self._ms

    def set(self, ms: int) -> None:
        """Move the clock to ``ms``."""
        value = check_ms(ms, "FixedClock.set(ms)")
        with self._lock:
            self._ms = value

    def __repr__(self) -> str:
        return f"FixedClock({self.now_ms()})"


def clock_kind(clock: Clock) -> str:
    """``"wall"``, ``"fixed"``, or the ``kind`` attribute of another clock (``"custom"`` without one)."""
    kind = getattr(clock, "kind", None)
    return kind if isinstance(kind, str) and kind else "custom"
