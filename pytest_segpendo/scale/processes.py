"""The pieces of a large run on every core: the fake Pendo server in worker processes, the bundled relay in a
process of its own, and this process sending (generate, deliver, then expect and diff).

In one process the sender, the relay and the fake share one core (Python's GIL): a 10^5-event demo pass runs at
the speed of one core. Here each gets its own process, and the fake as many as asked (``workers``):

>>> from pytest_segpendo.scale import scaled_stack
>>> with scaled_stack(track_secret="t", integration_key="i", secret="s", workers=2) as stack:
...     stack.pendo.url.startswith("http://127.0.0.1:"), stack.relay.url.startswith("http://127.0.0.1:")
(True, True)

:func:`run_scaled_check` is :func:`~pytest_segpendo.conformance.run_check` against such a stack (what
``segpendo demo`` can call above a size threshold); the stack's ``pendo`` is a
:class:`~pytest_segpendo.fakes.pendo.FakePendo` (``workers=N``), so everything a check reads of a fake works the
same, the traffic clock included.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import defaults
from ..fakes.core.server import HandlerError
from ..fakes.core.workers import child_environment, read_line
from ..fakes.pendo import FakePendo
from .runner import default_workers

__all__ = ["RelayProcess", "ScaledStack", "default_workers", "run_scaled_check", "scaled_stack", "start_relay"]
# default_workers (every core this process may use) is the one the sharded expect and diff use too.

START_TIMEOUT = defaults.START_TIMEOUT  # seconds for a process to listen


@dataclass
class RelayProcess:
    """The bundled reference relay (:class:`~pytest_segpendo.relay.Relay`) running in a process of its own."""

    url: str
    process: subprocess.Popen[bytes]
    errors: list[str] = field(default_factory=list)
    _reader: threading.Thread | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def raise_errors(self) -> None:
        """Raise :class:`~pytest_segpendo.fakes.core.server.HandlerError` for the first exception raised inside the
        relay since the last call (its traceback as text)."""
        if self.errors:
            first, self.errors[:] = self.errors[0], []
            raise HandlerError(first)

    def stop(self) -> None:
        """Stop the relay (closing its standard input) and wait for it; kill it if it lingers."""
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        if self._reader is not None:
            self._reader.join(2)

    def __enter__(self) -> RelayProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_relay(
    pendo_url: str,
    *,
    track_secret: str,
    integration_key: str,
    secret: str | None = None,
    bugs: Iterable[str] = (),
    host: str = "127.0.0.1",
    port: int = 0,
    timeout: float = 4.0,
) -> RelayProcess:
    """Start the bundled relay in its own process (``python -m pytest_segpendo.scale.relay``, which runs
    :class:`~pytest_segpendo.relay.Relay` as ``python -m pytest_segpendo.relay`` does and also reports the
    relay's own errors); returns once it listens. ValueError for a bad argument, OSError if it cannot listen."""
    options = {
        "pendo_url": pendo_url,
        "track_secret": track_secret,
        "integration_key": integration_key,
        "secret": secret,
        "bugs": list(bugs),
        "host": host,
        "port": port,
        "timeout": timeout,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest_segpendo.scale.relay"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=child_environment(),
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(json.dumps(options).encode() + b"\n")
    process.stdin.flush()
    first = read_line(process, time.monotonic() + START_TIMEOUT)
    answer = json.loads(first) if first.startswith(b"{") else {"failed": f"exit code {process.poll()}"}
    if "relay" not in answer:
        process.kill()
        process.wait(5)
        error = ValueError if answer.get("kind") == "ValueError" else OSError
        raise error(f"the relay did not start: {answer.get('failed')}")
    relay = RelayProcess(answer["relay"], process)

    def read_errors() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            try:
                error = json.loads(line).get("error")
            except ValueError:
                continue
            if isinstance(error, str):
                relay.errors.append(error)

    relay._reader = threading.Thread(target=read_errors, name="segpendo-relay-errors", daemon=True)
    relay._reader.start()
    return relay


@dataclass
class ScaledStack:
    """A fake Pendo server in ``workers`` processes and the bundled relay in its own, wired together."""

    pendo: FakePendo
    relay: RelayProcess

    @property
    def pids(self) -> list[int]:
        """The processes of the stack (the fake's workers, then the relay): for measuring them."""
        return [*getattr(self.pendo.server, "pids", []), self.relay.pid]

    def raise_errors(self) -> None:
        """Raise an exception raised inside the relay or the fake (HandlerError), if any."""
        self.relay.raise_errors()
        self.pendo.raise_errors()


@contextmanager
def scaled_stack(
    *,
    track_secret: str,
    integration_key: str,
    secret: str | None = None,
    bugs: Iterable[str] = (),
    workers: int | None = None,
    spill_dir: str | Path | None = None,
    pendo_options: Mapping[str, Any] | None = None,
) -> Iterator[ScaledStack]:
    """A :class:`ScaledStack`, started; stopped on leaving. ``workers``: processes of the fake (default
    :func:`default_workers`); ``pendo_options``: more :class:`~pytest_segpendo.fakes.pendo.FakePendo` arguments."""
    count = default_workers() if workers is None else workers
    options = dict(pendo_options or {})
    pendo = FakePendo(
        track_secret=track_secret,
        integration_key=integration_key,
        workers=count,
        spill_dir=spill_dir,
        **options,
    )
    with pendo:
        relay = start_relay(
            pendo.url, track_secret=track_secret, integration_key=integration_key, secret=secret, bugs=bugs
        )
        with relay:
            yield ScaledStack(pendo, relay)


def run_scaled_check(
    events: Sequence[dict[str, Any]],
    *,
    track_secret: str,
    integration_key: str,
    secret: str | None = None,
    bugs: Iterable[str] = (),
    workers: int | None = None,
    via: str = defaults.VIA,
    profile: str = defaults.PROFILE,
    delivery_options: Mapping[str, Any] | None = None,
    check_options: Mapping[str, Any] | None = None,
) -> Any:
    """One pass of the demo loop with every part in its own process: start a :func:`scaled_stack`, send
    ``events`` from this process to the relay, wait for Pendo traffic to settle, expect and diff
    (:func:`~pytest_segpendo.conformance.run_check`, given ``check_options`` such as ``overrides``, ``quiet``,
    ``seed``, ``reproduce``). Returns its :class:`~pytest_segpendo.conformance.CheckResult`; raises HandlerError
    if the relay or the fake failed inside."""
    from ..conformance import run_check

    sending = {"secret": secret, **dict(delivery_options or {})} if secret else dict(delivery_options or {})
    with scaled_stack(
        track_secret=track_secret, integration_key=integration_key, secret=secret, bugs=bugs, workers=workers
    ) as stack:
        result = run_check(
            events,
            stack.relay.url,
            pendo=stack.pendo,
            via=via,
            profile=profile,
            delivery_options=sending,
            **dict(check_options or {}),
        )
        stack.raise_errors()
    return result
