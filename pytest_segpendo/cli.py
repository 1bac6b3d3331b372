"""``segpendo``: the toolkit's command line (see ``docs/cli.md``).

Exit codes everywhere: 0 success / conforms, 1 problems found in the input, 2 bad usage or unreadable input
(with a one-line reason on stderr).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import gc
import io
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import IO, TYPE_CHECKING, Any, NoReturn

from . import __version__, defaults
from .jsonl import source_name
from .traffic import BUNDLED_LOCALES, DEFAULT_START_MS, SCENARIOS, generate_jsonl, parse_mix, parse_start

if TYPE_CHECKING:
    from .archive import EventSource
    from .fakes.pendo import FakePendo
    from .scale import Progress

__all__ = ["EXIT_OK", "EXIT_PROBLEMS", "EXIT_USAGE", "UsageError", "build_parser", "main", "run"]

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2
QUIET_HELP = (
    "no progress on the terminal (there is none when stderr is not a terminal); check and the plugin also take "
    "--quiet S: Pendo traffic has settled after S seconds without a request"
)
ENV_KEYS = defaults.KEY_ENV
EVENTS_HELP = (
    "a JSONL file (gzipped or not), a folder of them (read recursively, in path order: Segment's S3 archive "
    "segment-logs/SOURCE/DAY/*.gz replays day by day), or - for stdin"
)


class UsageError(Exception):
    """Bad arguments or unreadable input: reported as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see '{self.prog} --help')")


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number (got {text!r})") from None


def _non_negative(text: str) -> int:
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative (got {value})")
    return value


def _positive(text: str) -> int:
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more (got {value})")
    return value


def _slice(text: str) -> tuple[int, int]:
    """``I/N``: slice I (0 to N-1) of N."""
    index, sep, count = text.partition("/")
    try:
        i, n = int(index), int(count)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be I/N, e.g. 0/4 (got {text!r})") from None
    if not sep or n < 1 or not 0 <= i < n:
        raise argparse.ArgumentTypeError(f"must be I/N with 0 <= I < N, e.g. 0/4 (got {text!r})")
    return i, n


_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30}


def _size(text: str) -> int:
    """Bytes, or with a binary unit: 64M, 1G, 500K."""
    number, unit = text.strip().rstrip("bB"), ""
    if number[-1:].upper() in _UNITS:
        number, unit = number[:-1], number[-1:].upper()
    try:
        value = int(number)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a size in bytes, e.g. 1000000 or 64M (got {text!r})") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative (got {text!r})")
    return value * _UNITS[unit]


def _size_text(value: int) -> str:
    for unit in ("G", "M", "K"):
        if value and value % _UNITS[unit] == 0:
            return f"{value // _UNITS[unit]}{unit}"
    return str(value)


def _valid_locale(locale: str, command: str) -> str:
    if locale in BUNDLED_LOCALES:
        return locale
    from faker.config import AVAILABLE_LOCALES

    if locale not in AVAILABLE_LOCALES:
        raise UsageError(
            f"segpendo {command}: unknown locale {locale!r}: use a Faker locale such as {', '.join(BUNDLED_LOCALES)}"
        )
    return locale


def _traffic(args: argparse.Namespace, command: str) -> tuple[dict[str, int] | None, str]:
    """The mix (or None) and the locale of generated traffic, checked."""
    if args.mix and args.scenario:
        raise UsageError(f"segpendo {command}: give --scenario or --mix, not both")
    try:
        mix = parse_mix(args.mix) if args.mix else None
    except ValueError as exc:
        raise UsageError(f"segpendo {command}: {exc}") from None
    return mix, _valid_locale(args.locale, command)


def write_text_output(path: str | None, lines: Iterable[str], command: str) -> None:
    """Write ``lines`` as UTF-8 to ``path``, or to stdout for None or ``-`` (whatever stdout's encoding)."""
    if path and path != "-":
        try:
            out = open(path, "w", encoding="utf-8", newline="\n")  # noqa: SIM115
        except OSError as exc:
            raise UsageError(f"segpendo {command}: cannot write {path}: {exc.strerror}") from None
        with out:
            out.writelines(lines)
        return
    sys.stdout.flush()
    wrapper = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="\n")
    try:
        wrapper.writelines(lines)
        wrapper.flush()
    finally:
        wrapper.detach()  # leave sys.stdout open


def write_records(path: str | None, records: Iterable[object], command: str) -> None:
    """Write JSON values as JSONL to ``path`` or stdout, fast (bytes)."""
    from .jsonl import dumps_bytes

    data = b"".join(dumps_bytes(r) + b"\n" for r in records)
    if path and path != "-":
        try:
            with open(path, "wb") as out:
                out.write(data)
        except OSError as exc:
            raise UsageError(f"segpendo {command}: cannot write {path}: {exc.strerror}") from None
        return
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


# -- generate ---------------------------------------------------------------------------------------------


def cmd_generate(args: argparse.Namespace) -> int:
    mix, locale = _traffic(args, "generate")
    try:
        start = parse_start(args.start)
    except ValueError as exc:
        raise UsageError(f"segpendo generate: {exc}") from None
    scenario = args.scenario or defaults.SCENARIO
    lines = generate_jsonl(args.count, args.seed, scenario, mix=mix, locale=locale, start=start)
    write_text_output(args.output, _counted(lines, args, args.count, "generating"), "generate")
    return EXIT_OK


def _show_progress(args: argparse.Namespace) -> bool:
    """Progress on stderr: only on a terminal, and not with ``-q``/``--quiet`` (check's ``--quiet`` without a
    number)."""
    from .progress import enabled

    quiet = getattr(args, "quiet", False)
    return enabled(quiet is None or quiet is True)


def _counted(items: Iterable[Any], args: argparse.Namespace, total: int | None, desc: str, unit: str = "event") -> Any:
    """``items``, counted on a progress bar as they are consumed (when progress is shown)."""
    if not _show_progress(args):
        return items
    from .progress import iterate

    return iterate(items, total, desc, unit, enabled=True, every=256)


# -- reading events and records ---------------------------------------------------------------------------
#
# Every command that reads events or records takes what pytest_segpendo.archive.EventSource takes: a JSONL file
# (plain or gzipped), a folder of them (read recursively, in path order: Segment's S3 archive layout
# segment-logs/{source}/{day}/*.gz replays day by day), or - for stdin. A line that cannot be used is counted in
# the source with its file and line, never stopping the read; each command says what it does about it
# (docs/cli.md, "Events from files, folders and archives").


def _source(path: str, command: str) -> EventSource:
    """The events or records at ``path``; a path that does not exist, or a folder without event files, is a usage
    error (exit 2)."""
    from .archive import EventSource, event_files

    if path != "-":
        if not os.path.exists(path):
            raise UsageError(f"segpendo {command}: cannot read {path}: {os.strerror(errno.ENOENT)}")
        if os.path.isdir(path) and not event_files(path):
            raise UsageError(
                f"segpendo {command}: cannot read {path}: no event files in this folder (.jsonl, .json, .ndjson, "
                "optionally .gz)"
            )
    return EventSource(path)


def _read(source: EventSource, command: str, kind: str = "event") -> Iterator[dict[str, Any]]:
    """The values of ``source``, parsed as they are consumed: JSON objects (``event``), valid Segment events
    (``valid event``) or Pendo records (``record``). Any other line is counted in ``source.bad`` with its file and
    line, worded as the sharded path words it; a file that cannot be opened is a usage error (exit 2)."""
    from .archive import bad_line, parse_line

    validate_event: Any = None
    record_errors: Any = None
    if kind == "valid event":
        from .events import validate_event
    elif kind == "record":
        from .records import record_errors
    try:
        for batch in source.batches(defaults.BATCH_LINES):
            good, bad = 0, []
            if batch.error is not None:
                bad.append(bad_line(batch.source, batch.first, batch.error, b""))
            for offset, raw in enumerate(batch.lines):
                line = raw.strip()
                if not line:
                    continue
                bound = len(raw) * 9 // 2 + 1  # an upper bound of the event's compact size: not measured again
                check = (
                    (lambda value, bound=bound: validate_event(value, bound)) if validate_event is not None else None
                )
                value, error = parse_line(line, check)
                if error is None and record_errors is not None:
                    errors = record_errors(value)
                    if errors:
                        error = f"not a Pendo record: {errors[0]}"
                if error is not None:
                    bad.append(bad_line(batch.source, batch.first + offset, error, line))
                    continue
                good += 1
                yield value
            source.account(good, bad)
    except OSError as exc:
        where = exc.filename or source_name(str(source.paths))
        raise UsageError(f"segpendo {command}: cannot read {where}: {exc.strerror or exc}") from None


def _bad_lines(source: EventSource, command: str) -> list[str]:
    """The lines a command prints first when lines of its input could not be used: how many, and the first few
    with their file and line (all of them go to the JSON report, ``bad_lines``)."""
    if not source.bad:
        return []
    shown = defaults.BAD_LINES_SHOWN
    out = [f"segpendo {command}: {source.summary()}"]
    out.extend(f"  {bad}" for bad in source.bad[:shown])
    if len(source.bad) > shown:
        out.append(f"  ... and {len(source.bad) - shown:,} more (the JSON report lists them all: bad_lines)")
    return out


def _input_size(paths: Sequence[str]) -> int | None:
    """Bytes of the input once read (a gzipped file: the size its trailer gives, at least its own), or None when
    one of them is stdin."""
    from .archive import GZIP_MAGIC, event_files

    total = 0
    for path in paths:
        if path == "-":
            return None
        for file in event_files(path):
            try:
                with open(file, "rb") as f:
                    size = os.fstat(f.fileno()).st_size
                    if size >= 18 and f.read(2) == GZIP_MAGIC:
                        f.seek(-4, os.SEEK_END)
                        size = max(size, int.from_bytes(f.read(4), "little"))
            except OSError:
                continue  # reported when it is read
            total += size
    return total


def _use_shards(args: argparse.Namespace, *paths: str) -> bool:
    """Whether expect or diff take the sharded path: when asked (``--shards``, ``--scheduler``), or when the input
    is over ``--sharded-above`` once read; stdin, of unknown size, only with ``--sharded-above 0``."""
    if args.shards is not None or args.scheduler is not None or args.sharded_above == 0:
        return True
    size = _input_size(paths)
    return size is not None and size > args.sharded_above


class _StageBars:
    """The sharded path's progress (``progress(stage, done, total)``) on a terminal: a bar per stage."""

    def __init__(self) -> None:
        from .progress import Bar

        self._make = Bar
        self.bar: Bar | None = None
        self.stage = ""
        self.done = 0

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        if stage != self.stage or self.bar is None:
            self.close()
            unit = "shard" if "shard" in stage else "batch"
            self.bar, self.stage, self.done = self._make(total, stage, unit, enabled=True), stage, 0
        self.bar.update(done - self.done)
        self.done = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _stage_bars(args: argparse.Namespace) -> _StageBars | None:
    return _StageBars() if _show_progress(args) else None


def _scale_options(args: argparse.Namespace, progress: Progress | None) -> dict[str, Any]:
    """The keywords of the sharded path from the command's options."""
    return {
        "workers": args.workers,
        "spill_dir": args.spill_dir,
        "scheduler": args.scheduler,
        "shards": args.shards,
        "progress": progress,
    }


# -- validate ---------------------------------------------------------------------------------------------


def cmd_validate(args: argparse.Namespace) -> int:
    """Every line of a file, folder (each file's lines) or stdin, against the Segment Spec."""
    import dataclasses
    import itertools

    from .events import ValidationReport, validate_lines
    from .jsonl import JsonlLine, iter_jsonl

    source = _source(args.events, "validate")
    single = args.events == "-" or not os.path.isdir(args.events)

    def lines(batches: Iterable[Any]) -> Iterator[JsonlLine]:
        for batch in batches:
            if batch.error is not None:
                yield JsonlLine(batch.first, error=batch.error)
                continue
            for item in iter_jsonl(io.BytesIO(b"".join(batch.lines))):
                yield dataclasses.replace(item, line=item.line + batch.first - 1)

    reports: list[tuple[str, ValidationReport]] = []
    try:
        for name, batches in itertools.groupby(source.batches(defaults.BATCH_LINES), key=lambda b: b.source):
            reports.append((source_name(args.events) if single else name, validate_lines(lines(batches))))
    except OSError as exc:
        raise UsageError(
            f"segpendo validate: cannot read {exc.filename or args.events}: {exc.strerror or exc}"
        ) from None
    total = ValidationReport()
    for _name, report in reports:
        total.lines += report.lines
        total.valid += report.valid
        total.invalid.extend(report.invalid)
        for kind, n in report.by_type.items():
            total.by_type[kind] = total.by_type.get(kind, 0) + n
    invalid = [(name, bad) for name, report in reports for bad in report.invalid]
    if args.format == "json":
        body = {
            "valid": total.ok,
            "lines": total.lines,
            "events": total.valid,
            "byType": total.by_type,
            "invalid": [
                {"line": b.line, "errors": b.errors} | ({} if single else {"source": n})
                for n, b in invalid[: args.max_errors]
            ],
            "invalidLines": len(total.invalid),
        }
        if not single:
            body["files"] = len(source.files)
        print(json.dumps(body, ensure_ascii=False))
    else:
        out = [f"{name}:{bad.line}: {message}" for name, bad in invalid[: args.max_errors] for message in bad.errors]
        if len(invalid) > args.max_errors:
            out.append(f"... and {len(invalid) - args.max_errors} more invalid lines")
        summary = total.format(limit=0).splitlines()[-1]
        out.append(summary if single else f"{summary} ({len(source.files)} files)")
        print("\n".join(out))
    if total.lines == 0:
        print(f"segpendo validate: {source_name(args.events)} holds no events", file=sys.stderr)
        return EXIT_PROBLEMS
    return EXIT_OK if total.ok else EXIT_PROBLEMS


# -- transform --------------------------------------------------------------------------------------------


def _read_json_file(path: str, what: str, command: str) -> object:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as exc:
        raise UsageError(f"segpendo {command}: cannot read {what} {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise UsageError(f"segpendo {command}: {what} {path} is not JSON: {exc}") from None


def cmd_transform(args: argparse.Namespace) -> int:
    from .mapping import UNDEFINED, CompiledMapping, MappingError, js_dumps

    _required(args, "transform", ("field_mapping", "--field-mapping"))
    mapping = _read_json_file(args.field_mapping, "mapping", "transform")
    try:
        compiled = CompiledMapping(mapping)
    except MappingError as exc:
        more = f" (and {len(exc.messages) - 1} more)" if len(exc.messages) > 1 else ""
        raise UsageError(f"segpendo transform: invalid mapping {args.field_mapping}: {exc.messages[0]}{more}") from None
    source = _source(args.events, "transform")
    events = list(_read(source, "transform"))
    if source.bad:  # one result a line, in the events' order: a skipped line would shift every result after it
        raise UsageError(f"segpendo transform: {source.bad[0]}")
    name = source_name(args.events)
    failures = 0
    lines = []
    for number, event in enumerate(events, 1):
        try:
            result = compiled(event)
        except MappingError as exc:
            failures += 1
            print(f"{name}: event {number}: {exc}", file=sys.stderr)
            result = None
        lines.append(("null" if result is UNDEFINED else js_dumps(result) or "null") + "\n")
    write_text_output(args.output, lines, "transform")
    return EXIT_PROBLEMS if failures else EXIT_OK


# -- expect -----------------------------------------------------------------------------------------------


def _settings(pairs: list[str], command: str) -> dict[str, str]:
    """The destination's settings, from ``--setting KEY=VALUE`` options."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"segpendo {command}: --setting takes KEY=VALUE (got {pair!r})")
        out[key.strip()] = value.strip()
    return out


def cmd_expect(args: argparse.Namespace) -> int:
    """The records the events should produce: in memory, or in shards for a large input (the same bytes)."""
    from .jsonl import bulk
    from .profiles import ProfileError, UserMapping, get_profile

    try:
        mapping = UserMapping.load(args.mapping) if args.mapping else None
        settings = _settings(args.setting, "expect")
        profile = get_profile(args.profile, settings, mapping)
    except ProfileError as exc:
        raise UsageError(f"segpendo expect: {exc}") from None
    view = args.view or profile.hints.view
    source = _source(args.events, "expect")
    batch_mode()
    if _use_shards(args, args.events):
        from .scale import expect_to_file

        bars = _stage_bars(args)
        try:
            with _output(args.output, "expect") as out:
                summary = expect_to_file(
                    source,
                    args.profile,
                    out,
                    view=view,
                    settings=settings,
                    mapping=mapping,
                    validate=not args.no_validate,
                    **_scale_options(args, bars),
                )
        except OSError as exc:
            raise UsageError(f"segpendo expect: {exc.filename or args.events}: {exc.strerror or exc}") from None
        finally:
            if bars is not None:
                bars.close()
        line, bad = summary.line(), bool(summary.bad)
    else:
        with bulk():
            events = _read(source, "expect", "event" if args.no_validate else "valid event")
            result = profile.expect(_counted(events, args, None, "reading events"))
            records = result.view(view)
            write_records(args.output, records, "expect")
        line, bad = _expect_line(source, len(records), view, profile.name, result.ignored_summary()), bool(source.bad)
    print(f"segpendo expect: {line}", file=sys.stderr)
    return EXIT_USAGE if bad else EXIT_OK


def _expect_line(source: EventSource, records: int, view: str, profile: str, ignored: dict[str, int]) -> str:
    """The summary of an expectation made in memory, word for word the sharded path's (``ExpectSummary.line()``,
    not imported here: the in-memory path stays as light to start as it was)."""
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(ignored.items())) or "none"
    text = f"{source.events} events -> {records} records ({view} view, profile {profile}); ignored: {kinds}"
    if source.bad:
        text += f"; {len(source.bad):,} bad line(s) skipped (first: {source.bad[0]})"
    return text


@contextlib.contextmanager
def _output(path: str | None, command: str) -> Iterator[IO[bytes]]:
    """A binary stream to ``path``, or to stdout for None or ``-``."""
    if not path or path == "-":
        sys.stdout.flush()
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    try:
        out = open(path, "wb")  # noqa: SIM115
    except OSError as exc:
        raise UsageError(f"segpendo {command}: cannot write {path}: {exc.strerror}") from None
    with out:
        yield out


# -- serve ------------------------------------------------------------------------------------------------


def _port(text: str) -> int:
    value = _integer(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number 0-65535 (got {value})")
    return value


def _start_fake_pendo(args: argparse.Namespace, command: str, **options: Any) -> FakePendo:
    """The fake Pendo server of ``serve`` and ``check``, listening; a taken port is a usage error."""
    from .fakes.pendo import FakePendo

    try:
        pendo = FakePendo(
            host=args.host,
            port=args.pendo_port,
            api_key=args.api_key,
            integration_key=args.integration_key,
            track_secret=args.track_secret,
            max_age_days=args.max_age_days or None,
            **options,
        )
        pendo.start()
    except ValueError as exc:  # e.g. more worker processes than a fake takes
        raise UsageError(f"segpendo {command}: {exc}") from None
    except OSError as exc:
        raise UsageError(
            f"segpendo {command}: cannot listen on {args.host}:{args.pendo_port}: {exc.strerror or exc} "
            "(is another fake or Pendo stand-in running there? choose another --pendo-port, or 0 for any free port)"
        ) from None
    return pendo


def _clock(value: str | None, command: str) -> Any:
    """``--now``: None (the wall clock), ``wall``, or an ISO-8601 time the fake's clock stands at."""
    if value is None or value.strip().lower() == "wall":
        return None
    from .events import timestamp_ms
    from .fakes.pendo import FixedClock

    ms = timestamp_ms(value.strip())
    if ms is None:
        raise UsageError(
            f"segpendo {command}: --now takes wall or an ISO-8601 time, e.g. 2026-01-20T00:00:00Z (got {value!r})"
        )
    return FixedClock(ms)


def _fault_rules(args: argparse.Namespace, command: str, *, default: bool = True) -> Any:
    """The bad days from ``--faults``, ``--fault`` (added to them) and ``--no-faults``: True, False or rules."""
    from .conformance import parse_faults, valid_fault_rules

    chosen: Any = default
    off = getattr(args, "no_faults", False)
    if off and (args.faults or args.fault):
        raise UsageError(f"segpendo {command}: give --no-faults, or --faults/--fault, not both")
    if off:
        return False
    try:
        if args.faults:
            chosen = parse_faults(args.faults)
        if args.fault:
            rules = []
            for text in args.fault:
                try:
                    rules.append(json.loads(text))
                except ValueError as exc:
                    raise ValueError(f"--fault {text!r} is not JSON: {exc}") from None
            chosen = (list(chosen) if isinstance(chosen, list) else []) + valid_fault_rules(rules)
    except ValueError as exc:
        raise UsageError(f"segpendo {command}: {exc}") from None
    if command == "serve" and chosen is True:
        from .conformance import default_faults

        return default_faults(defaults.SEED)
    return [] if chosen is False and command == "serve" else chosen


def _fake_scale(args: argparse.Namespace, events: int | None = None) -> dict[str, Any]:
    """The fake Pendo server's processes and memory from ``--workers``, ``--memory-records`` and ``--spill-dir``;
    without ``--workers``, a check of ``defaults.SCALED_EVENTS`` events or more gets one process per core."""
    from .scale.runner import default_workers

    workers = args.workers
    if workers is None:
        workers = default_workers() if events is not None and events >= defaults.SCALED_EVENTS else 1
    options: dict[str, Any] = {"workers": workers, "spill_dir": args.spill_dir}
    if args.memory_records is not None:
        options["memory_records"] = args.memory_records
    return options


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the fakes until SIGINT or SIGTERM; print one JSON line with their URLs once they listen."""
    import signal
    import threading

    from .fakes.segment import FakeSegment

    segment = FakeSegment(
        host=args.host,
        port=args.segment_port,
        write_key=args.write_key,
        journal_limit=args.journal_limit,
        log_requests=args.log_requests,
    )
    rules = _fault_rules(args, "serve", default=False)
    pendo = _start_fake_pendo(
        args,
        "serve",
        max_body=args.max_body,
        journal_limit=args.journal_limit,
        log_requests=args.log_requests,
        faults=rules,
        clock=_clock(args.now, "serve"),
        **_fake_scale(args),
    )
    try:
        segment.start()
    except OSError as exc:
        pendo.stop()
        raise UsageError(
            f"segpendo serve: cannot listen on {args.host}:{args.segment_port}: {exc.strerror or exc} (choose another "
            "--segment-port, or 0 for any free port)"
        ) from None
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        print(json.dumps({"pendo": pendo.url, "segment": segment.url}), flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        pendo.stop()
        segment.stop()
    return EXIT_OK


# -- send -------------------------------------------------------------------------------------------------


def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"takes NAME: VALUE (got {text!r})")
    return name.strip(), value.strip()


def _delivery(args: argparse.Namespace, data: object = None) -> dict[str, Any]:
    """The keywords of :func:`~pytest_segpendo.delivery.deliver` from the delivery options."""
    return {
        "secret": args.secret,
        "write_key": args.write_key,
        "api_key": args.api_key,
        "batch_size": args.batch_size,
        "method": args.method,
        "headers": dict(args.header),
        "data": data,
        "concurrency": args.concurrency,
        "timeout": args.timeout,
        "max_attempts": args.max_attempts,
    }


def cmd_send(args: argparse.Namespace) -> int:
    from .delivery import DeliveryError, deliver

    _required(args, "send", ("sut", "--sut"))
    data = _read_json_file(args.data, "data mapping", "send") if args.data else None
    batch_mode()
    source = _source(args.events, "send")
    events = list(_counted(_read(source, "send"), args, None, "reading events"))
    from .conformance import RemoteError, RemotePendo, follow_clock
    from .delivery import Observers, TrafficClock
    from .progress import DeliveryProgress

    sending = _delivery(args, data)
    progress = DeliveryProgress(len(events), enabled=_show_progress(args))
    clock = TrafficClock(events) if args.pendo else None
    observers = [o for o in (clock, progress if progress.active else None) if o is not None]
    if observers:
        sending["observer"] = Observers(*observers)
    try:
        remote = RemotePendo(args.pendo) if args.pendo else None
        with follow_clock(remote, clock):
            report = deliver(events, args.sut, args.via, **sending)
    except DeliveryError as exc:
        raise UsageError(f"segpendo send: {exc}") from None
    except RemoteError as exc:
        raise UsageError(f"segpendo send: --pendo: {exc}") from None
    except Exception as exc:  # e.g. an invalid --data mapping
        messages = getattr(exc, "messages", None)
        raise UsageError(f"segpendo send: {messages[0] if messages else exc}") from None
    finally:
        progress.close()
    for line in _bad_lines(source, "send"):
        print(line)
    print(report.format())
    if args.report:
        document = report.as_json()
        document["bad_lines"] = source.bad_lines_json()
        try:
            with open(args.report, "w", encoding="utf-8") as out:
                json.dump(document, out, indent=2)
        except OSError as exc:
            raise UsageError(f"segpendo send: cannot write {args.report}: {exc.strerror}") from None
    return EXIT_OK if report.ok else EXIT_PROBLEMS


# -- diff and check ---------------------------------------------------------------------------------------


def _records(source: EventSource, command: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    """The records of a file, folder or stdin, in memory; lines that are not records are counted in ``source``."""
    name = source_name(str(source.paths))
    return list(_counted(_read(source, command, "record"), args, None, f"reading {name}", "record"))


def _diff_options(args: argparse.Namespace, command: str, hints: object | None) -> object:
    from .verify import DiffOptions

    over = {
        "view": args.view,
        "timestamp_tolerance_ms": args.timestamp_tolerance,
        "ignore_paths": tuple(args.ignore) or None,
        "agent_fields": tuple(args.agent_field) or None,
        "limit": args.limit,
    }
    if args.ignore_timestamps:
        over["ignore_paths"] = (*(over["ignore_paths"] or ()), "track.timestamp")
    try:
        if hints is not None:
            return DiffOptions.from_hints(hints, **over)
        return DiffOptions(**{k: v for k, v in over.items() if v is not None})
    except ValueError as exc:
        raise UsageError(f"segpendo {command}: {exc}") from None


def _write_report(path: str | None, document: dict[str, Any], command: str) -> None:
    if not path:
        return
    try:
        with open(path, "w", encoding="utf-8") as out:
            json.dump(document, out, indent=2, ensure_ascii=False)
            out.write("\n")
    except OSError as exc:
        raise UsageError(f"segpendo {command}: cannot write {path}: {exc.strerror}") from None


def cmd_diff(args: argparse.Namespace) -> int:
    """Two records files compared: in memory, or in shards for large ones (the same report). Lines that are not
    records are skipped and reported on both paths (a root cause and a note); the exit code is then 2."""
    from .jsonl import bulk
    from .profiles import PROFILES
    from .verify import diff

    if args.expected == "-" and args.observed == "-":
        raise UsageError("segpendo diff: only one of EXPECTED and OBSERVED can be - (stdin)")
    hints = None
    if args.profile:
        if args.profile not in PROFILES:
            raise UsageError(f"segpendo diff: unknown profile {args.profile!r} (choose from {', '.join(PROFILES)})")
        hints = PROFILES[args.profile].hints
    options = _diff_options(args, "diff", hints)
    sides = [_source(args.expected, "diff"), _source(args.observed, "diff")]
    batch_mode()
    expected: list[dict[str, Any]] | None = None
    observed: list[dict[str, Any]] | None = None
    if _use_shards(args, args.expected, args.observed):
        from .scale import diff_files

        bars = _stage_bars(args)
        try:
            report = diff_files(sides[0], sides[1], options, profile=args.profile, **_scale_options(args, bars))  # type: ignore[arg-type]
        finally:
            if bars is not None:
                bars.close()
    else:
        with bulk():
            expected = _records(sides[0], "diff", args)
            observed = _records(sides[1], "diff", args)
            report = diff(expected, observed, options, profile=args.profile)  # type: ignore[arg-type]
        for given, side in zip((args.expected, args.observed), sides):
            if side.bad:  # worded as the sharded path words them
                from types import SimpleNamespace

                from .scale.pipeline import _report_bad

                _report_bad(report, SimpleNamespace(bad=side.bad, name=given))  # type: ignore[arg-type]
    print(report.format())
    _write_report(args.report, report.as_json(), "diff")
    if args.html:
        from .html import run_document

        doc = run_document(report, expected=expected, received=observed)
        _write_html(
            args.html, doc, "diff", title=f"segpendo diff {source_name(args.expected)} {source_name(args.observed)}"
        )
    unread = [cause for cause in report.causes if cause.what == "unreadable lines"]
    if unread:
        count = sum(cause.count for cause in unread)
        print(
            f"segpendo diff: {count:,} line(s) that are not records skipped, not compared (first: "
            f"{unread[0].example}); the report covers the rest",
            file=sys.stderr,
        )
        return EXIT_USAGE
    return EXIT_OK if report.conforms else EXIT_PROBLEMS


def _write_html(path: str, runs: Any, command: str, title: str | None = None) -> None:
    from .html import write_html

    try:
        write_html(path, runs, title=title)
    except OSError as exc:
        raise UsageError(f"segpendo {command}: cannot write {path}: {exc.strerror or exc}") from None


def _keys_from_env(args: argparse.Namespace) -> None:
    """A key left out on the command line is read from its environment variable (``defaults.KEY_ENV``)."""
    for name, variable in ENV_KEYS.items():
        if hasattr(args, name) and getattr(args, name) is None and os.environ.get(variable, "").strip():
            setattr(args, name, os.environ[variable])


def _quote(value: str) -> str:
    import shlex

    return shlex.quote(value)


def _check_reproduce(args: argparse.Namespace, source: str, where: str, faults: Any) -> str:
    """The command that reruns this check: the system, the traffic, the profile and view, the bad days, and every
    key as its environment variable (never printed)."""
    parts = ["segpendo check --sut", _quote(args.sut), "--via", args.via, "--profile", args.profile]
    if args.view:
        parts += ["--view", args.view]
    if args.mapping:
        parts += ["--mapping", _quote(args.mapping)]
    parts += [f"--setting {_quote(pair)}" for pair in args.setting]
    parts += [where, source]
    if faults is False:
        parts.append("--no-faults")
    elif faults is not True:
        parts.append("--faults " + _quote(json.dumps(faults, separators=(",", ":"))))
    for name in ("batch_size", "concurrency"):
        value = getattr(args, name)
        if value is not None and not (name == "concurrency" and value == defaults.CONCURRENCY):
            parts.append(f"--{name.replace('_', '-')} {value}")
    if args.via == "webhook-actions" and args.method != defaults.METHOD:
        parts.append(f"--method {args.method}")
    if args.data:
        parts.append(f"--data {_quote(args.data)}")
    for name in ("secret", "api_key", "integration_key", "track_secret", "write_key"):
        if getattr(args, name):
            parts.append(f'--{name.replace("_", "-")} "${ENV_KEYS[name]}"')
    return " ".join(parts)


def cmd_check(args: argparse.Namespace) -> int:
    from .conformance import RemoteError, RemotePendo
    from .fakes.pendo import FakePendo
    from .profiles import PROFILES, ProfileError, UserMapping
    from .traffic import iter_events

    _required(args, "check", ("sut", "--sut"))
    if args.profile not in PROFILES:
        raise UsageError(f"segpendo check: unknown profile {args.profile!r} (choose from {', '.join(PROFILES)})")
    generated = args.seed is not None or args.count is not None or args.scenario or args.mix or args.start
    if args.events and generated:
        raise UsageError(
            "segpendo check: give --events FILE, or --seed/--count/--scenario/--mix/--start to generate traffic, not "
            "both"
        )
    mix, locale = _traffic(args, "check")
    faults = _fault_rules(args, "check")
    try:
        mapping = UserMapping.load(args.mapping) if args.mapping else None
    except ProfileError as exc:
        raise UsageError(f"segpendo check: {exc}") from None
    options = _diff_options(args, "check", PROFILES[args.profile].hints)
    data = _read_json_file(args.data, "data mapping", "check") if args.data else None
    seed = defaults.SEED if args.seed is None else args.seed
    count = defaults.COUNT if args.count is None else args.count
    scenario = args.scenario or defaults.SCENARIO
    read: EventSource | None = None
    if args.pendo and args.memory_records is not None:
        raise UsageError(
            "segpendo check: --memory-records is for the fake Pendo server check starts (--pendo-port): give it to "
            "segpendo serve"
        )
    if args.slice is not None and args.slices is not None:
        raise UsageError(
            "segpendo check: give --slice I/N (one slice of the users) or --slices N (all of them), not both"
        )
    if args.events:
        read = _source(args.events, "check")
        source = f"--events {_quote(args.events)}"
    else:
        try:
            start = parse_start(args.start)
        except ValueError as exc:
            raise UsageError(f"segpendo check: {exc}") from None
        kind = f"--mix {args.mix}" if mix else f"--scenario {scenario}"
        source = f"--seed {seed} --count {count} {kind}" + (f" --locale {locale}" if locale != defaults.LOCALE else "")
        if args.start:
            source += f" --start {_quote(args.start)}"
    parts = _slices(args)

    def events_of(part: tuple[int, int] | None, first: bool) -> list[dict[str, Any]]:
        """The events of one slice of the users (all of them for None), read or generated afresh: only one slice
        is ever held in memory. Bad lines are counted in ``read`` on the first reading only."""
        if args.events:
            batch_mode()
            reading = read if first and read is not None else _source(args.events, "check")
            items: Iterable[dict[str, Any]] = _counted(_read(reading, "check"), args, None, "reading events")
        else:
            items = iter_events(count, seed, scenario, mix=mix, locale=locale, start=start)
        if part is None:
            return list(items)
        from .scale.partition import in_slice

        return [event for event in items if in_slice(event, *part)]

    pendo: FakePendo | RemotePendo | None = None
    where = f"--pendo {args.pendo}" if args.pendo else f"--pendo-port {args.pendo_port}"
    if args.pendo:
        try:
            pendo = RemotePendo(args.pendo)
            pendo.reset(keep_faults=True)  # this check's traffic only; serve's fault rules stay
        except RemoteError as exc:
            raise UsageError(f"segpendo check: {exc}") from None
    documents: list[dict[str, Any]] = []
    docs: list[Any] = []
    verdicts: list[bool] = []
    try:
        for n, part in enumerate(parts):
            events = events_of(part, n == 0)
            if pendo is None:  # started once the first slice is read: its size sizes the fake
                pendo = _start_fake_pendo(args, "check", **_fake_scale(args, len(events) * len(parts)))
            elif n:
                pendo.reset(keep_faults=True)  # each slice is checked on its own, as on a machine of its own
            if len(parts) > 1 or args.slice is not None:
                assert part is not None
                print(f"== users slice {part[0]} of {part[1]} (--slice {part[0]}/{part[1]}): {len(events):,} events")
            slice_flag = f" --slice {part[0]}/{part[1]}" if part is not None else ""
            reproduce = _check_reproduce(args, source + slice_flag, where, faults)
            document, doc, conforms = _check_part(
                args, events, pendo, options, mapping, faults, data, seed, reproduce, read if n == 0 else None
            )
            documents.append(document)
            verdicts.append(conforms)
            if doc is not None:
                docs.append(doc)
    finally:
        if isinstance(pendo, FakePendo):
            pendo.stop()
    if len(documents) == 1:
        final = documents[0]
    else:
        from .scale import merge_reports

        final = merge_reports(documents)
        final["bad_lines"] = documents[0].get("bad_lines", [])
        final["delivery"] = [d.get("delivery") for d in documents]
        from .verify.report import FAILING

        differ = [f"{part[0]}/{part[1]}" for part, ok in zip(parts, verdicts) if part is not None and not ok]
        print()
        if differ:
            counts = ", ".join(f"{v:,} {k}" for k, v in final["summary"].items() if v and k in FAILING)
            which = ", ".join(differ)
            print(f"segpendo check: {len(differ)} of {len(parts)} slices of the users differ ({which}): {counts}")
        else:
            print(f"segpendo check: conforms in all {len(parts)} slices of the users")
    _write_report(args.report, final, "check")
    if docs:
        _write_html(args.html, docs if len(docs) > 1 else docs[0], "check")
    return EXIT_OK if all(verdicts) else EXIT_PROBLEMS


def _slices(args: argparse.Namespace) -> list[tuple[int, int] | None]:
    """The slices of the users a check replays one after another: ``--slice I/N`` (one), ``--slices N``, or, for
    ``--events`` over ``defaults.REPLAY_SLICE_BYTES`` once read, as many as keep each under it; else all at once."""
    if args.slice is not None:
        return [args.slice]
    count = args.slices
    if count is None and args.events:
        size = _input_size([args.events])
        if size is not None and size > defaults.REPLAY_SLICE_BYTES:
            count = -(-size // defaults.REPLAY_SLICE_BYTES)
            print(
                f"segpendo check: {size / 2**20:,.0f} MiB of events: replayed in {count} slices of the users, one "
                f"after another, each in memory on its own (--slices N to choose)"
            )
    if count is None or count <= 1:
        return [None]
    return [(i, count) for i in range(count)]


def _check_part(
    args: argparse.Namespace,
    events: list[dict[str, Any]],
    pendo: Any,
    options: Any,
    mapping: Any,
    faults: Any,
    data: Any,
    seed: int,
    reproduce: str,
    read: EventSource | None,
) -> tuple[dict[str, Any], Any, bool]:
    """One check of ``events`` (all the traffic, or one slice of its users), printed; returns its JSON report,
    its HTML run document (with ``--html``) and whether it conforms."""
    from .conformance import RemoteError, run_check
    from .delivery import DeliveryError
    from .fakes.pendo import FakePendo
    from .html import TimelineRecorder
    from .progress import DeliveryProgress

    delivery = _delivery(args, data)
    recorder = TimelineRecorder(events) if args.html else None
    if recorder is not None:
        delivery["observer"] = recorder
    progress = DeliveryProgress(len(events), enabled=_show_progress(args))
    doc = None
    try:
        result = run_check(
            events,
            args.sut,
            pendo=pendo,
            via=args.via,
            profile=args.profile,
            settings=_settings(args.setting, "check"),
            mapping=mapping,
            options=options,
            delivery_options=delivery,
            quiet=defaults.QUIET if args.quiet is None else args.quiet,
            settle_timeout=args.settle,
            seed=None if args.events else seed,
            reproduce=reproduce,
            faults=faults,
            progress=progress if progress.active else None,
            sharded={"above": args.sharded_above, "workers": args.workers, "spill_dir": args.spill_dir},
        )
        if args.html:
            from types import SimpleNamespace

            from .html import run_document

            seen = result.observed.records if result.observed is not None else []
            fake = (  # a fake in another process: what it answered, for the timeline's fault marks
                pendo
                if isinstance(pendo, FakePendo)
                else SimpleNamespace(injected=result.report.injected, records=lambda **_: seen)
            )
            marks = recorder.marks if recorder is not None else []
            doc = run_document(result, pendo=fake, events=events, marks=marks, title=f"segpendo check --sut {args.sut}")
    except (DeliveryError, RemoteError) as exc:
        raise UsageError(f"segpendo check: {exc}") from None
    finally:
        progress.close()
    sent = result.delivery
    if sent is not None and sent.events and sent.acknowledged == 0 and all(f.status is None for f in sent.failures):
        reason = sent.failures[0].reason if sent.failures else "no answer"
        raise UsageError(
            f"segpendo check: cannot reach the system under test at {args.sut}: {reason} (is it running and listening "
            "there?)"
        )
    if read is not None:
        for line in _bad_lines(read, "check"):
            print(line)
    if result.stopped:
        print(f"segpendo: stopped early: {result.stopped}")
    if sent is not None:
        print(sent.summary())
    print(result.report.format())
    document = result.report.as_json()
    document["delivery"] = sent.as_json() if sent is not None else None
    document["stopped"] = result.stopped
    document["bad_lines"] = read.bad_lines_json() if read is not None else []
    return document, doc, result.report.conforms


# -- demo -------------------------------------------------------------------------------------------------


def _demo_document(
    docs: list[Any], result: Any, fake: Any, events: list[Any], recorder: Any, title: str, html: str | None
) -> None:
    """With ``--html``: the run document of one demo pass (``fake``: what the fake Pendo server injected and got)."""
    if not html:
        return
    from .html import run_document

    marks = recorder.marks if recorder is not None else []
    docs.append(run_document(result, pendo=fake, events=events, marks=marks, title=f"segpendo demo: {title}"))


def cmd_demo(args: argparse.Namespace) -> int:
    """The whole loop, twice: generated traffic -> the bundled reference relay -> the fake Pendo server ->
    diff with profile track-api+metadata; then the same against a broken relay. Exit 0 when the correct relay
    conforms and the broken one is caught. Both run on the check's bad days (seeded Pendo faults, Segment
    re-deliveries) unless ``--no-faults``."""
    from types import SimpleNamespace

    from .conformance import run_check
    from .fakes.pendo import FakePendo
    from .html import TimelineRecorder
    from .progress import DeliveryProgress
    from .relay import BROKEN, BUGS, Relay
    from .traffic import generate

    bugs = tuple(args.bug) or BROKEN
    for bug in bugs:
        if bug not in BUGS:
            raise UsageError(f"segpendo demo: unknown bug {bug!r} (choose from {', '.join(BUGS)})")
    try:
        start = parse_start(args.start)
    except ValueError as exc:
        raise UsageError(f"segpendo demo: {exc}") from None
    mix = ",".join(f"{k}={v}" for k, v in defaults.DEMO_MIX.items())
    events = generate(args.count, args.seed, mix=defaults.DEMO_MIX, start=start)
    track_secret, integration_key = "demo-track-secret", "demo-integration-key"
    secret = "demo-webhook-secret"
    faults = not args.no_faults
    print(f"segpendo demo: {len(events):,} Segment events (seed {args.seed}, mix {mix}), profile {defaults.PROFILE}")
    print(
        "system under test: the bundled reference relay (signed Segment webhooks in; Pendo Track Events and Metadata "
        "APIs out)" + ("" if faults else "; no bad days (--no-faults)")
    )
    outcomes = []
    docs: list[Any] = []
    again = f" --start {_quote(args.start)}" if args.start else ""
    again += "" if faults else " --no-faults"
    scaled = len(events) >= defaults.SCALED_EVENTS
    for title, relay_bugs in (("the correct relay", ()), (f"a broken relay (bugs: {', '.join(bugs)})", bugs)):
        print()
        print(f"== {title}")
        recorder = TimelineRecorder(events) if args.html else None
        progress = DeliveryProgress(len(events), enabled=_show_progress(args))
        concurrency = defaults.DEMO_SCALED_CONCURRENCY if scaled else defaults.DEMO_CONCURRENCY
        options: dict[str, Any] = {"secret": secret, "concurrency": concurrency}
        if recorder is not None:
            options["observer"] = recorder
        check: dict[str, Any] = {
            "overrides": {"limit": args.limit},
            "quiet": defaults.DEMO_QUIET,
            "seed": args.seed,
            "reproduce": f"segpendo demo --seed {args.seed} --count {args.count}{again}"
            + "".join(f" --bug {b}" for b in relay_bugs),
            "faults": faults,
            "progress": progress if progress.active else None,
        }
        try:
            if scaled:  # the relay in its own process, the fake in one per core: every core works
                from .scale import run_scaled_check

                result = run_scaled_check(
                    events,
                    track_secret=track_secret,
                    integration_key=integration_key,
                    secret=secret,
                    bugs=relay_bugs,
                    delivery_options=options,
                    check_options={**check, "sharded": {}},
                )
                seen = result.observed.records if result.observed is not None else []
                fake = SimpleNamespace(injected=result.report.injected, records=lambda seen=seen, **_: seen)
                _demo_document(docs, result, fake, events, recorder, title, args.html)
            else:
                with (
                    FakePendo(track_secret=track_secret, integration_key=integration_key) as pendo,
                    Relay(
                        pendo.url,
                        track_secret=track_secret,
                        integration_key=integration_key,
                        secret=secret,
                        bugs=relay_bugs,
                    ) as relay,
                ):
                    result = run_check(
                        events,
                        relay.url,
                        pendo=pendo,
                        via=defaults.VIA,
                        profile=defaults.PROFILE,
                        delivery_options=options,
                        **check,
                    )
                    relay.raise_errors()
                    pendo.raise_errors()
                    _demo_document(docs, result, pendo, events, recorder, title, args.html)
        finally:
            progress.close()
        assert result.delivery is not None
        if result.stopped:
            print(f"segpendo: stopped early: {result.stopped}")
        print(result.delivery.summary())
        print(result.report.format())
        outcomes.append(result.report)
    if args.html:
        _write_html(args.html, docs, "demo", title=f"segpendo demo: {len(events):,} events, seed {args.seed}")
    good, bad = outcomes
    print()
    if good.conforms and not bad.conforms:
        differing = sum(bad.summary[k] for k in ("missing", "unexpected", "changed", "duplicated", "rejected"))
        print(f"verdict: the correct relay conforms; the broken one is caught ({differing:,} records differ).")
        print(
            "next: docs/pytest.md shows the same check as a pytest test (the segpendo fixture); segpendo check runs "
            "it against your own system."
        )
        return EXIT_OK
    print(
        "verdict: unexpected: "
        + ("the correct relay does not conform" if not good.conforms else "the broken relay was not caught")
    )
    return EXIT_PROBLEMS


# -- parser -----------------------------------------------------------------------------------------------
#
# Every option is defined once, in FLAGS (its spelling, type and help; its default from defaults.py); a command
# takes the options it needs from there, with the groups below. The pytest plugin's options are these same
# options with the ``segpendo-`` prefix (docs/cli.md lists the pairs).


class _DeprecatedAlias(argparse.Action):
    """An old spelling of an option: works for one release, and says so on stderr."""

    def __init__(self, option_strings: Sequence[str], dest: str, new: str = "", **kwargs: Any):
        self.new = new
        super().__init__(option_strings, dest, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        print(
            f"{parser.prog}: {option_string} is deprecated and will be removed in the next release: use {self.new}",
            file=sys.stderr,
        )
        setattr(namespace, self.dest, self.const if self.nargs == 0 else values)


def _via_choices() -> tuple[str, ...]:
    return ("webhook", "webhook-actions", "tracking-api", "segmentio")


def _flags() -> dict[str, tuple[tuple[str, ...], dict[str, Any]]]:
    """name -> (spellings, argparse keywords); ``help`` without the default, which :func:`_add` appends."""
    from .profiles import PROFILES
    from .verify import VIEWS

    return {
        # traffic
        "seed": (("--seed",), {"type": _integer, "metavar": "S", "help": "seed of generated traffic"}),
        "count": (("--count",), {"type": _non_negative, "metavar": "N", "help": "events to generate"}),
        "scenario": (("--scenario",), {"choices": tuple(SCENARIOS), "help": "kind of traffic"}),
        "mix": (
            ("--mix",),
            {"metavar": "NAME=W,...", "help": "weighted mix of scenarios instead of one, e.g. saas=3,mobile=1,edge=1"},
        ),
        "locale": (("--locale",), {"metavar": "L", "help": "Faker locale of generated names and places"}),
        "start": (
            ("--start",),
            {"metavar": "ISO|now", "help": "time of the first session: ISO-8601 or 'now'"},
        ),
        # the reference mapping
        "profile": (("--profile",), {"metavar": "PROFILE", "help": f"reference profile: {', '.join(PROFILES)}"}),
        "mapping": (
            ("--mapping",),
            {"metavar": "FILE", "help": "your mapping file: the actions' subscriptions and field mappings (JSON)"},
        ),
        "setting": (
            ("--setting",),
            {"action": "append", "default": [], "metavar": "KEY=VALUE", "help": "a destination setting (repeatable)"},
        ),
        # the comparison
        "view": (
            ("--view",),
            {"choices": VIEWS, "help": "merged records (state) or every write (stream)"},
        ),
        "timestamp_tolerance": (
            ("--timestamp-tolerance",),
            {"type": _non_negative, "metavar": "MS", "help": "track timestamps this many ms apart count as equal"},
        ),
        "ignore_timestamps": (
            ("--ignore-timestamps",),
            {"action": "store_true", "help": "do not compare track timestamps"},
        ),
        "ignore": (
            ("--ignore",),
            {
                "action": "append",
                "default": [],
                "metavar": "PATH",
                "help": "a field not to compare, e.g. track.context or '*.metadata.updatedAt' (repeatable)",
            },
        ),
        "agent_field": (
            ("--agent-field",),
            {
                "action": "append",
                "default": [],
                "metavar": "PATH",
                "help": "a field the client adds itself, compared only when expected (repeatable)",
            },
        ),
        "limit": (("--limit",), {"type": _non_negative, "metavar": "K", "help": "differences detailed in the text"}),
        "report": (("--report",), {"metavar": "FILE.json", "help": "also write the report as JSON"}),
        # keys
        "api_key": (
            ("--api-key",),
            {
                "metavar": "K",
                "help": "the Pendo app's API key: the fake Pendo server requires it (beacon paths, "
                "/data/segmentio/<key>), segmentio delivery sends it",
            },
        ),
        "integration_key": (
            ("--integration-key",),
            {"metavar": "K", "help": "the Metadata API integration key the fake Pendo server requires"},
        ),
        "track_secret": (
            ("--track-secret",),
            {"metavar": "K", "help": "the Track Event shared secret the fake Pendo server requires"},
        ),
        "write_key": (
            ("--write-key",),
            {
                "metavar": "K",
                "help": "the Segment write key: the fake Segment API requires it, tracking-api delivery sends it",
            },
        ),
        # delivery to the system under test
        "sut": (("--sut",), {"metavar": "URL", "help": "where the system under test receives Segment data"}),
        "via": (("--via",), {"choices": _via_choices(), "help": "Segment's wire format"}),
        "secret": (
            ("--secret",),
            {"metavar": "S", "help": "shared secret: sign with X-Signature (webhook, webhook-actions)"},
        ),
        "batch_size": (
            ("--batch-size",),
            {"type": _non_negative, "metavar": "N", "help": "events per request (webhook-actions, tracking-api)"},
        ),
        "method": (("--method",), {"choices": ("POST", "PUT", "PATCH"), "help": "HTTP method of webhook-actions"}),
        "header": (
            ("--header",),
            {
                "type": _header,
                "action": "append",
                "default": [],
                "metavar": "NAME: VALUE",
                "help": "extra header to the system under test (repeatable)",
            },
        ),
        "data": (
            ("--data",),
            {"metavar": "MAPPING.json", "help": "webhook-actions data mapping (default: the whole event)"},
        ),
        "concurrency": (
            ("--concurrency",),
            {"type": _non_negative, "metavar": "N", "help": "parallel connections; a user's events stay in order"},
        ),
        "timeout": (
            ("--timeout",),
            {"type": float, "metavar": "S", "help": "seconds per request (default: Segment's for the wire format)"},
        ),
        "max_attempts": (
            ("--max-attempts",),
            {"type": _non_negative, "metavar": "N", "help": "attempts per request before giving up"},
        ),
        # waiting for Pendo traffic
        "settle": (
            ("--settle",),
            {"type": float, "metavar": "S", "help": "seconds to wait at most for Pendo traffic to settle"},
        ),
        "quiet": (
            ("-q", "--quiet"),
            {"nargs": "?", "const": None, "type": float, "metavar": "S", "help": QUIET_HELP},
        ),
        "no_progress": (("-q", "--quiet"), {"action": "store_true", "help": QUIET_HELP}),
        # bad days
        "faults": (
            ("--faults",),
            {
                "metavar": "on|off|RULES",
                "help": "the bad days: on (a check's default: seeded Pendo faults and Segment re-deliveries), off, or "
                "fault rules instead, as a JSON list or a JSON file",
            },
        ),
        "fault": (
            ("--fault",),
            {
                "action": "append",
                "default": [],
                "metavar": "JSON",
                "help": "a fault rule of the fake Pendo server, e.g. "
                '\'{"route": "track", "status": 503, "probability": 0.05}\' (repeatable; docs/pendo.md)',
            },
        ),
        "no_faults": (
            ("--no-faults",),
            {"action": "store_true", "help": "no bad days: no Pendo faults, no Segment re-deliveries (--faults off)"},
        ),
        "now": (
            ("--now",),
            {
                "metavar": "ISO|wall",
                "help": "the fake Pendo server's clock: the wall clock, or fixed at an ISO-8601 time",
            },
        ),
        "pendo": (
            ("--pendo",),
            {
                "metavar": "URL",
                "help": "the fake Pendo server segpendo serve runs at URL: its clock follows the traffic's time while "
                "the events are sent (check also resets it first, and reads what it received)",
            },
        ),
        "html": (("--html",), {"metavar": "FILE", "help": "also write the report as one self-contained HTML file"}),
        # the fakes
        "host": (("--host",), {"help": "address the fakes listen on"}),
        "pendo_port": (
            ("--pendo-port",),
            {"type": _port, "metavar": "N", "help": "port of the fake Pendo server (0: any free port)"},
        ),
        "segment_port": (
            ("--segment-port",),
            {"type": _port, "metavar": "M", "help": "port of the fake Segment API (0: any free port)"},
        ),
        "max_age_days": (
            ("--max-age-days",),
            {
                "type": float,
                "metavar": "D",
                "help": "Track Events older than D days are dropped, as Pendo drops them; 0: no age rule",
            },
        ),
        "max_body": (
            ("--max-body",),
            {"type": _non_negative, "metavar": "BYTES", "help": "largest request body the fake Pendo server takes"},
        ),
        "journal_limit": (
            ("--journal-limit",),
            {"type": _non_negative, "metavar": "N", "help": "keep only the last N requests in the journal"},
        ),
        "log_requests": (("--log-requests",), {"action": "store_true", "help": "log every request on stderr"}),
        "output": (("-o", "--output"), {"metavar": "FILE", "help": "write here instead of stdout"}),
        # large runs
        "workers": (
            ("--workers",),
            {
                "type": _positive,
                "metavar": "N",
                "help": "processes on this machine: the sharded path's (expect, diff, check's diff) and the fake Pendo "
                "server's (serve, check)",
            },
        ),
        "memory_records": (
            ("--memory-records",),
            {
                "type": _non_negative,
                "metavar": "N",
                "help": "items of each list the fake Pendo server keeps in memory; older ones go to a SQLite file in "
                "--spill-dir",
            },
        ),
        "spill_dir": (
            ("--spill-dir",),
            {
                "metavar": "DIR",
                "help": "folder for a large run's temporary files (the sharded path's shards, what the fake Pendo "
                "server spills), removed at the end",
            },
        ),
        "shards": (
            ("--shards",),
            {
                "type": _positive,
                "metavar": "N",
                "help": "take the sharded path, in N shards, whatever the input's size",
            },
        ),
        "scheduler": (
            ("--scheduler",),
            {
                "metavar": "ADDRESS",
                "help": "take the sharded path on a Dask cluster: its scheduler (tcp://host:8786), or local "
                "(pip install 'pytest-segpendo[distributed]')",
            },
        ),
        "slice": (
            ("--slice",),
            {
                "type": _slice,
                "metavar": "I/N",
                "help": "replay only slice I (0 to N-1) of the users, split in N by userId, else anonymousId: one CI "
                "machine's share of a replay (merge the JSON reports with pytest_segpendo.scale.merge_reports)",
            },
        ),
        "slices": (
            ("--slices",),
            {
                "type": _positive,
                "metavar": "N",
                "help": "replay the users in N slices, one after another, each checked on its own: one slice of "
                "the events in memory at a time; one merged report",
            },
        ),
        "sharded_above": (
            ("--sharded-above",),
            {
                "type": _size,
                "metavar": "SIZE",
                "help": "take the sharded path (bounded memory, every core) for inputs larger than SIZE once read "
                "(bytes, or 500K, 64M, 1G); 0: always",
            },
        ),
    }


_FLAGS: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {}


def _add(parser: Any, name: str, *, default: Any = None, required: bool = False, default_text: str = "") -> None:
    """Add option ``name`` of :func:`_flags` to ``parser`` (or a group), with ``default`` shown in its help."""
    if not _FLAGS:
        _FLAGS.update(_flags())
    spellings, kwargs = _FLAGS[name]
    kwargs = dict(kwargs)
    shown = default_text or (f"{default:g}" if isinstance(default, float) else str(default))
    if required:
        kwargs["required"] = True
    elif default is not None:
        kwargs["default"] = default
        kwargs["help"] = f"{kwargs['help']} (default {shown})"
    elif default_text:
        sep = " " if default_text.replace(".", "").replace("_", "").isalnum() else ": "
        kwargs["help"] = f"{kwargs['help']} (default{sep}{default_text})"
    parser.add_argument(*spellings, **kwargs)


def _alias(parser: Any, old: str, new: str, dest: str, *, flag: bool = False) -> None:
    """``old``: a hidden, deprecated spelling of option ``new``."""
    extra: dict[str, Any] = {"nargs": 0, "const": True} if flag else {}
    parser.add_argument(old, dest=dest, new=new, action=_DeprecatedAlias, help=argparse.SUPPRESS, **extra)


def _required(args: argparse.Namespace, command: str, *pairs: tuple[str, str]) -> None:
    """Options required by a command that also have a deprecated spelling (argparse cannot require either)."""
    missing = [flag for dest, flag in pairs if getattr(args, dest, None) is None]
    if missing:
        raise UsageError(
            f"segpendo {command}: the following arguments are required: {', '.join(missing)} "
            f"(see 'segpendo {command} --help')"
        )


def _iso(ms: int) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _traffic_options(p: argparse.ArgumentParser, *, generated_defaults: bool) -> None:
    group = p.add_argument_group("generated traffic")
    if generated_defaults:
        _add(group, "seed", default_text=f"{defaults.SEED}")
        _add(group, "count", default_text=f"{defaults.COUNT}")
        _add(group, "scenario", default_text=defaults.SCENARIO)
    else:
        _add(group, "seed", required=True)
        _add(group, "count", required=True)
        _add(group, "scenario", default_text=defaults.SCENARIO)
    _add(group, "mix")
    _add(group, "locale", default=defaults.LOCALE)


def _profile_options(p: argparse.ArgumentParser) -> None:
    group = p.add_argument_group("the reference mapping")
    _add(group, "profile", default=defaults.PROFILE)
    _add(group, "mapping")
    _add(group, "setting")


def _diff_options_group(p: argparse.ArgumentParser, *, profile_known: bool) -> None:
    group = p.add_argument_group("comparing")
    _add(group, "view", default_text="the profile's" + ("" if profile_known else "; without --profile: state"))
    _add(group, "timestamp_tolerance", default_text="the profile's" if profile_known else "0")
    _add(group, "ignore_timestamps")
    _add(group, "ignore")
    _add(group, "agent_field")
    _add(group, "limit", default=defaults.LIMIT)
    _add(group, "report")


def _key_options(p: argparse.ArgumentParser, names: Sequence[str], where: str) -> None:
    group = p.add_argument_group("keys", f"{where} A key left out: any non-empty key is accepted.")
    for name in names:
        _add(group, name)


def _delivery_options(p: argparse.ArgumentParser, command: str) -> None:
    group = p.add_argument_group("delivery to the system under test")
    _add(group, "sut")
    _alias(group, "--to", "--sut", "sut")
    _add(group, "via", default=defaults.VIA)
    _add(group, "secret")
    _add(group, "batch_size")
    _add(group, "method", default=defaults.METHOD)
    _add(group, "header")
    _add(group, "data")
    _add(group, "concurrency", default=defaults.CONCURRENCY)
    _add(group, "timeout")
    _add(group, "max_attempts", default=defaults.MAX_ATTEMPTS)


def _settle_options(p: argparse.ArgumentParser) -> None:
    group = p.add_argument_group("waiting for Pendo traffic")
    _add(group, "settle", default=defaults.SETTLE)
    _add(group, "quiet", default=defaults.QUIET)


def _add_sharded_above(group: Any) -> None:
    _add(
        group,
        "sharded_above",
        default=defaults.SHARDED_ABOVE_BYTES,
        default_text=_size_text(defaults.SHARDED_ABOVE_BYTES),
    )


def _sharded_options(p: argparse.ArgumentParser) -> None:
    group = p.add_argument_group("large inputs: the sharded path (docs/scale.md)")
    _add_sharded_above(group)
    _add(group, "workers", default_text="every core")
    _add(group, "shards", default_text="from the input's size")
    _add(group, "scheduler", default_text="local processes")
    _add(group, "spill_dir", default_text="the system's temporary folder")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="segpendo", description="Check what your Segment -> Pendo integration sends.")
    parser.add_argument("--version", action="version", version=f"segpendo {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    gen = sub.add_parser(
        "generate",
        help="seeded Segment events as JSONL",
        description="Write seeded, reproducible Segment events as JSON lines: the same arguments give the same bytes.",
    )
    _traffic_options(gen, generated_defaults=False)
    _add(gen, "start", default_text=_iso(DEFAULT_START_MS))
    _add(gen, "output")
    _add(gen, "no_progress")
    gen.set_defaults(func=cmd_generate)

    val = sub.add_parser(
        "validate",
        help="validate JSONL events against the Segment Spec",
        description="Validate every line of a JSONL file against the Segment Spec.",
    )
    val.add_argument("events", metavar="EVENTS", help=EVENTS_HELP)
    val.add_argument(
        "--max-errors",
        type=_non_negative,
        default=defaults.MAX_ERRORS,
        metavar="N",
        help=f"show at most N bad lines (default {defaults.MAX_ERRORS})",
    )
    val.add_argument("--format", choices=("text", "json"), default="text", help="report format (default text)")
    val.set_defaults(func=cmd_validate)

    tr = sub.add_parser(
        "transform",
        help="apply a Segment field mapping (mapping-kit JSON) to events",
        description="Apply a field mapping (mapping-kit JSON, as in Segment's UI) to every event, as Segment's "
        "engine does; one JSON result per line.",
    )
    tr.add_argument(
        "--field-mapping", metavar="MAPPING.json", help="the field mapping, as configured in Segment (required)"
    )
    _alias(tr, "--mapping", "--field-mapping", "field_mapping")
    tr.add_argument("events", metavar="EVENTS", help=EVENTS_HELP)
    _add(tr, "output")
    tr.set_defaults(func=cmd_transform)

    ex = sub.add_parser(
        "expect",
        help="the Pendo records events should produce",
        description="Compute, from a reference profile (and your mapping file), the Pendo records the events should "
        "produce.",
    )
    _profile_options(ex)
    _add(ex, "view", default_text="the profile's")
    ex.add_argument(
        "--no-validate", action="store_true", help="skip validating the events against the Segment Spec first"
    )
    _alias(ex, "--no-check", "--no-validate", "no_validate", flag=True)
    ex.add_argument("events", metavar="EVENTS", help=EVENTS_HELP)
    _add(ex, "output")
    _add(ex, "no_progress")
    _sharded_options(ex)
    ex.set_defaults(func=cmd_expect)

    sv = sub.add_parser(
        "serve",
        help="run the fake Pendo server (and the fake Segment API) until stopped",
        description="Run the fakes for a system under test outside Python. Prints one JSON line with their URLs once "
        "they listen; stops on SIGINT or SIGTERM.",
    )
    fakes = sv.add_argument_group("the fakes")
    _add(fakes, "host", default=defaults.HOST)
    _add(fakes, "pendo_port", default=defaults.PORT)
    _add(fakes, "segment_port", default=defaults.PORT)
    _add(fakes, "max_body", default=defaults.MAX_BODY)
    _add(fakes, "journal_limit")
    _add(fakes, "max_age_days", default=defaults.AGE_LIMIT_DAYS)
    _add(fakes, "now", default_text="wall")
    _add(fakes, "log_requests")
    _add(fakes, "workers", default=1)
    _add(fakes, "memory_records", default=defaults.MEMORY_RECORDS)
    _add(fakes, "spill_dir", default_text="the system's temporary folder")
    bad = sv.add_argument_group("faults of the fake Pendo server (for every request it gets)")
    _add(bad, "faults", default_text="off")
    _add(bad, "fault")
    _key_options(sv, ("write_key", "api_key", "integration_key", "track_secret"), "The keys the fakes require.")
    sv.set_defaults(func=cmd_serve)

    sd = sub.add_parser(
        "send",
        help="deliver events to a system under test as Segment does",
        description="Deliver events to a URL in one of Segment's wire formats, retrying as Segment does; prints the "
        "delivery report.",
    )
    _delivery_options(sd, "send")
    _key_options(sd, ("write_key", "api_key"), "The keys delivery sends.")
    _add(sd, "pendo")
    _add(sd, "report")
    _add(sd, "no_progress")
    sd.add_argument("events", metavar="EVENTS", help=EVENTS_HELP)
    sd.set_defaults(func=cmd_send)

    df = sub.add_parser(
        "diff",
        help="compare expected and observed Pendo records",
        description="Compare two JSONL files of Pendo records (what segpendo expect writes, what a fake received) and "
        "report every difference.",
    )
    df.add_argument(
        "expected", metavar="EXPECTED.jsonl", help="expected records: a JSONL file (gzipped or not), a folder, or -"
    )
    df.add_argument(
        "observed", metavar="OBSERVED.jsonl", help="observed records: a JSONL file (gzipped or not), a folder, or -"
    )
    _add(df, "profile", default_text="none: exact values, state view")
    _diff_options_group(df, profile_known=False)
    _add(df, "html")
    _add(df, "no_progress")
    _sharded_options(df)
    df.set_defaults(func=cmd_diff)

    ck = sub.add_parser(
        "check",
        help="send traffic to a system under test and check what reaches Pendo",
        description=(
            "Start the fake Pendo server on --pendo-port, or use the one segpendo serve runs at --pendo (configure "
            "your system to send there), send the events to the system in a Segment wire format, wait until Pendo "
            "traffic settles, and compare with the profile."
        ),
    )
    _delivery_options(ck, "check")
    where = ck.add_argument_group("the fake Pendo server").add_mutually_exclusive_group(required=True)
    _add(where, "pendo_port")
    _add(where, "pendo")
    _add(ck, "host", default=defaults.HOST)
    _add(ck, "max_age_days", default=defaults.AGE_LIMIT_DAYS)
    _key_options(
        ck,
        ("api_key", "integration_key", "track_secret", "write_key"),
        "The keys the fake Pendo server requires (with --pendo-port), and those delivery sends.",
    )
    ck.add_argument("--events", metavar="EVENTS", help=f"events to send (default: generated): {EVENTS_HELP}")
    _traffic_options(ck, generated_defaults=True)
    _add(ck, "start", default_text=_iso(DEFAULT_START_MS))
    _profile_options(ck)
    _settle_options(ck)
    bad = ck.add_argument_group("bad days (docs/concepts.md)")
    _add(bad, "faults", default_text="on")
    _add(bad, "fault")
    _add(bad, "no_faults")
    _diff_options_group(ck, profile_known=True)
    _add(ck, "html")
    large = ck.add_argument_group("large runs (docs/scale.md)")
    _add(
        large,
        "workers",
        default_text=f"the fake: 1, or one per core from {defaults.SCALED_EVENTS:,} events; the diff: every core",
    )
    _add(large, "memory_records", default_text=str(defaults.MEMORY_RECORDS))
    _add(large, "spill_dir", default_text="the system's temporary folder")
    _add_sharded_above(large)
    _add(large, "slice", default_text="all the users")
    _add(
        large,
        "slices",
        default_text=f"1, or for --events over {_size_text(defaults.REPLAY_SLICE_BYTES)} once read as many as keep "
        "each slice under it",
    )
    ck.set_defaults(func=cmd_check)

    demo = sub.add_parser(
        "demo",
        help="the whole loop on a bundled relay, correct and broken",
        description="Send generated traffic through the bundled reference relay to the fake Pendo server and check "
        "it; then the same with a broken relay.",
    )
    _add(demo, "seed", default=defaults.DEMO_SEED)
    _add(demo, "count", default=defaults.DEMO_COUNT)
    demo.add_argument(
        "--bug",
        action="append",
        default=[],
        metavar="NAME",
        help="the broken relay's bug (repeatable; default: the demo's two, pytest_segpendo.relay.BROKEN)",
    )
    _add(demo, "limit", default=defaults.DEMO_LIMIT)
    _add(demo, "start", default_text=_iso(DEFAULT_START_MS))
    _add(demo, "no_faults")
    _add(demo, "html")
    _add(demo, "no_progress")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            raise UsageError("segpendo: a command is required (see 'segpendo --help')")
        func: Callable[[argparse.Namespace], int] = args.func
        _keys_from_env(args)
        return func(args)
    except UsageError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): not an error of ours. Keep Python from complaining at exit.
        try:
            sys.stdout = open("/dev/null", "w")  # noqa: SIM115
        except OSError:
            pass
        return EXIT_OK
    except KeyboardInterrupt:
        return 130


_CONSOLE = False  # True when running as the `segpendo` process (not called from Python)


def batch_mode() -> None:
    """For a command that loads many events and then ends: as its own process, switch off the cyclic GC.

    Parsed JSON holds no cycles; the collector would only rescan millions of objects (and a full pass after a
    10^5-event run costs a quarter of a second). Called in-process, nothing changes.
    """
    if _CONSOLE:
        gc.disable()


def run() -> NoReturn:
    """Console-script entry point.

    Exits without tearing down the interpreter's objects: after a run over 10^5 events, freeing them one by
    one would add a quarter of a second and change nothing.
    """
    global _CONSOLE
    _CONSOLE = True
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):
        pass
    os._exit(code)
