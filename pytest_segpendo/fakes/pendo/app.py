"""The fake Pendo server's WSGI app: every way data reaches Pendo, decoded into records (see ``docs/pendo.md``)."""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from werkzeug.routing import Map, PathConverter, Rule
from werkzeug.wrappers import Request, Response

from ...events import validate_event
from ...jsonl import loads
from ...profiles.classic import ClassicProfile
from ..core.app import FakeApp
from ..core.faults import Faults
from ..core.httpkit import BadRequest, json_response, read_body, read_json
from .decode import (
    AGENT_RECORD_TYPES,
    agent_records,
    decode_jzb,
    dedupe_key,
    field_warnings,
    metadata_items,
    property_warnings,
    track_body_record,
)
from .store import PendoStore

# A 1x1 transparent GIF: what the agent's <img> beacons must get back (an exact Content-Length matters).
GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
BEACONS = ("ptm.gif", "guide.gif", "poll.gif", "agentic.gif", "log.gif")
ROUTES = (
    *BEACONS,
    "guide.json",
    "errorlog",
    "track",
    "metadata",
    "metadata.value",
    "schema",
    "visitor",
    "account",
    "segmentio",
)
KINDS = ("visitor", "account")
GROUPS = ("agent", "custom")
KEY_HEADER = "x-pendo-integration-key"


@dataclass
class PendoConfig:
    """Keys and limits of a fake Pendo server. A key left None accepts any non-empty value."""

    api_key: str | None = None  # the app's API key: beacon paths, /data/segmentio/<key>, errorlog ?apiKey=
    integration_key: str | None = None  # Metadata API and reads (x-pendo-integration-key)
    track_secret: str | None = None  # Track Events API shared secret (x-pendo-integration-key)
    max_body: int = 1 << 20  # bytes of a request body
    max_decompressed: int = 8 << 20  # bytes once a jzb or gzip body is inflated
    journal_limit: int | None = None  # keep only the last N requests in the journal (None: all)
    classic_settings: dict[str, Any] = field(default_factory=dict)
    max_age_days: float | None = 7  # Track Events older than this get a `timestamp-old` warning (None: no rule)


class _RestConverter(PathConverter):
    """Like ``path`` but also across newlines: ids are URL-encoded and may hold any character."""

    regex = "[^/][\\s\\S]*?"


def _url_map() -> Map:
    rules = []
    for beacon in BEACONS:
        rules += [
            Rule(f"/data/{beacon}/<key>", endpoint=beacon, methods=["GET", "POST", "OPTIONS"]),
            Rule(f"/data/{beacon}", endpoint=beacon, methods=["GET", "POST", "OPTIONS"], defaults={"key": ""}),
        ]
    rules += [
        Rule("/data/guide.json/<key>", endpoint="guide.json", methods=["GET", "POST", "OPTIONS"]),
        Rule("/data/guide.json", endpoint="guide.json", methods=["GET", "POST", "OPTIONS"], defaults={"key": ""}),
        Rule("/data/errorlog", endpoint="errorlog", methods=["POST", "OPTIONS"]),
        Rule("/data/track", endpoint="track", methods=["POST", "OPTIONS"]),
        Rule("/api/v1/metadata/<kind>/<group>/value", endpoint="metadata", methods=["POST"]),
        Rule("/api/v1/metadata/<kind>/<group>/value/<rest:rest>", endpoint="metadata.value", methods=["PUT"]),
        Rule("/api/v1/metadata/schema/<kind>", endpoint="schema", methods=["GET"]),
        Rule("/api/v1/visitor/<rest:ident>", endpoint="visitor", methods=["GET"]),
        Rule("/api/v1/account/<rest:ident>", endpoint="account", methods=["GET"]),
        Rule("/data/segmentio/<key>", endpoint="segmentio", methods=["POST"]),
        Rule("/data/segmentio", endpoint="segmentio", methods=["POST"], defaults={"key": ""}),
        Rule("/__segpendo/records", endpoint="__records", methods=["GET"]),
        Rule("/__segpendo/reset", endpoint="__reset", methods=["POST"]),
        Rule("/__segpendo/requests", endpoint="__requests", methods=["GET"]),
        Rule("/__segpendo/activity", endpoint="__activity", methods=["GET"]),
        Rule("/__segpendo/faults", endpoint="__faults", methods=["GET", "POST"]),
    ]
    return Map(rules, strict_slashes=False, merge_slashes=False, converters={"rest": _RestConverter})


def _raw_segments(environ: dict[str, Any], prefix: str) -> list[str]:
    """The URL-decoded segments after ``prefix``, split on the raw path so that ``%2F`` stays inside an id."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ.get("PATH_INFO", "")
    raw = raw.split("?", 1)[0]
    if "://" in raw:  # absolute-form request target
        raw = "/" + raw.split("://", 1)[1].split("/", 1)[-1]
    rest = raw[len(prefix) :] if raw.startswith(prefix) else raw
    return [unquote(part) for part in rest.split("/") if part != ""]


class PendoApp(FakeApp):
    """The WSGI app; its state is in ``store`` and its fault rules in ``faults``."""

    store: PendoStore

    def __init__(self, config: PendoConfig | None = None):
        self.config = config or PendoConfig()
        self.store = PendoStore(self.config.journal_limit)
        self.faults = Faults(ROUTES)
        self.url_map = _url_map()
        self.classic = ClassicProfile(self.config.classic_settings)
        self.handlers = {
            **dict.fromkeys(BEACONS, self._beacon),
            "guide.json": self._guide_json,
            "errorlog": self._errorlog,
            "track": self._track,
            "metadata": self._metadata,
            "metadata.value": self._metadata_value,
            "schema": self._schema,
            "visitor": self._read_entity,
            "account": self._read_entity,
            "segmentio": self._segmentio,
        }

    # -- hooks ---------------------------------------------------------------------------------------------
    def preflight(self, request: Request) -> Response:
        return _cors(request, Response(status=204))

    def finish(self, request: Request, response: Response) -> Response:
        return _cors(request, response) if request.path.startswith("/data/") else response

    # -- keys ----------------------------------------------------------------------------------------------
    @staticmethod
    def _check_key(given: str | None, expected: str | None, what: str) -> None:
        if given is None or not given.strip():
            raise BadRequest(401, f"{what}: required")
        if expected is not None and given != expected:
            raise BadRequest(403, f"{what}: not the configured key")

    # -- agent beacons ---------------------------------------------------------------------------------------
    def _beacon(self, request: Request, args: Mapping[str, Any], entry: dict[str, Any]) -> Response:
        route = entry["route"]
        self._check_key(args.get("key"), self.config.api_key, f"{route}: API key in the path (/data/{route}/<apiKey>)")
        if route == "log.gif":
            entry.update(message=request.args.get("msg"))
            self.store.accept(entry, [])
            return _gif(request)
        if request.method == "POST":
            body = read_body(request, self.config.max_body, self.config.max_decompressed)
            try:
                payload = loads(body)
            except (ValueError, UnicodeDecodeError):
                raise BadRequest(400, 'body: must be JSON {"events": "<jzb>"}') from None
            if not isinstance(payload, dict) or not isinstance(payload.get("events"), str):
                raise BadRequest(400, "body.events: required (the jzb-encoded batch)")
            events = decode_jzb(payload["events"], self.config.max_decompressed, "body.events")
        else:
            events = decode_jzb(request.args.get("jzb", ""), self.config.max_decompressed, "jzb")
        if not isinstance(events, list):
            raise BadRequest(400, "jzb: must decode to a JSON array of events")
        if route == "ptm.gif":
            agent_records(events)  # validate the whole batch before anything is kept
        keys = [dedupe_key(e) for e in events]
        seen = self.store.claim_events(keys)
        fresh = [e for e, s in zip(events, seen) if not s]
        records = agent_records([e for e in fresh if e.get("type") in AGENT_RECORD_TYPES]) if route == "ptm.gif" else []
        entry.update(events=[e.get("type") for e in events if isinstance(e, dict)], rt=request.args.get("rt"))
        warnings = []
        for r in records:
            if r["kind"] == "track" and isinstance(r["properties"], dict):
                warnings.extend(property_warnings(r["properties"]))
        self.store.accept(entry, records, "agent", warnings, duplicates=sum(seen))
        return _gif(request)

    def _guide_json(self, request: Request, args: Mapping[str, Any], entry: dict[str, Any]) -> Response:
        self._check_key(args.get("key"), self.config.api_key, "guide.json: API key in the path")
        if request.method == "POST":
            payload = read_json(request, self.config.max_body, self.config.max_decompressed)
            jzb = payload.get("events") if isinstance(payload, dict) else None
            if not isinstance(jzb, str):
                raise BadRequest(400, "body.events: required (the jzb-encoded request)")
        else:
            jzb = request.args.get("jzb", "")
        context = decode_jzb(jzb, self.config.max_decompressed, "jzb") if jzb else {}
        url = context.get("url", "") if isinstance(context, dict) else ""
        self.store.accept(entry, [])
        answer: dict[str, Any] = {
            "guides": [],
            "normalizedUrl": url if isinstance(url, str) else "",
            "lastGuideStepSeen": {},
        }
        if request.args.get("id") is not None:
            answer["id"] = request.args["id"]
        return json_response(answer)

    def _errorlog(self, request: Request, args: Mapping[str, Any], entry: dict[str, Any]) -> Response:
        self._check_key(request.args.get("apiKey"), self.config.api_key, "errorlog: apiKey query parameter")
        body = read_json(request, self.config.max_body, self.config.max_decompressed)
        entry.update(error=body.get("error") if isinstance(body, dict) else None)
        self.store.accept(entry, [])
        return Response(status=200)

    # -- server-side APIs ------------------------------------------------------------------------------------
    def _track(self, request: Request, args: Mapping[str, Any], entry: dict[str, Any]) -> Response:
        self._check_key(
            request.headers.get(KEY_HEADER), self.config.track_secret, f"{KEY_HEADER} (the Track Event shared secret)"
        )
        body = read_json(request, self.config.max_body, self.config.max_decompressed)
        age = self.config.max_age_days
        record, warnings = track_body_record(
            body, int(time.time() * 1000), None if age is None else int(age * 86_400_000)
        )
        if not self.store.knows_event_name(record["event"]) and self.store.event_name_count() >= 5000:
            warnings.append(("event-names", f"event {record['event']!r}: over Pendo's 5,000 track event names per app"))
        self.store.accept(entry, [record], None, warnings)
        return Response(status=200)

    def _metadata_kind_group(self, args: Mapping[str, Any]) -> tuple[str, str]:
        kind, group = args["kind"], args["group"]
        if kind not in KINDS:
            raise BadRequest(404, f"metadata kind {kind!r}: use visitor or account")
        if group not in GROUPS:
            raise BadRequest(404, f"metadata group {group!r}: use agent or custom")
        return kind, group

    def _metadata(self, request: Request, args: Mapping[str, Any], entry: dict[str, Any]) -> Response:
        self._check_key(
            request.headers.get(KEY_HEADER), self.config.integration_key, f"{KEY_HEADER} (an integration key)"
        )
        kind, group = self._metadata_kind_group(args)
        body = read_json(request, self.config.max_body, self.config.max_decompressed)
        items = metadata_items(body, kind)
        create = request.args.get("create", "").lower() in ("true", "1")
        records, missing, warnings = [], [], []
        for i, (ident, values) in enumerate(items):
            warnings.extend(field_warnings(values, f"body[{i}].values"))
            if not create and not self.store.exists(kind, ident):
                missing.append(ident)
                warnings.append(
                    ("missing", f"{kind} {ident!r} does not exist: the write was dropped (add ?create=true)")
                )
                continue
            records.append(_entity_record(kind, ident, values))
        self.store.accept(entry, records, group, warnings)
        return json_response({"total": len(items), "updated": len(records), "failed": len(missing), "missing": missing})

    def _metadata_value(self, request: Request, args: Mapping[str, Any], entry: dict[str, Any]) -> Response:
        self._check_key(
            request.headers.get(KEY_HEADER), self.config.integration_key, f"{KEY_HEADER} (an integration key)"
        )
        kind, group = self._metadata_kind_group(args)
        segments = _raw_segments(request.environ, f"/api/v1/metadata/{kind}/{group}/value/")
        if len(segments) != 2:
            raise BadRequest(
                404, f"use PUT /api/v1/metadata/{kind}/{group}/value/<id>/<field> (URL-encode / inside an id)"
            )
        ident, name = segments
        value = read_json(request, self.config.max_body, self.config.max_decompressed)
        self.store.accept(
            entry, [_entity_record(kind, ident, {name: value})], group, field_warnings({name: value}, "field")
        )
        return Response(status=200)

    def _schema(self, request: Request, args: Mapping[str, Any], entry: dict[str, Any]) -> Response:
        self._check_key(
            request.headers.get(KEY_HEADER), self.config.integration_key, f"{KEY_HEADER} (an integration key)"
        )
        kind = args["kind"]
        if kind not in (*KINDS, "parentAccount"):
            raise BadRequest(404, f"metadata kind {kind!r}: use visitor, account or parentAccount")
        self.store.accept(entry, [])
        return json_response(self.store.schema(kind))

    def _read_entity(self, request: Request, args: Mapping[str, Any], entry: dict[str, Any]) -> Response:
        self._check_key(
            request.headers.get(KEY_HEADER), self.config.integration_key, f"{KEY_HEADER} (an integration key)"
        )
        kind = entry["route"]
        segments = _raw_segments(request.environ, f"/api/v1/{kind}/")
        ident = segments[0] if len(segments) == 1 else "/".join(segments)
        groups = self.store.entity(kind, ident)
        self.store.accept(entry, [])
        if groups is None:
            return json_response({"error": f"{kind} {ident!r} not found", "status": 404}, 404)
        return json_response({f"{kind}Id": ident, "metadata": groups})

    def _segmentio(self, request: Request, args: Mapping[str, Any], entry: dict[str, Any]) -> Response:
        self._check_key(
            args.get("key"), self.config.api_key, "segmentio: API key in the path (/data/segmentio/<apiKey>)"
        )
        body = read_json(request, self.config.max_body, self.config.max_decompressed)
        events = body if isinstance(body, list) else [body]
        for i, event in enumerate(events):
            errors = validate_event(event)
            if errors:
                where = f"body[{i}]: " if isinstance(body, list) else ""
                raise BadRequest(
                    400, f"{where}{errors[0]}" + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else "")
                )
        records: list[dict[str, Any]] = []
        ignored = []
        for event in events:
            reason = self.classic.run_actions(event, records.append)
            if reason is not None:
                ignored.append({"type": event.get("type"), "messageId": event.get("messageId"), "reason": reason})
        self.store.accept(entry, records, "segmentio", ignored=ignored)
        return json_response({})


def _cors(request: Request, response: Response) -> Response:
    origin = request.headers.get("Origin")
    response.headers["Access-Control-Allow-Origin"] = origin or "*"
    if origin:
        response.headers["Vary"] = "Origin"
    response.headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, OPTIONS"
    response.headers["Access-Control-Allow-Headers"] = (
        request.headers.get("Access-Control-Request-Headers") or "content-type"
    )
    response.headers["Access-Control-Max-Age"] = "86400"
    return response


def _entity_record(kind: str, ident: str, values: dict[str, Any]) -> dict[str, Any]:
    if kind == "visitor":
        return {"kind": "visitor", "id": ident, "metadata": values}
    return {
        "kind": "account",
        "id": ident,
        "metadata": values,
        "parentAccountId": ident.split("::")[0] if "::" in ident else None,
    }


def _gif(request: Request) -> Response:
    if request.method == "POST":
        # sendBeacon/fetch POSTs: an empty 200 (Chromium stalls the agent's next large POST after an image body)
        return Response(b"", status=200, headers={"Cache-Control": "no-store"})
    return Response(GIF, status=200, content_type="image/gif", headers={"Cache-Control": "no-store"})
