"""What the fake Pendo server and the fake Segment API share: the request journal, dispatch (routing, fault
injection with every injected fault recorded, refusals recorded with their reason), the ``/__segpendo/``
inspection endpoints, and the start/stop/inspect API of a fake run in a background thread."""

from __future__ import annotations

import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map
from werkzeug.wrappers import Request, Response

from ...jsonl import dumps_bytes, loads
from .faults import FaultError, FaultRule, Faults
from .httpkit import BadRequest, json_response
from .server import ServerThread, _deprecated

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


# What an ``injected`` entry keeps of the records a request would have produced (it was not processed).
WOULD_BE_MAX_RECORDS = 50
WOULD_BE_MAX_BYTES = 64 * 1024


def now_iso() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"


class RequestJournal:
    """Every request a fake received (optionally only the last N), and every one it refused. Thread-safe."""

    def __init__(self, journal_limit: int | None = None):
        self.lock = threading.Lock()
        self._next_id = 1
        self.journal_limit = journal_limit
        self.journal: deque[dict[str, Any]] = deque(maxlen=journal_limit)
        self.journal_dropped = 0
        self.rejected: list[dict[str, Any]] = []
        self.injected: list[dict[str, Any]] = []
        self.seen = 0  # requests ever dispatched (inspection excluded); never reset
        self.active = 0  # requests being handled now

    def begin(self) -> None:
        with self.lock:
            self.seen += 1
            self.active += 1

    def end(self) -> None:
        with self.lock:
            self.active -= 1

    def activity(self) -> tuple[int, int]:
        """``(requests seen so far, requests being handled)``, what
        :func:`~pytest_segpendo.conformance.settle` watches."""
        with self.lock:
            return self.seen, self.active

    def clear_journal(self) -> None:
        """Forget the journal, the refusals and the injected faults (call with ``lock`` held)."""
        self.journal = deque(maxlen=self.journal_limit)
        self.journal_dropped = 0
        self.rejected = []
        self.injected = []

    def new_request(
        self, method: str, path: str, route: str, query: dict[str, Any], headers: dict[str, str]
    ) -> dict[str, Any]:
        with self.lock:
            entry = {
                "id": self._next_id,
                "time": now_iso(),
                "method": method,
                "path": path,
                "route": route,
                "query": query,
                "headers": headers,
                "status": None,
                "outcome": None,
            }
            self._next_id += 1
            if self.journal.maxlen is not None and len(self.journal) == self.journal.maxlen:
                self.journal_dropped += 1
            self.journal.append(entry)
            return entry

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
                }
            )

    def inject(self, entry: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
        """Record a fault injected into the request ``entry``; returns the stored item (updated in place later)."""
        with self.lock:
            stored = {"request": entry["id"], "route": entry["route"], **item}
            self.injected.append(stored)
            return stored

    def update(self, target: dict[str, Any], **values: Any) -> None:
        """Change a stored item (a journal entry, an injected fault) under the lock."""
        with self.lock:
            target.update(values)

    def requests(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(e) for e in self.journal]

    def listed(self, name: str) -> list[Any]:
        """A copy of one of the store's lists (``rejected``, ``warnings``...), without copying the rest."""
        with self.lock:
            return list(getattr(self, name))

    # Filled in by each fake's store.
    def reset(self) -> None:
        raise NotImplementedError

    def snapshot(self) -> dict[str, Any]:
        raise NotImplementedError


class FakeApp:
    """A fake's WSGI app: subclasses give ``url_map``, ``handlers``, a ``store`` and the error body shape."""

    url_map: Map
    handlers: dict[str, Handler]
    store: RequestJournal
    faults: Faults
    records_key = "records"

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
        headers = {k.lower(): v for k, v in request.headers.items() if k.lower() in JOURNAL_HEADERS}
        entry = self.store.new_request(request.method, request.path, endpoint, query, headers)
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
        return self.finish(request, json_response(self.error_body(status, reason), status))

    def inspect(self, endpoint: str, request: Request) -> Response:
        if endpoint == "__records":
            return json_response(self.store.snapshot())
        if endpoint == "__reset":
            keep = [k for k in request.args.get("keep", "").split(",") if k.strip()]
            unknown = [k for k in keep if k.strip() != "faults"]
            if unknown:
                reason = f"keep: {unknown[0]!r} cannot be kept (use keep=faults; the clock and keys are always kept)"
                return json_response({"error": reason, "status": 400}, 400)
            self.reset(keep_faults=bool(keep))
            return json_response({"reset": True, **({"kept": ["faults"]} if keep else {})})
        if endpoint == "__activity":
            seen, active = self.store.activity()
            return json_response({"received": seen, "active": active})
        if endpoint == "__requests":
            return json_response({"requests": self.store.requests(), "dropped": self.store.journal_dropped})
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

    def inspect_more(self, endpoint: str, request: Request) -> Response:
        """Inspection endpoints of one fake only (``/__segpendo/clock`` on the Pendo fake)."""
        return json_response({"error": f"no such inspection endpoint: {request.path}", "status": 404}, 404)

    def reset(self, keep_faults: bool = False) -> None:
        """Forget everything received; forget the fault rules too unless ``keep_faults`` (then they count afresh)."""
        self.store.reset()
        if keep_faults:
            self.faults.restart()
        else:
            self.faults.clear()


class FakeServer:
    """A fake's app run by :class:`ServerThread`: lifecycle, URL, journal, refusals, faults, reset, check."""

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
        return self.app.store.listed("rejected")

    def requests(self) -> list[dict[str, Any]]:
        """The request journal, oldest first."""
        return self.app.store.requests()

    @property
    def faults(self) -> Faults:
        return self.app.faults

    @property
    def injected(self) -> list[dict[str, Any]]:
        """Every fault injected: ``{request, route, kind, phase, status, delay_ms, retry_after, processed}``, and
        for a request not processed, the ``records`` its body would have produced (see ``docs/pendo.md``)."""
        store = self.app.store
        with store.lock:
            return [dict(item) for item in store.injected]

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
        return self.app.store.activity()
