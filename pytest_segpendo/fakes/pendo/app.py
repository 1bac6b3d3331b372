"""The fake Pendo server's WSGI app: every way data reaches Pendo, decoded into records (see ``docs/pendo.md``)."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from werkzeug.routing import Map, PathConverter, Rule
from werkzeug.wrappers import Request, Response

from ... import defaults
from ...events import validate_event
from ...jsonl import loads
from ...profiles.classic import ClassicProfile
from ...records import Record
from ..core.app import FakeApp
from ..core.clock import Clock, FixedClock, WallClock, check_ms, clock_kind
from ..core.faults import FaultRule, Faults
from ..core.httpkit import BadRequest, json_response, read_body, read_json
from .decode import (
    AGENT_RECORD_TYPES,
    CREATE_SOURCE,
    DAY_MS,
    METADATA_SOURCE,
    TRACK_EVENTS_SOURCE,
    agent_records,
    decode_jzb,
    dedupe_key,
    field_warnings,
    metadata_items,
    property_warnings,
    too_old,
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
AGENT_WRITES = ("refuse", "accept")


@dataclass
class PendoConfig:
    """Keys, limits and rules of a fake Pendo server. A key left None accepts any non-empty value."""

    api_key: str | None = None  # the app's API key: beacon paths, /data/segmentio/<key>, errorlog ?apiKey=
    integration_key: str | None = None  # Metadata API and reads (x-pendo-integration-key)
    track_secret: str | None = None  # Track Events API shared secret (x-pendo-integration-key)
    max_body: int = defaults.MAX_BODY  # bytes of a request body
    max_decompressed: int = defaults.MAX_DECOMPRESSED  # bytes once a jzb or gzip body is inflated
    journal_limit: int | None = None  # keep only the last N requests in the journal (None: all)
    classic_settings: dict[str, Any] = field(default_factory=dict)  # the classic profile's, e.g. trackEvents
    # Track Events older than this (by the fake's clock) are answered 200 and dropped, as Pendo drops them;
    # None turns the rule off (replays of old captures).
    max_age_days: float | None = defaults.AGE_LIMIT_DAYS
    # Metadata API writes to the `agent` group: "refuse" (400, as Pendo documents) or "accept" (docs/pendo.md).
    agent_writes: str = "refuse"

    def __post_init__(self) -> None:
        if self.agent_writes not in AGENT_WRITES:
            raise ValueError(f"agent_writes: use refuse or accept (got {self.agent_writes!r})")
        if self.max_age_days is not None and not self.max_age_days >= 0:
            raise ValueError(f"max_age_days: must be 0 or more days, or None (got {self.max_age_days!r})")


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
        Rule("/__segpendo/records.jsonl", endpoint="__records_jsonl", methods=["GET"]),
        Rule("/__segpendo/reset", endpoint="__reset", methods=["POST"]),
        Rule("/__segpendo/requests", endpoint="__requests", methods=["GET"]),
        Rule("/__segpendo/activity", endpoint="__activity", methods=["GET"]),
        Rule("/__segpendo/faults", endpoint="__faults", methods=["GET", "POST"]),
        Rule("/__segpendo/clock", endpoint="__clock", methods=["GET", "POST"]),
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
    """The WSGI app; its state is in ``store``, its fault rules in ``faults``, its time in ``clock``."""

    store: PendoStore

    def __init__(
        self,
        config: PendoConfig | None = None,
        clock: Clock | None = None,
        faults: Iterable[Mapping[str, Any] | FaultRule] = (),
        *,
        store: PendoStore | None = None,
        rules: Faults | None = None,
    ):
        self.config = config or PendoConfig()
        self.store = store if store is not None else PendoStore(self.config.journal_limit)
        self.faults = rules if rules is not None else Faults(ROUTES, faults)
        self._clock: Clock = WallClock()
        self._clock_lock = threading.Lock()
        if clock is not None:
            self.clock = clock
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

    # -- the simulation clock --------------------------------------------------------------------------------
    @property
    def clock(self) -> Clock:
        """What the fake judges time-based rules against (Pendo's 7-day limit); assignable while serving."""
        with self._clock_lock:
            return self._clock

    @clock.setter
    def clock(self, clock: Clock) -> None:
        if not callable(getattr(clock, "now_ms", None)):
            raise TypeError(f"a clock needs a now_ms() method returning milliseconds (got {type(clock).__name__})")
        with self._clock_lock:
            self._clock = clock

    def now_ms(self) -> int:
        return int(self.clock.now_ms())

    def _max_age_ms(self) -> int | None:
        age = self.config.max_age_days
        return None if age is None else int(age * DAY_MS)

    def _age_drop(self, record: Record, now_ms: int | None = None) -> dict[str, Any] | None:
        """The drop entry of a Track Event Pendo never processes because of its age, or None to keep it."""
        max_age = self._max_age_ms()
        if max_age is None:
            return None
        reason = too_old(record.get("timestamp"), self.now_ms() if now_ms is None else now_ms, max_age)
        if reason is None:
            return None
        return {"rule": "timestamp-too-old", "reason": reason, "source": TRACK_EVENTS_SOURCE, "record": record}

    # -- hooks ---------------------------------------------------------------------------------------------
    def inspect_more(self, endpoint: str, request: Request) -> Response:
        if endpoint != "__clock":
            return super().inspect_more(endpoint, request)
        if request.method == "POST":
            try:
                body = loads(request.get_data())
            except (ValueError, RecursionError):
                body = None
            shape = 'body: must be a JSON object {"now": <milliseconds since the epoch> | null}'
            if not isinstance(body, dict):
                return json_response({"error": shape, "status": 400}, 400)
            if set(body) != {"now"}:
                extra = sorted(set(body) - {"now"})
                reason = (
                    f"{extra[0]}: unknown field ({shape})"
                    if extra
                    else "now: required (milliseconds since the epoch, or null for the wall clock)"
                )
                return json_response({"error": reason, "status": 400}, 400)
            if body["now"] is None:
                self.clock = WallClock()
            else:
                try:
                    self.clock = FixedClock(check_ms(body["now"], "now"))
                except ValueError as exc:
                    return json_response({"error": str(exc), "status": 400}, 400)
        clock = self.clock
        return json_response({"now": int(clock.now_ms()), "kind": clock_kind(clock)})

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
        events = self._beacon_events(request)
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

    def _beacon_events(self, request: Request) -> list[Any]:
        """The decoded batch of a beacon: ``jzb`` in the query (GET) or ``{"events": jzb}`` in the body (POST)."""
        if request.method == "POST":
            body = read_body(request, self.config.max_body, self.config.max_decompressed)
            try:
                payload = loads(body)
            except (ValueError, RecursionError):
                raise BadRequest(400, 'body: must be JSON {"events": "<jzb>"}') from None
            if not isinstance(payload, dict) or not isinstance(payload.get("events"), str):
                raise BadRequest(400, "body.events: required (the jzb-encoded batch)")
            events = decode_jzb(payload["events"], self.config.max_decompressed, "body.events")
        else:
            events = decode_jzb(request.args.get("jzb", ""), self.config.max_decompressed, "jzb")
        if not isinstance(events, list):
            raise BadRequest(400, "jzb: must decode to a JSON array of events")
        return events

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
        record, warnings = track_body_record(body)
        drop = self._age_drop(record)
        if drop is not None:  # answered as usual, never processed: listed in `dropped`, not as a record
            self.store.accept(entry, [], dropped=[drop])
            return Response(status=200)
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

    def _refuse_agent_group(self, group: str) -> None:
        if group == "agent" and self.config.agent_writes == "refuse":
            raise BadRequest(
                400,
                'metadata group agent: Pendo documents that agent metadata "cannot be modified manually or through '
                f'the API" ({METADATA_SOURCE}): write the custom group, or start the fake with agent_writes="accept" '
                "if your Pendo subscription takes agent writes (some do: docs/pendo.md)",
            )

    def _metadata(self, request: Request, args: Mapping[str, Any], entry: dict[str, Any]) -> Response:
        self._check_key(
            request.headers.get(KEY_HEADER), self.config.integration_key, f"{KEY_HEADER} (an integration key)"
        )
        kind, group = self._metadata_kind_group(args)
        self._refuse_agent_group(group)
        body = read_json(request, self.config.max_body, self.config.max_decompressed)
        items = metadata_items(body, kind)
        create = request.args.get("create", "").lower() in ("true", "1")
        records, missing, warnings, dropped = [], [], [], []
        errors: list[str] = []  # per-item refusals: none is documented, so the fake refuses no single item
        for i, (ident, values) in enumerate(items):
            warnings.extend(field_warnings(values, f"body[{i}].values"))
            record = _entity_record(kind, ident, values)
            if not create and not self.store.exists(kind, ident):
                missing.append(ident)
                dropped.append(
                    {
                        "rule": "metadata-unknown-id",
                        "reason": (
                            f"{kind} {ident!r} does not exist: Pendo lists it in `missing` and never applies the write "
                            "(add ?create=true to create it)"
                        ),
                        "source": CREATE_SOURCE,
                        "record": record,
                    }
                )
                continue
            records.append(record)
        self.store.accept(entry, records, group, warnings, dropped=dropped)
        return json_response(
            {
                "total": len(items),
                "updated": len(records),
                "failed": len(missing) + len(errors),
                "missing": missing,
                "errors": errors,
            }
        )

    def _metadata_value(self, request: Request, args: Mapping[str, Any], entry: dict[str, Any]) -> Response:
        self._check_key(
            request.headers.get(KEY_HEADER), self.config.integration_key, f"{KEY_HEADER} (an integration key)"
        )
        kind, group = self._metadata_kind_group(args)
        self._refuse_agent_group(group)
        ident, name = self._value_path(request, kind, group)
        value = read_json(request, self.config.max_body, self.config.max_decompressed)
        self.store.accept(
            entry, [_entity_record(kind, ident, {name: value})], group, field_warnings({name: value}, "field")
        )
        return Response(status=200)

    @staticmethod
    def _value_path(request: Request, kind: str, group: str) -> tuple[str, str]:
        segments = _raw_segments(request.environ, f"/api/v1/metadata/{kind}/{group}/value/")
        if len(segments) != 2:
            raise BadRequest(
                404, f"use PUT /api/v1/metadata/{kind}/{group}/value/<id>/<field> (URL-encode / inside an id)"
            )
        return segments[0], segments[1]

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

    def _segment_events(self, request: Request) -> list[Any]:
        body = read_json(request, self.config.max_body, self.config.max_decompressed)
        events = body if isinstance(body, list) else [body]
        for i, event in enumerate(events):
            errors = validate_event(event)
            if errors:
                where = f"body[{i}]: " if isinstance(body, list) else ""
                raise BadRequest(
                    400, f"{where}{errors[0]}" + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else "")
                )
        return events

    def _segmentio(self, request: Request, args: Mapping[str, Any], entry: dict[str, Any]) -> Response:
        self._check_key(
            args.get("key"), self.config.api_key, "segmentio: API key in the path (/data/segmentio/<apiKey>)"
        )
        events = self._segment_events(request)
        records: list[dict[str, Any]] = []
        ignored = []
        for event in events:
            reason = self.classic.run_actions(event, records.append)
            if reason is not None:
                ignored.append({"type": event.get("type"), "messageId": event.get("messageId"), "reason": reason})
        kept, dropped = [], []
        now = self.now_ms()
        for record in records:  # Track Events from the classic destination obey the Track Events rules
            drop = self._age_drop(record, now) if record["kind"] == "track" else None
            if drop is None:
                kept.append(record)
            else:
                dropped.append(drop)
        self.store.accept(entry, kept, "segmentio", ignored=ignored, dropped=dropped)
        return json_response({})

    # -- what a request not processed (an injected fault) would have produced ------------------------------
    def would_be(self, request: Request, endpoint: str, args: Mapping[str, Any]) -> list[dict[str, Any]]:
        limits = (self.config.max_body, self.config.max_decompressed)
        if endpoint == "track":
            return [track_body_record(read_json(request, *limits))[0]]
        if endpoint == "metadata":
            kind, _ = self._metadata_kind_group(args)
            return [_entity_record(kind, i, v) for i, v in metadata_items(read_json(request, *limits), kind)]
        if endpoint == "metadata.value":
            kind, group = self._metadata_kind_group(args)
            ident, name = self._value_path(request, kind, group)
            return [_entity_record(kind, ident, {name: read_json(request, *limits)})]
        if endpoint == "ptm.gif":
            events = self._beacon_events(request)
            return agent_records([e for e in events if isinstance(e, dict) and e.get("type") in AGENT_RECORD_TYPES])
        if endpoint == "segmentio":
            records: list[dict[str, Any]] = []
            for event in self._segment_events(request):
                self.classic.run_actions(event, records.append)
            return records
        return []


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
