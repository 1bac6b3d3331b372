"""Shard tasks on a Dask cluster (``pip install pytest-segpendo[distributed]``): past one machine.

The process that calls :func:`~pytest_segpendo.scale.diff_files` (or ``expect_to_file``) stays the hub: it reads
the input, hands batches of raw lines to the workers, writes the compressed frames they return to its spill folder,
then sends each shard's frames to a worker and merges the results. The workers do the work that costs: parsing,
the profile, the matching. They need ``pytest-segpendo`` installed (the same version and Python as the caller);
they never read the caller's files.

``scheduler``: ``"tcp://host:8786"`` (a running cluster: ``dask scheduler`` and ``dask worker`` on its machines), a
``distributed.Client`` you made, or ``"local"`` (a ``LocalCluster`` on this machine, for a try).
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

from .runner import Handle, Task

__all__ = ["DaskRunner"]

SCATTER_ABOVE = 1 << 20  # payloads bigger than this go to a worker directly, not through the scheduler
CLOSE_TIMEOUT = 10.0  # seconds to close the client, then the local cluster, this runner made


def _call(fn: Task, context: Any, payload: Any) -> Any:
    return fn(context, payload)


class _Future:
    def __init__(self, future: Any):
        self.future = future

    def result(self) -> Any:
        return self.future.result()


class DaskRunner:
    """Runs shard tasks on the workers of a Dask cluster."""

    remote = True

    def __init__(self, scheduler: Any, workers: int | None = None):
        try:
            distributed: Any = importlib.import_module("distributed")  # untyped: used as Any
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ImportError(
                "the Dask path needs the distributed extra: pip install 'pytest-segpendo[distributed]'"
            ) from exc
        self._own: list[Any] = []
        if isinstance(scheduler, str):
            if scheduler == "local":
                cluster = distributed.LocalCluster(
                    n_workers=workers or 2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
                )
                self._own.append(cluster)
                scheduler = cluster
            client = distributed.Client(scheduler)
            self._own.insert(0, client)
        else:
            client = scheduler
        self.client: Any = client
        info = client.scheduler_info()
        found = sum(w.get("nthreads", 1) for w in info.get("workers", {}).values())
        self.workers = max(1, workers or found or 1)
        self._context: Any = None

    def start(self, context: Any) -> None:
        """Send the run's context to every worker once."""
        self._context = self.client.scatter(context, broadcast=True, hash=False)

    def submit(self, fn: Task, payload: Any) -> Handle:
        if _size(payload) > SCATTER_ABOVE:
            payload = self.client.scatter(payload, hash=False)
        return _Future(self.client.submit(_call, fn, self._context, payload, pure=False))

    def close(self) -> None:
        """Close the client and the local cluster this runner made (never one it was given), each within
        ``CLOSE_TIMEOUT`` seconds: a cluster whose workers do not stop in time is left to Dask's own exit handlers
        rather than holding the run's result back."""
        self._context = None
        for owned in self._own:
            try:
                owned.close(timeout=CLOSE_TIMEOUT)
            except Exception as exc:  # a timeout, or a loop already gone: the report is made, say so and go on
                warnings.warn(f"closing the Dask {type(owned).__name__} took too long: {exc!r}", stacklevel=2)
        self._own = []


def _size(payload: Any) -> int:
    """Bytes a payload carries in its spill blobs or line batches (a rough count: only the big parts)."""
    if isinstance(payload, bytes):
        return len(payload)
    if isinstance(payload, (tuple, list)):
        return sum(_size(p) for p in payload)
    lines = getattr(payload, "lines", None)
    if isinstance(lines, list):
        return sum(len(line) for line in lines)
    return 0
