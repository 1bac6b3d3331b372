"""The relay's command line: ``python -m pytest_segpendo.relay --pendo URL --track-secret K --integration-key K``
prints ``{"relay": "http://127.0.0.1:N"}`` once it listens and stops on SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence
from typing import NoReturn

from .bugs import BUGS
from .server import Relay

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        print(f"relay: {message}", file=sys.stderr)
        raise SystemExit(2)


def _parser() -> _Parser:
    parser = _Parser(
        prog="python -m pytest_segpendo.relay",
        description="Run the reference Segment -> Pendo relay (a system under test) until SIGINT or SIGTERM.",
    )
    parser.add_argument("--pendo", required=True, help="Pendo's base URL, e.g. a fake Pendo's URL")
    parser.add_argument("--track-secret", required=True, help="the Track Event shared secret")
    parser.add_argument("--integration-key", required=True, help="a write-enabled integration key")
    parser.add_argument("--secret", default=None, help="the webhook's shared secret (X-Signature is then required)")
    parser.add_argument(
        "--bug", action="append", default=[], metavar="NAME", help=f"turn a bug on (repeatable): {', '.join(BUGS)}"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 (the default) picks a free port")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the relay until SIGINT or SIGTERM; 0 then, 2 for bad arguments, 1 if it cannot listen."""
    args = _parser().parse_args(argv)
    bugs = [name.strip() for value in args.bug for name in value.split(",") if name.strip()]
    if not 0 <= args.port <= 65535:
        print(f"relay: --port must be between 0 and 65535 (got {args.port})", file=sys.stderr)
        return 2
    try:
        relay = Relay(
            args.pendo,
            track_secret=args.track_secret,
            integration_key=args.integration_key,
            secret=args.secret,
            bugs=bugs,
            host=args.host,
            port=args.port,
        )
    except ValueError as exc:
        print(f"relay: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        relay.start()
    except OSError as exc:
        print(f"relay: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    try:
        print(json.dumps({"relay": relay.url}), flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        relay.stop()
    return 0
