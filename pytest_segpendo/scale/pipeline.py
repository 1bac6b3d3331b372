"""Sharded expect and diff: bounded memory, every core, the same results as the in-memory functions.

- :func:`expect_to_file`: events (files, folders, gzip, Segment's S3 layout, stdin) to the records file
  ``segpendo expect`` writes, byte for byte.
- :func:`diff_files`: two records files to the report ``segpendo diff`` prints.
- :func:`diff_sharded`: records from any iterables (or files), with everything :func:`pytest_segpendo.verify.diff`
  takes (writer lanes, the fake's refusals, drops and faults, ignored events): the same :class:`DiffReport`.

Each run: read the input in batches; parse them in worker processes, which route every item to a shard (a spill
file on disk, in compressed frames); work each shard in a worker; merge what the shards return, in global order.
Memory is a few batches plus one shard per worker, whatever the input's size; the spill files are removed at the
end. See ``docs/scale.md``.
"""

from __future__ import annotations

import heapq
import os
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Union

from ..archive import BadLine, EventSource, LineBatch, bad_line, parse_line
from ..jsonl import bulk, dumps_bytes, loads
from ..profiles import UserMapping, get_profile
from ..profiles.agent import ANONYMOUS_PATTERN
from ..profiles.base import Profile
from ..records import ENTITY_KINDS, record_errors, state_view
from ..verify.engine import DiffOptions, _has, _Normaliser, _processed
from ..verify.report import DiffReport
from .partition import event_partitioner, id_key, identity_stripped, record_key, shard_of
from .runner import LocalRunner, Runner, run_ordered
from .shard import DiffContext, ShardResult, diff_shard, merge_shards
from .spill import Blob, FrameWriter, ShardWriters, SpillDir, encode_frame, read_blob, read_items, spill_size

__all__ = [
    "BATCH_LINES",
    "COMPRESS_ABOVE",
    "SHARD_BYTES",
    "SHARD_RECORDS",
    "SHARDED_ABOVE_BYTES",
    "ExpectSummary",
    "Progress",
    "diff_files",
    "diff_sharded",
    "expect_to_file",
    "make_runner",
]

BATCH_LINES = 10_000
"""Lines per batch parsed by one task."""
SHARD_BYTES = 48 * 2**20
"""Input bytes per shard: a shard's work holds about 5x its input in memory (parsed, normalised, matched)."""
SHARD_RECORDS = 40_000
"""Records (or events) per shard when the input is not a file of known size."""
UNKNOWN_SHARDS = 64
"""Shards when the input's size cannot be known (stdin, a generator)."""
COMPRESS_ABOVE = 2**30
"""Input size (once read) above which spill files are compressed (zlib, level 1: about 7x smaller, for about a
third of the time parsing costs): a few GB of spill for 10^7 events instead of the input's size again."""
SHARDED_ABOVE_BYTES = 64 * 2**20
"""Input size above which a command should take the sharded path (below it the in-memory one is as fast)."""
FRAME_ITEMS = 1000  # items per frame a worker writes: what a final merge holds per shard
POSITION_BITS = 24  # a position is batch << 24 | index in the batch (batches are far smaller than 2^24 lines)
SEQ_BITS = 12  # a record's position is its event's position << 12 | its rank among the event's records

try:  # the partition parses every line once for its key: orjson straight away, the full loads() when it fails
    from orjson import loads as _fast_loads
except ImportError:  # pragma: no cover - orjson is a dependency
    _fast_loads = loads  # type: ignore[assignment]

Progress = Callable[[str, int, Union[int, None]], None]
"""``progress(stage, done, total)``: called as batches and shards are done (total None when unknown)."""

Source = Union[str, os.PathLike[str], Sequence[Union[str, os.PathLike[str]]], EventSource]


def make_runner(workers: int | None = None, scheduler: Any = None) -> Runner:
    """Local worker processes (``workers``, default every core), or a Dask cluster (``scheduler``: its address
    ``tcp://host:8786``, a ``distributed.Client``, or ``"local"`` for a cluster on this machine)."""
    if scheduler is not None:
        from .dask import DaskRunner

        runner: Runner = DaskRunner(scheduler, workers)
        return runner
    return LocalRunner(workers)


def _blob(runner: Runner, blob: Blob) -> Blob:
    return read_blob(blob) if runner.remote and isinstance(blob, str) else blob


def _frames(items_by_shard: list[list[Any]], compress: bool) -> list[tuple[int, bytes, int]]:
    out = []
    for shard, items in enumerate(items_by_shard):
        for start in range(0, len(items), FRAME_ITEMS):
            part = items[start : start + FRAME_ITEMS]
            out.append((shard, encode_frame(part, compress), len(part)))
    return out


def _source(source: Source, validate: bool = False) -> EventSource:
    if isinstance(source, EventSource):
        return source
    return EventSource(source, validate=validate)  # type: ignore[arg-type]


def _input_bytes(source: EventSource) -> int | None:
    """The total size of a source's files (None for stdin)."""
    from ..archive import event_files

    given = [source.paths] if isinstance(source.paths, (str, Path)) else list(source.paths)
    total = 0
    for item in given:
        if str(item) == "-":
            return None
        for path in event_files(item):
            try:
                total += path.stat().st_size
            except OSError:
                return None
    return total


def _shard_count(size: int | None, shards: int | None, workers: int = 1) -> int:
    """Shards for an input of ``size`` bytes (once read): one per :data:`SHARD_BYTES`, and two per worker for an
    input worth splitting."""
    if shards is not None:
        return max(1, shards)
    if size is None:
        return UNKNOWN_SHARDS
    count = size // SHARD_BYTES + 1
    if size > SHARD_BYTES // 8:
        count = max(count, 2 * workers)
    return max(1, min(4096, count))


def _compressed(size: int | None) -> bool:
    return size is None or size > COMPRESS_ABOVE


def _gzip_factor(source: EventSource) -> float:
    """How much bigger than on disk the input is once read (gzipped JSON is about 8x smaller)."""
    from ..archive import GZIP_MAGIC, event_files

    given = [source.paths] if isinstance(source.paths, (str, Path)) else list(source.paths)
    for item in given:
        for path in event_files(item)[:1]:
            try:
                with open(path, "rb") as f:
                    return 8.0 if f.read(2) == GZIP_MAGIC else 1.0
            except OSError:
                return 1.0
    return 1.0


# -- parsing batches ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ParseContext:
    """What the tasks that parse and route a side's batches share."""

    shards: int
    side: str  # "expected", "observed" or "events"
    compress: bool = True
    validate: bool = False  # events: the Segment Spec; records: record_errors
    track_agent: tuple[tuple[str, ...], ...] = ()  # expected: agent fields of track events to look for
    interest: frozenset[str] = frozenset()  # expected: identities whose records the final pass needs
    # events: how to expect them, and where the records go
    profile: tuple[str, dict[str, Any], UserMapping | None] | None = None
    partition: str = "any"
    key: Callable[[Any], str] | None = None
    target: str = "stream"  # stream, state or diff
    targets: int = 1  # shards of the target (state or diff)


def _parse_batch(
    ctx: _ParseContext, number: int, batch: LineBatch
) -> tuple[list[tuple[int, Any, bytes]], list[BadLine]]:
    """The good values of a batch as (position, value, line), and its bad lines, as :class:`EventSource` decides."""
    if batch.error is not None:
        return [], [bad_line(batch.source, batch.first, batch.error, b"")]
    validate: Any = None
    if ctx.validate and ctx.side == "events":
        from ..events import validate_event

        validate = validate_event
    records = ctx.validate and ctx.side != "events"
    base = number << POSITION_BITS
    good: list[tuple[int, Any, bytes]] = []
    bad: list[BadLine] = []
    bound = [0]  # a bound of the line's size, so validation does not measure every event again
    check = (lambda value: validate(value, bound[0])) if validate is not None else None
    for offset, raw in enumerate(batch.lines):
        line = raw.strip()
        if not line:
            continue
        error = None
        try:
            value = _fast_loads(line)
        except ValueError:
            value = None
        if type(value) is not dict or check is not None:
            bound[0] = len(line) * 9 // 2 + 1
            value, error = parse_line(line, check)
        if records and error is None and not _record_ok(value):
            errors = record_errors(value)
            if errors:
                error = f"not a Pendo record: {errors[0]}"
        if error is not None:
            bad.append(bad_line(batch.source, batch.first + offset, error, line))
            continue
        good.append((base | len(good), value, line))
    return good, bad


def _record_ok(r: dict[str, Any]) -> bool:
    """A quick yes for the usual record (``record_errors`` says why otherwise)."""
    kind = r.get("kind")
    if kind == "track":
        t = r.get("timestamp")
        a = r.get("accountId")
        return (
            type(r.get("event")) is str
            and type(r.get("visitorId")) is str
            and type(r.get("properties")) is dict
            and type(r.get("context")) is dict
            and (type(a) is str or (a is None and "accountId" in r))
            and (type(t) is int or (t is None and "timestamp" in r))
        )
    if kind == "visitor" or kind == "parentAccount":
        return type(r.get("id")) is str and type(r.get("metadata")) is dict
    if kind == "account":
        p = r.get("parentAccountId")
        return (
            type(r.get("id")) is str
            and type(r.get("metadata")) is dict
            and (type(p) is str or (p is None and "parentAccountId" in r))
        )
    return False


def _route_records(ctx: _ParseContext, payload: tuple[int, LineBatch]) -> dict[str, Any]:
    """Task: parse a batch of records and route each (its line: the shard parses it again, which costs less than
    writing it another way) to its diff shard."""
    number, batch = payload
    out: dict[str, Any] = {"good": 0, "bad": [], "pattern": False, "agent": set(), "known": []}
    if batch.error is not None or not ctx.validate:
        good, out["bad"] = _parse_batch(ctx, number, batch)
        lines: Iterable[tuple[int, Any, bytes]] = good
    else:
        lines = _quick_records(ctx, number, batch, out["bad"])
    with bulk():
        buckets: list[list[Any]] = [[] for _ in range(ctx.shards)]
        expected = ctx.side == "expected"
        shards = ctx.shards
        n = 0
        for pos, record, line in lines:
            n += 1
            key = record_key(record)
            bucket = buckets[zlib.crc32(key.encode("utf-8", "surrogatepass")) % shards if shards > 1 else 0]
            if expected:
                bucket.append((pos, None, line))
                _expected_facts(record, key, ctx.track_agent, ctx.interest, out)
            else:
                bucket.append((pos, line))
        out["good"] = n
        out["frames"] = _frames(buckets, ctx.compress)
    return out


def _quick_records(
    ctx: _ParseContext, number: int, batch: LineBatch, bad: list[BadLine]
) -> Iterator[tuple[int, Any, bytes]]:
    """The good records of a batch (position, record, line), quickly; the rest goes to ``bad`` as
    :func:`_parse_batch` words it."""
    base = number << POSITION_BITS
    loads_ = _fast_loads
    n = 0
    for offset, raw in enumerate(batch.lines):
        try:
            value = loads_(raw)
        except ValueError:
            value = None
        if type(value) is dict and _record_ok(value):
            yield base | n, value, raw
            n += 1
            continue
        line = raw.strip()
        if not line:
            continue
        value, error = parse_line(line)
        if error is None:
            errors = record_errors(value)
            if not errors:
                yield base | n, value, raw
                n += 1
                continue
            error = f"not a Pendo record: {errors[0]}"
        bad.append(bad_line(batch.source, batch.first + offset, error, line))


def _expected_facts(
    record: Any, key: str, track_agent: Sequence[tuple[str, ...]], interest: frozenset[str], out: dict[str, Any]
) -> None:
    """What the final pass needs to know of the expected side as a whole."""
    if not isinstance(record, dict):
        return
    kind = record.get("kind")
    if kind in ("visitor", "track") and key == ANONYMOUS_PATTERN:
        out["pattern"] = True
    if kind == "track":
        for segs in track_agent:
            if _has(record, segs):
                out["agent"].add(("track", None, segs))
    if key in interest:
        out["known"].append(record)


# -- the diff ---------------------------------------------------------------------------------------------------------


def _diff_task(ctx: DiffContext, payload: tuple[int, Blob, Blob, Blob | None, bool]) -> ShardResult:
    """Task: diff one shard (its records are lines of a file, parsed here, or records as given)."""
    _shard, exp_blob, obs_blob, moved_blob, last = payload
    with bulk():
        expected = list(read_items(exp_blob)) if exp_blob else []
        observed = list(read_items(obs_blob)) if obs_blob else []
        parsed = all(type(item[2]) is bytes for item in expected) and all(type(item[1]) is bytes for item in observed)
        if parsed:
            expected = [(pos, lane, loads(line)) for pos, lane, line in expected]
            observed = [(pos, loads(line)) for pos, line in observed]
        if moved_blob:
            observed.extend(read_items(moved_blob))
            parsed = False
        return diff_shard(ctx, expected, observed, last, shared=not parsed)


@dataclass
class _Side:
    """One side of a diff as partitioned: its shard files and what was learnt reading it."""

    writers: ShardWriters
    count: int = 0
    bad: list[BadLine] = field(default_factory=list)
    name: str = ""
    pattern: bool = False
    agent: set[tuple[str, Any, tuple[str, ...]]] = field(default_factory=set)
    known: list[dict[str, Any]] = field(default_factory=list)
    lanes: bool = False


def _is_path(value: Any) -> bool:
    return isinstance(value, (str, os.PathLike, EventSource))


def _partition_side(
    runner: Runner,
    side: str,
    records: Any,
    folder: Path,
    shards: int,
    options: DiffOptions,
    interest: frozenset[str],
    writers: Sequence[str] | None,
    compress: bool,
    progress: Progress | None,
) -> _Side:
    out = _Side(ShardWriters(folder, side, shards, compress))
    track_agent = tuple(_Normaliser(options, []).agent.get("track", ())) if side == "expected" else ()
    if _is_path(records):
        source = _source(records)
        out.name = ", ".join(
            str(p) for p in ([source.paths] if isinstance(source.paths, (str, Path)) else source.paths)
        )
        ctx = _ParseContext(shards, side, compress, True, track_agent, interest)
        runner.start(ctx)
        for done, result in enumerate(run_ordered(runner, _route_records, enumerate(source.batches(BATCH_LINES))), 1):
            out.writers.add_frames(result["frames"])
            source.account(result["good"], result["bad"])
            out.pattern = out.pattern or result["pattern"]
            out.agent |= result["agent"]
            out.known.extend(result["known"])
            if progress is not None:
                progress(f"read {side}", done, None)
        out.count, out.bad = source.events, list(source.bad)
    else:
        facts: dict[str, Any] = {"pattern": False, "agent": set(), "known": []}
        lanes = iter(writers) if writers is not None else None
        count = 0
        with bulk():
            for count, record in enumerate(records, 1):
                key = record_key(record)
                if side == "expected":
                    lane = next(lanes, None) if lanes is not None else None
                    out.writers.add(shard_of(key, shards), (count - 1, lane, record))
                    _expected_facts(record, key, track_agent, interest, facts)
                else:
                    out.writers.add(shard_of(key, shards), (count - 1, record))
        out.count = count
        out.pattern, out.agent, out.known = facts["pattern"], facts["agent"], facts["known"]
        if writers is not None and side == "expected":
            out.lanes = len(writers) == count
    out.writers.close()
    return out


def diff_sharded(
    expected: Any,
    observed: Any,
    options: DiffOptions | None = None,
    *,
    rejected: Iterable[Mapping[str, Any]] = (),
    warnings: Iterable[Mapping[str, Any]] = (),
    ignored: Iterable[Any] = (),
    profile: str | None = None,
    seed: int | None = None,
    reproduce: str | None = None,
    writers: Sequence[str] | None = None,
    dropped: Iterable[Mapping[str, Any]] = (),
    injected: Iterable[Mapping[str, Any]] = (),
    shards: int | None = None,
    workers: int | None = None,
    spill_dir: str | os.PathLike[str] | None = None,
    scheduler: Any = None,
    compress: bool | None = None,
    progress: Progress | None = None,
) -> DiffReport:
    """:func:`pytest_segpendo.verify.diff` in shards: the same report, in bounded memory, on every core.

    ``expected`` and ``observed``: iterables of records (read once, as they come), or paths of JSONL records files
    (plain or gzipped, folders, ``-`` for stdin; parsed in the workers, bad lines counted and reported as a root
    cause). ``shards``: how many (default: from the input's size); ``workers``: processes (default: every core; 1
    runs everything in this process); ``scheduler``: a Dask scheduler instead (``pytest-segpendo[distributed]``);
    ``spill_dir``: where the temporary files go (default: the system's temporary folder); ``compress``: compress
    them (default: when the input is over :data:`COMPRESS_ABOVE`, or of unknown size).
    """
    options = options or DiffOptions()
    faults = [dict(item) for item in injected if isinstance(item, Mapping)]
    drops = [dict(item) for item in dropped if isinstance(item, Mapping)]
    processed = {item.get("request"): item for item in faults if _processed(item)}
    interest = frozenset(
        record_key(r)
        for r in [item.get("record") for item in drops]
        + [r for item in faults if not _processed(item) for r in (item.get("records") or ())]
        if isinstance(r, dict)
    )
    runner = make_runner(workers, scheduler)
    size = _records_size(expected, observed)
    if identity_stripped(options):
        count = 1
    elif shards is not None:
        count = max(1, shards)
    else:
        count = _shard_count(size, None, runner.workers)
    compress = _compressed(size) if compress is None else compress
    with SpillDir(spill_dir) as folder, _closing(runner):
        exp = _partition_side(
            runner, "expected", expected, folder, count, options, interest, writers, compress, progress
        )
        obs = _partition_side(runner, "observed", observed, folder, count, options, interest, None, compress, progress)
        pattern = exp.pattern and options.anonymous_ids
        ctx = DiffContext(
            options,
            pattern=exp.pattern,
            track_agent=frozenset(exp.agent),
            processed=processed,
            writers=exp.lanes,
            pattern_shard=shard_of(ANONYMOUS_PATTERN, count) if pattern else None,
        )
        report = _run_diff(
            runner,
            ctx,
            exp,
            obs,
            folder,
            count,
            compress,
            progress,
            drops,
            faults,
            rejected,
            warnings,
            ignored,
            profile,
            seed,
            reproduce,
        )
    for side in (exp, obs):
        if side.bad:
            _report_bad(report, side)
    return report


class _closing:
    """Close a runner however its run ends."""

    def __init__(self, runner: Runner):
        self.runner = runner

    def __enter__(self) -> Runner:
        return self.runner

    def __exit__(self, *exc: object) -> None:
        self.runner.close()


def _records_size(expected: Any, observed: Any) -> int | None:
    """The bytes both sides take once read (an estimate for lists of records; None when unknown)."""
    total = 0
    for side in (expected, observed):
        if _is_path(side):
            source = _source(side)
            size = _input_bytes(source)
            if size is None:
                return None
            total += int(size * _gzip_factor(source))
        elif hasattr(side, "__len__"):
            total += len(side) * (SHARD_BYTES // SHARD_RECORDS)
        else:
            return None
    return total


def _run_diff(
    runner: Runner,
    ctx: DiffContext,
    exp: _Side,
    obs: _Side,
    folder: Path,
    count: int,
    compress: bool,
    progress: Progress | None,
    drops: list[dict[str, Any]],
    faults: list[dict[str, Any]],
    rejected: Iterable[Mapping[str, Any]],
    warnings: Iterable[Mapping[str, Any]],
    ignored: Iterable[Any],
    profile: str | None,
    seed: int | None,
    reproduce: str | None,
) -> DiffReport:
    runner.start(ctx)
    exp_blobs, obs_blobs = exp.writers.blobs(), obs.writers.blobs()
    moved = FrameWriter(folder / "moved", compress, FRAME_ITEMS)
    results: list[ShardResult] = []
    last = ctx.pattern_shard

    def payloads() -> Iterator[tuple[int, Blob, Blob, Blob | None, bool]]:
        for shard in range(count):
            if shard != last:
                yield shard, _blob(runner, exp_blobs[shard]), _blob(runner, obs_blobs[shard]), None, False

    for result in run_ordered(runner, _diff_task, payloads()):
        for item in result.moved:
            moved.add(item)
        result.moved = []
        results.append(result)
        if progress is not None:
            progress("diff shards", len(results), count)
    if last is not None:
        moved_blob = moved.blob()
        payload = (
            last,
            _blob(runner, exp_blobs[last]),
            _blob(runner, obs_blobs[last]),
            _blob(runner, moved_blob) if moved_blob else None,
            True,
        )
        results.extend(run_ordered(runner, _diff_task, [payload]))
        if progress is not None:
            progress("diff shards", len(results), count)
    return merge_shards(
        ctx,
        results,
        rejected=rejected,
        warnings=warnings,
        ignored=ignored,
        dropped=drops,
        injected=faults,
        known=exp.known,
        profile=profile,
        seed=seed,
        reproduce=reproduce,
    )


def _report_bad(report: DiffReport, side: _Side) -> None:
    first = side.bad[0]
    report.add_cause(
        "unreadable lines",
        f"{len(side.bad):,} line(s) of {side.name or 'the ' + side.writers.writers[0].path.name.split('-')[0]} "
        "skipped, not compared",
        len(side.bad),
        str(first),
    )
    report.notes.append(
        f"{len(side.bad):,} bad line(s) skipped in {side.name} (first: {first}); the JSON report's causes count them"
    )


def diff_files(
    expected: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | EventSource,
    observed: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | EventSource,
    options: DiffOptions | None = None,
    *,
    profile: str | None = None,
    workers: int | None = None,
    spill_dir: str | os.PathLike[str] | None = None,
    scheduler: Any = None,
    shards: int | None = None,
    progress: Progress | None = None,
) -> DiffReport:
    """``segpendo diff EXPECTED OBSERVED`` in shards: the report ``diff(load(expected), load(observed), options,
    profile=profile)`` gives, in bounded memory. Lines that are not records are counted, skipped and reported (a
    root cause ``unreadable lines`` and a note), never stopping the run."""
    return diff_sharded(
        expected,
        observed,
        options,
        profile=profile,
        workers=workers,
        spill_dir=spill_dir,
        scheduler=scheduler,
        shards=shards,
        progress=progress,
    )


# -- the expectation --------------------------------------------------------------------------------------------------


@dataclass
class ExpectSummary:
    """What :func:`expect_to_file` did: events read, records written (in ``view``), ignored events per type, bad
    lines (each with file and line), the shards and the time it took."""

    profile: str
    view: str
    events: int = 0
    records: int = 0
    ignored: dict[str, int] = field(default_factory=dict)
    bad: list[BadLine] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    shards: int = 1
    seconds: float = 0.0
    spilled: int = 0  # bytes of spill files at their largest

    def line(self) -> str:
        """The line ``segpendo expect`` prints on stderr."""
        ignored = ", ".join(f"{k} {v}" for k, v in sorted(self.ignored.items())) or "none"
        text = (
            f"{self.events} events -> {self.records} records ({self.view} view, profile {self.profile}); "
            f"ignored: {ignored}"
        )
        if self.bad:
            text += f"; {len(self.bad):,} bad line(s) skipped (first: {self.bad[0]})"
        return text

    def as_json(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "view": self.view,
            "events": self.events,
            "records": self.records,
            "ignored": dict(self.ignored),
            "badLines": [{"source": b.source, "line": b.line, "error": b.error, "text": b.text} for b in self.bad],
            "files": list(self.files),
            "shards": self.shards,
            "seconds": round(self.seconds, 3),
        }


_PROFILES: dict[str, Profile] = {}


def _profile(spec: tuple[str, dict[str, Any], UserMapping | None]) -> Profile:
    """The profile of a spec, built once per worker process."""
    key = repr(spec)
    found = _PROFILES.get(key)
    if found is None:
        _PROFILES.clear()
        found = _PROFILES[key] = get_profile(spec[0], spec[1], spec[2])
    return found


def _expect_events(ctx: _ParseContext, events: list[tuple[int, Any]]) -> dict[str, Any]:
    """Expect ``events`` ((position, event), in global order) and sort the records out by where they go: JSON
    lines with their positions (stream); entity writes by state shard and track lines (state); (position, lane,
    record) by diff shard (diff). With the ignored events, by position."""
    assert ctx.profile is not None
    result = _profile(ctx.profile).expect(e for _p, e in events)
    positions = [p for p, _e in events]
    lines: list[tuple[int, bytes]] = []
    tracks: list[tuple[int, bytes]] = []
    buckets: list[list[Any]] = [[] for _ in range(ctx.targets)] if ctx.target != "stream" else []
    seq, previous = 0, -1
    for record, origin, lane in zip(result.stream, result.origins, result.writers):
        seq = seq + 1 if origin == previous else 0
        previous = origin
        pos = positions[origin] << SEQ_BITS | seq
        if ctx.target == "stream":
            lines.append((pos, dumps_bytes(record) + b"\n"))
        elif ctx.target == "state":
            if record.get("kind") in ENTITY_KINDS:
                buckets[shard_of(id_key(record.get("id")), ctx.targets)].append((pos, record))
            else:
                tracks.append((pos, dumps_bytes(record) + b"\n"))
        else:
            buckets[shard_of(record_key(record), ctx.targets)].append((pos, lane, record))
    ignored = [(positions[item.index], item.type, item.message_id, item.reason) for item in result.ignored]
    return {"lines": lines, "tracks": tracks, "buckets": buckets, "ignored": ignored}


def _expect_batch(ctx: _ParseContext, payload: tuple[int, LineBatch]) -> dict[str, Any]:
    """Task: parse a batch of events; expect them (a profile without state: any split works) or route them to
    their events shard."""
    number, batch = payload
    with bulk():
        good, bad = _parse_batch(ctx, number, batch)
        out: dict[str, Any] = {"good": len(good), "bad": bad}
        if ctx.partition == "any":
            found = _expect_events(ctx, [(pos, event) for pos, event, _line in good])
            out["block"] = b"".join(line for _p, line in found["lines"])
            out["records"] = len(found["lines"])
            out["frames"] = _frames(found["buckets"], ctx.compress)
            out["tracks"] = _frames([found["tracks"]], ctx.compress)
            out["ignored"] = _frames([found["ignored"]], ctx.compress)
        else:
            routed: list[list[Any]] = [[] for _ in range(ctx.shards)]
            key = ctx.key
            for pos, event, line in good:  # the line: the shard parses it again, cheaper than another encoding
                routed[shard_of(key(event), ctx.shards) if key is not None else 0].append((pos, line))
            out["frames"] = _frames(routed, ctx.compress)
    return out


def _expect_shard_task(ctx: _ParseContext, blob: Blob) -> dict[str, Any]:
    """Task: expect one events shard (every event of its browsers, in global order)."""
    with bulk():
        events = sorted(read_items(blob), key=_position) if blob else []
        found = _expect_events(ctx, [(pos, loads(line)) for pos, line in events])
        return {
            "lines": _frames([found["lines"]], ctx.compress),
            "frames": _frames(found["buckets"], ctx.compress),
            "tracks": _frames([found["tracks"]], ctx.compress),
            "ignored": _frames([found["ignored"]], ctx.compress),
        }


def _position(item: tuple[Any, ...]) -> Any:
    return item[0]


def expect_to_file(
    source: Source,
    profile: str,
    out: str | os.PathLike[str] | IO[bytes],
    *,
    view: str | None = None,
    settings: Mapping[str, Any] | None = None,
    mapping: UserMapping | str | None = None,
    validate: bool = True,
    workers: int | None = None,
    spill_dir: str | os.PathLike[str] | None = None,
    scheduler: Any = None,
    shards: int | None = None,
    compress: bool | None = None,
    progress: Progress | None = None,
) -> ExpectSummary:
    """``segpendo expect`` in shards: the records ``profile`` expects for the events of ``source``, written to
    ``out`` (a path, or a binary stream) as JSONL in ``view`` (default: the profile's): the same bytes as
    ``write_records(get_profile(...).expect(events).view(view))``, in bounded memory, on every core.

    ``source``: a path (JSONL, gzipped or not), a folder (Segment's S3 archive layout included), ``-`` (stdin), a
    list of those, or an :class:`~pytest_segpendo.archive.EventSource`. Bad lines (and with ``validate``, events
    that break the Segment Spec) are counted and listed in the summary, never stopping the run.
    """
    started = time.perf_counter()
    if isinstance(mapping, str):
        mapping = UserMapping.load(mapping)
    built = get_profile(profile, settings, mapping)  # errors in the settings or mapping surface here
    view = view or built.hints.view
    if view not in ("state", "stream"):
        raise ValueError(f"unknown view {view!r}: use stream or state")
    events = _source(source, validate)
    size = _input_bytes(events)
    read = int(size * _gzip_factor(events)) if size is not None else None
    partition, key = event_partitioner(built)
    spec = (profile, dict(settings or {}), mapping)
    sink, close = (open(out, "wb"), True) if isinstance(out, (str, os.PathLike)) else (out, False)  # noqa: SIM115
    try:
        with _closing(make_runner(workers, scheduler)) as runner, SpillDir(spill_dir) as folder:
            count = _shard_count(read, shards, runner.workers)
            summary = ExpectSummary(built.name, view, shards=count)
            compress = _compressed(read) if compress is None else compress
            _expect_run(
                runner, spec, events, sink, folder, view, partition, key, count, validate, compress, summary, progress
            )
    finally:
        if close:
            sink.close()
    summary.events, summary.bad, summary.files = events.events, list(events.bad), list(events.files)
    summary.seconds = time.perf_counter() - started
    return summary


def _expect_run(
    runner: Runner,
    spec: tuple[str, dict[str, Any], UserMapping | None],
    events: EventSource,
    sink: IO[bytes],
    folder: Path,
    view: str,
    partition: str,
    key: Callable[[Any], str] | None,
    count: int,
    validate: bool,
    compress: bool,
    summary: ExpectSummary,
    progress: Progress | None,
) -> None:
    target = "state" if view == "state" else "stream"
    shards = 1 if partition == "one" else count
    ctx = _ParseContext(
        shards, "events", compress, validate, profile=spec, partition=partition, key=key, target=target, targets=count
    )
    state = ShardWriters(folder, "state", count, compress)
    tracks = FrameWriter(folder / "tracks", compress, FRAME_ITEMS)
    ignored = FrameWriter(folder / "ignored", compress, FRAME_ITEMS)
    routed = ShardWriters(folder, "events", shards, compress)
    runner.start(ctx)
    for done, result in enumerate(run_ordered(runner, _expect_batch, enumerate(events.batches(BATCH_LINES))), 1):
        events.account(result["good"], result["bad"])
        if partition == "any":  # the batch's records, in order: written at once, or kept for the state view
            sink.write(result["block"])
            summary.records += result["records"]
            state.add_frames(result["frames"])
            for _s, frame, items in result["tracks"]:
                tracks.add_frame(frame, items)
            for _s, frame, items in result["ignored"]:
                ignored.add_frame(frame, items)
        else:
            routed.add_frames(result["frames"])
        if progress is not None:
            progress("expect batches" if partition == "any" else "read events", done, None)
    summary.spilled = max(summary.spilled, spill_size(folder))
    if partition != "any":
        routed.close()
        _expect_shards(runner, ctx, routed, sink, state, tracks, ignored, summary, progress)
    state.close()
    tracks.close()
    if target == "state":
        summary.spilled = max(summary.spilled, spill_size(folder))
        _write_state(runner, ctx, state, tracks, sink, summary, progress)
    blob = ignored.blob()
    for _pos, kind, _message, _reason in read_items(blob) if blob else ():
        summary.ignored[kind] = summary.ignored.get(kind, 0) + 1


def _expect_shards(
    runner: Runner,
    ctx: _ParseContext,
    routed: ShardWriters,
    sink: IO[bytes],
    state: ShardWriters,
    tracks: FrameWriter,
    ignored: FrameWriter,
    summary: ExpectSummary,
    progress: Progress | None,
) -> None:
    """Expect each events shard; merge their records (stream view) or track lines (state view), and their
    ignored events, in global order."""
    blobs = routed.blobs()
    folder = routed.writers[0].path.parent
    lines = ShardWriters(folder, "lines", len(blobs), ctx.compress)
    track_parts = ShardWriters(folder, "track-parts", len(blobs), ctx.compress)
    ignored_parts = ShardWriters(folder, "ignored-parts", len(blobs), ctx.compress)
    for n, result in enumerate(run_ordered(runner, _expect_shard_task, (_blob(runner, b) for b in blobs))):
        lines.add_frames((n, frame, items) for _s, frame, items in result["lines"])
        state.add_frames(result["frames"])
        track_parts.add_frames((n, frame, items) for _s, frame, items in result["tracks"])
        ignored_parts.add_frames((n, frame, items) for _s, frame, items in result["ignored"])
        if isinstance(blobs[n], str):
            os.unlink(blobs[n])  # this shard's events are no longer needed
        if progress is not None:
            progress("expect shards", n + 1, len(blobs))
    summary.spilled = max(summary.spilled, spill_size(folder))
    for _pos, line in _merged(lines.blobs()):
        sink.write(line)
        summary.records += 1
    for item in _merged(track_parts.blobs()):
        tracks.add(item)
    for item in _merged(ignored_parts.blobs()):
        ignored.add(item)


def _merged(blobs: Sequence[Blob]) -> Iterator[Any]:
    """The items of spill files each sorted by position, merged in position order."""
    streams = [read_items(b) for b in blobs if b]
    return heapq.merge(*streams, key=lambda item: item[0])


def _state_task(ctx: _ParseContext, blob: Blob) -> list[tuple[int, bytes, int]]:
    """Task: the state view of one shard's entities: (place in the whole state view, JSON line) frames."""
    with bulk():
        writes = sorted(read_items(blob), key=lambda item: item[0]) if blob else []
        records = [r for _p, r in writes]
        view = state_view(records)
        first: dict[Any, Any] = {}
        for pos, r in writes:
            k = (r.get("kind"), r["id"])
            if k not in first:
                first[k] = (ENTITY_KINDS.index(k[0]), pos)
        items = [(first[(r.get("kind"), r["id"])], dumps_bytes(r) + b"\n") for r in view]
        return _frames([items], ctx.compress)


def _write_state(
    runner: Runner,
    ctx: _ParseContext,
    state: ShardWriters,
    tracks: FrameWriter,
    sink: IO[bytes],
    summary: ExpectSummary,
    progress: Progress | None,
) -> None:
    """Merge each state shard's entities (visitors, accounts, parent accounts, each in order of first write), then
    write the track events in order."""
    blobs = state.blobs()
    folder = state.writers[0].path.parent
    parts = ShardWriters(folder, "state-parts", len(blobs), ctx.compress)
    for n, frames in enumerate(run_ordered(runner, _state_task, (_blob(runner, b) for b in blobs))):
        parts.add_frames((n, frame, items) for _s, frame, items in frames)
        if progress is not None:
            progress("state shards", n + 1, len(blobs))
    for _place, line in _merged(parts.blobs()):
        sink.write(line)
        summary.records += 1
    blob = tracks.blob()
    if blob:
        for _pos, line in read_items(blob):
            sink.write(line)
            summary.records += 1
