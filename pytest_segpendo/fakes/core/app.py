"""What the fake Pendo server and the fake Segment API share: the request journal, dispatch (routing, fault
injection with every injected fault recorded, refusals recorded with their reason), the ``/__segpendo/``
inspection endpoints, and the start/stop/inspect API of a fake run in a background thread."""

from __future__ import annotations

import socket
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map
from werkzeug.wrappers import Request, Response

from ...jsonl import dumps_bytes, loads
from .faults import FaultError, FaultRule, Faults
from .httpkit import BadRequest, json_response
from .server import ServerThread, _deprecated
from .spill import MEMORY_RECORDS, Snapshot, SpillFile, SpillList, spill_directory

__all__ = ["FakeApp", "FakeServer", "RequestJournal"]

Handler = Callable[[Request, Mapping[str, Any], dict[str, Any]], Response]
JOURNAL_HEADERS = frozenset(
    {
        "content-type",
        "content-encoding",
        "content-length",
        "user-agent",
        "origin",
        "x-pendo-integration-key",
        "x-retry-count",
        "authorization",
    }
)
# The same headers as WSGI environ keys (where werkzeug's request.headers reads them from).
_JOURNAL_ENVIRON = {
    (
        name.upper().replace("-", "_")
        if name in ("content-type", "content-length")
        else "HTTP_" + name.upper().replace("-", "_")
    ): name
    for name in JOURNAL_HEADERS
}


# What an ``injected`` entry keeps of the records a request would have produced (it was not processed).
WOULD_BE_MAX_RECORDS = 50
WOULD_BE_MAX_BYTES = 64 * 1024


def now_iso() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"


class Shared(Protocol):
    """What the worker processes of one fake share (:class:`~pytest_segpendo.fakes.core.workers.Control`): request
    ids in arrival order across processes, the reset generation, and activity."""

    def next_id(self) -> int: ...

    def generation(self) -> int: ...

    def begin(self) -> None: ...

    def end(self) -> None: ...

    def activity(self) -> tuple[int, int]: ...


class RequestJournal:
    """Every request a fake received (optionally only the last N), and every one it refused. Thread-safe.

    Its lists (:attr:`LISTS`) keep at most ``memory_records`` items each in memory; older ones go to a SQLite file
    in a new directory inside ``spill_dir`` (the system's temporary directory by default), removed with the
    store (:mod:`.spill`). In a worker process (``spill_file`` and ``shared`` given) every request's items are
    written to that file when the request ends, so that the other processes can read them."""

    LISTS: tuple[str, ...] = ("journal", "rejected", "injected")

    def __init__(
        self,
        journal_limit: int | None = None,
        *,
        memory_records: int = MEMORY_RECORDS,
        spill_dir: str | Path | None = None,
        spill_file: SpillFile | None = None,
        shared: Shared | None = None,
    ):
        self.lock = threading.Lock()
        self._next_id = 1
        self.journal_limit = journal_limit
        self.memory_records = memory_records
        self.shared = shared
        self._spill_dir = spill_dir
        self._spill: SpillFile | None = spill_file
        self._generation = shared.generation() if shared is not None else 0
        self._open: dict[int, int] = {}  # requests being handled -> items keyed so far (worker processes)
        cap = journal_limit if shared is None else None
        self.journal = SpillList("journal", memory_records, self.spill, sealed=self._entry_done, cap=cap)
        self.rejected = SpillList("rejected", memory_records, self.spill)
        self.injected = SpillList("injected", memory_records, self.spill, sealed=self._item_done)
        self.seen = 0  # requests ever dispatched (inspection excluded); never reset
        self.active = 0  # requests being handled now

    # -- the spill file ----------------------------------------------------------------------------------------
    def spill(self) -> SpillFile:
        """The spill file, created on first need (call with ``lock`` held)."""
        if self._spill is None:
            directory, remove = spill_directory(self._spill_dir)
            self._spill = SpillFile(directory / "store.sqlite")
            spill = self._spill
            weakref.finalize(self, _close_and_remove, spill, remove)
        return self._spill

    @property
    def spilled(self) -> bool:
        """True once something went to disk."""
        return self._spill is not None

    def _entry_done(self, entry: dict[str, Any]) -> bool:
        return entry.get("id") not in self._open

    def _item_done(self, item: dict[str, Any]) -> bool:
        return item.get("request") not in self._open

    def _key(self, request: int) -> int | None:
        """The order key of an item of ``request``: None (append order) in one process; across worker processes,
        the request's id (its arrival) then the item's rank in the request."""
        if self.shared is None:
            return None
        rank = self._open.get(request, 0)
        self._open[request] = rank + 1
        return (request << 32) | rank

    def lists(self) -> list[SpillList]:
        return [getattr(self, name) for name in self.LISTS]

    # -- activity -----------------------------------------------------------------------------------------------
    def begin(self) -> None:
        if self.shared is not None:
            self.shared.begin()
            return
        with self.lock:
            self.seen += 1
            self.active += 1

    def end(self) -> None:
        if self.shared is not None:
            self.shared.end()
            return
        with self.lock:
            self.active -= 1

    def activity(self) -> tuple[int, int]:
        """``(requests seen so far, requests being handled)``, what
        :func:`~pytest_segpendo.conformance.settle` watches."""
        if self.shared is not None:
            return self.shared.activity()
        with self.lock:
            return self.seen, self.active

    @property
    def journal_dropped(self) -> int:
        return self.journal.dropped

    def clear_journal(self) -> None:
        """Forget the journal, the refusals and the injected faults (call with ``lock`` held)."""
        for name in RequestJournal.LISTS:
            getattr(self, name).clear(self._spill)

    def clear_lists(self) -> None:
        """Forget every list (call with ``lock`` held)."""
        for spill_list in self.lists():
            spill_list.clear(self._spill)
        if self._spill is not None:
            self._spill.commit()

    def new_generation(self) -> None:
        """Another process reset the fake: forget what this one keeps for itself (call with ``lock`` held)."""
        for spill_list in self.lists():
            spill_list.clear(None)

    # -- requests ------------------------------------------------------------------------------------------------
    def new_request(
        self, method: str, path: str, route: str, query: dict[str, Any], headers: dict[str, str]
    ) -> dict[str, Any]:
        ident = self.shared.next_id() if self.shared is not None else 0
        with self.lock:
            if self.shared is not None:
                generation = self.shared.generation()
                if generation != self._generation:
                    self._generation = generation
                    self.new_generation()
            else:
                ident = self._next_id
                self._next_id += 1
            entry = {
                "id": ident,
                "time": now_iso(),
                "method": method,
                "path": path,
                "route": route,
                "query": query,
                "headers": headers,
                "status": None,
                "outcome": None,
            }
            self._open[ident] = 0
            self.journal.append(entry, self._key(ident))
            return entry

    def close_request(self, entry: dict[str, Any]) -> None:
        """The request is answered: its journal entry and injected faults stop changing. In a worker process,
        everything the request added is written to disk now (one transaction), for the other processes."""
        with self.lock:
            self._open.pop(entry["id"], None)
            if self.shared is not None:
                for spill_list in self.lists():
                    spill_list.flush()
                self.persist()
                self.spill().commit()
                set_counts = getattr(self.shared, "set_counts", None)
                if set_counts is not None:  # for a cheap count across processes (Control.counts)
                    set_counts([len(spill_list) for spill_list in self.lists()])

    def persist(self) -> None:
        """Write this store's counters to the spill file (worker processes; call with ``lock`` held)."""

    def reject(self, entry: dict[str, Any], status: int, reason: str) -> None:
        with self.lock:
            entry.update(status=status, outcome="rejected", reason=reason)
            self.rejected.append(
                {
                    "request": entry["id"],
                    "route": entry["route"],
                    "method": entry["method"],
                    "path": entry["path"],
                    "status": status,
                    "reason": reason,
                },
                self._key(entry["id"]),
            )

    def inject(self, entry: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
        """Record a fault injected into the request ``entry``; returns the stored item (updated in place later)."""
        with self.lock:
            stored = {"request": entry["id"], "route": entry["route"], **item}
            self.injected.append(stored, self._key(entry["id"]))
            return stored

    def update(self, target: dict[str, Any], **values: Any) -> None:
        """Change a stored item (a journal entry, an injected fault) under the lock."""
        with self.lock:
            target.update(values)

    # -- reading ---------------------------------------------------------------------------------------------
    def stream(self, name: str, copy: bool = True) -> Iterator[Any]:
        """The items of list ``name`` in order, read from memory and disk without holding the lock while they are
        consumed (the disk part through its own snapshot); ``copy``: items held in memory are given as copies."""
        with self.lock:
            spill_list: SpillList = getattr(self, name)
            snapshot = Snapshot(self._spill.path) if self._spill is not None and spill_list.spilled else None
            items = spill_list.reader(snapshot.conn if snapshot is not None else None, copy=copy)
        return _closing(items, snapshot)

    def requests(self) -> list[dict[str, Any]]:
        return list(self.stream("journal"))

    def listed(self, name: str) -> list[Any]:
        """A copy of one of the store's lists (``rejected``, ``warnings``...), without copying the rest."""
        return list(self.stream(name))

    def counts(self) -> dict[str, int]:
        """How many items each list holds."""
        with self.lock:
            return {name: len(getattr(self, name)) for name in self.LISTS}

    # What GET /__segpendo/records.jsonl streams: a store lists in INSPECTED the lists it streams from memory and
    # disk; without them, the lists of its snapshot() are streamed (a small fake: the Segment fake's events).
    INSPECTED: tuple[str, ...] = ()

    def inspected(self) -> tuple[str, ...]:
        """The names of the lists an inspection streams."""
        if self.INSPECTED:
            return self.INSPECTED
        return tuple(name for name, value in self.snapshot().items() if isinstance(value, list))

    def iter_inspection(self, lists: Iterable[str] | None = None) -> Iterator[tuple[str, Any]]:
        """``(list, item)`` for every item of the inspection lists, list after list, streamed."""
        names = self.inspected() if lists is None else tuple(lists)
        if not self.INSPECTED:
            snapshot = self.snapshot()
            for name in names:
                for item in snapshot.get(name, ()):
                    yield name, item
            return
        for name in names:
            for item in self.stream(name):
                yield name, item

    def totals(self) -> dict[str, Any]:
        """The closing line of a streamed inspection: how many items each list holds, and the fake's counters."""
        if not self.INSPECTED:
            snapshot = self.snapshot()
            counts = {name: len(value) for name, value in snapshot.items() if isinstance(value, list)}
            return {"counts": counts, **{k: v for k, v in snapshot.items() if not isinstance(v, list)}}
        counts = self.counts()
        return {"counts": {name: counts[name] for name in self.INSPECTED}}

    # Filled in by each fake's store.
    def reset(self) -> None:
        raise NotImplementedError

    def snapshot(self) -> dict[str, Any]:
        raise NotImplementedError


def _closing(items: Iterator[Any], snapshot: Snapshot | None) -> Iterator[Any]:
    try:
        yield from items
    finally:
        if snapshot is not None:
            snapshot.close()


def _close_and_remove(spill: SpillFile, remove: Callable[[], None]) -> None:
    try:
        spill.conn.close()
    except Exception:  # pragma: no cover - closing at exit
        pass
    remove()


class FakeApp:
    """A fake's WSGI app: subclasses give ``url_map``, ``handlers``, a ``store`` and the error body shape."""

    url_map: Map
    handlers: dict[str, Handler]
    store: RequestJournal
    faults: Faults
    records_key = "records"
    view: Any = None  # what inspection reads and resets, when not ``store`` (every worker process's stores)

    @property
    def reader(self) -> Any:
        """The store inspection reads and resets: ``store``, or across worker processes their merged view."""
        return self.view if self.view is not None else self.store

    # -- hooks ------------------------------------------------------------------------------------------------
    def error_body(self, status: int, reason: str, **extra: Any) -> dict[str, Any]:
        return {"error": reason, "status": status}

    def finish(self, request: Request, response: Response) -> Response:
        """Last touch on every answer of a routed, non-inspection request (e.g. CORS)."""
        return response

    def preflight(self, request: Request) -> Response | None:
        """Answer an OPTIONS request, or None to route it like any other."""
        return None

    # -- WSGI ---------------------------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        return self.dispatch(request)(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        adapter = self.url_map.bind_to_environ(request.environ)
        try:
            endpoint, args = adapter.match()
        except NotFound:
            return self._refuse_unrouted(request, 404, f"no such route: {request.method} {request.path}")
        except MethodNotAllowed as exc:
            allowed = ", ".join(sorted(exc.valid_methods or ()))
            return self._refuse_unrouted(
                request, 405, f"{request.method} is not allowed on {request.path} (use {allowed})"
            )
        if endpoint.startswith("__"):
            return self.inspect(endpoint, request)
        self.store.begin()
        try:
            return self._dispatch(request, endpoint, args)
        finally:
            self.store.end()

    def _dispatch(self, request: Request, endpoint: str, args: Mapping[str, Any]) -> Response:
        if request.method == "OPTIONS":
            answer = self.preflight(request)
            if answer is not None:
                return answer
        query = {k: (v if k != "jzb" else f"<{len(v)} characters>") for k, v in request.args.items()}
        journaled = _JOURNAL_ENVIRON
        headers = {journaled[k]: v for k, v in request.environ.items() if k in journaled and (v or k[:5] == "HTTP_")}
        entry = self.store.new_request(request.method, request.path, endpoint, query, headers)
        try:
            return self._faulted(request, endpoint, args, entry)
        finally:
            self.store.close_request(entry)

    def _faulted(self, request: Request, endpoint: str, args: Mapping[str, Any], entry: dict[str, Any]) -> Response:
        fault = self.faults.pick(endpoint)
        if fault is None:
            return self._handle(request, endpoint, args, entry)
        injected = self.store.inject(
            entry,
            {
                "kind": fault.kind,
                "phase": fault.phase,
                "status": fault.status,
                "delay_ms": fault.delay_ms,
                "retry_after": fault.retry_after,
                "processed": fault.phase == "after" or fault.kind == "slow",
            },
        )
        if fault.phase == "before":
            if fault.delay_ms:
                time.sleep(fault.delay_ms / 1000)
            if fault.kind == "slow":
                return self._handle(request, endpoint, args, entry)
            # Not processed: say what the body held, so a report can name the data lost to this fault.
            self.store.update(injected, **self._would_be_records(request, endpoint, args))
            return self._inflict(request, fault, entry, processed=False)
        response = self._handle(request, endpoint, args, entry)
        self.store.update(injected, answered=response.status_code)
        if fault.delay_ms:
            time.sleep(fault.delay_ms / 1000)
        if fault.kind == "slow":
            return response
        return self._inflict(request, fault, entry, processed=True)

    def _handle(self, request: Request, endpoint: str, args: Mapping[str, Any], entry: dict[str, Any]) -> Response:
        try:
            response = self.handlers[endpoint](request, args, entry)
        except BadRequest as exc:
            self.store.reject(entry, exc.status, exc.reason)
            response = json_response(self.error_body(exc.status, exc.reason, **exc.extra), exc.status)
        else:
            self.store.update(entry, status=response.status_code)
        return self.finish(request, response)

    def _inflict(self, request: Request, fault: FaultRule, entry: dict[str, Any], processed: bool) -> Response:
        """Answer with the fault's status, or drop the connection."""
        if fault.drop:
            self.store.update(entry, status=None, outcome="dropped", processed=processed)
            sock = request.environ.get("werkzeug.socket")
            if isinstance(sock, socket.socket):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            return Response(status=204)
        status = fault.status if fault.status is not None else 500
        extra = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else None
        self.store.update(entry, status=status, outcome="fault", processed=processed)
        when = "after processing the request" if processed else "without processing the request"
        reason = f"fault injected by the test (rule for route {fault.route}, {when})"
        return self.finish(request, json_response(self.error_body(status, reason), status, extra))

    def would_be(self, request: Request, endpoint: str, args: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The records this request would have produced, had it been processed (best effort; never stores
        anything). Each fake says how; by default none."""
        return []

    def _would_be_records(self, request: Request, endpoint: str, args: Mapping[str, Any]) -> dict[str, Any]:
        try:
            records = self.would_be(request, endpoint, args)
        except BadRequest as exc:
            return {"records": [], "records_total": 0, "undecodable": exc.reason}
        except Exception as exc:  # best effort: a fault must be injected whatever the body holds
            return {"records": [], "records_total": 0, "undecodable": f"{type(exc).__name__}: {exc}"[:200]}
        kept: list[dict[str, Any]] = []
        size = 0
        for record in records[:WOULD_BE_MAX_RECORDS]:
            size += len(dumps_bytes(record))
            if size > WOULD_BE_MAX_BYTES:
                break
            kept.append(record)
        out: dict[str, Any] = {"records": kept, "records_total": len(records)}
        if len(kept) < len(records):
            out["records_truncated"] = True
        return out

    def _refuse_unrouted(self, request: Request, status: int, reason: str) -> Response:
        self.store.begin()
        self.store.end()
        entry = self.store.new_request(request.method, request.path, "?", {}, {})
        self.store.reject(entry, status, reason)
        self.store.close_request(entry)
        return self.finish(request, json_response(self.error_body(status, reason), status))

    def inspect(self, endpoint: str, request: Request) -> Response:
        reader = self.reader
        if endpoint == "__records_jsonl" or (endpoint == "__records" and request.args.get("format") == "jsonl"):
            return self._records_jsonl(request)
        if endpoint == "__records":
            return json_response(reader.snapshot())
        if endpoint == "__reset":
            keep = [k for k in request.args.get("keep", "").split(",") if k.strip()]
            unknown = [k for k in keep if k.strip() != "faults"]
            if unknown:
                reason = f"keep: {unknown[0]!r} cannot be kept (use keep=faults; the clock and keys are always kept)"
                return json_response({"error": reason, "status": 400}, 400)
            self.reset(keep_faults=bool(keep))
            return json_response({"reset": True, **({"kept": ["faults"]} if keep else {})})
        if endpoint == "__activity":
            seen, active = reader.activity()
            return json_response({"received": seen, "active": active, "counts": reader.counts()})
        if endpoint == "__requests":
            return json_response({"requests": reader.requests(), "dropped": reader.journal_dropped})
        if endpoint != "__faults":
            return self.inspect_more(endpoint, request)
        if request.method == "GET":
            return json_response({"faults": self.faults.as_json()})
        try:
            self.faults.replace(loads(request.get_data()))
        except FaultError as exc:
            return json_response({"error": str(exc), "status": 400}, 400)
        except (ValueError, RecursionError):
            return json_response({"error": "body: must be a JSON list of fault rules", "status": 400}, 400)
        return json_response({"faults": self.faults.as_json()})

    def _records_jsonl(self, request: Request) -> Response:
        """``GET /__segpendo/records.jsonl`` (or ``records?format=jsonl``): what ``records`` answers, streamed one
        item a line, ``{"<list>": item}``, list after list, then ``{"end": {"counts": {...}, ...}}``; ``?lists=``
        picks lists (comma-separated)."""
        reader = self.reader
        known: tuple[str, ...] = tuple(reader.inspected())
        asked = [name.strip() for name in request.args.get("lists", "").split(",") if name.strip()]
        unknown = [name for name in asked if name not in known]
        if unknown:
            reason = f"lists: unknown list {unknown[0]!r} (use {', '.join(known)})"
            return json_response({"error": reason, "status": 400}, 400)
        names = asked or list(known)

        def lines() -> Iterator[bytes]:
            batch: list[bytes] = []
            size = 0
            for name, item in reader.iter_inspection(names):
                line = dumps_bytes({name: item}) + b"\n"
                batch.append(line)
                size += len(line)
                if size >= 65536:
                    yield b"".join(batch)
                    batch, size = [], 0
            batch.append(dumps_bytes({"end": reader.totals()}) + b"\n")
            yield b"".join(batch)

        return Response(lines(), content_type="application/x-ndjson")

    def inspect_more(self, endpoint: str, request: Request) -> Response:
        """Inspection endpoints of one fake only (``/__segpendo/clock`` on the Pendo fake)."""
        return json_response({"error": f"no such inspection endpoint: {request.path}", "status": 404}, 404)

    def reset(self, keep_faults: bool = False) -> None:
        """Forget everything received; forget the fault rules too unless ``keep_faults`` (then they count afresh)."""
        self.reader.reset()
        if keep_faults:
            self.faults.restart()
        else:
            self.faults.clear()


class FakeServer:
    """A fake's app run by :class:`ServerThread` (or by several processes, :class:`~.workers.WorkerPool`):
    lifecycle, URL, journal, refusals, faults, reset, check."""

    app: FakeApp
    server: ServerThread

    def start(self) -> FakeServer:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def rejected(self) -> list[dict[str, Any]]:
        """Every refused request: ``{request, route, method, path, status, reason}``."""
        return list(self.app.reader.listed("rejected"))

    def requests(self) -> list[dict[str, Any]]:
        """The request journal, oldest first."""
        return list(self.app.reader.requests())

    @property
    def faults(self) -> Faults:
        return self.app.faults

    @property
    def injected(self) -> list[dict[str, Any]]:
        """Every fault injected: ``{request, route, kind, phase, status, delay_ms, retry_after, processed}``, and
        for a request not processed, the ``records`` its body would have produced (see ``docs/pendo.md``)."""
        return list(self.app.reader.listed("injected"))

    def reset(self, keep_faults: bool = False) -> None:
        """Forget everything received, and every fault rule unless ``keep_faults=True`` (a check resets the fake
        before it runs: it keeps the rules a user set up, which then count their requests afresh)."""
        self.app.reset(keep_faults=keep_faults)

    def raise_errors(self) -> None:
        """Raise, in this thread, an exception raised inside the server while handling a request."""
        self.server.raise_errors()

    def check(self) -> None:
        """Deprecated name of :meth:`raise_errors`."""
        _deprecated("check()", "raise_errors()")
        self.raise_errors()

    def activity(self) -> tuple[int, int]:
        """``(requests received so far, requests being handled now)``; the first never goes back to 0."""
        seen, active = self.app.reader.activity()
        return int(seen), int(active)
