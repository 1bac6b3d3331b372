"""``segpendo``: the toolkit's command line (see ``docs/cli.md``).

Exit codes everywhere: 0 success / conforms, 1 problems found in the input, 2 bad usage or unreadable input
(with a one-line reason on stderr).
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from . import __version__
from .events import validate_lines
from .jsonl import iter_jsonl, source_name
from .traffic import BUNDLED_LOCALES, SCENARIOS, generate_jsonl, parse_mix, parse_start

if TYPE_CHECKING:
    from .fakes.pendo import FakePendo

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


# -- transform --------------------------------------------------------------------------------------------


def _read_json_file(path: str, what: str, command: str) -> object:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as exc:
        raise UsageError(f"segpendo {command}: cannot read {what} {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise UsageError(f"segpendo {command}: {what} {path} is not JSON: {exc}") from None


def _events(path: str, command: str, check_spec: bool) -> Iterator[dict[str, Any]]:
    """The events of a JSONL file, parsed (and checked) as they are consumed; a bad line is a usage error
    (exit 2) naming the file and the line."""
    from .events import validate_event
    from .jsonl import JsonlError, iter_values

    name = source_name(path)
    try:
        for number, event, bound in iter_values(path):
            if check_spec:
                errors = validate_event(event, bound)
                if errors:
                    more = f" (and {len(errors) - 1} more; run segpendo validate {name})" if len(errors) > 1 else ""
                    raise UsageError(f"segpendo {command}: {name}:{number}: invalid event: {errors[0]}{more}")
            yield event
    except JsonlError as exc:
        raise UsageError(f"segpendo {command}: {exc}") from None


def cmd_transform(args: argparse.Namespace) -> int:
    from .mapping import UNDEFINED, CompiledMapping, MappingError, js_dumps

    mapping = _read_json_file(args.mapping, "mapping", "transform")
    try:
        compiled = CompiledMapping(mapping)
    except MappingError as exc:
        more = f" (and {len(exc.messages) - 1} more)" if len(exc.messages) > 1 else ""
        raise UsageError(f"segpendo transform: invalid mapping {args.mapping}: {exc.messages[0]}{more}") from None
    events = list(_events(args.events, "transform", check_spec=False))
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


def _settings(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"segpendo expect: --setting takes KEY=VALUE (got {pair!r})")
        out[key.strip()] = value.strip()
    return out


def cmd_expect(args: argparse.Namespace) -> int:
    from .jsonl import bulk
    from .profiles import ProfileError, UserMapping, get_profile

    try:
        mapping = UserMapping.load(args.mapping) if args.mapping else None
        profile = get_profile(args.profile, _settings(args.setting), mapping)
    except ProfileError as exc:
        raise UsageError(f"segpendo expect: {exc}") from None
    batch_mode()
    with bulk():
        result = profile.expect(_events(args.events, "expect", check_spec=not args.no_check))
        records = result.view(args.view)
        write_records(args.output, records, "expect")
    ignored = ", ".join(f"{k} {v}" for k, v in sorted(result.ignored_summary().items())) or "none"
    print(
        f"segpendo expect: {result.events} events -> {len(records)} records ({args.view} view, profile "
        f"{profile.name}); "
        f"ignored: {ignored}",
        file=sys.stderr,
    )
    return EXIT_OK


# -- serve ------------------------------------------------------------------------------------------------


def _port(text: str) -> int:
    value = _integer(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number 0-65535 (got {value})")
    return value


def _start_fake_pendo(args: argparse.Namespace, command: str, **options: Any) -> FakePendo:
    """The fake Pendo server of ``serve`` and ``check``, listening; a taken port is a usage error."""
    from .fakes.pendo import FakePendo

    pendo = FakePendo(
        host=args.host,
        port=args.pendo_port,
        api_key=args.api_key,
        integration_key=args.integration_key,
        track_secret=args.track_secret,
        max_age_days=args.max_age_days or None,
        **options,
    )
    try:
        pendo.start()
    except OSError as exc:
        raise UsageError(
            f"segpendo {command}: cannot listen on {args.host}:{args.pendo_port}: {exc.strerror or exc} "
            "(is another fake or Pendo stand-in running there? choose another --pendo-port, or 0 for any free port)"
        ) from None
    return pendo


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
    pendo = _start_fake_pendo(
        args, "serve", max_body=args.max_body, journal_limit=args.journal_limit, log_requests=args.log_requests
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


def cmd_send(args: argparse.Namespace) -> int:
    from .delivery import DeliveryError, deliver

    data = _read_json_file(args.data, "data mapping", "send") if args.data else None
    batch_mode()
    events = list(_events(args.events, "send", check_spec=False))
    try:
        report = deliver(
            events,
            args.to,
            args.via,
            secret=args.secret,
            write_key=args.write_key,
            api_key=args.api_key,
            batch_size=args.batch_size,
            method=args.method,
            headers=dict(args.header),
            data=data,
            concurrency=args.concurrency,
            timeout=args.timeout,
            max_attempts=args.max_attempts,
        )
    except DeliveryError as exc:
        raise UsageError(f"segpendo send: {exc}") from None
    except Exception as exc:  # e.g. an invalid --data mapping
        messages = getattr(exc, "messages", None)
        raise UsageError(f"segpendo send: {messages[0] if messages else exc}") from None
    print(report.format())
    if args.report:
        try:
            with open(args.report, "w", encoding="utf-8") as out:
                json.dump(report.as_json(), out, indent=2)
        except OSError as exc:
            raise UsageError(f"segpendo send: cannot write {args.report}: {exc.strerror}") from None
    return EXIT_OK if report.ok else EXIT_PROBLEMS


# -- diff and check ---------------------------------------------------------------------------------------


def _records(path: str, command: str) -> list[dict[str, Any]]:
    """The records of a JSONL file; a line that is not a record is a usage error naming the file and line."""
    from .jsonl import JsonlError, iter_values
    from .records import record_errors

    name = source_name(path)
    out = []
    try:
        for number, record, _bound in iter_values(path):
            errors = record_errors(record)
            if errors:
                raise UsageError(
                    f"segpendo {command}: {name}:{number}: not a Pendo record: {errors[0]} (records are what segpendo "
                    "expect writes)"
                )
            out.append(record)
    except JsonlError as exc:
        raise UsageError(f"segpendo {command}: {exc}") from None
    return out


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
    batch_mode()
    with bulk():
        expected = _records(args.expected, "diff")
        observed = _records(args.observed, "diff")
        report = diff(expected, observed, options, profile=args.profile)  # type: ignore[arg-type]
    print(report.format())
    _write_report(args.report, report.as_json(), "diff")
    return EXIT_OK if report.conforms else EXIT_PROBLEMS


def cmd_check(args: argparse.Namespace) -> int:
    from .conformance import RemoteError, RemotePendo, run_check
    from .delivery import DeliveryError
    from .fakes.pendo import FakePendo
    from .profiles import PROFILES, ProfileError, UserMapping
    from .traffic import generate

    if args.profile not in PROFILES:
        raise UsageError(f"segpendo check: unknown profile {args.profile!r} (choose from {', '.join(PROFILES)})")
    if args.events and (args.seed is not None or args.count is not None or args.scenario):
        raise UsageError(
            "segpendo check: give --events FILE, or --seed/--count/--scenario to generate traffic, not both"
        )
    try:
        mapping = UserMapping.load(args.mapping) if args.mapping else None
    except ProfileError as exc:
        raise UsageError(f"segpendo check: {exc}") from None
    options = _diff_options(args, "check", PROFILES[args.profile].hints)
    seed = 0 if args.seed is None else args.seed
    count = 1000 if args.count is None else args.count
    scenario = args.scenario or "saas"
    if args.events:
        events = list(_events(args.events, "check", check_spec=False))
        source = f"--events {args.events}"
    else:
        events = generate(count, seed, scenario)
        source = f"--seed {seed} --count {count} --scenario {scenario}"
    pendo: FakePendo | RemotePendo
    if args.pendo:
        try:
            pendo = RemotePendo(args.pendo)
            pendo.reset()  # this check's traffic only
        except RemoteError as exc:
            raise UsageError(f"segpendo check: {exc}") from None
        where = f"--pendo {args.pendo}"
    else:
        pendo = _start_fake_pendo(args, "check")
        where = f"--pendo-port {args.pendo_port}"
    reproduce = f"segpendo check --sut {args.sut} --via {args.via} --profile {args.profile} {where} {source}"
    delivery = {
        "secret": args.secret,
        "write_key": args.write_key,
        "api_key": args.api_key,
        "batch_size": args.batch_size,
        "headers": dict(args.header),
        "concurrency": args.concurrency,
        "timeout": args.timeout,
        "max_attempts": args.max_attempts,
    }
    try:
        result = run_check(
            events,
            args.sut,
            pendo=pendo,
            via=args.via,
            profile=args.profile,
            settings=_settings(args.setting),
            mapping=mapping,
            options=options,  # type: ignore[arg-type]
            delivery_options=delivery,
            quiet=args.quiet,
            settle_timeout=args.settle,
            seed=None if args.events else seed,
            reproduce=reproduce,
        )
    except (DeliveryError, RemoteError) as exc:
        raise UsageError(f"segpendo check: {exc}") from None
    finally:
        if isinstance(pendo, FakePendo):
            pendo.stop()
    sent = result.delivery
    if sent is not None and sent.events and sent.acknowledged == 0 and all(f.status is None for f in sent.failures):
        reason = sent.failures[0].reason if sent.failures else "no answer"
        raise UsageError(
            f"segpendo check: cannot reach the system under test at {args.sut}: {reason} (is it running and listening "
            "there?)"
        )
    if sent is not None:
        print(sent.summary())
    print(result.report.format())
    document = result.report.as_json()
    document["delivery"] = sent.as_json() if sent is not None else None
    _write_report(args.report, document, "check")
    return EXIT_OK if result.report.conforms else EXIT_PROBLEMS


# -- demo -------------------------------------------------------------------------------------------------


DEMO_MIX = {"saas": 3, "edge": 1, "mobile": 1, "anonymous": 1}


def cmd_demo(args: argparse.Namespace) -> int:
    """The whole loop, twice: generated traffic -> the bundled reference relay -> the fake Pendo server ->
    diff with profile track-api+metadata; then the same against a broken relay. Exit 0 when the correct relay
    conforms and the broken one is caught."""
    from .conformance import run_check
    from .fakes.pendo import FakePendo
    from .relay import BROKEN, BUGS, Relay
    from .traffic import generate

    bugs = tuple(args.bug) or BROKEN
    for bug in bugs:
        if bug not in BUGS:
            raise UsageError(f"segpendo demo: unknown bug {bug!r} (choose from {', '.join(BUGS)})")
    mix = ",".join(f"{k}={v}" for k, v in DEMO_MIX.items())
    events = generate(args.count, args.seed, mix=DEMO_MIX)
    track_secret, integration_key = "demo-track-secret", "demo-integration-key"
    secret = "demo-webhook-secret"
    print(f"segpendo demo: {len(events):,} Segment events (seed {args.seed}, mix {mix}), profile track-api+metadata")
    print(
        "system under test: the bundled reference relay (signed Segment webhooks in; Pendo Track Events and Metadata "
        "APIs out)"
    )
    outcomes = []
    for title, relay_bugs in (("the correct relay", ()), (f"a broken relay (bugs: {', '.join(bugs)})", bugs)):
        print()
        print(f"== {title}")
        with (
            FakePendo(max_age_days=None, track_secret=track_secret, integration_key=integration_key) as pendo,
            Relay(
                pendo.url, track_secret=track_secret, integration_key=integration_key, secret=secret, bugs=relay_bugs
            ) as relay,
        ):
            result = run_check(
                events,
                relay.url,
                pendo=pendo,
                via="webhook",
                profile="track-api+metadata",
                delivery_options={"secret": secret, "concurrency": 4},
                overrides={"limit": args.limit},
                quiet=0.1,
                seed=args.seed,
                reproduce=f"segpendo demo --seed {args.seed} --count {args.count}"
                + "".join(f" --bug {b}" for b in relay_bugs),
            )
            relay.raise_errors()
            pendo.raise_errors()
        assert result.delivery is not None
        print(result.delivery.summary())
        print(result.report.format())
        outcomes.append(result.report)
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


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="segpendo", description="Check what your Segment -> Pendo integration sends.")
    parser.add_argument("--version", action="version", version=f"segpendo {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    gen = sub.add_parser(
        "generate",
        help="seeded Segment events as JSONL",
        description="Write seeded, reproducible Segment events as JSON lines.",
    )
    gen.add_argument("--seed", type=_integer, required=True, help="PRNG seed: the same seed gives the same bytes")
    gen.add_argument("--count", type=_non_negative, required=True, help="number of events")
    gen.add_argument("--scenario", choices=tuple(SCENARIOS), help="kind of traffic (default: saas)")
    gen.add_argument("--mix", metavar="NAME=W,...", help="weighted mix of scenarios, e.g. saas=3,mobile=1,edge=1")
    gen.add_argument("--locale", default="en_US", help="Faker locale of names and places (default: en_US)")
    gen.add_argument("--start", help="time of the first session: ISO-8601 or 'now' (default: 2026-01-05T09:00:00Z)")
    gen.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    gen.set_defaults(func=cmd_generate)

    val = sub.add_parser(
        "validate",
        help="check JSONL events against the Segment Spec",
        description="Check every line of a JSONL file against the Segment Spec.",
    )
    val.add_argument("events", metavar="EVENTS.jsonl", help="file of events, or - for stdin")
    val.add_argument(
        "--max-errors", type=_non_negative, default=50, metavar="N", help="show at most N bad lines (default 50)"
    )
    val.add_argument("--format", choices=("text", "json"), default="text", help="report format (default text)")
    val.set_defaults(func=cmd_validate)

    tr = sub.add_parser(
        "transform",
        help="apply a Segment mapping (mapping-kit JSON) to events",
        description="Apply a mapping-kit mapping to every event, as Segment's engine does; one JSON result per line.",
    )
    tr.add_argument("--mapping", required=True, metavar="MAPPING.json", help="the mapping, as configured in Segment")
    tr.add_argument("events", metavar="EVENTS.jsonl", help="file of events, or - for stdin")
    tr.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    tr.set_defaults(func=cmd_transform)

    ex = sub.add_parser(
        "expect",
        help="the Pendo records events should produce",
        description="Compute, from a reference profile (and your mapping file), the Pendo records the events should "
        "produce.",
    )
    from .profiles import PROFILES

    ex.add_argument("--profile", required=True, metavar="PROFILE", help=f"one of {', '.join(PROFILES)}")
    ex.add_argument("--mapping", metavar="FILE", help="your actions' subscriptions and field mappings (JSON)")
    ex.add_argument(
        "--setting", action="append", default=[], metavar="KEY=VALUE", help="a destination setting (repeatable)"
    )
    ex.add_argument(
        "--view", choices=("stream", "state"), default="stream", help="every write (stream) or merged records (state)"
    )
    ex.add_argument("--no-check", action="store_true", help="skip checking the events against the Segment Spec first")
    ex.add_argument("events", metavar="EVENTS.jsonl", help="file of events, or - for stdin")
    ex.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    ex.set_defaults(func=cmd_expect)

    sv = sub.add_parser(
        "serve",
        help="run the fake Pendo server (and the fake Segment API) until stopped",
        description="Run the fakes for a system under test outside Python. Prints one JSON line with their URLs once "
        "they listen; stops on SIGINT or SIGTERM.",
    )
    sv.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    sv.add_argument(
        "--pendo-port",
        type=_port,
        default=0,
        metavar="N",
        help="port of the fake Pendo server (default 0: any free port)",
    )
    sv.add_argument(
        "--segment-port",
        type=_port,
        default=0,
        metavar="M",
        help="port of the fake Segment API (default 0: any free port)",
    )
    sv.add_argument("--write-key", metavar="K", help="the Segment write key the fake Segment API requires")
    sv.add_argument("--api-key", metavar="K", help="the Pendo app's API key (beacon paths, /data/segmentio/<key>)")
    sv.add_argument("--integration-key", metavar="K", help="the Metadata API integration key (x-pendo-integration-key)")
    sv.add_argument(
        "--track-secret", metavar="K", help="the Track Event shared secret (x-pendo-integration-key on /data/track)"
    )
    sv.add_argument(
        "--max-body",
        type=_non_negative,
        default=1 << 20,
        metavar="BYTES",
        help="largest request body accepted (default 1 MiB)",
    )
    sv.add_argument(
        "--journal-limit",
        type=_non_negative,
        default=None,
        metavar="N",
        help="keep only the last N requests in the journal",
    )
    sv.add_argument(
        "--max-age-days",
        type=float,
        default=7,
        metavar="D",
        help="warn about Track Events older than D days, as Pendo does not process them (default 7; 0: off)",
    )
    sv.add_argument("--log-requests", action="store_true", help="log every request on stderr")
    sv.set_defaults(func=cmd_serve)

    sd = sub.add_parser(
        "send",
        help="deliver events to a system under test as Segment does",
        description="Deliver events to a URL in one of Segment's wire formats, retrying as Segment does; prints the "
        "delivery report.",
    )
    sd.add_argument("--to", required=True, metavar="URL", help="where to send (the system under test)")
    sd.add_argument(
        "--via",
        required=True,
        choices=("webhook", "webhook-actions", "tracking-api", "segmentio"),
        help="the wire format",
    )
    sd.add_argument("--secret", metavar="S", help="shared secret: sign with X-Signature (webhook, webhook-actions)")
    sd.add_argument("--write-key", metavar="W", help="Segment write key (tracking-api)")
    sd.add_argument("--api-key", metavar="K", help="Pendo API key (segmentio, when --to is a base URL)")
    sd.add_argument(
        "--batch-size", type=_non_negative, metavar="N", help="events per request (webhook-actions, tracking-api)"
    )
    sd.add_argument("--method", default="POST", help="HTTP method of webhook-actions: POST, PUT or PATCH")
    sd.add_argument(
        "--header", type=_header, action="append", default=[], metavar="NAME: VALUE", help="extra header (repeatable)"
    )
    sd.add_argument("--data", metavar="MAPPING.json", help="webhook-actions data mapping (default: the whole event)")
    sd.add_argument(
        "--concurrency",
        type=_non_negative,
        default=1,
        metavar="N",
        help="parallel connections; a user's events stay in order (default 1)",
    )
    sd.add_argument(
        "--timeout", type=float, default=5.0, metavar="S", help="seconds per request (default 5, as Segment)"
    )
    sd.add_argument(
        "--max-attempts",
        type=_non_negative,
        default=5,
        metavar="N",
        help="attempts per request before giving up (default 5)",
    )
    sd.add_argument("--report", metavar="FILE.json", help="also write the delivery report as JSON")
    sd.add_argument("events", metavar="EVENTS.jsonl", help="file of events, or - for stdin")
    sd.set_defaults(func=cmd_send)

    from .verify import VIEWS

    def diff_options(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--view",
            choices=VIEWS,
            help="compare merged records (state) or every write (stream); default: the profile's, else state",
        )
        p.add_argument(
            "--timestamp-tolerance", type=_non_negative, metavar="MS", help="track timestamps this close are equal"
        )
        p.add_argument("--ignore-timestamps", action="store_true", help="do not compare track timestamps")
        p.add_argument(
            "--ignore",
            action="append",
            default=[],
            metavar="PATH",
            help="a field not to compare, e.g. track.context or '*.metadata.updatedAt' (repeatable)",
        )
        p.add_argument(
            "--agent-field",
            action="append",
            default=[],
            metavar="PATH",
            help="a field the client adds itself, compared only when expected (repeatable)",
        )
        p.add_argument(
            "--limit",
            type=_non_negative,
            default=20,
            metavar="K",
            help="differences detailed in the report text (default 20)",
        )
        p.add_argument("--report", metavar="FILE.json", help="also write the JSON report")

    df = sub.add_parser(
        "diff",
        help="compare expected and observed Pendo records",
        description="Compare two JSONL files of Pendo records (what segpendo expect writes, what a fake received) and "
        "report every difference.",
    )
    df.add_argument("expected", metavar="EXPECTED.jsonl", help="expected records, or - for stdin")
    df.add_argument("observed", metavar="OBSERVED.jsonl", help="observed records, or - for stdin")
    df.add_argument(
        "--profile", metavar="PROFILE", help="compare as this profile says (view, tolerances, agent fields)"
    )
    diff_options(df)
    df.set_defaults(func=cmd_diff)

    ck = sub.add_parser(
        "check",
        help="send traffic to a system under test and check what reaches Pendo",
        description=(
            "Start the fake Pendo server on --pendo-port, or use the one segpendo serve runs at --pendo (configure "
            "your "
            "system to send there), send the events to the system in a Segment wire format, wait until Pendo "
            "traffic settles, and compare with the profile."
        ),
    )
    ck.add_argument("--sut", required=True, metavar="URL", help="where the system under test receives Segment data")
    ck.add_argument(
        "--via",
        default="webhook",
        choices=("webhook", "webhook-actions", "tracking-api", "segmentio"),
        help="the wire format (default webhook)",
    )
    ck.add_argument("--profile", required=True, metavar="PROFILE", help=f"one of {', '.join(PROFILES)}")
    where = ck.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--pendo-port",
        type=_port,
        metavar="N",
        help="start the fake Pendo server on this port (your system sends there)",
    )
    where.add_argument(
        "--pendo", metavar="URL", help="use the fake Pendo server segpendo serve runs at URL (reset first)"
    )
    ck.add_argument("--host", default="127.0.0.1", help="address the fake Pendo server listens on (default 127.0.0.1)")
    ck.add_argument("--events", metavar="EVENTS.jsonl", help="events to send (default: generated)")
    ck.add_argument("--seed", type=_integer, help="seed of generated traffic (default 0)")
    ck.add_argument("--count", type=_non_negative, help="events to generate (default 1000)")
    ck.add_argument("--scenario", choices=SCENARIOS, help="traffic scenario (default saas)")
    ck.add_argument("--mapping", metavar="FILE", help="your actions' subscriptions and field mappings (JSON)")
    ck.add_argument(
        "--setting", action="append", default=[], metavar="KEY=VALUE", help="a destination setting (repeatable)"
    )
    ck.add_argument("--secret", metavar="S", help="shared secret: sign webhooks with X-Signature")
    ck.add_argument("--write-key", metavar="W", help="Segment write key (via tracking-api)")
    ck.add_argument(
        "--api-key", metavar="K", help="the Pendo API key: the fake requires it, segmentio delivery uses it"
    )
    ck.add_argument("--integration-key", metavar="K", help="the Metadata API integration key the fake requires")
    ck.add_argument("--track-secret", metavar="K", help="the Track Event shared secret the fake requires")
    ck.add_argument(
        "--batch-size", type=_non_negative, metavar="N", help="events per request (webhook-actions, tracking-api)"
    )
    ck.add_argument(
        "--header",
        type=_header,
        action="append",
        default=[],
        metavar="NAME: VALUE",
        help="extra header to the system (repeatable)",
    )
    ck.add_argument(
        "--concurrency",
        type=_non_negative,
        default=1,
        metavar="N",
        help="parallel connections to the system (default 1)",
    )
    ck.add_argument(
        "--timeout", type=float, default=5.0, metavar="S", help="seconds per request to the system (default 5)"
    )
    ck.add_argument(
        "--max-attempts", type=_non_negative, default=5, metavar="N", help="attempts per request (default 5)"
    )
    ck.add_argument(
        "--settle",
        type=float,
        default=10.0,
        metavar="S",
        help="wait at most this long for Pendo traffic to settle (default 10)",
    )
    ck.add_argument(
        "--quiet", type=float, default=0.2, metavar="S", help="settled = no Pendo request for this long (default 0.2)"
    )
    ck.add_argument(
        "--max-age-days",
        type=float,
        default=7,
        metavar="D",
        help="warn about Track Events older than D days, as Pendo does not process them (default 7; 0: off)",
    )
    diff_options(ck)
    ck.set_defaults(func=cmd_check)

    demo = sub.add_parser(
        "demo",
        help="the whole loop on a bundled relay, correct and broken",
        description="Send generated traffic through the bundled reference relay to the fake Pendo server and check "
        "it; then the same with a broken relay.",
    )
    demo.add_argument("--seed", type=_integer, default=2026, help="seed (default 2026)")
    demo.add_argument("--count", type=_non_negative, default=1000, help="events to send (default 1000)")
    demo.add_argument(
        "--bug",
        action="append",
        default=[],
        metavar="NAME",
        help="the broken relay's bug (repeatable; default: account-lost, non-string-traits-dropped)",
    )
    demo.add_argument("--limit", type=_non_negative, default=8, metavar="K", help="differences detailed (default 8)")
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
