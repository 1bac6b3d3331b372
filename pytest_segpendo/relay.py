"""The bundled reference relay: a small server-side relay from Segment to Pendo, and a bank of realistic bugs.

It is a *system under test*, written the way a team would write its own relay, not with the toolkit's
profiles: it receives Segment's classic webhook (one event per ``POST``; a JSON array of whole events, as
Webhooks (Actions) batches them, is accepted too), checks ``X-Signature`` when a shared secret is set, and
forwards each event to Pendo before it answers:

- ``track`` -> ``POST /data/track`` (header ``x-pendo-integration-key: <track secret>``), body
  ``{"type": "track", "event", "visitorId", "accountId", "timestamp", "properties", "context"}``;
- ``identify`` -> ``POST /api/v1/metadata/visitor/custom/value?create=true``, ``[{"visitorId", "values": traits}]``;
- ``group`` -> ``POST /api/v1/metadata/account/custom/value?create=true``, ``[{"accountId", "values": traits}]``;
- ``page``, ``screen``, ``alias``: nothing.

Answers: ``200`` once Pendo accepted everything (or refused some of it with a 4xx: a retry would be refused
again, so the refusals are listed in the answer's ``refused`` and the event is not retried); ``502`` when Pendo
answered 5xx or could not be reached, so that Segment retries (events of a batch already forwarded are then
forwarded again: delivery is at least once); ``401`` for a missing or wrong signature; ``400`` for a body that
is not JSON; ``413`` over 1 MiB; ``405`` for methods other than POST, PUT and PATCH.

>>> from pytest_segpendo.fakes import FakePendo
>>> from pytest_segpendo.delivery import deliver
>>> with FakePendo(track_secret="t") as pendo, Relay(pendo.url, track_secret="t", integration_key="k") as relay:
...     report = deliver([{"type": "track", "userId": "u1", "event": "Signed Up",
...                        "timestamp": "2026-01-05T09:00:00.000Z"}], relay.url)
...     [(r["event"], r["visitorId"], r["timestamp"]) for r in pendo.records()]
[('Signed Up', 'u1', 1767603600000)]

``Relay(..., bugs=["seconds-timestamps"])`` turns on bugs of :data:`BUGS`, each a mistake relay authors make,
each changing only the behaviour it names: what a test of your own relay should catch.

From the command line: ``python -m pytest_segpendo.relay --pendo URL --track-secret K --integration-key K``
prints ``{"relay": "http://127.0.0.1:N"}`` once it listens and stops on SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import json
import math
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import date
from types import TracebackType
from typing import Any, NoReturn
from urllib.parse import urlsplit

from werkzeug.wrappers import Request, Response

from . import __version__
from .fakes.core.server import ServerThread

__all__ = ["BROKEN", "BUGS", "MAX_BODY", "Relay", "main"]

MAX_BODY = 1 << 20  # bytes of a webhook body

BUGS: dict[str, str] = {
    "non-string-traits-dropped": "trait values that are not strings (numbers, booleans, null, objects, lists) are "
    "left out of metadata",
    "anonymous-id-first": "visitorId = anonymousId even when userId exists, for tracks and identifies",
    "seconds-timestamps": "track timestamps sent in seconds instead of milliseconds",
    "account-lost": "context.groupId ignored: a track's accountId only comes from properties.groupId",
    "event-name-case": "track event names lower-cased",
    "numeric-ids-as-numbers": "a userId or groupId that is a number, or a string of digits, sent as a JSON number "
    '("007" becomes 7)',
    "double-send": "every Pendo request made twice, as a retry bug would",
    "unsigned-accepted": "the signature is not checked: forged and unsigned webhooks are forwarded",
    "parent-account-dropped": "traits.parentAccount left out of account metadata",
    "nested-traits-flattened": 'nested objects in traits flattened to "a.b" keys',
    "non-ascii-mangled": "non-ASCII characters in Pendo bodies replaced by \"?\" (an encode('ascii', 'replace') bug)",
    "batch-truncated": "of a JSON array of events, only the first is forwarded",
    "properties-dropped": "track properties sent as {}",
    "group-traits-to-visitor": "group traits written to the visitor's metadata (visitorId = userId) instead of the "
    "account's",
    "received-at-timestamps": "track timestamps taken from receivedAt (when Segment got the event) instead of "
    "timestamp",
    "empty-traits-sent": "an identify or group without traits still writes metadata (empty values), creating the "
    "visitor or account",
}

BROKEN: tuple[str, ...] = ("account-lost", "non-string-traits-dropped")
"""The bugs of the demo's "broken variant"."""

TRACK_PATH = "/data/track"
VISITOR_PATH = "/api/v1/metadata/visitor/custom/value?create=true"
ACCOUNT_PATH = "/api/v1/metadata/account/custom/value?create=true"
_KEY_HEADER = "x-pendo-integration-key"

_MISSING: Any = object()  # a key absent from an object (JavaScript's undefined)


# -- reading Segment events ----------------------------------------------------------------------------------


def _get(value: Any, *keys: str) -> Any:
    """``get(event, "a.b")`` as Segment's mapping-kit reads paths: a falsy value stops the walk and is the
    result; a key missing from an object, or a key of a non-object, gives ``_MISSING``."""
    for key in keys:
        if (
            value is None
            or value is False
            or value == ""
            or (isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0)
        ):
            return value
        value = value.get(key, _MISSING) if isinstance(value, dict) else _MISSING
        if value is _MISSING:
            return _MISSING
    return value


def _js_number(value: int | float) -> str:
    """``String(n)`` in JavaScript: ``1`` -> ``"1"``, ``1.5`` -> ``"1.5"``, ``1e21`` -> ``"1e+21"``."""
    if isinstance(value, int):
        if abs(value) <= 2**53:
            return str(value)
        value = float(value)  # JSON numbers are doubles in JavaScript
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    # The shortest digits that read back as the same double, as JavaScript (and repr) choose them.
    text = repr(abs(value))
    if "e" in text:
        mantissa, exponent = text.split("e")
        digits, point = mantissa.replace(".", ""), int(exponent) + 1
    else:
        whole, _, frac = text.partition(".")
        if whole == "0":
            stripped = frac.lstrip("0")
            digits, point = stripped, -(len(frac) - len(stripped))
        else:
            digits, point = whole + frac, len(whole)
    digits = digits.rstrip("0") or "0"
    k = len(digits)
    if k <= point <= 21:
        out = digits + "0" * (point - k)
    elif 0 < point <= 21:
        out = digits[:point] + "." + digits[point:]
    elif -6 < point <= 0:
        out = "0." + "0" * -point + digits
    else:
        e = point - 1
        out = digits[0] + ("." + digits[1:] if k > 1 else "") + "e" + ("+" if e >= 0 else "-") + str(abs(e))
    return sign + out


def _id(value: Any) -> str | None:
    """An id as Pendo takes it (a string); None for what is not an id: null, "", objects, lists, booleans."""
    if value is _MISSING or value is None or value == "" or isinstance(value, (dict, list, bool)):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return _js_number(value)
    return None


_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?(Z|[+-]\d{2}(?::?\d{2})?)?)?",
    re.ASCII,
)
_EPOCH_DAY = date(1970, 1, 1).toordinal()


def _iso_ms(text: str) -> int | None:
    """Milliseconds since the epoch of an ISO-8601 date or date-time (no offset means UTC); None if it is not one."""
    m = _ISO.fullmatch(text)
    if not m:
        return None
    year, month, day, hour, minute, second, frac, offset = m.groups()
    try:
        days = date(int(year), int(month), int(day)).toordinal() - _EPOCH_DAY
    except ValueError:
        return None
    ms = days * 86_400_000
    if hour is not None:
        if int(hour) > 23 or int(minute) > 59 or int(second or 0) > 60:
            return None
        ms += ((int(hour) * 60 + int(minute)) * 60 + int(second or 0)) * 1000
        if frac:
            ms += int((frac + "00")[:3])
    if offset and offset != "Z":
        digits = offset[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:] or 0)
        if hours > 23 or minutes > 59:
            return None
        ms -= (1 if offset[0] == "+" else -1) * (hours * 60 + minutes) * 60_000
    return ms


def _flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _first_item(raw: bytes) -> bytes | None:
    """The exact bytes of the first item of a JSON array body (what Segment signs in a batch), or None."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    i = len(text) - len(text.lstrip(" \t\r\n"))
    if not text.startswith("[", i):
        return None
    i += 1
    while i < len(text) and text[i] in " \t\r\n":
        i += 1
    try:
        _, end = json.JSONDecoder().raw_decode(text, i)
    except ValueError:
        return None
    return text[i:end].encode("utf-8")


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


# -- talking to Pendo ----------------------------------------------------------------------------------------


class PendoUnavailable(Exception):
    """Pendo could not be reached (connection refused, reset, timed out)."""


class _PendoClient:
    """Keep-alive connections to Pendo: each request takes an idle one (or opens one) and gives it back."""

    def __init__(self, url: str, timeout: float):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"pendo_url must be an http(s) URL (got {url!r})")
        try:
            _ = parts.port
        except ValueError:
            raise ValueError(f"pendo_url has a bad port (got {url!r})") from None
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def _connect(self) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
        return cls(self.host, self.port, timeout=self.timeout)

    def post(self, path: str, key: str, body: bytes) -> tuple[int, bytes]:
        """POST ``body`` to ``path``; (status, answer body). Raises :class:`PendoUnavailable`."""
        headers = {
            "Content-Type": "application/json",
            _KEY_HEADER: key,
            "User-Agent": f"segpendo-relay/{__version__}",
        }
        with self._lock:
            conn, reused = (self._idle.pop(), True) if self._idle else (None, False)
        for attempt in (1, 2):
            if conn is None:
                conn = self._connect()
            try:
                conn.request("POST", self.prefix + path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                conn.close()
                conn = None
                if reused and attempt == 1:  # Pendo closed an idle keep-alive connection: once more, afresh
                    reused = False
                    continue
                raise PendoUnavailable(f"{type(exc).__name__}: {exc}") from None
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                raise PendoUnavailable(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from None
            if response.will_close:
                conn.close()
            else:
                with self._lock:
                    self._idle.append(conn)
            return response.status, data
        raise AssertionError("unreachable")

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


# -- the relay -----------------------------------------------------------------------------------------------


def _answer(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json", headers=headers)


class Relay:
    """The reference relay, served by werkzeug in a background thread; usable as a context manager.

    ``pendo_url`` is Pendo's base URL (``https://app.pendo.io``, or a :class:`~pytest_segpendo.fakes.FakePendo`'s
    ``url``); ``track_secret`` is the app's Track Event shared secret, ``integration_key`` a write-enabled
    integration key; with ``secret`` (the webhook's shared secret) unsigned or badly signed webhooks are
    refused. ``bugs`` turns on bugs of :data:`BUGS`. ``timeout`` bounds each request to Pendo, in seconds.
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
    ):
        chosen = tuple(dict.fromkeys((bugs,) if isinstance(bugs, str) else bugs))
        unknown = [name for name in chosen if name not in BUGS]
        if unknown:
            raise ValueError(f"unknown bug {unknown[0]!r} (choose from {', '.join(BUGS)})")
        if not track_secret or not integration_key:
            raise ValueError("track_secret and integration_key must not be empty")
        self.pendo_url = pendo_url
        self.track_secret = track_secret
        self.integration_key = integration_key
        self.secret = secret or None
        self.bugs: frozenset[str] = frozenset(chosen)
        self._pendo = _PendoClient(pendo_url, timeout)
        self._server = ServerThread(self._wsgi, host, port)

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
        if self.secret is not None and "unsigned-accepted" not in self.bugs:
            problem = self._signature_problem(raw, request.headers.get("X-Signature"))
            if problem:
                return _answer(401, {"error": problem})
        try:
            body = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
        except (UnicodeDecodeError, ValueError) as exc:
            return _answer(400, {"error": f"body is not JSON: {exc}"})
        if isinstance(body, dict):
            events: list[Any] = [body]
        elif isinstance(body, list):
            events = body[:1] if "batch-truncated" in self.bugs else body
        else:
            return _answer(400, {"error": "body must be a Segment event (a JSON object) or a JSON array of events"})
        return self._forward(events)

    def _signature_problem(self, raw: bytes, given: str | None) -> str | None:
        if not given:
            return "X-Signature: required (HMAC-SHA1 of the body with the shared secret)"
        assert self.secret is not None
        key = self.secret.encode("utf-8")
        claimed = given.strip().lower().encode("latin-1", "replace")
        if hmac.compare_digest(hmac.new(key, raw, hashlib.sha1).hexdigest().encode("ascii"), claimed):
            return None
        first = _first_item(raw)  # a batch: Segment signs its first item only
        if first is not None and hmac.compare_digest(
            hmac.new(key, first, hashlib.sha1).hexdigest().encode("ascii"), claimed
        ):
            return None
        return "X-Signature: does not match the body (wrong shared secret, or the body was changed)"

    def _forward(self, events: Sequence[Any]) -> Response:
        forwarded = 0
        ignored = 0
        refused: list[dict[str, Any]] = []
        for index, event in enumerate(events):
            calls = self.calls(event) if isinstance(event, dict) else []
            if not calls:
                ignored += 1
            for path, key, payload in calls:
                for _ in range(2 if "double-send" in self.bugs else 1):
                    try:
                        status, text = self._pendo.post(path, key, self._encode(payload))
                    except PendoUnavailable as exc:
                        return _answer(
                            502, {"error": f"Pendo could not be reached: {exc}", "event": index, "forwarded": forwarded}
                        )
                    if status >= 500:
                        return _answer(
                            502, {"error": f"Pendo answered {status}", "event": index, "forwarded": forwarded}
                        )
                    if status >= 400:
                        reason = text[:300].decode("utf-8", "replace")
                        refused.append({"event": index, "path": path.split("?")[0], "status": status, "reason": reason})
                    else:
                        forwarded += 1
        answer: dict[str, Any] = {"ok": True, "events": len(events), "forwarded": forwarded, "ignored": ignored}
        if refused:
            answer["refused"] = refused
            answer["note"] = "Pendo refused some requests (4xx): retrying would not help, so they are not retried"
        return _answer(200, answer)

    def _encode(self, payload: Any) -> bytes:
        if "non-ascii-mangled" in self.bugs:
            return json.dumps(payload, ensure_ascii=False).encode("ascii", "replace")
        return json.dumps(payload, separators=(",", ":")).encode("ascii")

    # -- what Pendo receives ---------------------------------------------------------------------------------
    def calls(self, event: dict[str, Any]) -> list[tuple[str, str, Any]]:
        """The Pendo requests for one Segment event: ``(path, key, JSON body)`` each."""
        kind = event.get("type")
        if kind == "track":
            return self._track(event)
        if kind == "identify":
            return self._identify(event)
        if kind == "group":
            return self._group(event)
        return []  # page, screen, alias: nothing in Pendo

    def _wire_id(self, raw: Any, ident: str) -> Any:
        if "numeric-ids-as-numbers" in self.bugs:
            if isinstance(raw, (int, float)) and not isinstance(raw, bool):
                return raw
            if ident.isascii() and ident.isdigit():
                return int(ident)
        return ident

    def _visitor(self, event: dict[str, Any]) -> tuple[Any, str | None]:
        raw = event.get("userId")
        if "anonymous-id-first" in self.bugs and _id(event.get("anonymousId")) is not None:
            raw = event.get("anonymousId")
        return raw, _id(raw)

    def _track(self, event: dict[str, Any]) -> list[tuple[str, str, Any]]:
        name = event.get("event")
        if not isinstance(name, str) or name == "":
            return []  # Pendo requires an event name
        raw_visitor, visitor = self._visitor(event)
        if visitor is None:
            return []  # the Track Events API needs a visitorId: anonymous tracks are not sent
        in_properties = _get(event, "properties", "groupId")
        if in_properties is not _MISSING and in_properties is not None:
            raw_account = in_properties
        elif "account-lost" in self.bugs:
            raw_account = None
        else:
            raw_account = _get(event, "context", "groupId")
        account = _id(raw_account)
        stamp = event.get("receivedAt") if "received-at-timestamps" in self.bugs else event.get("timestamp")
        if isinstance(stamp, str):
            millis = _iso_ms(stamp)
        elif isinstance(stamp, (int, float)) and not isinstance(stamp, bool) and math.isfinite(stamp):
            millis = int(stamp)
        else:
            millis = None
        if millis is None:
            millis = int(time.time() * 1000)  # Pendo requires a timestamp; Segment always sets one
        if "seconds-timestamps" in self.bugs:
            millis //= 1000
        properties = event.get("properties")
        if not isinstance(properties, dict) or "properties-dropped" in self.bugs:
            properties = {}
        context: dict[str, Any] = {}
        for field, path in (
            ("ip", ("ip",)),
            ("userAgent", ("userAgent",)),
            ("url", ("page", "url")),
            ("title", ("page", "title")),
        ):
            value = _get(event, "context", *path)
            if value is not _MISSING:
                context[field] = value
        body: dict[str, Any] = {
            "type": "track",
            "event": name.lower() if "event-name-case" in self.bugs else name,
            "visitorId": self._wire_id(raw_visitor, visitor),
        }
        if account is not None:
            body["accountId"] = self._wire_id(raw_account, account)
        body.update(timestamp=millis, properties=properties, context=context)
        return [(TRACK_PATH, self.track_secret, body)]

    def _values(self, traits: Any) -> dict[str, Any] | None:
        """The metadata values of an identify's or group's traits; None when there is nothing to set."""
        if not isinstance(traits, dict):
            traits = {}
        values = dict(traits)
        if "nested-traits-flattened" in self.bugs:
            values = _flatten(values)
        if "non-string-traits-dropped" in self.bugs:
            values = {k: v for k, v in values.items() if isinstance(v, str)}
        if not values and "empty-traits-sent" not in self.bugs:
            return None
        return values

    def _identify(self, event: dict[str, Any]) -> list[tuple[str, str, Any]]:
        raw_visitor, visitor = self._visitor(event)
        if visitor is None:
            return []  # the Metadata API needs a visitorId
        values = self._values(event.get("traits"))
        if values is None:
            return []
        return [
            (VISITOR_PATH, self.integration_key, [{"visitorId": self._wire_id(raw_visitor, visitor), "values": values}])
        ]

    def _group(self, event: dict[str, Any]) -> list[tuple[str, str, Any]]:
        raw_account = event.get("groupId")
        account = _id(raw_account)
        if account is None:
            return []  # the Metadata API needs an accountId
        traits = event.get("traits")
        if "parent-account-dropped" in self.bugs and isinstance(traits, dict):
            traits = {k: v for k, v in traits.items() if k != "parentAccount"}
        values = self._values(traits)
        if values is None:
            return []
        if "group-traits-to-visitor" in self.bugs:
            raw_visitor = event.get("userId")
            visitor = _id(raw_visitor)
            if visitor is None:
                return []
            return [
                (
                    VISITOR_PATH,
                    self.integration_key,
                    [{"visitorId": self._wire_id(raw_visitor, visitor), "values": values}],
                )
            ]
        return [
            (ACCOUNT_PATH, self.integration_key, [{"accountId": self._wire_id(raw_account, account), "values": values}])
        ]


# -- command line ----------------------------------------------------------------------------------------------


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


if __name__ == "__main__":
    sys.exit(main())
