"""Profiles ``track-api`` and ``track-api+metadata``: a server-side relay (Segment Webhooks (Actions) or your own
code) posting to Pendo's Track Events API, and optionally to the Metadata API."""

from __future__ import annotations

from typing import Any

from ..events import timestamp_ms
from ..mapping.js import UNDEFINED, JsFunction, js_string
from ..mapping.kit import _LEAVES as LEAVES
from ..mapping.kit import json_view
from ..records import account_record, visitor_record
from .base import Action, ActionSpec, CompareHints, Emit, FieldSpec, Profile, Setting, cleaned, step


def P(path: str) -> dict[str, str]:
    return {"@path": path}


TRACK_SOURCE = "Pendo Track Events API (support.pendo.io 360032294291; Tealium connector field table)"
META_SOURCE = "Pendo v1 Metadata API, bulk set values: POST /api/v1/metadata/{kind}/{group}/value (docs/pendo.md)"


def track_account(event: dict[str, Any]) -> Any:
    """``{"@if": {"exists": $.properties.groupId, "then": $.properties.groupId, "else": $.context.groupId}}``."""
    properties = event.get("properties", UNDEFINED)
    found = properties.get("groupId", UNDEFINED) if type(properties) is dict else step(properties, "groupId")
    if found is None or found is UNDEFINED:
        context = event.get("context", UNDEFINED)
        found = context.get("groupId", UNDEFINED) if type(context) is dict else step(context, "groupId")
    return found


def track_context(event: dict[str, Any]) -> dict[str, Any]:
    """``{"ip": $.context.ip, "userAgent": $.context.userAgent, "url": $.context.page.url, "title":
    $.context.page.title}``, as JSON sees it (undefined left out)."""
    context = event.get("context", UNDEFINED)
    if type(context) is dict:
        ip = context.get("ip", UNDEFINED)
        agent = context.get("userAgent", UNDEFINED)
        page = context.get("page", UNDEFINED)
        if type(page) is dict:
            url = page.get("url", UNDEFINED)
            title = page.get("title", UNDEFINED)
        else:
            url = title = step(page, "url")
    else:
        ip = agent = url = title = step(context, "ip")
    out: dict[str, Any] = {}
    leaves = LEAVES
    if ip is not UNDEFINED:
        out["ip"] = ip if type(ip) in leaves else json_view(ip)
    if agent is not UNDEFINED:
        out["userAgent"] = agent if type(agent) in leaves else json_view(agent)
    if url is not UNDEFINED:
        out["url"] = url if type(url) in leaves else json_view(url)
    if title is not UNDEFINED:
        out["title"] = title if type(title) in leaves else json_view(title)
    return out


def _track_payload(event: dict[str, Any]) -> dict[str, Any]:
    """TRACK_EVENT's default mapping, hand-written (a ``$.key`` @path: the event's value as it is, undefined
    left out)."""
    get = event.get
    out: dict[str, Any] = {"type": "track"}
    value = get("event", UNDEFINED)
    if value is not UNDEFINED and type(value) is not JsFunction:
        out["event"] = value
    value = get("userId", UNDEFINED)
    if value is not UNDEFINED and type(value) is not JsFunction:
        out["visitorId"] = value
    account = track_account(event)
    if account is not UNDEFINED:
        out["accountId"] = cleaned(account)
    value = get("timestamp", UNDEFINED)
    if value is not UNDEFINED and type(value) is not JsFunction:
        out["timestamp"] = value
    value = get("properties", UNDEFINED)
    if value is not UNDEFINED and type(value) is not JsFunction:
        out["properties"] = value
    out["context"] = track_context(event)
    return out


def _metadata_payload(event: dict[str, Any], source: str, target: str) -> dict[str, Any]:
    """The default mapping of a Metadata action, hand-written: ``{target: $.source, values: $.traits}``."""
    out: dict[str, Any] = {}
    value = event.get(source, UNDEFINED)
    if value is not UNDEFINED and type(value) is not JsFunction:
        out[target] = value
    value = event.get("traits", UNDEFINED)
    if value is not UNDEFINED and type(value) is not JsFunction:
        out["values"] = value
    return out


def _visitor_payload(event: dict[str, Any]) -> dict[str, Any]:
    """VISITOR_METADATA's default mapping, hand-written."""
    return _metadata_payload(event, "userId", "visitorId")


def _account_payload(event: dict[str, Any]) -> dict[str, Any]:
    """ACCOUNT_METADATA's default mapping, hand-written."""
    return _metadata_payload(event, "groupId", "accountId")


TRACK_EVENT = ActionSpec(
    name="trackEvent",
    kind="trackEvent",
    title="Send a Track Event (POST /data/track)",
    subscription='type = "track"',
    fields={
        "type": FieldSpec("track", 'type (always "track")', TRACK_SOURCE),
        "event": FieldSpec(P("$.event"), "event", TRACK_SOURCE),
        "visitorId": FieldSpec(P("$.userId"), "visitorId", TRACK_SOURCE),
        "accountId": FieldSpec(
            {
                "@if": {
                    "exists": P("$.properties.groupId"),
                    "then": P("$.properties.groupId"),
                    "else": P("$.context.groupId"),
                }
            },
            "accountId",
            "Pendo: client-side tracks carry groupId in properties when both paths are used (support.pendo.io "
            "28403116836763)",
        ),
        "timestamp": FieldSpec(P("$.timestamp"), "timestamp, as integer milliseconds since the epoch", TRACK_SOURCE),
        "properties": FieldSpec(P("$.properties"), "properties", TRACK_SOURCE),
        "context": FieldSpec(
            {
                "ip": P("$.context.ip"),
                "userAgent": P("$.context.userAgent"),
                "url": P("$.context.page.url"),
                "title": P("$.context.page.title"),
            },
            "context.ip, context.userAgent, context.url, context.title",
            TRACK_SOURCE,
        ),
    },
    does=(
        "One Segment track event becomes one Track Events API body. `timestamp` is sent as integer milliseconds "
        "(mapping-kit has no date directive: the relay converts the ISO-8601 string). Ids are compared as strings. "
        "A track without a visitorId is not sent (setting `anonymousTracks`)."
    ),
    fast=_track_payload,
)

VISITOR_METADATA = ActionSpec(
    name="visitorMetadata",
    kind="visitorMetadata",
    title="Set visitor metadata (POST /api/v1/metadata/visitor/custom/value)",
    subscription='type = "identify"',
    fields={
        "visitorId": FieldSpec(P("$.userId"), "visitorId", META_SOURCE),
        "values": FieldSpec(P("$.traits"), "values (visitor metadata)", META_SOURCE),
    },
    does="An identify with traits becomes `[{visitorId, values: traits}]`; an identify without traits sets nothing.",
    fast=_visitor_payload,
)

ACCOUNT_METADATA = ActionSpec(
    name="accountMetadata",
    kind="accountMetadata",
    title="Set account metadata (POST /api/v1/metadata/account/custom/value)",
    subscription='type = "group"',
    fields={
        "accountId": FieldSpec(P("$.groupId"), "accountId", META_SOURCE),
        "values": FieldSpec(P("$.traits"), "values (account metadata)", META_SOURCE),
    },
    does=(
        "A group call with traits becomes `[{accountId, values: traits}]`. `parentAccount` is not lifted: it is "
        "an ordinary trait here (override the mapping to change that). A groupId already of the form "
        "`parent::child` names its parent account (`parentAccountId` = the part before `::`)."
    ),
    fast=_account_payload,
)


def _id(value: Any) -> str | None:
    if type(value) is str:
        return value or None
    if value is None or value == "" or isinstance(value, (dict, list, bool)):
        return None
    return js_string(value)


class TrackApiProfile(Profile):
    name = "track-api"
    title = "Server-side Track Events (Segment Webhooks (Actions) -> POST /data/track)"
    summary = (
        "Stateless: each Segment track event is one Track Events API call. The exact mapping Pendo's article "
        "prescribes could not be read; this is the toolkit's documented default and every field can be overridden."
    )
    sources: tuple[str, ...] = (TRACK_SOURCE,)
    settings_spec = {
        "anonymousTracks": Setting(
            "skip",
            "what happens to a track without userId: `skip` (not sent: the API needs a visitorId), `anonymousId` "
            "(visitorId = anonymousId) or `pendoAnonymous` (visitorId = `_PENDO_T_` + anonymousId)",
            ("skip", "anonymousId", "pendoAnonymous"),
        ),
    }
    action_specs: tuple[ActionSpec, ...] = (TRACK_EVENT,)
    hints = CompareHints(view="stream", timestamp_tolerance_ms=0)
    ignored_note = "identify, group, page, screen and alias produce nothing (track events only)."

    def no_action_reason(self, event: dict[str, Any]) -> str:
        kind = event.get("type")
        if kind in ("page", "screen", "alias"):
            return f"{kind} calls produce nothing in Pendo"
        return f"profile {self.name} sends track events only ({kind} ignored)"

    def perform(self, action: Action, event: dict[str, Any], payload: dict[str, Any], emit: Emit) -> str | None:
        if action.kind == "trackEvent":
            return self._track(event, payload, emit)
        if action.kind == "visitorMetadata":
            visitor = _id(payload.get("visitorId"))
            if visitor is None:
                return "identify without userId: the Metadata API needs a visitorId"
            values = payload.get("values")
            if not isinstance(values, dict) or not values:
                return "identify without traits: no metadata to set"
            emit(visitor_record(visitor, values))
            return None
        if action.kind == "accountMetadata":
            account = _id(payload.get("accountId"))
            if account is None:
                return "group without groupId: the Metadata API needs an accountId"
            values = payload.get("values")
            if not isinstance(values, dict) or not values:
                return "group without traits: no metadata to set"
            # an id already in Pendo's `parent::child` form names its parent account, as the agent reads it
            emit(account_record(account, values, account.split("::")[0] if "::" in account else None))
            return None
        raise AssertionError(action.kind)

    def _track(self, event: dict[str, Any], payload: dict[str, Any], emit: Emit) -> str | None:
        name = payload.get("event")
        if not isinstance(name, str) or name == "":
            return "track without an event name (the Track Events API refuses it)"
        visitor = _id(payload.get("visitorId"))
        if visitor is None:
            mode = self.settings["anonymousTracks"]
            anonymous = _id(event.get("anonymousId"))
            if mode == "skip" or anonymous is None:
                return "track without userId: the Track Events API needs a visitorId (setting anonymousTracks)"
            visitor = anonymous if mode == "anonymousId" else "_PENDO_T_" + anonymous
        stamp = payload.get("timestamp")
        if isinstance(stamp, str):
            millis = timestamp_ms(stamp)
        elif isinstance(stamp, (int, float)) and not isinstance(stamp, bool):
            millis = int(stamp)
        else:
            millis = None
        properties = payload.get("properties")
        context = payload.get("context")
        emit(  # track_record(), inlined
            {
                "kind": "track",
                "event": name,
                "visitorId": visitor,
                "accountId": _id(payload.get("accountId")),
                "timestamp": millis,
                "properties": properties if isinstance(properties, dict) else {},
                "context": context if isinstance(context, dict) else {},
            }
        )
        return None


class TrackApiMetadataProfile(TrackApiProfile):
    name = "track-api+metadata"
    title = "Server-side Track Events plus the Metadata API (identify -> visitor, group -> account)"
    summary = (
        "The track-api profile, and identify/group calls written to Pendo's Metadata API "
        "(`create=true`), merged by Pendo field by field."
    )
    sources = (TRACK_SOURCE, META_SOURCE)
    action_specs = (TRACK_EVENT, VISITOR_METADATA, ACCOUNT_METADATA)
    hints = CompareHints(view="state", timestamp_tolerance_ms=0)
    ignored_note = "page, screen and alias produce nothing."
