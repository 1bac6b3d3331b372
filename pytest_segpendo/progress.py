"""Progress of the long commands on a terminal: events generated, read or delivered (acknowledged, retried,
failed), Pendo requests received, settling.

Drawn with tqdm on stderr, and only when stderr is a terminal and the command was not given ``--quiet``: piped
output, CI logs and JSON on stdout stay exactly as they are without it. tqdm is imported only then.

>>> with Bar(3, "generating", enabled=False) as bar:  # off: every call is a no-op
...     bar.update(3)
>>> list(iterate(["a", "b"], 2, "reading", enabled=False))
['a', 'b']
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, TextIO, TypeVar

__all__ = ["Bar", "DeliveryProgress", "enabled", "iterate"]

T = TypeVar("T")


def enabled(quiet: bool = False, stream: TextIO | None = None) -> bool:
    """Whether to show progress: not ``quiet``, and ``stream`` (stderr by default) is a terminal."""
    if quiet:
        return False
    out = sys.stderr if stream is None else stream
    try:
        return bool(out.isatty())
    except (AttributeError, ValueError):  # a closed or replaced stream
        return False


def _width(stream: TextIO) -> int:
    """The terminal's width (a terminal that does not say, 0 columns, counts as 100)."""
    import os

    try:
        columns = os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        columns = 0
    return columns if columns > 0 else 100


class Bar:
    """One progress bar (a no-op when not ``enabled``): ``total`` items (None: a counter), a description, a unit."""

    def __init__(
        self, total: int | None, desc: str, unit: str = "event", *, enabled: bool, stream: TextIO | None = None
    ):
        self._bar: Any = None
        self._lock = threading.Lock()
        if enabled:
            from tqdm import tqdm

            out = sys.stderr if stream is None else stream
            self._bar = tqdm(
                total=total,
                desc=desc,
                unit=unit,
                unit_scale=total is None or total >= 10_000,
                file=out,
                ncols=_width(out),
                leave=False,
                mininterval=0.1,
            )

    @property
    def active(self) -> bool:
        return self._bar is not None

    def update(self, n: int = 1) -> None:
        if self._bar is not None and n:
            with self._lock:
                self._bar.update(n)

    def describe(self, desc: str) -> None:
        if self._bar is not None:
            with self._lock:
                self._bar.set_description_str(desc, refresh=True)

    def postfix(self, text: str) -> None:
        if self._bar is not None:
            with self._lock:
                self._bar.set_postfix_str(text, refresh=False)

    def close(self) -> None:
        if self._bar is not None:
            with self._lock:
                self._bar.close()
            self._bar = None

    def __enter__(self) -> Bar:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def iterate(
    items: Iterable[T], total: int | None, desc: str, unit: str = "event", *, enabled: bool, every: int = 1
) -> Iterator[T]:
    """``items``, counted on a bar as they are consumed (``every``: count in steps, for very fast loops)."""
    if not enabled:
        yield from items
        return
    with Bar(total, desc, unit, enabled=True) as bar:
        pending = 0
        for item in items:
            yield item
            pending += 1
            if pending >= every:
                bar.update(pending)
                pending = 0
        bar.update(pending)


class DeliveryProgress:
    """A delivery observer (``deliver(..., observer=progress)``) that draws the delivery on a bar: events done
    (acknowledged or given up), acknowledged, retries, failures, and the Pendo requests received
    (:meth:`pendo`, fed by the check); then :meth:`settling`. Thread-safe: lanes call it concurrently."""

    def __init__(self, events: int, *, enabled: bool, desc: str = "delivering", stream: TextIO | None = None):
        self.bar = Bar(events, desc, enabled=enabled, stream=stream)
        self.events = events
        self.done = 0
        self.acknowledged = 0
        self.retried = 0
        self.failed = 0
        self.received: int | None = None
        self._lock = threading.Lock()

    @property
    def active(self) -> bool:
        return self.bar.active

    def on_plan(self, lanes: Mapping[int, Sequence[Sequence[int]]]) -> None:
        """Nothing: the total is known already."""

    def on_attempt(self, lane: int, indexes: Sequence[int], attempt: int) -> None:
        """Nothing: an answer says how the attempt went."""

    def on_answer(
        self, lane: int, indexes: Sequence[int], status: int | None, acknowledged: bool, will_retry: bool, reason: str
    ) -> None:
        step = 0
        with self._lock:
            if will_retry:
                self.retried += 1
            else:
                n = len(indexes)
                room = max(0, self.events - self.done)  # re-deliveries do not count twice
                step = min(n, room)
                self.done += step
                if acknowledged:
                    self.acknowledged += step
                else:
                    self.failed += step
            text = self._text()
        self.bar.update(step)
        self.bar.postfix(text)

    def on_lane_done(self, lane: int) -> None:
        """Nothing to draw."""

    def pendo(self, received: int) -> None:
        """The fake Pendo server has received ``received`` requests so far in this check."""
        with self._lock:
            if received == self.received:
                return
            self.received = received
            text = self._text()
        self.bar.postfix(text)

    def settling(self) -> None:
        """The delivery is over: waiting for Pendo traffic to settle."""
        self.bar.describe("settling")

    def _text(self) -> str:
        parts = [f"acknowledged {self.acknowledged:,}", f"retried {self.retried:,}"]
        if self.failed:
            parts.append(f"failed {self.failed:,}")
        if self.received is not None:
            parts.append(f"Pendo requests {self.received:,}")
        return ", ".join(parts)

    def close(self) -> None:
        self.bar.close()
