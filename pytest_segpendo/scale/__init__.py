"""Large runs on every core, and past one machine.

- The sender, the bundled relay and the fake Pendo server in separate processes: :mod:`.processes`
  (``docs/pendo.md``, "At scale").
- Production-size replays (``docs/scale.md``): :func:`expect_to_file` (``segpendo expect`` for inputs of any size:
  the same file, byte for byte), :func:`diff_files` (``segpendo diff``: the same report), :func:`diff_sharded`
  (:func:`pytest_segpendo.verify.diff` with every argument it takes), in bounded memory on every core, or on a Dask
  cluster; :func:`user_slice` and :func:`merge_reports` split a check over several CI machines and merge their
  JSON reports.
"""

from __future__ import annotations

from .partition import browser_key, event_partitioner, in_slice, record_key, shard_of, user_slice
from .pipeline import (
    COMPRESS_ABOVE,
    SHARDED_ABOVE_BYTES,
    ExpectSummary,
    Progress,
    diff_files,
    diff_sharded,
    expect_to_file,
    make_runner,
)
from .processes import RelayProcess, ScaledStack, default_workers, run_scaled_check, scaled_stack, start_relay
from .reports import merge_reports
from .runner import LocalRunner

__all__ = [
    "COMPRESS_ABOVE",
    "SHARDED_ABOVE_BYTES",
    "ExpectSummary",
    "LocalRunner",
    "Progress",
    "RelayProcess",
    "ScaledStack",
    "browser_key",
    "default_workers",
    "diff_files",
    "diff_sharded",
    "event_partitioner",
    "expect_to_file",
    "in_slice",
    "make_runner",
    "merge_reports",
    "record_key",
    "run_scaled_check",
    "scaled_stack",
    "shard_of",
    "start_relay",
    "user_slice",
]
