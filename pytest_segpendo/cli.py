"""``segpendo``: the toolkit's command line (see ``docs/cli.md``).

Exit codes everywhere: 0 success / conforms, 1 problems found in the input, 2 bad usage or unreadable input
(with a one-line reason on stderr).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import NoReturn

from . import __version__
from .events import validate_lines
from .jsonl import iter_jsonl, source_name
from .traffic import BUNDLED_LOCALES, SCENARIOS, generate_jsonl, iter_sessions, parse_mix, parse_start

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """Bad arguments or unreadable input: reported as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see '{self.prog} --help')")


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number (got {text!r})") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative (got {value})")
    return value


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number (got {text!r})") from None


def _check_locale(locale: str) -> str:
    if locale in BUNDLED_LOCALES:
        return locale
    from faker.config import AVAILABLE_LOCALES

    if locale not in AVAILABLE_LOCALES:
        raise UsageError(
            f"segpendo generate: unknown locale {locale!r}: use a Faker locale such as {', '.join(BUNDLED_LOCALES)}"
        )
    return locale


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


# -- generate ---------------------------------------------------------------------------------------------


def cmd_generate(args: argparse.Namespace) -> int:
    if args.mix and args.scenario:
        raise UsageError("segpendo generate: give --scenario or --mix, not both")
    try:
        mix = parse_mix(args.mix) if args.mix else None
        start = parse_start(args.start)
    except ValueError as exc:
        raise UsageError(f"segpendo generate: {exc}") from None
    locale = _check_locale(args.locale)
    lines = generate_jsonl(args.count, args.seed, args.scenario or "saas", mix=mix, locale=locale, start=start)
    write_text_output(args.output, lines, "generate")
    return EXIT_OK


# -- validate ---------------------------------------------------------------------------------------------


def cmd_validate(args: argparse.Namespace) -> int:
    name = source_name(args.events)
    try:
        report = validate_lines(iter_jsonl(args.events))
    except OSError as exc:
        raise UsageError(f"segpendo validate: cannot read {name}: {exc.strerror or exc}") from None
    if args.format == "json":
        body = {
            "valid": report.ok,
            "lines": report.lines,
            "events": report.valid,
            "byType": report.by_type,
            "invalid": [{"line": b.line, "errors": b.errors} for b in report.invalid[: args.max_errors]],
            "invalidLines": len(report.invalid),
        }
        print(json.dumps(body, ensure_ascii=False))
    else:
        print(report.format(name, limit=args.max_errors))
    if report.lines == 0:
        print(f"segpendo validate: {name} holds no events", file=sys.stderr)
        return EXIT_PROBLEMS
    return EXIT_OK if report.ok else EXIT_PROBLEMS


# -- demo -------------------------------------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> int:
    """Generate a sample of every scenario, validate it against the Segment Spec, print a table."""
    from .events import validate_event

    types = ("identify", "group", "track", "page", "screen", "alias")
    print(f"segpendo demo: {args.count} events per scenario, seed {args.seed}")
    header = f"{'scenario':<10} {'sessions':>8} " + " ".join(f"{t:>8}" for t in types) + f" {'invalid':>8}"
    print(header)
    print("-" * len(header))
    failed = 0
    for scenario in SCENARIOS:
        counts = dict.fromkeys(types, 0)
        sessions = invalid = left = 0
        left = args.count
        for session in iter_sessions(args.seed, scenario):
            sessions += 1
            for event in session.events[:left]:
                counts[event["type"]] += 1
                invalid += bool(validate_event(event))
            left -= min(left, len(session.events))
            if not left:
                break
        failed += invalid
        print(f"{scenario:<10} {sessions:>8} " + " ".join(f"{counts[t]:>8}" for t in types) + f" {invalid:>8}")
    print()
    if failed:
        print(f"{failed} generated events broke the Segment Spec")
        return EXIT_PROBLEMS
    print("every generated event follows the Segment Spec.")
    print(f"try: segpendo generate --seed {args.seed} --count 5 --scenario edge | segpendo validate -")
    return EXIT_OK


# -- parser -----------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="segpendo", description="Check what your Segment -> Pendo integration sends.")
    parser.add_argument("--version", action="version", version=f"segpendo {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    gen = sub.add_parser("generate", help="seeded Segment events as JSONL", description="Write seeded, reproducible Segment events as JSON lines.")
    gen.add_argument("--seed", type=_integer, required=True, help="PRNG seed: the same seed gives the same bytes")
    gen.add_argument("--count", type=_non_negative, required=True, help="number of events")
    gen.add_argument("--scenario", choices=tuple(SCENARIOS), help="kind of traffic (default: saas)")
    gen.add_argument("--mix", metavar="NAME=W,...", help="weighted mix of scenarios, e.g. saas=3,mobile=1,edge=1")
    gen.add_argument("--locale", default="en_US", help="Faker locale of names and places (default: en_US)")
    gen.add_argument("--start", help="time of the first session: ISO-8601 or 'now' (default: 2026-01-05T09:00:00Z)")
    gen.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    gen.set_defaults(func=cmd_generate)

    val = sub.add_parser("validate", help="check JSONL events against the Segment Spec", description="Check every line of a JSONL file against the Segment Spec.")
    val.add_argument("events", metavar="EVENTS.jsonl", help="file of events, or - for stdin")
    val.add_argument("--max-errors", type=_non_negative, default=50, metavar="N", help="show at most N bad lines (default 50)")
    val.add_argument("--format", choices=("text", "json"), default="text", help="report format (default text)")
    val.set_defaults(func=cmd_validate)

    demo = sub.add_parser("demo", help="run the toolkit on bundled defaults", description="Generate and validate a sample of every scenario.")
    demo.add_argument("--seed", type=_integer, default=2026, help="seed (default 2026)")
    demo.add_argument("--count", type=_non_negative, default=1000, help="events per scenario (default 1000)")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            raise UsageError("segpendo: a command is required (see 'segpendo --help')")
        func: Callable[[argparse.Namespace], int] = args.func
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


def run() -> NoReturn:
    """Console-script entry point."""
    sys.exit(main())
