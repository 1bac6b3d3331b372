"""Decoding what reaches Pendo into records, with the field named in every refusal.

- agent beacons: ``jzb`` = base64url (no padding) of zlib-deflated JSON, an array of events (docs/pendo.md, "Routes");
- Track Events API bodies (``POST /data/track``);
- Metadata API bodies (``POST .../metadata/{kind}/{group}/value``).
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime, timezone
from typing import Any

from ...jsonl import dumps_bytes, loads
from ...mapping.js import js_string
from ...profiles.agent import DELIMITER, is_valid_id
from ...records import Record
from ..core.httpkit import MAX_JSON_DEPTH, BadRequest, inflate, too_deep

_B64URL = re.compile(rb"[A-Za-z0-9_-]*={0,2}")
PROPERTY_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
DAY_MS = 86_400_000

# Where each rule comes from (a drop or refusal names its source).
TRACK_EVENTS_SOURCE = "https://support.pendo.io/hc/en-us/articles/360032294291-Configure-Track-Events"
METADATA_SOURCE = "https://support.pendo.io/hc/en-us/articles/360031832072-Visitor-and-Account-Metadata"
CREATE_SOURCE = "https://support.pendo.io/hc/en-us/community/posts/9320635116315"


def decode_jzb(text: str | bytes, max_decompressed: int, what: str = "jzb") -> Any:
    """The JSON inside a ``jzb`` value; 400/413 naming ``what`` when it is not base64url, zlib or JSON."""
    raw = text.encode("ascii", "replace") if isinstance(text, str) else text
    raw = raw.strip()
    if not raw:
        raise BadRequest(400, f"{what}: required")
    if not _B64URL.fullmatch(raw):
        raise BadRequest(400, f"{what}: not base64url (characters A-Z a-z 0-9 - _ only)")
    try:
        compressed = base64.urlsafe_b64decode(raw.rstrip(b"=") + b"=" * (-len(raw.rstrip(b"=")) % 4))
    except (binascii.Error, ValueError):
        raise BadRequest(400, f"{what}: not valid base64url (length {len(raw)})") from None
    data = inflate(compressed, max_decompressed, what=what)
    try:
        value = loads(data)
    except UnicodeDecodeError:
        raise BadRequest(400, f"{what}: decompressed data is not UTF-8") from None
    except RecursionError:  # deeper than the parser's stack: deeper than the limit too
        raise BadRequest(400, f"{what}: arrays and objects nested more than {MAX_JSON_DEPTH} levels deep") from None
    except ValueError as exc:
        raise BadRequest(400, f"{what}: decompressed data is not JSON ({getattr(exc, 'msg', exc)})") from None
    if too_deep(value):
        raise BadRequest(400, f"{what}: arrays and objects nested more than {MAX_JSON_DEPTH} levels deep")
    return value


def encode_jzb(value: Any) -> str:
    """The agent's encoding, for tests and tools: ``base64url_nopad(zlib(json))``."""
    import zlib

    return base64.urlsafe_b64encode(zlib.compress(dumps_bytes(value))).rstrip(b"=").decode("ascii")


def _id(value: Any) -> str | None:
    return js_string(value) if is_valid_id(value) else None


def _parent_of(account_id: str | None, parent: Any) -> str | None:
    pid = _id(parent.get("id")) if isinstance(parent, dict) else None
    if pid is None and account_id is not None and DELIMITER in account_id:
        pid = account_id.split(DELIMITER)[0]
    return pid


def _require_dict(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadRequest(400, f"{where}: must be an object")
    return value


AGENT_RECORD_TYPES = ("identify", "meta", "track")


def agent_records(events: Any, where: str = "events") -> list[Record]:
    """Records from a decoded silo of agent events: ``meta`` -> visitor (+ account, parent account) writes,
    ``identify`` -> the visitor (and account) it makes current, ``track`` -> track events. Other types (load,
    click, guide events...) give nothing. A malformed event refuses the whole batch (400 naming it)."""
    if not isinstance(events, list):
        raise BadRequest(400, f"{where}: must be a JSON array of events")
    out: list[Record] = []
    for i, event in enumerate(events):
        at = f"{where}[{i}]"
        event = _require_dict(event, at)
        kind = event.get("type")
        if not isinstance(kind, str):
            raise BadRequest(400, f"{at}.type: required (a string)")
        if kind == "meta":
            props = _require_dict(event.get("props"), f"{at}.props")
            visitor = _require_dict(props.get("visitor"), f"{at}.props.visitor")
            vid = _id(visitor.get("id")) or _id(event.get("visitor_id"))
            if vid is None:
                raise BadRequest(400, f"{at}.props.visitor.id: required (a visitor id)")
            out.append({"kind": "visitor", "id": vid, "metadata": {k: v for k, v in visitor.items() if k != "id"}})
            account = props.get("account")
            parent = props.get("parentAccount")
            if account is not None:
                account = _require_dict(account, f"{at}.props.account")
                aid = _id(account.get("id"))
                if aid is not None:
                    out.append(
                        {
                            "kind": "account",
                            "id": aid,
                            "metadata": {k: v for k, v in account.items() if k != "id"},
                            "parentAccountId": _parent_of(aid, parent),
                        }
                    )
            if isinstance(parent, dict) and _id(parent.get("id")) is not None:
                out.append(
                    {
                        "kind": "parentAccount",
                        "id": _id(parent["id"]),
                        "metadata": {k: v for k, v in parent.items() if k != "id"},
                    }
                )
        elif kind == "identify":
            given = event.get("props")
            props = given if isinstance(given, dict) else {}
            vid = _id(props.get("visitor_id", event.get("visitor_id")))
            if vid is None:
                raise BadRequest(400, f"{at}.props.visitor_id: required (a visitor id)")
            out.append({"kind": "visitor", "id": vid, "metadata": {}})
            aid = _id(props.get("account_id", event.get("account_id")))
            if aid is not None:
                out.append({"kind": "account", "id": aid, "metadata": {}, "parentAccountId": _parent_of(aid, None)})
        elif kind == "track":
            name = event.get("track_event_name")
            if not isinstance(name, str) or not name:
                raise BadRequest(400, f"{at}.track_event_name: required (a string)")
            vid = _id(event.get("visitor_id"))
            if vid is None:
                raise BadRequest(400, f"{at}.visitor_id: required (a visitor id)")
            stamp = event.get("browser_time")
            props = event.get("props", {})
            context = {"url": event["url"]} if isinstance(event.get("url"), str) else {}
            out.append(
                {
                    "kind": "track",
                    "event": name,
                    "visitorId": vid,
                    "accountId": _id(event.get("account_id")),
                    "timestamp": stamp if isinstance(stamp, int) and not isinstance(stamp, bool) else None,
                    "properties": props if props is not None else {},
                    "context": context,
                }
            )
    return out


def dedupe_key(event: Any) -> tuple[Any, ...] | None:
    """What identifies one agent event across re-sends (the agent re-sends whole batches with ``rt=N``)."""
    if not isinstance(event, dict) or event.get("tabId") is None or event.get("sequence") is None:
        return None
    return (
        str(event.get("tabId")),
        str(event.get("frameId")),
        str(event.get("sequence")),
        str(event.get("type")),
        str(event.get("browser_time")),
        str(event.get("track_event_name")),
    )


# -- Track Events API --------------------------------------------------------------------------------------

_TRACK_FIELDS = ("type", "event", "visitorId", "accountId", "timestamp", "properties", "context")


def track_body_record(body: Any) -> tuple[Record, list[tuple[str, str]]]:
    """A Track Events API body -> (track record, warnings as (rule, detail)); BadRequest names a bad field.
    Whether Pendo then keeps it (its age) is :func:`too_old`'s question."""
    if isinstance(body, list):
        raise BadRequest(400, "body: must be one JSON object (the Track Events API takes one event per request)")
    if not isinstance(body, dict):
        raise BadRequest(400, "body: must be a JSON object")
    if body.get("type") != "track":
        raise BadRequest(
            400, f'type: must be "track" (got {body.get("type")!r})' if "type" in body else 'type: required ("track")'
        )
    event = body.get("event")
    if not isinstance(event, str) or event == "":
        raise BadRequest(
            400,
            "event: required (a non-empty string)"
            if event in (None, "")
            else f"event: must be a string (got {type(event).__name__})",
        )
    visitor = body.get("visitorId")
    if visitor is None or visitor == "":
        raise BadRequest(400, "visitorId: required")
    if not isinstance(visitor, (str, int, float)) or isinstance(visitor, bool):
        raise BadRequest(400, f"visitorId: must be a string (got {type(visitor).__name__})")
    account = body.get("accountId")
    if account is not None and (not isinstance(account, (str, int, float)) or isinstance(account, bool)):
        raise BadRequest(400, f"accountId: must be a string (got {type(account).__name__})")
    stamp = body.get("timestamp")
    if stamp is None:
        raise BadRequest(400, "timestamp: required (integer milliseconds since the epoch)")
    if (
        isinstance(stamp, bool)
        or not isinstance(stamp, (int, float))
        or (isinstance(stamp, float) and not stamp.is_integer())
    ):
        raise BadRequest(400, f"timestamp: must be an integer, milliseconds since the epoch (got {stamp!r:.40})")
    properties = body.get("properties", {})
    if properties is None:
        properties = {}
    if not isinstance(properties, dict):
        raise BadRequest(400, f"properties: must be an object (got {type(properties).__name__})")
    if "context" not in body:
        raise BadRequest(400, "context: required (an object; {} is allowed)")
    context = body["context"]
    if not isinstance(context, dict):
        raise BadRequest(400, f"context: must be an object (got {type(context).__name__})")
    for key in ("ip", "userAgent", "url", "title"):
        if key in context and context[key] is not None and not isinstance(context[key], str):
            raise BadRequest(400, f"context.{key}: must be a string (got {type(context[key]).__name__})")
    stamp = int(stamp)
    warnings: list[tuple[str, str]] = []
    for name in body:
        if name not in _TRACK_FIELDS:
            warnings.append(("unknown-field", f"{name}: not a Track Events API field; Pendo ignores it"))
    warnings.extend(property_warnings(properties))
    record = {
        "kind": "track",
        "event": event,
        "visitorId": js_string(visitor),
        "accountId": None if account is None or account == "" else js_string(account),
        "timestamp": stamp,
        "properties": properties,
        "context": context,
    }
    return record, warnings


def _iso(ms: int) -> str:
    try:
        return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    except (OverflowError, OSError, ValueError):
        return "out of range"


def too_old(stamp: Any, now_ms: int, max_age_ms: int | None) -> str | None:
    """Why Pendo never processes a Track Event with this ``timestamp`` when it arrives at ``now_ms`` (more than
    ``max_age_ms`` old), or None. The reason gives the age, and the seconds-for-milliseconds hint."""
    if max_age_ms is None or not isinstance(stamp, int) or isinstance(stamp, bool) or stamp >= now_ms - max_age_ms:
        return None
    age_days = (now_ms - stamp) / DAY_MS
    limit = f"{max_age_ms / DAY_MS:g}"
    reason = (
        f"timestamp {stamp} ({_iso(stamp)}) is {age_days:,.1f} days old at {_iso(now_ms)}, over Pendo's {limit}-day "
        "limit: Pendo answers 200 and never processes the event"
    )
    if 0 < stamp < 10**11 and 0 <= now_ms - stamp * 1000 <= max_age_ms:
        reason += f" (it looks like seconds, not milliseconds: {stamp} x 1000 is {_iso(stamp * 1000)})"
    elif 0 < stamp < 10**11:
        reason += " (it looks like seconds, not milliseconds)"
    return reason


def property_warnings(properties: dict[str, Any]) -> list[tuple[str, str]]:
    """Pendo's rules for Track Event properties, applied after accepting (support.pendo.io 360032294291)."""
    out = []
    for name in properties:
        if not PROPERTY_NAME.fullmatch(name):
            out.append(("property-name", f"properties.{name}: only letters, digits and _, not starting with a digit"))
        elif len(name) > 32:
            out.append(("property-name", f"properties.{name}: longer than 32 characters"))
        elif len(name) > 4 and name.startswith("__") and name.endswith("__"):
            out.append(("property-name", f"properties.{name}: must not both begin and end with __"))
    size = len(dumps_bytes(properties))
    if size > 512:
        out.append(
            (
                "properties-too-large",
                f'properties are {size} bytes of JSON, over 512: Pendo shows "event properties JSON too large"',
            )
        )
    return out


# -- Metadata API ------------------------------------------------------------------------------------------


def metadata_items(body: Any, kind: str) -> list[tuple[str, dict[str, Any]]]:
    """``[{visitorId|accountId, values}]`` -> [(id, values)]; BadRequest names the bad item and field."""
    id_field = "visitorId" if kind == "visitor" else "accountId"
    if not isinstance(body, list):
        raise BadRequest(400, f"body: must be a JSON array of {{{id_field}, values}} objects")
    out = []
    for i, item in enumerate(body):
        at = f"body[{i}]"
        if not isinstance(item, dict):
            raise BadRequest(400, f"{at}: must be an object")
        ident = item.get(id_field)
        if ident is None or ident == "":
            other = "accountId" if kind == "visitor" else "visitorId"
            hint = f" ({other} is for kind {'account' if kind == 'visitor' else 'visitor'})" if other in item else ""
            raise BadRequest(400, f"{at}.{id_field}: required{hint}")
        if not isinstance(ident, (str, int, float)) or isinstance(ident, bool):
            raise BadRequest(400, f"{at}.{id_field}: must be a string (got {type(ident).__name__})")
        values = item.get("values")
        if not isinstance(values, dict):
            raise BadRequest(400, f"{at}.values: required (an object of field values)")
        out.append((js_string(ident), values))
    return out


def field_warnings(values: dict[str, Any], where: str) -> list[tuple[str, str]]:
    """Pendo's metadata field-name rule: letters, digits and _, starting with a letter or _."""
    return [
        ("field-name", f"{where}.{name}: field names take letters, digits and _, and start with a letter or _")
        for name in values
        if not FIELD_NAME.fullmatch(name)
    ]
