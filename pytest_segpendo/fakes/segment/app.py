"""The fake Segment Tracking API: what Segment's libraries (analytics-python, analytics-node) post to, captured
as Segment events (see ``docs/segment.md``)."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from ...events import MAX_EVENT_BYTES, event_size, validate_event
from ..core.app import FakeApp, now_iso
from ..core.faults import Faults
from ..core.httpkit import BadRequest, json_response, read_json
from .store import SegmentStore

CALLS = ("identify", "track", "page", "screen", "group", "alias")
ROUTES = (*CALLS, "batch", "import")
MAX_BATCH_BYTES = 500 * 1024
MAX_BATCH_EVENTS = 2500

WRONG_KEY_SOURCE = (
    "Segment's edge is stateless and does not validate write keys: segmentio/analytics-node#59, "
    "segmentio/analytics-ruby#136"
)
EMPTY_KEY_SOURCE = "a missing write key gets 400 as reported in segmentio/analytics-go#205, not documented by Segment"

_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_encoding",
    429: "rate_limited",
}


@dataclass
class SegmentConfig:
    """A fake Segment API's write key and limits. A write key left None accepts any non-empty one."""

    write_key: str | None = None
    max_body: int = MAX_BATCH_BYTES  # bytes of a request body as sent (gzip or not)
    max_decompressed: int = MAX_BATCH_BYTES  # bytes of the JSON (Segment's limits are on the JSON)
    journal_limit: int | None = None


def _url_map() -> Map:
    rules = [Rule(f"/v1/{call}", endpoint=call, methods=["POST"]) for call in CALLS]
    rules += [
        Rule("/v1/batch", endpoint="batch", methods=["POST"]),
        Rule("/v1/import", endpoint="import", methods=["POST"]),
        Rule("/__segpendo/records", endpoint="__records", methods=["GET"]),
        Rule("/__segpendo/events", endpoint="__records", methods=["GET"]),
        Rule("/__segpendo/reset", endpoint="__reset", methods=["POST"]),
        Rule("/__segpendo/requests", endpoint="__requests", methods=["GET"]),
        Rule("/__segpendo/activity", endpoint="__activity", methods=["GET"]),
        Rule("/__segpendo/faults", endpoint="__faults", methods=["GET", "POST"]),
    ]
    return Map(rules, strict_slashes=False, merge_slashes=False)


class SegmentApp(FakeApp):
    """The WSGI app of the fake Segment Tracking API."""

    store: SegmentStore

    def __init__(self, config: SegmentConfig | None = None):
        self.config = config or SegmentConfig()
        self.store = SegmentStore(self.config.journal_limit)
        self.faults = Faults(ROUTES)
        self.url_map = _url_map()
        self.handlers = {**dict.fromkeys(CALLS, self._single), "batch": self._batch, "import": self._batch}

    def error_body(self, status: int, reason: str, **extra: Any) -> dict[str, Any]:
        # analytics-python reads `code` and `message` from an error body
        return {"code": extra.get("code", _CODES.get(status, "error")), "message": reason}

    # -- write key -----------------------------------------------------------------------------------------
    def _write_key(self, request: Request, body: Any) -> str | None:
        """The write key given (HTTP Basic user name, else ``writeKey`` in the body); 400 when there is none.
        Returns None when it is fine, or the reason its events are dropped (a key other than the configured one:
        Segment's edge answers 200 and drops them)."""
        header = request.headers.get("Authorization", "")
        key = None
        bad_basic = False
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "basic" and value:
            try:
                key = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")[0]
            except (binascii.Error, UnicodeDecodeError):
                bad_basic = True
        if not key and isinstance(body, dict) and isinstance(body.get("writeKey"), str):
            key = body["writeKey"]  # in the body, alone or beside an OAuth Bearer token
        if not key:
            what = (
                "Authorization: Basic credentials are not base64 of 'writeKey:'"
                if bad_basic
                else 'write key required: HTTP Basic auth with the write key as user name, or "writeKey" in the body'
            )
            raise BadRequest(400, f"{what} ({EMPTY_KEY_SOURCE})", code="missing_write_key")
        if self.config.write_key is not None and key != self.config.write_key:
            return f"wrong write key: Segment answers 200 and drops the events ({WRONG_KEY_SOURCE})"
        return None

    # -- events --------------------------------------------------------------------------------------------
    def _prepare(self, item: Any, received: str, context: Any, integrations: Any) -> Any:
        """What Segment does to an item on receipt: merge batch context/integrations, set receivedAt (and
        timestamp/messageId when the caller left them out)."""
        if not isinstance(item, dict):
            return item
        event = {k: v for k, v in item.items() if k != "writeKey"}
        if isinstance(context, dict):
            own = event.get("context")
            event["context"] = {**context, **own} if isinstance(own, dict) else dict(context)
        if isinstance(integrations, dict):
            own = event.get("integrations")
            event["integrations"] = {**integrations, **own} if isinstance(own, dict) else dict(integrations)
        event.setdefault("messageId", f"api-{uuid.uuid4()}")
        event.setdefault("timestamp", received)
        event["receivedAt"] = received
        return event

    def _take(self, entry: dict[str, Any], items: list[Any], top: dict[str, Any], dropped: str | None) -> Response:
        received = now_iso()
        good, refused = [], []
        for i, item in enumerate(items):
            event = self._prepare(item, received, top.get("context"), top.get("integrations"))
            if isinstance(event, dict) and event_size(event) > MAX_EVENT_BYTES:
                raise BadRequest(
                    400,
                    f"batch[{i}]: event of {event_size(event)} bytes is over the 32 KB limit",
                    code="payload_too_large",
                )
            errors = [dropped] if dropped is not None else validate_event(event)
            if errors:
                mid = event.get("messageId") if isinstance(event, dict) else None
                refused.append((i, mid, "; ".join(map(str, errors))))
            else:
                good.append(event)
        self.store.accept(entry, good, refused, dropped=dropped is not None)
        return json_response({"success": True})

    def _read(self, request: Request, max_body: int) -> Any:
        """The JSON body; Segment answers 400 (not 413) to a payload over its limits."""
        try:
            return read_json(request, max_body, self.config.max_decompressed)
        except BadRequest as exc:
            if exc.status == 413:
                raise BadRequest(400, exc.reason, code="payload_too_large") from None
            raise

    def _single(self, request: Request, args: Mapping[str, Any], entry: dict[str, Any]) -> Response:
        body = self._read(request, min(self.config.max_body, MAX_EVENT_BYTES * 4))
        dropped = self._write_key(request, body)
        if not isinstance(body, dict):
            raise BadRequest(400, "body: must be a JSON object (one event)", code="invalid_request")
        event = {**body, "type": entry["route"]}
        return self._take(entry, [event], {}, dropped)

    def _batch(self, request: Request, args: Mapping[str, Any], entry: dict[str, Any]) -> Response:
        body = self._read(request, self.config.max_body)
        dropped = self._write_key(request, body)
        if not isinstance(body, dict) or not isinstance(body.get("batch"), list):
            raise BadRequest(400, "body.batch: required (a JSON array of events)", code="invalid_request")
        items = body["batch"]
        if len(items) > MAX_BATCH_EVENTS:
            reason = dropped or f"batch of {len(items)} events: at most 2,500 per batch"
            refused = [(i, e.get("messageId") if isinstance(e, dict) else None, reason) for i, e in enumerate(items)]
            self.store.accept(entry, [], refused, dropped=dropped is not None)
            return json_response({"success": True})
        return self._take(entry, items, body, dropped)
