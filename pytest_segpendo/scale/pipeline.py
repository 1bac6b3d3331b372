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
import shutil
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Union

from .. import defaults
from ..archive import GZIP_MAGIC, BadLine, EventSource, LineBatch, bad_line, event_files, parse_line
from ..jsonl import bulk, dumps_bytes, loads
from ..profiles import UserMapping, get_profile
from ..profiles.agent import ANONYMOUS_PATTERN
from ..profiles.base import Profile
from ..records import ENTITY_KINDS, record_errors
from ..verify.engine import DiffOptions, _has, _Normaliser, _processed
from ..verify.report import DiffReport
from .partition import event_partitioner, id_key, identity_stripped, record_key, shard_of
from .partition import line_key as partition_line_key
from .runner import LocalRunner, Runner, run_ordered
from .shard import DiffContext, ShardResult, _state_positions, diff_shard, merge_shards, record_ok
from .spill import (
    Blob,
    FrameWriter,
    ShardFiles,
    ShardWriters,
    SpillDir,
    append_frames,
    append_items,
    encode_frame,
    encode_lines,
    read_blob,
    read_items,
    read_list,
    spill_size,
)

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

BATCH_LINES = defaults.BATCH_LINES
"""Lines per batch parsed by one task, when the calling process reads the input (gzip, stdin, Dask)."""
RANGE_BYTES = 16 * 2**20
"""Bytes of a plain file a local worker reads and parses itself, per task (the calling process only cuts the file
at line ends: no line crosses a process boundary twice)."""
SHARD_BYTES = defaults.SHARD_BYTES
"""Input bytes per shard: a shard's work holds about 5x its input in memory (parsed, normalised, matched)."""
SHARD_RECORDS = 40_000
"""Records (or events) per shard when the input is not a file of known size."""
UNKNOWN_SHARDS = defaults.UNKNOWN_SHARDS
"""Shards when the input's size cannot be known (stdin, a generator)."""
COMPRESS_ABOVE = defaults.COMPRESS_ABOVE
"""Input size (once read) above which spill files are compressed when the spill folder's disk is short of room
(zlib, level 1: about 7x smaller, for about as much time as parsing costs)."""
ROOM_FACTOR = 4
"""Spill files are written as they are when the spill folder's disk has this many times the input's size free."""
SHARDED_ABOVE_BYTES = defaults.SHARDED_ABOVE_BYTES
"""Input size above which a command should take the sharded path (below it the in-memory one is as fast)."""
ENTITY_SHARE = 0.25
"""The part of the events' bytes the state view's shards are sized for: the entity writes (identify and group
calls, merged per batch); a quarter leaves room for traffic that is mostly identify calls."""
FRAME_ITEMS = 1000  # items per frame a worker writes: what a final merge holds per shard
POSITION_BITS = 24  # a position is batch << 24 | index in the batch (batches are far smaller than 2^24 lines)
SEQ_BITS = 12  # a record's position is its event's position << 12 | its rank among the event's records

try:  # every line is parsed with orjson straight away, with the full loads() when it fails
    from orjson import dumps as _fast_dumps
    from orjson import loads as _fast_loads
except ImportError:  # pragma: no cover - orjson is a dependency
    _fast_loads = loads  # type: ignore[assignment]
    _fast_dumps = dumps_bytes  # type: ignore[assignment]

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
    return read_blob(blob) if runner.remote and not isinstance(blob, bytes) else blob


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


def _shard_count(size: int | None, shards: int | None, workers: int = 1, share: float = 1.0) -> int:
    """Shards for an input of ``size`` bytes (once read), of which ``share`` goes to the shards: one per
    :data:`SHARD_BYTES`, and two per worker for an input worth splitting."""
    if shards is not None:
        return max(1, shards)
    if size is None:
        return UNKNOWN_SHARDS
    count = int(size * share) // SHARD_BYTES + 1
    if size > SHARD_BYTES // 8:
        count = max(count, 2 * workers)
    return max(1, min(4096, count))


def _compressed(size: int | None, folder: Path | None = None) -> bool:
    """Whether to compress spill files: for an input of unknown size, or one over :data:`COMPRESS_ABOVE` when the
    spill folder's disk has less than :data:`ROOM_FACTOR` times its size free."""
    if size is None:
        return True
    if size <= COMPRESS_ABOVE:
        return False
    if folder is not None:
        try:
            return shutil.disk_usage(folder).free < ROOM_FACTOR * size
        except OSError:
            return True
    return True


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


# -- reading the input -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Range:
    """Bytes ``start`` to ``end`` of a plain file: whole lines, read and parsed by the worker given them."""

    path: str
    start: int
    end: int


def _plan_ranges(source: EventSource, size: int = RANGE_BYTES) -> list[_Range] | None:
    """The source's files cut at line ends into ranges of about ``size`` bytes; None when it cannot be (stdin, a
    gzipped file, a file that cannot be read: the calling process then reads it, as it reports such errors)."""
    given = [source.paths] if isinstance(source.paths, (str, Path)) else list(source.paths)
    out: list[_Range] = []
    names: list[str] = []
    for item in given:
        if str(item) == "-":
            return None
        files = event_files(item)
        if not files:
            return None
        for path in files:
            try:
                with open(path, "rb") as f:
                    if f.read(2) == GZIP_MAGIC:
                        return None
                    total = os.fstat(f.fileno()).st_size
                    start = 0
                    while start < total:
                        end = start + size
                        if end >= total:
                            end = total
                        else:
                            f.seek(end)
                            end += len(f.readline())
                        out.append(_Range(str(path), start, end))
                        start = end
            except OSError:
                return None
            names.append(str(path))
    source.files.extend(names)
    return out


def _range_batch(r: _Range) -> LineBatch:
    """The lines of a range (line numbers counted from the range's first line: 1)."""
    with open(r.path, "rb") as f:
        f.seek(r.start)
        data = f.read(r.end - r.start)
    lines = data.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()  # the line end of the range's last line
    return LineBatch(r.path, 1, lines)


def _lines(payload: tuple[int, LineBatch | _Range]) -> tuple[int, LineBatch, int | None]:
    """A task's batch number, its lines, and (a range read here) how many lines it holds."""
    number, item = payload
    if isinstance(item, _Range):
        batch = _range_batch(item)
        return number, batch, len(batch.lines)
    return number, item, None


class _Input:
    """A source handed to workers: byte ranges of its files, read by the workers (local workers, plain files), or
    batches of lines read here. Counts what the tasks found, with each bad line's number in its file."""

    def __init__(self, source: EventSource, runner: Runner):
        self.source = source
        self.ranges = None if runner.remote else _plan_ranges(source)
        self._before: dict[str, int] = {}  # lines of each file in the ranges accounted so far
        self.origins: list[tuple[str, int]] = []  # per task: its file, and the number of its first line
        self.bad: list[tuple[int, int, BadLine]] = []  # (task, line, bad line): the file order

    def payloads(self) -> Iterator[tuple[int, LineBatch | _Range]]:
        if self.ranges is None:
            return enumerate(self.source.batches(BATCH_LINES))
        return enumerate(self.ranges)

    def account(self, result: dict[str, Any]) -> None:
        """Count a task's result (tasks are accounted in order)."""
        bad = result["bad"]
        lines = result.get("lines")
        name = result["source"]
        if lines is not None:
            base = self._before.get(name, 0)
            bad = [BadLine(b.source, b.line + base, b.error, b.text) for b in bad]
            self._before[name] = base + lines
            self.origins.append((name, base + 1))
        else:
            self.origins.append((name, result.get("first", 1)))
        number = len(self.origins) - 1
        self.bad.extend((number, b.line, b) for b in bad)
        self.source.account(result["good"], bad)

    def found_bad(self, items: Iterable[tuple[Any, str, bytes]]) -> None:
        """Lines a later stage found not to be records ((position, why, the line's start)): counted as bad, not
        as read."""
        mask = (1 << POSITION_BITS) - 1
        n = 0
        for pos, error, text in items:
            name, first = self.origins[pos >> POSITION_BITS]
            line = first + (pos & mask)
            self.bad.append((pos >> POSITION_BITS, line, bad_line(name, line, error, text)))
            n += 1
        self.source.events -= n

    def bad_lines(self) -> list[BadLine]:
        """Every bad line, in file order."""
        return [b for _n, _line, b in sorted(self.bad, key=lambda item: (item[0], item[1]))]


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
    folder: str | None = None  # where workers write their spill files themselves (local workers)
    raw: bool = False  # records: route lines in the toolkit's form by their start, unparsed (checked in the shard)


def _parse_batch(
    ctx: _ParseContext, number: int, batch: LineBatch
) -> tuple[list[tuple[int, Any, bytes]], list[BadLine]]:
    """The good values of a batch as (position, value, line), and its bad lines, as :class:`EventSource` decides."""
    bad: list[BadLine] = []
    good = list(_values(ctx, number, batch, bad))
    return good, bad


_SKIP: Any = object()  # a line that holds no value: blank, or bad (counted)


def _validator(ctx: _ParseContext) -> Callable[..., Any] | None:
    if ctx.validate and ctx.side == "events":
        from ..events import validate_event

        return validate_event
    return None


def _careful(
    ctx: _ParseContext, batch: LineBatch, offset: int, raw: bytes, value: Any, validate: Any, bad: list[BadLine]
) -> Any:
    """A line that is not the usual one (``value``: what orjson made of it, if anything), or one to validate: its
    value, or :data:`_SKIP` (blank, or bad: then in ``bad``, worded as :class:`EventSource` words it)."""
    line = raw
    error = None
    if type(value) is not dict:
        line = raw.strip()
        if not line:
            return _SKIP
        value, error = parse_line(line)
    if error is None and validate is not None:
        errors = validate(value, len(raw) * 9 // 2 + 1)  # a bound of its size: not measured again
        if errors:
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            error = f"invalid event: {errors[0]}{more}"
    if error is None and ctx.validate and ctx.side != "events" and not record_ok(value):
        errors = record_errors(value)
        if errors:
            error = f"not a Pendo record: {errors[0]}"
    if error is not None:
        bad.append(bad_line(batch.source, batch.first + offset, error, line.strip()))
        return _SKIP
    return value


def _values(ctx: _ParseContext, number: int, batch: LineBatch, bad: list[BadLine]) -> Iterator[tuple[int, Any, bytes]]:
    """The good values of a batch as (position, value, line), one by one (each can be dropped before the next is
    parsed); its bad lines go to ``bad``, as :class:`EventSource` words them."""
    if batch.error is not None:
        bad.append(bad_line(batch.source, batch.first, batch.error, b""))
        return
    validate = _validator(ctx)
    checks = validate is not None or (ctx.validate and ctx.side != "events")
    base = number << POSITION_BITS
    n = 0
    loads_ = _fast_loads
    for offset, raw in enumerate(batch.lines):
        try:  # the usual line: JSON, an object (orjson takes the surrounding whitespace)
            value = loads_(raw)
        except ValueError:
            value = None
        if type(value) is not dict or checks:
            value = _careful(ctx, batch, offset, raw, value, validate, bad)
            if value is _SKIP:
                continue
        yield base | n, value, raw
        n += 1


def _route_records(ctx: _ParseContext, payload: tuple[int, LineBatch | _Range]) -> dict[str, Any]:
    """Task: route each record of a batch (its line: the shard parses it) to its diff shard. A line in the form
    the toolkit writes is routed by the identity read off its start, unparsed, and checked in its shard; any other
    is parsed and checked here. Positions are the batch's number and the line's place in it."""
    number, batch, count = _lines(payload)
    bad: list[BadLine] = []
    out: dict[str, Any] = {"good": 0, "bad": bad, "pattern": False, "agent": set(), "known": []}
    out["source"], out["lines"], out["first"] = batch.source, count, batch.first
    if batch.error is not None:
        bad.append(bad_line(batch.source, batch.first, batch.error, b""))
    with bulk():
        shards = ctx.shards
        positions: list[list[int]] = [[] for _ in range(shards)]
        lines: list[list[bytes]] = [[] for _ in range(shards)]
        expected = ctx.side == "expected"
        raw_ok = ctx.raw and not ctx.track_agent  # agent fields of expected track events are learnt from each
        interest = ctx.interest
        base = number << POSITION_BITS
        line_key = partition_line_key
        crc32 = zlib.crc32
        n = 0
        given = batch.lines
        if count is None:  # lines read by the calling process: their line ends off (frames hold lines without)
            given = [raw[:-1] if raw[-1:] == b"\n" else raw for raw in given]
        for offset, raw in enumerate(given):
            key = line_key(raw) if raw_ok else None
            record = None
            if key is None or key == ANONYMOUS_PATTERN or key in interest:
                found = _record_line(ctx, batch, offset, raw, bad)
                if found is None:
                    continue
                key, record = found
            n += 1
            shard = crc32(key.encode("utf-8", "surrogatepass")) % shards if shards > 1 else 0
            positions[shard].append(base | offset)
            lines[shard].append(raw)
            if expected and record is not None:
                _expected_facts(record, key, ctx.track_agent, interest, out)
        out["good"] = n
        frames = [encode_lines(p, ls, expected, ctx.compress) if ls else b"" for p, ls in zip(positions, lines)]
        if ctx.folder is not None:
            out["written"] = append_frames(ctx.folder, ctx.side, frames)
        else:
            out["frames"] = [(shard, frame, len(ls)) for shard, (frame, ls) in enumerate(zip(frames, lines)) if ls]
    return out


def _record_line(
    ctx: _ParseContext, batch: LineBatch, offset: int, raw: bytes, bad: list[BadLine]
) -> tuple[str, Any] | None:
    """A line parsed and checked here: (its shard key, the record), or None (blank, or bad: then in ``bad``)."""
    try:
        value = _fast_loads(raw)
    except ValueError:
        value = None
    if type(value) is dict and record_ok(value):
        return record_key(value), value
    line = raw.strip()
    if not line:
        return None
    value, error = parse_line(line)
    if error is None:
        errors = record_errors(value) if ctx.validate else []
        if not errors:
            return record_key(value), value
        error = f"not a Pendo record: {errors[0]}"
    bad.append(bad_line(batch.source, batch.first + offset, error, line))
    return None


def _hand_over(ctx: _ParseContext, name: str, buckets: list[list[Any]], out: dict[str, Any]) -> None:
    """A task's items per shard: written to the shards' spill files here (local workers: ``out["written"]``), or
    returned as frames (``out["frames"]``) for the calling process to write."""
    if ctx.folder is not None:
        out["written"] = append_items(ctx.folder, name, buckets, ctx.compress)
    else:
        out["frames"] = _frames(buckets, ctx.compress)


def _take_over(writers: ShardWriters | ShardFiles, result: dict[str, Any]) -> None:
    """Record what :func:`_hand_over` did with a task's items."""
    if isinstance(writers, ShardFiles):
        writers.add(result["written"])
    else:
        writers.add_frames(result["frames"])


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
    shard, exp_blob, obs_blob, moved_blob, last = payload
    with bulk():
        expected = read_list(exp_blob) if exp_blob else []
        observed = read_list(obs_blob) if obs_blob else []
        if moved_blob:
            observed.extend(read_list(moved_blob))
        # records given as lines (a file's: all of them) are parsed one by one in the shard, each its own object
        lines = (not expected or type(expected[0][2]) is bytes) and (not observed or type(observed[0][1]) is bytes)
        return diff_shard(ctx, expected, observed, last, shared=not lines, shard=shard)


@dataclass
class _Side:
    """One side of a diff as partitioned: its shard files and what was learnt reading it."""

    writers: ShardWriters | ShardFiles
    reader: _Input | None = None
    count: int = 0
    bad: list[BadLine] = field(default_factory=list)
    name: str = ""
    pattern: bool = False
    agent: set[tuple[str, Any, tuple[str, ...]]] = field(default_factory=set)
    known: list[dict[str, Any]] = field(default_factory=list)
    lanes: bool = False
    raw: bool = False  # lines were routed by their start, unparsed


def _is_path(value: Any) -> bool:
    return isinstance(value, (str, os.PathLike, EventSource))


def _rereadable(value: Any) -> bool:
    """Whether a side can be read a second time: files (not stdin), not an iterable."""
    if not _is_path(value):
        return False
    paths = value.paths if isinstance(value, EventSource) else value
    given = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    return all(str(p) != "-" for p in given)


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
    raw: bool = True,
) -> _Side:
    track_agent = tuple(_Normaliser(options, []).agent.get("track", ())) if side == "expected" else ()
    if _is_path(records):
        source = _source(records)
        if not raw and isinstance(records, EventSource):  # read again: counted afresh
            source.events, source.bad, source.files = 0, [], []
        reader = _Input(source, runner)
        local = reader.ranges is not None
        out = _Side(ShardFiles(shards) if local else ShardWriters(folder, side, shards, compress), reader)
        out.name = ", ".join(
            str(p) for p in ([source.paths] if isinstance(source.paths, (str, Path)) else source.paths)
        )
        ctx = _ParseContext(
            shards, side, compress, True, track_agent, interest, folder=str(folder) if local else None, raw=raw
        )
        out.raw = raw and not track_agent
        runner.start(ctx)
        for done, result in enumerate(run_ordered(runner, _route_records, reader.payloads()), 1):
            _take_over(out.writers, result)
            reader.account(result)
            out.pattern = out.pattern or result["pattern"]
            out.agent |= result["agent"]
            out.known.extend(result["known"])
            if progress is not None:
                progress(f"read {side}", done, None)
        out.count, out.bad = source.events, reader.bad_lines()
    else:
        out = _Side(ShardWriters(folder, side, shards, compress))
        facts: dict[str, Any] = {"pattern": False, "agent": set(), "known": []}
        lanes = iter(writers) if writers is not None else None
        count = 0
        sink = out.writers
        assert isinstance(sink, ShardWriters)
        with bulk():
            for count, record in enumerate(records, 1):
                key = record_key(record)
                if side == "expected":
                    lane = next(lanes, None) if lanes is not None else None
                    sink.add(shard_of(key, shards), (count - 1, lane, record))
                    _expected_facts(record, key, track_agent, interest, facts)
                else:
                    sink.add(shard_of(key, shards), (count - 1, record))
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
    report: DiffReport | None = None
    with SpillDir(spill_dir) as spill, _closing(runner):
        compress = _compressed(size, spill) if compress is None else compress
        # Lines of files in the toolkit's form are routed by the identity they start with; a shard that finds one
        # of them elsewhere than its identity puts it (a key written twice, an escape) makes the whole diff run
        # again with every line parsed first.
        for raw in (True, False) if _rereadable(expected) and _rereadable(observed) else (False,):
            folder = spill / ("lines" if raw else "parsed")
            folder.mkdir()
            exp = _partition_side(
                runner, "expected", expected, folder, count, options, interest, writers, compress, progress, raw
            )
            obs = _partition_side(
                runner, "observed", observed, folder, count, options, interest, None, compress, progress, raw
            )
            pattern = exp.pattern and options.anonymous_ids
            ctx = DiffContext(
                options,
                pattern=exp.pattern,
                track_agent=frozenset(exp.agent),
                processed=processed,
                writers=exp.lanes,
                pattern_shard=shard_of(ANONYMOUS_PATTERN, count) if pattern else None,
                shards=count,
                raw=raw and (exp.raw or obs.raw),
                interest=interest,
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
            if report is not None:
                break
            shutil.rmtree(folder, ignore_errors=True)
    assert report is not None
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
) -> DiffReport | None:
    """The diff of partitioned sides; None when a shard found a line routed by its start where it does not
    belong (then it is made again, every line parsed first)."""
    runner.start(ctx)
    exp_blobs, obs_blobs = exp.writers.blobs(), obs.writers.blobs()
    moved = FrameWriter(folder / "moved", compress, FRAME_ITEMS)
    results: list[ShardResult] = []
    last = ctx.pattern_shard

    def payloads() -> Iterator[tuple[int, Blob, Blob, Blob | None, bool]]:
        for shard in range(count):
            if shard != last:
                yield shard, _blob(runner, exp_blobs[shard]), _blob(runner, obs_blobs[shard]), None, False

    misrouted = False
    for result in run_ordered(runner, _diff_task, payloads()):
        misrouted = misrouted or result.misrouted
        if misrouted:
            continue  # the diff runs again: only the remaining shards are waited for
        for item in result.moved:
            moved.add(item)
        result.moved = []
        _found_bad(result, exp, obs)
        results.append(result)
        if progress is not None:
            progress("diff shards", len(results), count)
    if misrouted:
        return None
    if last is not None:
        moved_blob = moved.blob()
        payload = (
            last,
            _blob(runner, exp_blobs[last]),
            _blob(runner, obs_blobs[last]),
            _blob(runner, moved_blob) if moved_blob else None,
            True,
        )
        for result in run_ordered(runner, _diff_task, [payload]):
            if result.misrouted:
                return None
            _found_bad(result, exp, obs)
            results.append(result)
        if progress is not None:
            progress("diff shards", len(results), count)
    for side in (exp, obs):
        if side.reader is not None:
            side.count, side.bad = side.reader.source.events, side.reader.bad_lines()
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


def _found_bad(result: ShardResult, exp: _Side, obs: _Side) -> None:
    """The lines a shard found not to be records, counted with the bad lines of their side."""
    if result.bad:
        for name, side in (("expected", exp), ("observed", obs)):
            items = [(pos, error, text) for which, pos, error, text in result.bad if which == name]
            if items and side.reader is not None:
                side.reader.found_bad(items)
        result.bad = []


def _report_bad(report: DiffReport, side: _Side) -> None:
    first = side.bad[0]
    report.add_cause(
        "unreadable lines",
        f"{len(side.bad):,} line(s) of {side.name} skipped, not compared",
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
    record) by diff shard (diff). With the ignored events counted per type (and the position of the first)."""
    assert ctx.profile is not None
    result = _profile(ctx.profile).expect(e for _p, e in events)
    positions = [p for p, _e in events]
    lines: list[tuple[int, bytes]] = []
    tracks: list[tuple[int, bytes]] = []
    buckets: list[list[Any]] = [[] for _ in range(ctx.targets)] if ctx.target != "stream" else []
    seq, previous = 0, -1
    target, targets = ctx.target, ctx.targets
    for record, origin, lane in zip(result.stream, result.origins, result.writers):
        seq = seq + 1 if origin == previous else 0
        previous = origin
        pos = positions[origin] << SEQ_BITS | seq
        if target == "stream":
            lines.append((pos, dumps_bytes(record) + b"\n"))
        elif target == "state":
            if record.get("kind") in ENTITY_KINDS:
                buckets[shard_of(id_key(record.get("id")), targets)].append((pos, record))
            else:
                tracks.append((pos, dumps_bytes(record) + b"\n"))
        else:
            buckets[shard_of(record_key(record), targets)].append((pos, lane, record))
    ignored: dict[str, list[int]] = {}
    for item in result.ignored:
        counted = ignored.get(item.type)
        if counted is None:
            ignored[item.type] = [positions[item.index], 1]
        else:
            counted[1] += 1
    return {"lines": lines, "tracks": tracks, "buckets": buckets, "ignored": ignored}


def _premerged(writes: list[tuple[int, Any]]) -> list[tuple[int, Any]]:
    """Consecutive writes of some entities (a batch's), merged per entity as the state view merges them, each at
    its first write's position: merging these in position order is merging every write in order (a later batch's
    writes all come after an earlier one's), with fewer records to send and merge."""
    if len(writes) < 2:
        return writes
    view, places = _state_positions([r for _p, r in writes], [p for p, _r in writes])
    return [(pos, r) for r, (_kind, pos) in zip(view, places)]


def _block(ctx: _ParseContext, name: str, number: int, lines: list[tuple[int, bytes]]) -> Any:
    """A batch's output lines, in order: a file written here (local workers), or the bytes."""
    data = b"".join(line for _p, line in lines)
    if ctx.folder is None:
        return data
    if not data:
        return None
    path = os.path.join(ctx.folder, f"{name}-{number:08d}")
    with open(path, "wb") as f:
        f.write(data)
    return path


class _Sink:
    """``emit`` for events expected one at a time as they are parsed (a profile without state): each record is
    written as a JSON line at once (stream view; track events in the state view), or kept by state shard (an
    entity write), so an event is dropped before the next is parsed."""

    __slots__ = ("state", "targets", "lines", "buckets", "position", "seq")

    def __init__(self, state: bool, targets: int):
        self.state = state
        self.targets = targets
        self.lines: list[bytes] = []
        self.buckets: list[list[Any]] = [[] for _ in range(targets)] if state else []
        self.position = 0
        self.seq = 0

    def __call__(self, record: Any) -> None:
        if self.state and record.get("kind") in ENTITY_KINDS:
            shard = shard_of(id_key(record.get("id")), self.targets)
            self.buckets[shard].append((self.position << SEQ_BITS | self.seq, record))
        else:
            try:
                self.lines.append(_fast_dumps(record))
            except (TypeError, ValueError):
                self.lines.append(dumps_bytes(record))
        self.seq += 1


def _our_reasons() -> frozenset[Any]:
    from ..profiles import PROFILES

    kinds: list[type[Profile]] = [Profile, *PROFILES.values()]
    return frozenset(kind.no_action_reason for kind in kinds)


_OUR_REASONS = _our_reasons()


def _streams(profile: Profile) -> bool:
    """Whether a profile's expectation is its events' handled one by one (no ``expect`` or ``finish`` of its
    own), so a batch can be expected as it is parsed."""
    kind = type(profile)
    return kind.expect is Profile.expect and kind.finish is Profile.finish


def _expect_stream(ctx: _ParseContext, number: int, batch: LineBatch, out: dict[str, Any]) -> None:
    """Expect a batch of events of a profile without state, each as it is parsed (what ``_expect_events`` gives,
    without holding the batch's events)."""
    assert ctx.profile is not None
    profile = _profile(ctx.profile)
    handle = profile.run_actions if type(profile).handle is Profile.handle else profile.handle
    # the usual profile: one action per event type, run here directly (what run_actions does)
    kind_of = type(profile)
    by_type = (
        profile._by_type
        if kind_of.handle is Profile.handle
        and kind_of.run_actions is Profile.run_actions
        and kind_of.matching is Profile.matching
        else None
    )
    perform = profile.perform
    # a profile of this package says why it ignores an event: it is ignored, whatever the words
    says_why = kind_of.no_action_reason not in _OUR_REASONS
    state = ctx.target == "state"
    sink = _Sink(state, ctx.targets)
    ignored: dict[str, list[int]] = {}
    bad: list[BadLine] = []
    if batch.error is not None:
        bad.append(bad_line(batch.source, batch.first, batch.error, b""))
    validate = _validator(ctx)
    base = number << POSITION_BITS
    loads_ = _fast_loads
    n = 0
    for offset, raw in enumerate(batch.lines):
        try:
            event = loads_(raw)
        except ValueError:
            event = None
        if type(event) is not dict or validate is not None:
            event = _careful(ctx, batch, offset, raw, event, validate, bad)
            if event is _SKIP:
                continue
        pos = base | n
        n += 1
        sink.position = pos
        sink.seq = 0
        if by_type is not None:
            kind = event.get("type")
            actions = by_type.get(kind, ()) if isinstance(kind, str) else ()
            if len(actions) == 1:
                action = actions[0]
                reason = perform(action, event, action.payload(event), sink)
            elif actions or says_why:
                reason = handle(event, sink)
            else:
                reason = ""
        else:
            reason = handle(event, sink)
        if reason is not None:
            kind = str(event.get("type"))
            counted = ignored.get(kind)
            if counted is None:
                ignored[kind] = [pos, 1]
            else:
                counted[1] += 1
    out["good"], out["bad"], out["ignored"], out["records"] = n, bad, ignored, len(sink.lines)
    lines = [(0, b"\n".join(sink.lines) + b"\n")] if sink.lines else []
    out["block"] = _block(ctx, "tracks" if state else "block", number, lines)
    if state:
        _hand_over(ctx, "state", [_premerged(b) for b in sink.buckets], out)


def _expect_batch(ctx: _ParseContext, payload: tuple[int, LineBatch | _Range]) -> dict[str, Any]:
    """Task: parse a batch of events; expect them (a profile without state: any split works) or route them to
    their events shard."""
    number, batch, count = _lines(payload)
    with bulk():
        out: dict[str, Any] = {"source": batch.source, "lines": count}
        if ctx.partition == "any" and ctx.target != "diff" and _streams(_profile(ctx.profile)):  # type: ignore[arg-type]
            _expect_stream(ctx, number, batch, out)
            return out
        good, bad = _parse_batch(ctx, number, batch)
        out.update(good=len(good), bad=bad)
        if ctx.partition == "any":
            found = _expect_events(ctx, [(pos, event) for pos, event, _line in good])
            out["ignored"] = found["ignored"]
            if ctx.target == "stream":
                out["records"] = len(found["lines"])
                out["block"] = _block(ctx, "block", number, found["lines"])
            else:
                out["records"] = len(found["tracks"])
                out["block"] = _block(ctx, "tracks", number, found["tracks"])
                _hand_over(ctx, "state", [_premerged(b) for b in found["buckets"]], out)
        else:
            routed: list[list[Any]] = [[] for _ in range(ctx.shards)]
            key = ctx.key
            for pos, event, line in good:  # the line: the shard parses it again, cheaper than another encoding
                routed[shard_of(key(event), ctx.shards) if key is not None else 0].append((pos, line))
            _hand_over(ctx, "events", routed, out)
    return out


def _expect_shard_task(ctx: _ParseContext, blob: Blob) -> dict[str, Any]:
    """Task: expect one events shard (every event of its browsers, in global order)."""
    with bulk():
        events = sorted(read_items(blob), key=_position) if blob else []
        found = _expect_events(ctx, [(pos, loads(line)) for pos, line in events])
        out = {
            "lines": _frames([found["lines"]], ctx.compress),
            "tracks": _frames([found["tracks"]], ctx.compress),
            "ignored": found["ignored"],
        }
        _hand_over(ctx, "state", found["buckets"], out)
        return out


def _position(item: tuple[Any, ...]) -> Any:
    return item[0]


def _count_ignored(counts: dict[str, list[int]], found: Mapping[str, Sequence[int]]) -> None:
    """Add a task's ignored events ({type: [first position, count]}) to ``counts``."""
    for kind, (first, n) in found.items():
        known = counts.get(kind)
        if known is None:
            counts[kind] = [first, n]
        else:
            known[0] = min(known[0], first)
            known[1] += n


def _append_file(sink: IO[bytes], path: str, regular: bool) -> None:
    """Write a spill file's bytes to ``sink``: in the kernel when ``sink`` is a file this run opened (``regular``),
    else through this process."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        sent = 0
        copy = getattr(os, "copy_file_range", None)
        if regular and copy is not None and size:
            try:
                sink.flush()
                while sent < size:
                    n = copy(f.fileno(), sink.fileno(), size - sent)
                    if n <= 0:
                        break
                    sent += n
            except OSError:
                pass
            sink.seek(0, os.SEEK_END)  # the buffered writer learns where the file ends now
            f.seek(sent)
        if sent < size:
            shutil.copyfileobj(f, sink, 1 << 20)
    os.unlink(path)


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
            # the state view's entities are a small part of the events: fewer, larger shards (unless told)
            states = count if shards is not None else _shard_count(read, None, runner.workers, ENTITY_SHARE)
            summary = ExpectSummary(built.name, view, shards=count)
            compress = _compressed(read, folder) if compress is None else compress
            _expect_run(
                runner,
                spec,
                events,
                sink,
                close,
                folder,
                view,
                partition,
                key,
                count,
                states,
                validate,
                compress,
                summary,
                progress,
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
    regular: bool,
    folder: Path,
    view: str,
    partition: str,
    key: Callable[[Any], str] | None,
    count: int,
    states: int,
    validate: bool,
    compress: bool,
    summary: ExpectSummary,
    progress: Progress | None,
) -> None:
    target = "state" if view == "state" else "stream"
    shards = 1 if partition == "one" else count
    reader = _Input(events, runner)
    local = None if runner.remote else str(folder)  # local workers write their spill files themselves
    ctx = _ParseContext(
        shards,
        "events",
        compress,
        validate,
        profile=spec,
        partition=partition,
        key=key,
        target=target,
        targets=states,
        folder=local,
    )
    state: ShardWriters | ShardFiles = ShardFiles(states) if local else ShardWriters(folder, "state", states, compress)
    routed: ShardWriters | ShardFiles = (
        ShardFiles(shards) if local else ShardWriters(folder, "events", shards, compress)
    )
    tracks: list[str] = []  # files of track lines, in order (state view)
    ignored: dict[str, list[int]] = {}
    runner.start(ctx)
    for done, result in enumerate(run_ordered(runner, _expect_batch, reader.payloads()), 1):
        reader.account(result)
        if partition == "any":  # the batch's records, in order: written at once, or kept for the state view
            summary.records += result["records"]
            _count_ignored(ignored, result["ignored"])
            block = result["block"]
            if isinstance(block, bytes) and block:  # remote workers: this process keeps it
                path = str(folder / f"{'block' if target == 'stream' else 'tracks'}-{done:08d}")
                Path(path).write_bytes(block)
                block = path
            if block and target == "stream":
                _append_file(sink, block, regular)
            elif block:
                tracks.append(block)
            if target == "state":
                _take_over(state, result)
        else:
            _take_over(routed, result)
        if progress is not None:
            progress("expect batches" if partition == "any" else "read events", done, None)
    summary.spilled = max(summary.spilled, spill_size(folder))
    if partition != "any":
        routed.close()
        _expect_shards(runner, ctx, routed, folder, sink, state, tracks, ignored, summary, progress)
    state.close()
    if target == "state":
        summary.spilled = max(summary.spilled, spill_size(folder))
        _write_state(runner, ctx, state, folder, tracks, sink, regular, summary, progress)
    summary.ignored = {kind: n for kind, (_first, n) in sorted(ignored.items(), key=lambda kv: kv[1][0])}


def _expect_shards(
    runner: Runner,
    ctx: _ParseContext,
    routed: ShardWriters | ShardFiles,
    folder: Path,
    sink: IO[bytes],
    state: ShardWriters | ShardFiles,
    tracks: list[str],
    ignored: dict[str, list[int]],
    summary: ExpectSummary,
    progress: Progress | None,
) -> None:
    """Expect each events shard; merge their records (stream view) or track lines (state view), in global order,
    and count their ignored events."""
    blobs = routed.blobs()
    lines = ShardWriters(folder, "lines", len(blobs), ctx.compress)
    track_parts = ShardWriters(folder, "track-parts", len(blobs), ctx.compress)
    for n, result in enumerate(run_ordered(runner, _expect_shard_task, (_blob(runner, b) for b in blobs))):
        lines.add_frames((n, frame, items) for _s, frame, items in result["lines"])
        _take_over(state, result)
        track_parts.add_frames((n, frame, items) for _s, frame, items in result["tracks"])
        _count_ignored(ignored, result["ignored"])
        done = blobs[n]
        for path in done if isinstance(done, tuple) else (done,) if isinstance(done, str) else ():
            os.unlink(path)  # this shard's events are no longer needed
        if progress is not None:
            progress("expect shards", n + 1, len(blobs))
    summary.spilled = max(summary.spilled, spill_size(folder))
    for _pos, line in _merged(lines.blobs()):
        sink.write(line)
        summary.records += 1
    merged = folder / "tracks-merged"
    with open(merged, "wb") as f:
        for _pos, line in _merged(track_parts.blobs()):
            f.write(line)
            summary.records += 1
    tracks.append(str(merged))


def _merged(blobs: Sequence[Blob]) -> Iterator[Any]:
    """The items of spill files each sorted by position, merged in position order."""
    streams = [read_items(b) for b in blobs if b]
    return heapq.merge(*streams)  # items (place, line) with places all different: compared as they are


def _state_task(ctx: _ParseContext, payload: tuple[int, Blob]) -> Any:
    """Task: the state view of one shard's entities, each as (its place in the whole state view: kind, then first
    write; its JSON line), in that order: a spill file written here (local workers), or frames."""
    number, blob = payload
    with bulk():
        writes = sorted(read_items(blob), key=_position) if blob else []
        view, places = _state_positions([r for _p, r in writes], [p for p, _r in writes])
        items = [(kind << 64 | pos, dumps_bytes(r) + b"\n") for r, (kind, pos) in zip(view, places)]
        if ctx.folder is None:
            return _frames([items], ctx.compress)
        path = os.path.join(ctx.folder, f"state-part-{number:05d}")
        with open(path, "wb") as f:
            for start in range(0, len(items), FRAME_ITEMS):
                f.write(encode_frame(items[start : start + FRAME_ITEMS], ctx.compress))
        return path


def _write_state(
    runner: Runner,
    ctx: _ParseContext,
    state: ShardWriters | ShardFiles,
    folder: Path,
    tracks: list[str],
    sink: IO[bytes],
    regular: bool,
    summary: ExpectSummary,
    progress: Progress | None,
) -> None:
    """Merge each state shard's entities (visitors, accounts, parent accounts, each in order of first write), then
    write the track events in order (their files one after another)."""
    blobs = state.blobs()
    parts = ShardWriters(folder, "state-parts", len(blobs), ctx.compress)
    written: list[Blob] = []
    for n, result in enumerate(run_ordered(runner, _state_task, enumerate(_blob(runner, b) for b in blobs))):
        if isinstance(result, str):
            written.append(result)
        else:
            parts.add_frames((n, frame, items) for _s, frame, items in result)
        if progress is not None:
            progress("state shards", n + 1, len(blobs))
    write = sink.write
    for _place, line in _merged(written or parts.blobs()):
        write(line)
        summary.records += 1
    for path in tracks:
        _append_file(sink, path, regular)
