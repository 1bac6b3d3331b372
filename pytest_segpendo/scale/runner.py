"""Where shard tasks run: in this process, in a pool of local processes (every core), or on a Dask cluster
(:mod:`pytest_segpendo.scale.dask`).

A task is a module-level function ``fn(context, payload)``: ``context`` is what every task of a run shares (the
diff options, the profile), given once to each worker; ``payload`` is the task's own data (small, or spill bytes).
Results come back in the order the tasks were given, with a bounded number of tasks in flight, so a run that
streams its input holds only a few payloads at once.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

__all__ = ["LocalRunner", "Runner", "default_workers", "run_ordered"]

Task = Callable[[Any, Any], Any]


class Handle(Protocol):
    def result(self) -> Any: ...


class Runner(Protocol):
    """What runs shard tasks: :class:`LocalRunner` or :class:`pytest_segpendo.scale.dask.DaskRunner`."""

    workers: int
    remote: bool  # workers cannot read this machine's spill files: send them the bytes

    def start(self, context: Any) -> None: ...

    def submit(self, fn: Task, payload: Any) -> Handle: ...

    def close(self) -> None: ...


def default_workers() -> int:
    """Every core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS
        return max(1, os.cpu_count() or 1)


def run_ordered(runner: Runner, fn: Task, payloads: Iterable[Any], inflight: int | None = None) -> Iterator[Any]:
    """``fn(context, payload)`` for each payload, on the runner's workers; results in the payloads' order, with at
    most ``inflight`` (default: twice the workers) running or waiting at once."""
    limit = max(1, inflight or 2 * runner.workers)
    pending: deque[Handle] = deque()
    for payload in payloads:
        pending.append(runner.submit(fn, payload))
        if len(pending) >= limit:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


_CONTEXT: Any = None


def _init(context: Any) -> None:
    global _CONTEXT
    _CONTEXT = context
    # A worker builds and drops large graphs of parsed JSON, which hold no reference cycles: the cyclic collector's
    # rescans of them would cost a third of the time. It runs once after each task instead (little is left then).
    gc.disable()


def _call(fn: Task, payload: Any) -> Any:
    try:
        return fn(_CONTEXT, payload)
    finally:
        # what survives a task (the modules, the profile, caches) is set aside for good: the next collection
        # looks only at what the next task leaves, not again at everything the worker holds
        gc.collect()
        gc.freeze()


class _Done:
    def __init__(self, value: Any):
        self.value = value

    def result(self) -> Any:
        return self.value


class _Async:
    def __init__(self, pending: Any):
        self.pending = pending

    def result(self) -> Any:
        return self.pending.get()


class LocalRunner:
    """Tasks in a pool of ``workers`` processes (forked where the system can: the context, your matchers included,
    is inherited, not pickled), or in this process when ``workers`` is 1."""

    remote = False

    def __init__(self, workers: int | None = None):
        self.workers = max(1, workers or default_workers())
        self._pool: Any = None
        self._context: Any = None

    def start(self, context: Any) -> None:
        self.close()
        self._context = context
        if self.workers == 1:
            return
        methods = multiprocessing.get_all_start_methods()
        if "fork" in methods:
            _init(context)  # the children inherit it
            pool_context = multiprocessing.get_context("fork")
            self._pool = pool_context.Pool(self.workers, initializer=_init, initargs=(context,))
        else:  # pragma: no cover - macOS and Windows: the context must pickle
            self._pool = multiprocessing.get_context("spawn").Pool(self.workers, initializer=_init, initargs=(context,))

    def submit(self, fn: Task, payload: Any) -> Handle:
        if self._pool is None:
            return _Done(fn(self._context, payload))
        return _Async(self._pool.apply_async(_call, (fn, payload)))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool.join()
            self._pool = None
        global _CONTEXT
        _CONTEXT = None

    def __enter__(self) -> LocalRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
