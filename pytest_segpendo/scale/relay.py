"""The bundled relay in a process of its own, for :func:`pytest_segpendo.scale.processes.start_relay`.

``python -m pytest_segpendo.scale.relay`` reads one JSON line on standard input (the :class:`~pytest_segpendo.relay.
Relay` arguments), prints ``{"relay": URL}`` once it listens, then one ``{"error": traceback}`` line for each
exception raised inside the relay while handling a request, and stops when standard input closes (the parent
stopping, or dying).
"""

from __future__ import annotations

import json
import sys
import threading

from ..fakes.core.server import HandlerError
from ..relay import Relay

__all__ = ["main"]


def main() -> int:
    options = json.loads(sys.stdin.buffer.readline())
    try:
        relay = Relay(**options).start()
    except (OSError, ValueError) as exc:
        print(json.dumps({"failed": str(exc), "kind": type(exc).__name__}), flush=True)
        return 1
    print(json.dumps({"relay": relay.url}), flush=True)
    done = threading.Event()

    def wait_for_parent() -> None:
        try:
            while sys.stdin.buffer.read(65536):
                pass
        finally:
            done.set()

    threading.Thread(target=wait_for_parent, daemon=True).start()
    while not done.wait(0.2):
        _report(relay)
    relay.stop()
    _report(relay)
    return 0


def _report(relay: Relay) -> None:
    while True:
        try:
            relay.raise_errors()
            return
        except HandlerError as exc:
            print(json.dumps({"error": str(exc)}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
