"""A fake served by several processes on one port: every core ingests.

:class:`WorkerPool` starts ``workers`` processes (``python -m pytest_segpendo.fakes.core.workers``), each running
the fake's app on a :class:`~.server.ServerThread` bound to the same port:

- on Linux each process binds its own listening socket with ``SO_REUSEPORT`` and the kernel spreads new
  connections among them (the parent reserves the port first with a bound, never listening, socket);
- elsewhere (macOS and the BSDs, where ``SO_REUSEPORT`` does not balance; anywhere it is missing) the parent
  listens and every process accepts from that one socket, handed down as an inherited descriptor.

Each process keeps what it received in its own SQLite file, written at the end of every request
(:mod:`.spill`); readers merge the files by request id. What the processes share lives in one directory:

- :class:`Control`, a small memory-mapped file under an ``flock``: the request-id counter (ids are global and in
  arrival order, which is what the merge sorts by), the reset generation, the clock, the fault rules' version,
  and each process's activity counters;
- a SQLite file (``shared.sqlite``): the fault rules with their counters (:class:`SharedFaults`: the ``nth``
  request of a route is counted across processes) and the fake's own state (the Pendo fake's visitors,
  accounts, event names and agent event keys).

A process stops when its standard input closes (the parent stopping, or dying: no orphans). An exception
raised inside a process's app is written to its file, and raised by the parent's ``raise_errors()``. POSIX only
(``fcntl``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import json
import mmap
import os
import random
import socket
import sqlite3
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ... import defaults
from .faults import _FIELDS, FaultError, FaultRule, Faults, _rule, _without
from .server import HandlerError, ServerThread, reuse_port_supported
from .spill import connect

__all__ = ["MAX_RULES", "MAX_WORKERS", "Control", "SharedClock", "SharedFaults", "WorkerPool", "main"]

MAX_WORKERS = 64
_SIZE = 8192
_ID, _GENERATION, _FAULTS, _CLOCK_VERSION, _CLOCK_CODE, _CLOCK_MS = 0, 8, 16, 24, 32, 40
_KIND, _KIND_SIZE = 64, 64  # the clock's kind name (utf-8, NUL-padded)
_SLOTS = 256  # worker i's (seen, active) at _SLOTS + 16 * i
_RULES = 1536  # fault rule i's (matched, fired) at _RULES + 16 * i
MAX_RULES = 128
_COUNTS, _LISTS = 4096, 8  # worker i's list lengths (up to 8 lists) at _COUNTS + 64 * i
_Q = struct.Struct("<q")
_QQ = struct.Struct("<qq")
START_TIMEOUT = defaults.START_TIMEOUT  # seconds for every worker to be listening


class Control:
    """The counters a fake's processes share, in a memory-mapped file, changed under ``flock`` (and a thread lock:
    ``flock`` does not exclude threads sharing one descriptor). ``slot``: this process's activity counters."""

    def __init__(self, path: str | Path, slot: int | None = None, create: bool = False):
        import fcntl  # POSIX only: imported here so that the module can be read anywhere

        self._fcntl = fcntl
        self.path = Path(path)
        flags = os.O_RDWR | (os.O_CREAT if create else 0)
        self._fd = os.open(self.path, flags, 0o600)
        if create:
            os.ftruncate(self._fd, _SIZE)
        self._map = mmap.mmap(self._fd, _SIZE)
        self._thread_lock = threading.Lock()
        self.slot = slot

    def close(self) -> None:
        try:
            self._map.close()
        finally:
            os.close(self._fd)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        with self._thread_lock:
            self._fcntl.flock(self._fd, self._fcntl.LOCK_EX)
            try:
                yield
            finally:
                self._fcntl.flock(self._fd, self._fcntl.LOCK_UN)

    def _get(self, offset: int) -> int:
        value: int = _Q.unpack_from(self._map, offset)[0]
        return value

    def _add(self, offset: int, n: int = 1) -> int:
        with self.lock():
            value = self._get(offset) + n
            _Q.pack_into(self._map, offset, value)
            return value

    # -- what the request journal needs (pytest_segpendo.fakes.core.app.Shared) --------------------------------
    def next_id(self) -> int:
        return self._add(_ID)

    def generation(self) -> int:
        return self._get(_GENERATION)

    def new_generation(self) -> int:
        return self._add(_GENERATION)

    def begin(self) -> None:
        if self.slot is not None:
            offset = _SLOTS + 16 * self.slot
            with self._thread_lock:  # one process writes a slot: its threads take turns
                seen, active = _QQ.unpack_from(self._map, offset)
                _QQ.pack_into(self._map, offset, seen + 1, active + 1)

    def end(self) -> None:
        if self.slot is not None:
            offset = _SLOTS + 16 * self.slot
            with self._thread_lock:
                seen, active = _QQ.unpack_from(self._map, offset)
                _QQ.pack_into(self._map, offset, seen, active - 1)

    def set_counts(self, counts: list[int]) -> None:
        """This process's list lengths (a store's ``LISTS``, in order), written after each request."""
        if self.slot is not None:
            values = (counts + [0] * _LISTS)[:_LISTS]
            with self._thread_lock:
                struct.pack_into(f"<{_LISTS}q", self._map, _COUNTS + 64 * self.slot, *values)

    def counts(self) -> list[int]:
        """Every process's list lengths, added up (what was written at the end of their requests)."""
        total = [0] * _LISTS
        for i in range(MAX_WORKERS):
            for j, value in enumerate(struct.unpack_from(f"<{_LISTS}q", self._map, _COUNTS + 64 * i)):
                total[j] += value
        return total

    def clear_counts(self) -> None:
        with self.lock():
            self._map[_COUNTS : _COUNTS + 64 * MAX_WORKERS] = bytes(64 * MAX_WORKERS)

    def activity(self) -> tuple[int, int]:
        with self.lock():
            seen = active = 0
            for i in range(MAX_WORKERS):
                s, a = _QQ.unpack_from(self._map, _SLOTS + 16 * i)
                seen += s
                active += a
            return seen, active

    # -- faults --------------------------------------------------------------------------------------------------
    def faults_version(self) -> int:
        return self._get(_FAULTS)

    def rule_counts(self, index: int) -> tuple[int, int]:
        """Fault rule ``index``'s ``(matched, fired)`` (call with :meth:`lock` held)."""
        matched, fired = _QQ.unpack_from(self._map, _RULES + 16 * index)
        return matched, fired

    def set_rule_counts(self, index: int, matched: int, fired: int) -> None:
        _QQ.pack_into(self._map, _RULES + 16 * index, matched, fired)

    def bump_faults(self) -> int:
        """A new version of the fault rules (call with :meth:`lock` held)."""
        value = self._get(_FAULTS) + 1
        _Q.pack_into(self._map, _FAULTS, value)
        return value

    # -- the clock -------------------------------------------------------------------------------------------------
    def clock(self) -> tuple[int, int | None, str]:
        """``(version, milliseconds or None for the wall clock, kind)``."""
        with self.lock():
            version, code, ms = self._get(_CLOCK_VERSION), self._get(_CLOCK_CODE), self._get(_CLOCK_MS)
            kind = self._map[_KIND : _KIND + _KIND_SIZE].rstrip(b"\0").decode("utf-8", "replace")
        return version, (ms if code else None), kind or "wall"

    def set_clock(self, ms: int | None, kind: str) -> int:
        """A new clock for every process: ``ms`` (None: the wall clock); returns its version."""
        raw = kind.encode("utf-8")[:_KIND_SIZE].ljust(_KIND_SIZE, b"\0")
        with self.lock():
            version = self._get(_CLOCK_VERSION) + 1
            _Q.pack_into(self._map, _CLOCK_VERSION, version)
            _Q.pack_into(self._map, _CLOCK_CODE, 0 if ms is None else 1)
            _Q.pack_into(self._map, _CLOCK_MS, 0 if ms is None else ms)
            self._map[_KIND : _KIND + _KIND_SIZE] = raw
        return version

    def move_clock(self, version: int, ms: int) -> bool:
        """Move the clock of ``version`` to ``ms``; False when another clock replaced it since."""
        with self.lock():
            if self._get(_CLOCK_VERSION) != version:
                return False
            _Q.pack_into(self._map, _CLOCK_MS, ms)
            return True


class SharedClock:
    """The clock every process of a fake judges by (``now_ms()`` reads :class:`Control` each time)."""

    def __init__(self, control: Control):
        self._control = control

    def now_ms(self) -> int:
        _, ms, _ = self._control.clock()
        return time.time_ns() // 1_000_000 if ms is None else ms

    @property
    def kind(self) -> str:
        return self._control.clock()[2]

    def __repr__(self) -> str:
        return f"SharedClock({self.kind}, {self.now_ms()})"


class ClockPump:
    """Carries a clock object of the parent process (a :class:`~pytest_segpendo.delivery.TrafficClock`, a
    ``FixedClock`` moved with ``set()``) to every process: its ``now_ms()`` sampled every ``interval`` seconds
    until another clock replaces it. The processes judge by the latest sample (a few milliseconds behind)."""

    def __init__(self, clock: Any, control: Control, version: int, interval: float = 0.005):
        self.clock = clock
        self._control = control
        self._version = version
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="segpendo-clock-pump", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        last = None
        while not self._stop.wait(self._interval):
            try:
                now = int(self.clock.now_ms())
            except Exception:  # a user's clock failing: keep the last sample
                continue
            if now != last:
                if not self._control.move_clock(self._version, now):
                    return
                last = now

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(1)


class SharedFaults(Faults):
    """Fault rules every process of a fake applies, counted across them, with the single process's semantics: the
    rules themselves are in the shared SQLite file (read again when their version in :class:`Control` changes),
    their counters (``matched``, ``fired``) in :class:`Control`, changed under its lock. A probability rule's
    draws are those of ``random.Random(seed)`` in order, as in one process: each process keeps a generator per
    rule and advances it to the rule's ``matched``. At most :data:`MAX_RULES` rules. A rule :meth:`add` returns
    is a copy: its counters are read with :meth:`as_json`."""

    def __init__(self, routes: tuple[str, ...], control: Control, path: str | Path):
        super().__init__(routes)
        self._control = control
        self._conn = connect(path)
        self._conn.execute("CREATE TABLE IF NOT EXISTS faults (name TEXT PRIMARY KEY, rules BLOB) WITHOUT ROWID")
        self._version = -1
        self._cached: list[FaultRule] = []
        self._draws: dict[int, tuple[random.Random, int]] = {}  # rule -> (generator, draws taken)

    # -- the rules and their counters (call with the control lock held) ----------------------------------------
    def _config(self) -> list[FaultRule]:
        version = self._control.faults_version()
        if version != self._version:
            row = self._conn.execute("SELECT rules FROM faults WHERE name = 'rules'").fetchone()
            data = json.loads(row[0]) if row is not None else []
            self._cached = [_rule(item, i, self.routes) for i, item in enumerate(data)]
            self._draws = {}
            self._version = version
        return self._cached

    def _current(self) -> list[FaultRule]:
        rules = [dataclasses.replace(rule) for rule in self._config()]
        for i, rule in enumerate(rules):
            rule.matched, rule.fired = self._control.rule_counts(i)
        return rules

    def _store(self, rules: list[FaultRule], counts: list[tuple[int, int]] | None = None) -> None:
        if len(rules) > MAX_RULES:
            raise FaultError(f"faults: at most {MAX_RULES} rules when the fake runs in several processes")
        data = json.dumps([{name: getattr(rule, name) for name in _FIELDS} for rule in rules])
        self._conn.execute("INSERT OR REPLACE INTO faults (name, rules) VALUES ('rules', ?)", (data,))
        for i in range(MAX_RULES):
            matched, fired = counts[i] if counts is not None and i < len(counts) else (0, 0)
            self._control.set_rule_counts(i, matched, fired)
        self._control.bump_faults()

    # -- the Faults API -----------------------------------------------------------------------------------------
    def add(self, **rule: Any) -> FaultRule:
        with self._control.lock():
            rules = self._current()
            parsed = _rule(rule, len(rules), self.routes)
            self._store([*rules, parsed], [(r.matched, r.fired) for r in rules])
        return parsed

    def replace(self, rules: Any) -> list[FaultRule]:
        if not isinstance(rules, list):
            return super().replace(rules)  # the same error
        parsed = [_rule(r, i, self.routes) for i, r in enumerate(rules)]
        with self._control.lock():
            self._store(parsed)
        return parsed

    def remove(self, rule: FaultRule) -> None:
        with self._control.lock():
            rules = self._current()
            kept = _without(rules, rule)
            gone = next(i for i, r in enumerate(rules) if i >= len(kept) or r is not kept[i])
            counts = [(r.matched, r.fired) for r in rules]
            self._store(kept, counts[:gone] + counts[gone + 1 :])

    def clear(self) -> None:
        with self._control.lock():
            self._store([])

    def restart(self) -> None:
        with self._control.lock():
            self._store(self._config())

    def as_json(self) -> list[dict[str, Any]]:
        with self._control.lock():
            return [rule.as_json() for rule in self._current()]

    def __len__(self) -> int:
        with self._control.lock():
            return len(self._config())

    def _draw(self, index: int, rule: FaultRule, matched: int) -> float:
        """The ``matched``-th draw of ``random.Random(rule.seed)``, as the rule in one process would draw it."""
        generator, taken = self._draws.get(index) or (random.Random(rule.seed), 0)
        if taken >= matched:  # counted afresh since (a restart): start over
            generator, taken = random.Random(rule.seed), 0
        while taken < matched - 1:
            generator.random()
            taken += 1
        value = generator.random()
        self._draws[index] = (generator, taken + 1)
        return value

    def pick(self, route: str) -> FaultRule | None:
        if self._version == self._control.faults_version() and not self._cached:
            return None  # no rules (the common case): no lock
        with self._control.lock():
            rules = self._config()
            chosen = None
            for i, rule in enumerate(rules):
                if rule.route not in ("*", route):
                    continue
                matched, fired = self._control.rule_counts(i)
                matched += 1
                if rule.probability is not None:
                    hit = self._draw(i, rule, matched) < rule.probability
                else:
                    hit = matched >= rule.nth and (rule.count is None or matched < rule.nth + rule.count)
                if hit and chosen is None:
                    chosen = i
                    fired += 1
                self._control.set_rule_counts(i, matched, fired)
            return None if chosen is None else rules[chosen]


# -- the processes ----------------------------------------------------------------------------------------------


class WorkerPool:
    """``workers`` processes serving one app on ``host:port`` (see the module doc); ``spec`` (JSON-able) is handed
    to ``factory`` (``"module:function"``) in each, with the process's index and its :class:`Control`, which
    returns the WSGI app and a function that keeps an exception of the app (for :meth:`raise_errors`). Same
    lifecycle as :class:`~.server.ServerThread`: ``start()``, ``stop()``, ``url``, ``port``."""

    def __init__(
        self,
        factory: str,
        spec: dict[str, Any],
        directory: Path,
        workers: int,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        log_requests: bool = False,
        error_files: list[Path] | None = None,
    ):
        if not 1 <= workers <= MAX_WORKERS:
            raise ValueError(f"workers: must be between 1 and {MAX_WORKERS} (got {workers})")
        self.factory = factory
        self.spec = spec
        self.directory = directory
        self.workers = workers
        self.host = host
        self.requested_port = port
        self.log_requests = log_requests
        self.error_files = error_files or []
        self.reuse_port = reuse_port_supported()
        self._processes: list[subprocess.Popen[bytes]] = []
        self._socket: socket.socket | None = None
        self._port: int | None = None
        self._errors_seen: dict[Path, int] = {}

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._processes]

    def start(self) -> WorkerPool:
        """Start every process; returns once all of them accept connections. OSError if the port is taken."""
        if self._processes:
            raise RuntimeError("server already started")
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            if self.reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                sock.bind((self.host, self.requested_port))  # reserved, never listening: connections go to workers
            else:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((self.host, self.requested_port))
                sock.listen(128)
        except OSError:
            sock.close()
            raise
        self._socket = sock
        self._port = sock.getsockname()[1]
        fds = () if self.reuse_port else (sock.fileno(),)
        base = {
            "factory": self.factory,
            "spec": self.spec,
            "host": self.host,
            "port": self._port,
            "fd": None if self.reuse_port else sock.fileno(),
            "log_requests": self.log_requests,
        }
        env = child_environment()
        try:
            for index in range(self.workers):
                process = subprocess.Popen(
                    [sys.executable, "-m", "pytest_segpendo.fakes.core.workers"],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    pass_fds=fds,
                    env=env,
                )
                self._processes.append(process)
                assert process.stdin is not None
                process.stdin.write(json.dumps({**base, "index": index}).encode() + b"\n")
                process.stdin.flush()
            deadline = time.monotonic() + START_TIMEOUT
            for process in self._processes:
                assert process.stdout is not None
                line = read_line(process, deadline)
                if not line.startswith(b"{"):
                    raise OSError(f"a worker process of the fake did not start (exit code {process.poll()})")
                answer = json.loads(line)
                if "error" in answer:
                    raise OSError(answer.get("errno") or 0, answer["error"])
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every process (closing their standard input) and wait for them; kill one that lingers."""
        processes, self._processes = self._processes, []
        for process in processes:
            with contextlib.suppress(OSError):
                if process.stdin is not None:
                    process.stdin.close()
        deadline = time.monotonic() + 5
        for process in processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
            if process.stdout is not None:
                process.stdout.close()
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def __enter__(self) -> WorkerPool:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return bool(self._processes)

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("server not started")
        return self._port

    @property
    def url(self) -> str:
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"http://{host}:{self.port}"

    def raise_errors(self) -> None:
        """Raise :class:`~.server.HandlerError` for the first exception raised inside a process's app since the last
        call (its traceback as text: the exception itself stayed in that process)."""
        for path in self.error_files:
            if not path.exists():
                continue
            conn = connect(path)
            try:
                seen = self._errors_seen.get(path, 0)
                try:
                    rows = conn.execute("SELECT key, body FROM errors WHERE key > ? ORDER BY key", (seen,)).fetchall()
                except sqlite3.OperationalError:  # no error table: no error
                    continue
            finally:
                conn.close()
            if rows:
                self._errors_seen[path] = rows[-1][0]
                raise HandlerError(f"the fake server failed while handling a request:\n{json.loads(rows[0][1])}")


def child_environment() -> dict[str, str]:
    """This process's environment for a child Python process that imports this package, installed or not."""
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[3])
    env["PYTHONPATH"] = package_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def read_line(process: subprocess.Popen[bytes], deadline: float) -> bytes:
    """One line of a child process's standard output, or b"" when it ends or the deadline passes."""
    import selectors

    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if selector.select(timeout=0.2):
                return process.stdout.readline()
            if process.poll() is not None:
                return b""
    return b""


def error_recorder(path: Path) -> Callable[[BaseException, str], None]:
    """A function keeping an app's exceptions in the ``errors`` table of ``path`` (for the parent to raise)."""
    lock = threading.Lock()

    def record(exc: BaseException, text: str) -> None:
        with lock:
            conn = connect(path)
            try:
                conn.execute("CREATE TABLE IF NOT EXISTS errors (key INTEGER PRIMARY KEY, body BLOB NOT NULL)")
                conn.execute("INSERT INTO errors (body) VALUES (?)", (json.dumps(text),))
            finally:
                conn.close()

    return record


def main() -> int:
    """One worker process: read its spec (one JSON line on standard input), serve, stop when standard input ends."""
    spec = json.loads(sys.stdin.buffer.readline())
    module, _, name = spec["factory"].partition(":")
    factory = getattr(importlib.import_module(module), name)
    try:
        app, on_error = factory(spec["spec"], spec["index"])
        sock = socket.socket(fileno=spec["fd"]) if spec["fd"] is not None else None
        server = ServerThread(
            app,
            spec["host"],
            spec["port"],
            log_requests=spec["log_requests"],
            reuse_port=sock is None,
            sock=sock,
            on_error=on_error,
            poll_interval=0.1,
        )
        server.start()
    except OSError as exc:
        print(json.dumps({"error": str(exc.strerror or exc), "errno": exc.errno}), flush=True)
        return 1
    print(json.dumps({"ready": spec["index"], "pid": os.getpid()}), flush=True)
    try:
        while sys.stdin.buffer.read(65536):
            pass
    except (OSError, KeyboardInterrupt):
        pass
    server.stop()
    close = getattr(app, "close", None)
    if close is not None:
        close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
