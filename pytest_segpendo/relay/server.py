"""The reference relay itself: Segment's webhooks in, Pendo's Track Events and Metadata APIs out.

The code here is the correct relay. What it reads from Segment, what it writes for Pendo, its own checks and the
requests it sends pass through the hook points of :class:`~pytest_segpendo.relay.bugs.Hooks`, where the bugs
a relay can be started with (``Relay(..., bugs=[...])``) make their one change each.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import Any, NoReturn

from werkzeug.wrappers import Request, Response

from ..fakes.core.server import ServerThread
from .bugs import BANK, BUGS, Hooks
from .pendo import PendoClient, PendoUnavailable
from .wire import MISSING, as_id, first_item, get, iso_ms

__all__ = ["ACCOUNT_PATH", "MAX_BODY", "REMEMBERED", "TRACK_PATH", "VISITOR_PATH", "Relay"]

MAX_BODY = 1 << 20  # bytes of a webhook body
REMEMBERED = 100_000  # messageIds of forwarded events kept to recognise Segment's re-deliveries

TRACK_PATH = "/data/track"
VISITOR_PATH = "/api/v1/metadata/visitor/custom/value?create=true"
ACCOUNT_PATH = "/api/v1/metadata/account/custom/value?create=true"
METADATA_PATHS = {"visitor": VISITOR_PATH, "account": ACCOUNT_PATH}

Call = tuple[str, str, Any]  # path, key, JSON body


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def _answer(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json", headers=headers)


def _encode(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode("ascii")


def _millis(stamp: Any) -> int | None:
    """Milliseconds since the epoch of a Segment timestamp (an ISO-8601 string or a number); None if neither."""
    if isinstance(stamp, str):
        return iso_ms(stamp)
    if isinstance(stamp, (int, float)) and not isinstance(stamp, bool) and math.isfinite(stamp):
        return int(stamp)
    return None


class Relay:
    """The reference relay, served by werkzeug in a background thread; usable as a context manager.

    ``pendo_url`` is Pendo's base URL (``https://app.pendo.io``, or a :class:`~pytest_segpendo.fakes.FakePendo`'s
    ``url``); ``track_secret`` is the app's Track Event shared secret, ``integration_key`` a write-enabled
    integration key; with ``secret`` (the webhook's shared secret) unsigned or badly signed webhooks are
    refused. ``bugs`` turns on bugs of :data:`~pytest_segpendo.relay.BUGS`. ``timeout`` bounds each request to
    Pendo, in seconds (under Segment's 5-second webhook timeout, so that Segment hears Pendo was slow).

    Segment delivers at least once: the relay remembers the ``messageId`` of the last ``remembered`` events it
    forwarded and does not forward one of them again (an event is remembered once Pendo took, or refused, all its
    requests; one that failed is forwarded again when Segment retries it).
    """

    def __init__(
        self,
        pendo_url: str,
        *,
        track_secret: str,
        integration_key: str,
        secret: str | None = None,
        bugs: Iterable[str] = (),
        host: str = "127.0.0.1",
        port: int = 0,
        timeout: float = 4.0,
        remembered: int = REMEMBERED,
    ):
        chosen = tuple(dict.fromkeys((bugs,) if isinstance(bugs, str) else bugs))
        unknown = [name for name in chosen if name not in BANK]
        if unknown:
            raise ValueError(f"unknown bug {unknown[0]!r} (choose from {', '.join(BUGS)})")
        if not track_secret or not integration_key:
            raise ValueError("track_secret and integration_key must not be empty")
        self.pendo_url = pendo_url
        self.track_secret = track_secret
        self.integration_key = integration_key
        self.secret = secret or None
        self.bugs: frozenset[str] = frozenset(chosen)
        self._hooks = Hooks(BANK[name] for name in chosen)
        self._pendo = PendoClient(pendo_url, timeout)
        self._server = ServerThread(self._wsgi, host, port)
        self.remembered = remembered
        self._forwarded: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------------------------------
    def start(self) -> Relay:
        """Listen; returns once connections are accepted. Raises OSError if the port is taken."""
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop listening and close every connection (to Segment's side and to Pendo)."""
        self._server.stop()
        self._pendo.close()

    def __enter__(self) -> Relay:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Where Segment should send the webhook (any path is accepted)."""
        return self._server.url

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def running(self) -> bool:
        return self._server.running

    def raise_errors(self) -> None:
        """Raise :class:`~pytest_segpendo.fakes.core.server.HandlerError` for an exception raised while handling a
        request."""
        self._server.raise_errors()

    # -- HTTP ------------------------------------------------------------------------------------------------
    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        return self.handle(Request(environ))(environ, start_response)

    def handle(self, request: Request) -> Response:
        """Answer one webhook request (forwarding its events to Pendo first)."""
        if request.method not in ("POST", "PUT", "PATCH"):
            return _answer(
                405,
                {"error": f"{request.method} is not allowed: Segment webhooks are POST"},
                {"Allow": "POST, PUT, PATCH"},
            )
        length = request.content_length
        if length is not None and length > MAX_BODY:
            if length <= 4 * MAX_BODY:  # read it, so that a client still sending it gets the answer
                while request.stream.read(65536):
                    pass
            return _answer(413, {"error": f"body of {length} bytes is over {MAX_BODY}"})
        raw = request.stream.read(MAX_BODY + 1)
        if len(raw) > MAX_BODY:
            return _answer(413, {"error": f"body is over {MAX_BODY} bytes"})
        if self.secret is not None:
            problem = self._hooks.check("signature", self._signature_problem(raw, request.headers.get("X-Signature")))
            if problem:
                return _answer(401, {"error": problem})
        try:
            body = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
        except (UnicodeDecodeError, ValueError) as exc:
            return _answer(400, {"error": f"body is not JSON: {exc}"})
        if isinstance(body, dict):
            events: list[Any] = [body]
        elif isinstance(body, list):
            events = body
        else:
            return _answer(400, {"error": "body must be a Segment event (a JSON object) or a JSON array of events"})
        return self._forward(self._hooks.read("batch", events, body))

    def _signature_problem(self, raw: bytes, given: str | None) -> str | None:
        if not given:
            return "X-Signature: required (HMAC-SHA1 of the body with the shared secret)"
        assert self.secret is not None
        key = self.secret.encode("utf-8")
        claimed = given.strip().lower().encode("latin-1", "replace")
        if hmac.compare_digest(hmac.new(key, raw, hashlib.sha1).hexdigest().encode("ascii"), claimed):
            return None
        first = first_item(raw)  # a batch: Segment signs its first item only
        if first is not None and hmac.compare_digest(
            hmac.new(key, first, hashlib.sha1).hexdigest().encode("ascii"), claimed
        ):
            return None
        return "X-Signature: does not match the body (wrong shared secret, or the body was changed)"

    def _seen(self, event: Any) -> bool:
        """Whether this event was forwarded already (a re-delivery of Segment's)."""
        mid = event.get("messageId") if isinstance(event, dict) else None
        if not isinstance(mid, str) or not mid:
            return False
        with self._lock:
            return mid in self._forwarded

    def _remember(self, event: Any) -> None:
        mid = event.get("messageId") if isinstance(event, dict) else None
        if not isinstance(mid, str) or not mid or self.remembered <= 0:
            return
        with self._lock:
            self._forwarded[mid] = None
            self._forwarded.move_to_end(mid)
            while len(self._forwarded) > self.remembered:
                self._forwarded.popitem(last=False)

    def _forward(self, events: Sequence[Any]) -> Response:
        forwarded = 0
        ignored = 0
        again = 0
        refused: list[dict[str, Any]] = []
        for index, event in enumerate(events):
            if self._seen(event):
                again += 1  # Segment delivered it again: Pendo has it
                continue
            calls = self.calls(event) if isinstance(event, dict) else []
            if not calls:
                ignored += 1
            requests = [(path, key, _encode(body)) for path, key, body in calls]
            for path, key, data in self._hooks.send(requests, event):
                try:
                    status, text = self._pendo.post(path, key, data)
                except PendoUnavailable as exc:
                    return _answer(
                        502, {"error": f"Pendo could not be reached: {exc}", "event": index, "forwarded": forwarded}
                    )
                if status >= 500 or status == 429:  # Pendo is down or busy: Segment is asked to try again
                    busy = {"error": f"Pendo answered {status}", "event": index, "forwarded": forwarded}
                    return _answer(503 if status == 429 else 502, busy)
                if status >= 400:
                    reason = text[:300].decode("utf-8", "replace")
                    refused.append({"event": index, "path": path.split("?")[0], "status": status, "reason": reason})
                else:
                    forwarded += 1
            self._remember(event)
        answer: dict[str, Any] = {"ok": True, "events": len(events), "forwarded": forwarded, "ignored": ignored}
        if again:
            answer["already_forwarded"] = again
        if refused:
            answer["refused"] = refused
            answer["note"] = "Pendo refused some requests (4xx): retrying would not help, so they are not retried"
        return _answer(200, answer)

    # -- what Pendo receives ---------------------------------------------------------------------------------
    def calls(self, event: dict[str, Any]) -> list[Call]:
        """The Pendo requests for one Segment event: ``(path, key, JSON body)`` each."""
        kind = event.get("type")
        if kind == "track":
            return self._track(event)
        if kind == "identify":
            return self._identify(event)
        if kind == "group":
            return self._group(event)
        return []  # page, screen, alias: nothing in Pendo

    def _wire_id(self, raw: Any) -> Any:
        """An id as the relay writes it (a string; None when ``raw`` is not an id)."""
        ident = as_id(raw)
        return None if ident is None else self._hooks.write("id", ident, raw)

    def _track(self, event: dict[str, Any]) -> list[Call]:
        name = event.get("event")
        if not isinstance(name, str) or name == "":
            return []  # Pendo requires an event name
        visitor = self._wire_id(self._hooks.read("userId", event.get("userId"), event))
        if visitor is None:
            return []  # the Track Events API needs a visitorId: anonymous tracks are not sent
        in_properties = get(event, "properties", "groupId")
        if in_properties is not MISSING and in_properties is not None:
            account = self._wire_id(in_properties)
        else:
            account = self._wire_id(self._hooks.read("context.groupId", get(event, "context", "groupId"), event))
        millis = _millis(self._hooks.read("timestamp", event.get("timestamp"), event))
        if millis is None:
            millis = int(time.time() * 1000)  # Pendo requires a timestamp; Segment always sets one
        properties = self._hooks.read("properties", event.get("properties"), event)
        if not isinstance(properties, dict):
            properties = {}
        context: dict[str, Any] = {}
        for field, path in (
            ("ip", ("ip",)),
            ("userAgent", ("userAgent",)),
            ("url", ("page", "url")),
            ("title", ("page", "title")),
        ):
            value = get(event, "context", *path)
            if value is not MISSING:
                context[field] = value
        body: dict[str, Any] = {"type": "track", "event": self._hooks.write("event", name, event), "visitorId": visitor}
        if account is not None:
            body["accountId"] = account
        body.update(timestamp=self._hooks.write("timestamp", millis, event), properties=properties, context=context)
        return [(TRACK_PATH, self.track_secret, body)]

    def _values(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """The metadata values of an identify's or group's traits; None when there is nothing to set."""
        traits = self._hooks.read("traits", event.get("traits"), event)
        values = self._hooks.write("values", dict(traits) if isinstance(traits, dict) else {}, event)
        if self._hooks.check("values", None if values else "no traits: nothing to set"):
            return None
        return values  # type: ignore[no-any-return]

    def _metadata(self, kind: str, raw: Any, values: dict[str, Any]) -> list[Call]:
        ident = self._wire_id(raw)
        if ident is None:
            return []  # the Metadata API needs a visitorId or an accountId
        return [(METADATA_PATHS[kind], self.integration_key, [{f"{kind}Id": ident, "values": values}])]

    def _identify(self, event: dict[str, Any]) -> list[Call]:
        raw = self._hooks.read("userId", event.get("userId"), event)
        if as_id(raw) is None:
            return []  # the Metadata API needs a visitorId
        values = self._values(event)
        return [] if values is None else self._metadata("visitor", raw, values)

    def _group(self, event: dict[str, Any]) -> list[Call]:
        raw = event.get("groupId")
        if as_id(raw) is None:
            return []  # the Metadata API needs an accountId
        values = self._values(event)
        if values is None:
            return []
        kind, target = self._hooks.write("target", ("account", raw), event)
        return self._metadata(kind, target, values)
